// commission-payer: consumes OrderFinalized events and, for each succeeded payment to a
// merchant, submits a commission order to the engine over the wire protocol: `bps` basis points
// of the settled amount, from the platform's commission wallet to the merchant (the commission
// kind of DESIGN.md). An event is not trusted: before paying, the payer asks the engine for the
// event's order (GetOrder, with the key of the tenant it serves) and pays only when kind, state,
// amount, confirmed amount, currency and merchant agree (consumer_core.hpp verify_event); an
// event the engine contradicts or does not know is set aside (an ALERT line, a counter and a
// set_aside_events row) and pays nothing; no answer is retried like a commission.
// The request id is "commission-<order id>", so a redelivered event, a restart, a second
// instance or a copy of an event under another id pays once: the engine answers the repeat with
// the original order.
// Retryable answers (overloaded, busy, unavailable) and lost connections are retried with
// backoff, bounded; the engine's final answer and the processed_events row commit in one MySQL
// transaction, and only then are the Kafka offsets committed (docs/kafka.md).
// Exit codes: 0 stopped (signal, idle or message limit), 2 usage, 3 Kafka, MySQL or engine failure.
#include <cinttypes>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "apps/client_cli.hpp"
#include "apps/consumer_common.hpp"
#include "protocol/client.hpp"

using namespace txengine;
using namespace txengine::consumers;

namespace {

constexpr const char* consumer_name = "commission-payer";
constexpr int exit_ok = 0, exit_usage = 2, exit_failed = 3;

struct payer_options {
  wire::client_options engine;
  //! The tenant of the engine key (the key needs scopes=orders,queries): events of other
  //! tenants are not this payer's and are skipped.
  uint32_t tenant = wire::dev_tenant;
  uint64_t platform_wallet = 0;
  uint32_t bps = 100;
  int max_attempts = 8;
  int backoff_base_ms = 50;
  int backoff_cap_ms = 2'000;
};

struct stats {
  loop_counters loop;
  uint64_t payments = 0, paid = 0, repeats = 0, rejected = 0, zero = 0, duplicates = 0, retries = 0, reconnects = 0;
  uint64_t set_aside = 0, other_tenant = 0;
  int64_t amount_paid = 0;
};

std::string stats_json(const stats& s, uint64_t kafka_errors) {
  char buf[896];
  std::snprintf(buf, sizeof buf,
                "{\"consumer\":\"%s\",\"messages\":%" PRIu64 ",\"batches\":%" PRIu64 ",\"payments\":%" PRIu64
                ",\"paid\":%" PRIu64 ",\"engine_repeats\":%" PRIu64 ",\"rejected\":%" PRIu64 ",\"zero\":%" PRIu64
                ",\"duplicates\":%" PRIu64 ",\"skipped\":%" PRIu64 ",\"malformed\":%" PRIu64 ",\"retries\":%" PRIu64
                ",\"reconnects\":%" PRIu64 ",\"commit_errors\":%" PRIu64 ",\"amount_paid\":%" PRId64
                ",\"kafka_errors\":%" PRIu64 ",\"pruned\":%" PRIu64 ",\"set_aside\":%" PRIu64
                ",\"other_tenant\":%" PRIu64 "}",
                consumer_name, s.loop.messages, s.loop.batches, s.payments, s.paid, s.repeats, s.rejected, s.zero,
                s.duplicates, s.loop.skipped, s.loop.malformed, s.retries, s.reconnects, s.loop.commit_errors,
                s.amount_paid, kafka_errors, s.loop.pruned, s.set_aside, s.other_tenant);
  return buf;
}

//! One request to the engine and its final answer (none yet while retryable or lost).
struct engine_call {
  wire::Request request;
  std::optional<wire::Reply> final;
};

//! The engine's final answer to one commission.
struct outcome {
  int code = 0;
  uint64_t order_id = 0;
  bool duplicate = false;
};

struct commission_call {
  size_t event_index = 0;
  int64_t amount = 0;
  engine_call call;
  std::optional<outcome> final;
};

// Talks to the engine: one connection, reconnected when lost, requests pipelined per round.
class engine_link {
 public:
  engine_link(const payer_options& opt, std::chrono::milliseconds round_timeout)
      : opt_(opt), round_timeout_(round_timeout) {}

  //! Resolves every call (a final answer) or returns false once max_attempts rounds left some
  //! without one. Retryable codes and lost connections are retried with the same request.
  bool resolve(const std::vector<engine_call*>& calls, stats& s) {
    for (int round = 0; round < opt_.max_attempts && !stop_requested(); ++round) {
      std::vector<engine_call*> open;
      for (auto* c : calls)
        if (!c->final) open.push_back(c);
      if (open.empty()) return true;
      if (round > 0) {
        s.retries += open.size();
        sleep_unless_stopped(backoff_ms(round - 1, opt_.backoff_base_ms, opt_.backoff_cap_ms));
      }
      if (!ensure_connected(s)) continue;
      send_round(open);
    }
    for (auto* c : calls)
      if (!c->final) return false;
    return true;
  }

 private:
  bool ensure_connected(stats& s) {
    if (client_ && client_->connected()) return true;
    if (client_) ++s.reconnects;
    client_ = std::make_unique<wire::client>(opt_.engine);
    std::string error;
    if (!client_->connect(error)) {
      std::fprintf(stderr, "commission-payer: engine %s:%u: %s\n", opt_.engine.host.c_str(), opt_.engine.port,
                   error.c_str());
      client_.reset();
      return false;
    }
    return true;
  }

  void send_round(const std::vector<engine_call*>& open) {
    struct round_state {
      std::mutex mutex;
      std::condition_variable cv;
      size_t outstanding = 0;
      std::vector<std::optional<wire::Reply>> replies;
    };
    auto st = std::make_shared<round_state>();
    st->replies.resize(open.size());
    st->outstanding = open.size();
    for (size_t i = 0; i < open.size(); ++i) {
      bool sent = client_->call_async(open[i]->request, [st, i](const wire::Reply* r) {
        std::lock_guard<std::mutex> g(st->mutex);
        if (r) st->replies[i] = *r;
        if (--st->outstanding == 0) st->cv.notify_all();
      });
      if (!sent) {
        std::lock_guard<std::mutex> g(st->mutex);
        if (--st->outstanding == 0) st->cv.notify_all();
      }
    }
    {
      std::unique_lock<std::mutex> lock(st->mutex);
      if (!st->cv.wait_for(lock, round_timeout_, [&] { return st->outstanding == 0; })) {
        lock.unlock();
        // No answer in time: drop the connection; close() fails what is pending (outcome
        // unknown, retried with the same request id next round).
        std::fprintf(stderr, "commission-payer: no answer from the engine within %lld ms; reconnecting\n",
                     static_cast<long long>(round_timeout_.count()));
        client_->close();
      }
    }
    std::lock_guard<std::mutex> g(st->mutex);
    for (size_t i = 0; i < open.size(); ++i) {
      const auto& r = st->replies[i];
      if (!r) continue;  // lost: retry
      if (is_retryable_code(static_cast<int>(r->code()))) continue;
      open[i]->final = *r;
    }
    if (!client_->connected()) client_.reset();
  }

  const payer_options& opt_;
  std::chrono::milliseconds round_timeout_;
  std::unique_ptr<wire::client> client_;
};

outcome outcome_of(const commission_call& c) {
  if (c.final) return *c.final;
  const wire::Reply& r = *c.call.final;
  outcome o;
  o.code = static_cast<int>(r.code());
  if (r.has_order()) {
    o.order_id = r.order().order_id();
    o.duplicate = r.order().duplicate();
  }
  return o;
}

//! An event the engine contradicted or did not know, kept for an operator to look at.
struct set_aside_event {
  size_t event_index = 0;
  std::string reason;
};

void store_outcomes(persistence::mysql_connection& db, const std::vector<kafka_message>& batch,
                    const std::vector<finalized_event>& events, const std::vector<commission_call>& calls,
                    const std::vector<set_aside_event>& aside, const payer_options& popt) {
  if (!aside.empty()) {
    // IGNORE: a redelivered message is the same row (its Kafka coordinates are the key). No
    // processed_events row: a forged event may carry the id of a real one still to come.
    auto q = db.prepare(
        "INSERT IGNORE INTO set_aside_events (consumer, topic, kafka_partition, kafka_offset, event_id, tenant, "
        "order_id, claimed_amount, claimed_currency, claimed_merchant, reason) VALUES " +
        values_placeholders(aside.size(), 11));
    unsigned n = 1;
    for (const auto& a : aside) {
      const auto& m = batch[a.event_index];
      const auto& e = events[a.event_index];
      q->setString(n++, consumer_name);
      q->setString(n++, m.topic);
      q->setInt(n++, m.partition);
      q->setInt64(n++, m.offset);
      q->setUInt64(n++, e.event_id);
      q->setUInt(n++, e.tenant);
      q->setUInt64(n++, e.order_id);
      q->setInt64(n++, e.amount);
      q->setString(n++, e.currency);
      q->setUInt64(n++, e.merchant);
      q->setString(n++, a.reason.substr(0, 255));
    }
    q->executeUpdate();
  }
  if (calls.empty()) return;
  // IGNORE: a second instance (during a rebalance) may have stored the same event; the engine
  // answered both with the same order, so either row is right.
  std::vector<size_t> rows;
  for (const auto& c : calls) rows.push_back(c.event_index);
  insert_processed(db, consumer_name, batch, events, rows, true);
  auto q = db.prepare(
      "INSERT IGNORE INTO commission_payments (event_id, tenant, payment_order_id, merchant, platform_wallet, "
      "payment_amount, commission_amount, currency, request_id, commission_order_id, result_code, duplicate_answer) "
      "VALUES " + values_placeholders(calls.size(), 12));
  unsigned n = 1;
  for (const auto& c : calls) {
    const auto& e = events[c.event_index];
    outcome o = outcome_of(c);
    q->setUInt64(n++, e.event_id);
    q->setUInt(n++, e.tenant);
    q->setUInt64(n++, e.order_id);
    q->setUInt64(n++, e.merchant);
    q->setUInt64(n++, popt.platform_wallet);
    q->setInt64(n++, settled_amount(e));
    q->setInt64(n++, c.amount);
    q->setString(n++, e.currency);
    q->setString(n++, commission_request_id(e.order_id));
    q->setUInt64(n++, o.order_id);
    q->setInt(n++, o.code);
    q->setInt(n++, o.duplicate ? 1 : 0);
  }
  q->executeUpdate();
}

void add_options(CLI::App& app, common_options& opt, payer_options& popt, uint64_t& call_timeout_ms) {
  add_common_options(app, opt);
  cli::add_client_options(app, popt.engine, "TXCTL", "--engine");
  cli::add_number(app, "--tenant", popt.tenant,
                  "the tenant of the engine key (scopes=orders,queries): its events are verified and paid, "
                  "other tenants' skipped",
                  1);
  cli::add_number(app, "--platform-wallet", popt.platform_wallet, "the fee wallet commissions are paid from", 1)
      ->required()
      ->default_str("");
  cli::add_number(app, "--bps", popt.bps, "commission in basis points of the payment (100 = 1%)", 0,
                  max_basis_points);
  cli::add_number(app, "--max-attempts", popt.max_attempts, "engine attempts per commission", 1, 100);
  cli::add_number(app, "--call-timeout-ms", call_timeout_ms, "wait for the engine's answers to one round", 100,
                  600'000);
}

//! The commissions of the consumed batches, paid through the engine and recorded in MySQL.
struct payer {
  const common_options& opt;
  const payer_options& popt;
  std::unique_ptr<persistence::mysql_connection>& db;
  engine_link& engine;
  stats s;

  // One batch: which events are new, each verified against the engine's order, the
  // commissions of the verified ones resolved by the engine, then the answers, the set-aside
  // events and the processed rows in one transaction.
  bool store(const std::vector<kafka_message>& batch, const decoded_batch& d, std::string& err) {
    std::vector<size_t> ours;
    std::vector<uint64_t> ids;
    for (size_t i : d.eligible) {
      if (d.events[i].tenant != popt.tenant) {
        ++s.other_tenant;
        continue;
      }
      ours.push_back(i);
      ids.push_back(d.events[i].event_id);
    }
    if (ids.empty()) return true;
    std::unordered_set<uint64_t> done;
    if (!with_store(opt, db, [&](persistence::mysql_connection& c) { done = processed_among(c, consumer_name, ids); },
                    err))
      return false;
    // Every occurrence is verified, not only the first of an event id: a forged message may carry
    // the id of a real one in the same batch.
    std::vector<size_t> unverified;
    for (size_t k = 0; k < ours.size(); ++k)
      if (done.count(ids[k]) == 0) unverified.push_back(ours[k]);
    std::vector<size_t> verified;
    std::vector<set_aside_event> aside;
    if (!verify(batch, d, unverified, verified, aside, err)) return false;
    // One commission per order in the batch (its request id is the order's): another event of
    // the same order is left for a later delivery, where the engine answers it as a repeat.
    std::vector<uint64_t> verified_orders;
    for (size_t i : verified) verified_orders.push_back(d.events[i].order_id);
    std::vector<commission_call> calls;
    uint64_t zero = 0;
    for (size_t k : new_events(verified_orders, {})) {
      size_t i = verified[k];
      const auto& e = d.events[i];
      commission_call c;
      c.event_index = i;
      c.amount = commission_amount(settled_amount(e), popt.bps).value_or(0);
      if (c.amount == 0) {
        c.final = outcome{};  // nothing to pay; recorded as processed
        ++zero;
      } else {
        auto* r = c.call.request.mutable_commission();
        r->set_request_id(commission_request_id(e.order_id));
        r->set_from(popt.platform_wallet);
        r->set_to(e.merchant);
        r->set_amount(c.amount);
        r->set_currency(e.currency);
      }
      calls.push_back(std::move(c));
    }
    std::vector<engine_call*> open;
    for (auto& c : calls)
      if (!c.final) open.push_back(&c.call);
    if (!engine.resolve(open, s)) {
      // The same request ids are sent again after a restart.
      err = "the engine gave no final answer after " + std::to_string(popt.max_attempts) + " attempts";
      return false;
    }
    if (!with_store(
            opt, db,
            [&](persistence::mysql_connection& c) { store_outcomes(c, batch, d.events, calls, aside, popt); }, err))
      return false;
    s.zero += zero;
    s.set_aside += aside.size();
    s.duplicates += ids.size() - calls.size() - aside.size();
    for (const auto& c : calls) {
      if (c.amount == 0) continue;
      ++s.payments;
      outcome o = outcome_of(c);
      if (o.code != 0) {
        ++s.rejected;
        std::fprintf(stderr, "commission-payer: commission of event %" PRIu64 " rejected by the engine (code %d)\n",
                     d.events[c.event_index].event_id, o.code);
      } else if (o.duplicate) {
        ++s.repeats;
      } else {
        ++s.paid;
        s.amount_paid += c.amount;
      }
    }
    return true;
  }

  //! Asks the engine for the order of each event batch[i], i in `indexes`; `verified` gets the
  //! events it agrees with, `aside` the others with the reason (each logged as an ALERT with its
  //! Kafka coordinates). False (and `err`) when some got no usable answer after the bounded
  //! attempts: nothing is paid or set aside, the batch is retried later.
  bool verify(const std::vector<kafka_message>& batch, const decoded_batch& d, const std::vector<size_t>& indexes,
              std::vector<size_t>& verified, std::vector<set_aside_event>& aside, std::string& err) {
    std::vector<engine_call> queries(indexes.size());
    std::vector<engine_call*> open;
    for (size_t k = 0; k < indexes.size(); ++k) {
      queries[k].request.mutable_get_order()->set_order_id(d.events[indexes[k]].order_id);
      open.push_back(&queries[k]);
    }
    if (!engine.resolve(open, s)) {
      err = "the engine gave no final answer after " + std::to_string(popt.max_attempts) + " attempts";
      return false;
    }
    for (size_t k = 0; k < indexes.size(); ++k) {
      size_t i = indexes[k];
      const wire::Reply& r = *queries[k].final;
      engine_order o;
      if (r.has_order()) {
        const auto& w = r.order();
        o.kind = static_cast<int>(w.kind());
        o.state = static_cast<int>(w.state());
        o.amount = w.amount();
        o.posted_amount = w.posted_amount();
        o.currency = w.currency();
        o.destination = w.destination();
      }
      auto v = verify_event(d.events[i], static_cast<int>(r.code()), r.has_order() ? &o : nullptr);
      if (v.decision == verdict::retry) {
        err = "cannot verify event " + std::to_string(d.events[i].event_id) + ": " + v.reason;
        return false;
      }
      if (v.decision == verdict::pay) {
        verified.push_back(i);
        continue;
      }
      const auto& m = batch[i];
      std::fprintf(stderr,
                   "commission-payer: ALERT event %" PRIu64 " at %s[%d]@%lld (tenant %u, order %" PRIu64
                   ") set aside, nothing paid: %s\n",
                   d.events[i].event_id, m.topic.c_str(), m.partition, static_cast<long long>(m.offset),
                   d.events[i].tenant, d.events[i].order_id, v.reason.c_str());
      aside.push_back({i, v.reason});
    }
    return true;
  }
};

}  // namespace

int main(int argc, char** argv) {
  common_options opt;
  payer_options popt;
  uint64_t call_timeout_ms = 30'000;
  CLI::App app{"commission-payer: pays the merchant's commission of every succeeded payment through the engine "
               "(docs/kafka.md)",
               consumer_name};
  add_options(app, opt, popt, call_timeout_ms);
  if (int code = cli::parse(app, argc, argv); code >= 0) return code;
  if (std::string error; !finish_common_options(opt, consumer_name, error)) {
    std::fprintf(stderr, "commission-payer: %s\n", error.c_str());
    return exit_usage;
  }
  persistence::mysql_thread_scope mysql_scope;
  std::unique_ptr<persistence::mysql_connection> db;
  batch_consumer consumer(opt);
  if (!start_consumer(opt, consumer_name, db, consumer)) return exit_failed;
  engine_link engine(popt, std::chrono::milliseconds(call_timeout_ms));
  payer p{opt, popt, db, engine, {}};
  const stats& s = p.s;
  int rc = run_consumer_loop(
      opt, consumer_name, consumer, p.s.loop,
      [&p](const std::vector<kafka_message>& batch, const decoded_batch& d, std::string& err) {
        return p.store(batch, d, err);
      },
      [&] { return stats_json(s, consumer.errors()); });
  consumer.close();
  if (opt.json)
    std::printf("%s\n", stats_json(s, consumer.errors()).c_str());
  else
    std::printf("commission-payer: %" PRIu64 " messages, %" PRIu64 " commissions paid (%" PRId64
                " minor units), %" PRIu64 " answered as repeats, %" PRIu64 " rejected, %" PRIu64 " set aside, %" PRIu64
                " duplicates, %" PRIu64 " skipped, %" PRIu64 " malformed\n",
                s.loop.messages, s.paid, s.amount_paid, s.repeats, s.rejected, s.set_aside, s.duplicates,
                s.loop.skipped, s.loop.malformed);
  return rc;
}
