// delivery-notifier: consumes OrderFinalized events and records one delivery request per
// succeeded payment (table delivery_requests), exactly once in effect: the requests of a batch
// and their processed_events rows commit in one MySQL transaction, and the Kafka offsets are
// committed only after it (docs/kafka.md).
// Exit codes: 0 stopped (signal, idle or message limit), 2 usage, 3 Kafka or MySQL failure.
#include <cinttypes>
#include <cstdio>
#include <string>
#include <vector>

#include "apps/consumer_common.hpp"

using namespace txengine;
using namespace txengine::consumers;

namespace {

constexpr const char* consumer_name = "delivery-notifier";
constexpr int exit_ok = 0, exit_usage = 2, exit_failed = 3;

void usage(FILE* out) {
  std::fprintf(out, "usage: delivery-notifier --bootstrap HOST:PORT [options]\n%s", common_usage());
}

struct stats {
  uint64_t messages = 0, batches = 0, recorded = 0, duplicates = 0, skipped = 0, malformed = 0, commit_errors = 0;
};

std::string stats_json(const stats& s, uint64_t kafka_errors) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "{\"consumer\":\"%s\",\"messages\":%" PRIu64 ",\"batches\":%" PRIu64 ",\"recorded\":%" PRIu64
                ",\"duplicates\":%" PRIu64 ",\"skipped\":%" PRIu64 ",\"malformed\":%" PRIu64
                ",\"commit_errors\":%" PRIu64 ",\"kafka_errors\":%" PRIu64 "}",
                consumer_name, s.messages, s.batches, s.recorded, s.duplicates, s.skipped, s.malformed,
                s.commit_errors, kafka_errors);
  return buf;
}

// Stores one batch: the new succeeded payments' delivery requests and their processed rows.
void store_batch(persistence::mysql_connection& db, const std::vector<kafka_message>& batch,
                 const std::vector<finalized_event>& events, const std::vector<size_t>& eligible, stats& s) {
  std::vector<uint64_t> ids;
  ids.reserve(eligible.size());
  for (size_t i : eligible) ids.push_back(events[i].event_id);
  auto fresh = new_events(ids, processed_among(db, consumer_name, ids));
  s.duplicates += ids.size() - fresh.size();
  if (fresh.empty()) return;
  std::string processed =
      "INSERT INTO processed_events (consumer, event_id, topic, kafka_partition, kafka_offset) VALUES ";
  std::string requests =
      "INSERT INTO delivery_requests (event_id, tenant, order_id, payer, merchant, amount, currency, paid_at_ms) VALUES ";
  for (size_t k = 0; k < fresh.size(); ++k) {
    processed += k ? ",(?,?,?,?,?)" : "(?,?,?,?,?)";
    requests += k ? ",(?,?,?,?,?,?,?,?)" : "(?,?,?,?,?,?,?,?)";
  }
  auto p = db.prepare(processed);
  auto r = db.prepare(requests);
  unsigned pi = 1, ri = 1;
  for (size_t k : fresh) {
    size_t i = eligible[k];
    const auto& e = events[i];
    const auto& m = batch[i];
    p->setString(pi++, consumer_name);
    p->setUInt64(pi++, e.event_id);
    p->setString(pi++, m.topic);
    p->setInt(pi++, m.partition);
    p->setInt64(pi++, m.offset);
    r->setUInt64(ri++, e.event_id);
    r->setUInt(ri++, e.tenant);
    r->setUInt64(ri++, e.order_id);
    r->setUInt64(ri++, e.payer);
    r->setUInt64(ri++, e.merchant);
    r->setInt64(ri++, settled_amount(e));
    r->setString(ri++, e.currency);
    r->setInt64(ri++, e.final_ms);
  }
  // A concurrent instance (during a rebalance) that stored one of these first makes this
  // insert fail with a duplicate key: the transaction rolls back and the batch is retried,
  // finding those rows processed.
  p->executeUpdate();
  r->executeUpdate();
  s.recorded += fresh.size();
}

}  // namespace

int main(int argc, char** argv) {
  common_options opt;
  std::string error;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      usage(stdout);
      return exit_ok;
    }
    if (!parse_common_flag(argc, argv, i, opt, error)) error = "unknown argument '" + a + "'";
    if (!error.empty()) break;
  }
  if (error.empty()) finish_common_options(opt, consumer_name, error);
  if (!error.empty()) {
    std::fprintf(stderr, "delivery-notifier: %s\n", error.c_str());
    usage(stderr);
    return exit_usage;
  }
  install_stop_signals();
  persistence::mysql_thread_scope mysql_scope;

  std::unique_ptr<persistence::mysql_connection> db;
  if (!with_store(opt, db, [](persistence::mysql_connection&) {}, error)) {
    std::fprintf(stderr, "delivery-notifier: cannot reach MySQL: %s\n", error.c_str());
    return exit_failed;
  }
  batch_consumer consumer(opt);
  if (!consumer.start(error)) {
    std::fprintf(stderr, "delivery-notifier: %s\n", error.c_str());
    return exit_failed;
  }

  stats s;
  int rc = exit_ok;
  int64_t last_message = steady_ms(), last_stats = steady_ms();
  while (!stop_requested()) {
    auto batch = consumer.poll_batch();
    int64_t now = steady_ms();
    if (opt.stats_interval_ms > 0 && now - last_stats >= opt.stats_interval_ms) {
      std::fprintf(stderr, "%s\n", stats_json(s, consumer.errors()).c_str());
      last_stats = now;
    }
    if (batch.empty()) {
      // Idle counts only while partitions are assigned (not while the group rebalances).
      if (opt.idle_exit_ms > 0 && !consumer.assigned()) last_message = now;
      if (opt.idle_exit_ms > 0 && now - last_message >= opt.idle_exit_ms) break;
      continue;
    }
    last_message = now;
    std::vector<finalized_event> events(batch.size());
    std::vector<size_t> eligible;
    uint64_t skipped = 0, malformed = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      if (!decode_event(batch[i].payload, events[i]) || !is_well_formed(events[i])) {
        // A poison message cannot become valid by retrying: count it, log it, move on.
        ++malformed;
        std::fprintf(stderr, "delivery-notifier: malformed event at %s[%d]@%" PRId64 " skipped\n",
                     batch[i].topic.c_str(), batch[i].partition, batch[i].offset);
      } else if (is_succeeded_payment(events[i])) {
        eligible.push_back(i);
      } else {
        ++skipped;
      }
    }
    stats attempt;
    bool stored = eligible.empty() || with_store(opt, db, [&](persistence::mysql_connection& c) {
                    attempt = stats{};  // counts of the attempt that committed
                    store_batch(c, batch, events, eligible, attempt);
                  }, error);
    if (!stored) {
      // Offsets of this batch stay uncommitted: it is redelivered after a restart.
      std::fprintf(stderr, "delivery-notifier: giving up on a batch: %s\n", error.c_str());
      rc = exit_failed;
      break;
    }
    s.recorded += attempt.recorded;
    s.duplicates += attempt.duplicates;
    s.skipped += skipped;
    s.malformed += malformed;
    s.messages += batch.size();
    ++s.batches;
    if (!consumer.commit(batch, error)) {
      ++s.commit_errors;
      std::fprintf(stderr, "delivery-notifier: %s (the batch will be redelivered and deduplicated)\n", error.c_str());
    }
    if (opt.max_messages > 0 && s.messages >= static_cast<uint64_t>(opt.max_messages)) break;
  }
  consumer.close();
  if (opt.json)
    std::printf("%s\n", stats_json(s, consumer.errors()).c_str());
  else
    std::printf("delivery-notifier: %" PRIu64 " messages, %" PRIu64 " delivery requests recorded, %" PRIu64
                " duplicates, %" PRIu64 " skipped, %" PRIu64 " malformed\n",
                s.messages, s.recorded, s.duplicates, s.skipped, s.malformed);
  return rc;
}
