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

struct stats {
  loop_counters loop;
  uint64_t recorded = 0, duplicates = 0;
};

std::string stats_json(const stats& s, uint64_t kafka_errors) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "{\"consumer\":\"%s\",\"messages\":%" PRIu64 ",\"batches\":%" PRIu64 ",\"recorded\":%" PRIu64
                ",\"duplicates\":%" PRIu64 ",\"skipped\":%" PRIu64 ",\"malformed\":%" PRIu64
                ",\"commit_errors\":%" PRIu64 ",\"kafka_errors\":%" PRIu64 ",\"pruned\":%" PRIu64 "}",
                consumer_name, s.loop.messages, s.loop.batches, s.recorded, s.duplicates, s.loop.skipped,
                s.loop.malformed, s.loop.commit_errors, kafka_errors, s.loop.pruned);
  return buf;
}

// Stores one batch: the new succeeded payments' delivery requests and their processed rows.
void store_batch(persistence::mysql_connection& db, const std::vector<kafka_message>& batch, const decoded_batch& d,
                 stats& s) {
  const auto& events = d.events;
  const auto& eligible = d.eligible;
  std::vector<uint64_t> ids;
  ids.reserve(eligible.size());
  for (size_t i : eligible) ids.push_back(events[i].event_id);
  auto fresh = new_events(ids, processed_among(db, consumer_name, ids));
  s.duplicates += ids.size() - fresh.size();
  if (fresh.empty()) return;
  std::vector<size_t> rows;
  for (size_t k : fresh) rows.push_back(eligible[k]);
  // IGNORE: a request stored long ago (its processed_events row pruned past the retention, the
  // event redelivered after a consumer-group offset reset) is kept, not stored again, and not a
  // failure that would stop the consumer; the event counts as a duplicate.
  auto r = db.prepare(
      "INSERT IGNORE INTO delivery_requests (event_id, tenant, order_id, payer, merchant, amount, currency, "
      "paid_at_ms) VALUES " + values_placeholders(rows.size(), 8));
  unsigned n = 1;
  for (size_t i : rows) {
    const auto& e = events[i];
    r->setUInt64(n++, e.event_id);
    r->setUInt(n++, e.tenant);
    r->setUInt64(n++, e.order_id);
    r->setUInt64(n++, e.payer);
    r->setUInt64(n++, e.merchant);
    r->setInt64(n++, settled_amount(e));
    r->setString(n++, e.currency);
    r->setInt64(n++, e.final_ms);
  }
  // A concurrent instance (during a rebalance) that stored one of these first makes this
  // insert fail with a duplicate key: the transaction rolls back and the batch is retried,
  // finding those rows processed.
  insert_processed(db, consumer_name, batch, events, rows, false);
  auto inserted = static_cast<uint64_t>(r->executeUpdate());
  s.recorded += inserted;
  s.duplicates += fresh.size() - inserted;
}

}  // namespace

int main(int argc, char** argv) {
  common_options opt;
  CLI::App app{"delivery-notifier: records a delivery request for every succeeded payment (docs/kafka.md)",
               consumer_name};
  add_common_options(app, opt);
  if (int code = txengine::cli::parse(app, argc, argv); code >= 0) return code;
  if (std::string error; !finish_common_options(opt, consumer_name, error)) {
    std::fprintf(stderr, "delivery-notifier: %s\n", error.c_str());
    return exit_usage;
  }
  persistence::mysql_thread_scope mysql_scope;
  std::unique_ptr<persistence::mysql_connection> db;
  batch_consumer consumer(opt);
  if (!start_consumer(opt, consumer_name, db, consumer)) return exit_failed;

  stats s;
  int rc = run_consumer_loop(
      opt, consumer_name, consumer, s.loop,
      [&](const std::vector<kafka_message>& batch, const decoded_batch& d, std::string& err) {
        if (d.eligible.empty()) return true;
        stats attempt;
        bool stored = with_store(opt, db, [&](persistence::mysql_connection& c) {
          attempt = stats{};  // the counts of the attempt that committed
          store_batch(c, batch, d, attempt);
        }, err);
        if (stored) {
          s.recorded += attempt.recorded;
          s.duplicates += attempt.duplicates;
        }
        return stored;
      },
      [&] { return stats_json(s, consumer.errors()); });
  consumer.close();
  if (opt.json)
    std::printf("%s\n", stats_json(s, consumer.errors()).c_str());
  else
    std::printf("delivery-notifier: %" PRIu64 " messages, %" PRIu64 " delivery requests recorded, %" PRIu64
                " duplicates, %" PRIu64 " skipped, %" PRIu64 " malformed\n",
                s.loop.messages, s.recorded, s.duplicates, s.loop.skipped, s.loop.malformed);
  return rc;
}
