#pragma once
// Helpers shared by the actor-level tests: engine configurations with short horizons,
// command builders, and checks of balances and of the conservation audit. Every engine runs on
// virtual time (a manual clock): no outcome depends on wall-clock timing, and every wait is
// bounded in virtual time (and, against a hung engine, in wall time).
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "node/engine.hpp"
#include "ports/clock.hpp"

namespace txengine {

// Readable gtest failure output for the engine's enums and balances.
inline void PrintTo(result_code c, std::ostream* os) { *os << to_string(c); }
inline void PrintTo(order_state s, std::ostream* os) { *os << to_string(s); }
inline void PrintTo(const balances& b, std::ostream* os) {
  *os << "{available " << b.available << ", frozen " << b.frozen << ", incoming " << b.incoming << "}";
}

namespace actor_test {

inline const currency usd = *currency::parse("USD");
inline const currency eur = *currency::parse("EUR");
constexpr tenant_id tenant = 1;
constexpr tenant_id other_tenant = 2;
constexpr channel_id good_channel = 1;
constexpr channel_id bad_channel = 2;

using namespace std::chrono_literals;

//! A provider that always answers, fully and at once: no misbehaviour at all.
inline channel_config well_behaved_channel(int64_t latency_ms = 1) {
  channel_config c;
  c.latency_ms = latency_ms;
  c.settle_ms = 0;
  c.decline_ppm = 0;
  c.reply_lost_ppm = 0;
  c.reply_unknown_ppm = 0;
  c.submit_lost_ppm = 0;
  c.partial_ppm = 0;
  c.rate_per_s = 0;
  return c;
}

//! Two order hosts, two scheduler threads, a well-behaved channel 1 and horizons short
//! enough that every unknown resolves within a second.
inline engine_config fast_config() {
  engine_config config;
  config.order_hosts = 2;
  config.scheduler_threads = 2;
  config.order.try_deadline_ms = 3'000;
  config.order.retry_initial_ms = 20;
  config.order.retry_max_ms = 200;
  config.order.channel_query_min_delay_ms = 20;
  config.order.channel_query_max_interval_ms = 100;
  config.order.channel_submit_timeout_ms = 150;
  config.order.channel_not_found_final_ms = 300;
  config.channels = {{good_channel, well_behaved_channel()}};
  return config;
}

//! An engine plus the bookkeeping most tests need, on a manual clock (use virtual_harness, which
//! owns it): the engine runs on virtual time, which moves only when the test waits for something
//! (an order's reply, quiet), and then from one due wake-up to the next, each time once the
//! engine has settled at the current instant. No outcome depends on how fast the machine is;
//! every wait is bounded in virtual time and, as a guard against a hung engine, in wall time.
class harness {
 public:
  harness(engine_config config, manual_clock* clock) : clock_(clock), eng(with_clock(std::move(config), clock)) {}

 private:
  manual_clock* clock_ = nullptr;
  static engine_config with_clock(engine_config config, manual_clock* clock) {
    config.clock = clock;
    return config;
  }

 public:
  engine eng;

  manual_clock& clock() { return *clock_; }
  //! Now, on the engine's clock.
  int64_t now_ms() const { return clock_->now_ms(); }

  //! Virtual time: waits until the engine handled everything sent so far at this instant.
  //! Every order host, wallet shard and channel answers a query only after the messages before
  //! it; rounds of such queries are repeated until two rounds in a row see the same counters.
  void settle() {
    caf::scoped_actor self{eng.system()};
    std::vector<uint64_t> last;
    for (int round = 0; round < 50; ++round) {
      std::vector<uint64_t> seen;
      for (const auto& host : eng.hosts())
        self->request(host, std::chrono::seconds(30), stats_atom::value)
            .receive(
                [&](const host_stats& s) {
                  for (uint64_t v : {s.submitted, s.refused, s.duplicates, s.succeeded, s.failed, s.step_resends,
                                     s.channel_queries, uint64_t{s.in_flight}, s.alerts, s.resumed})
                    seen.push_back(v);
                },
                [&](caf::error&) { ADD_FAILURE() << "an order host did not answer"; });
      for (const auto& shard : eng.directory().shards())
        self->request(shard, std::chrono::seconds(30), audit_atom::value)
            .receive(
                [&](const std::vector<wallet_view>& views) {
                  seen.push_back(views.size());
                  for (const auto& v : views) seen.push_back(v.journal_sequence);
                },
                [&](caf::error&) { ADD_FAILURE() << "a wallet shard did not answer"; });
      for (const auto& [id, channel] : eng.channels())
        self->request(channel, std::chrono::seconds(30), stats_atom::value)
            .receive([&](uint64_t handled) { seen.push_back(handled); },
                     [&](caf::error&) { ADD_FAILURE() << "a channel did not answer"; });
      seen.push_back(clock_->pending());
      if (round >= 1 && seen == last) return;
      last = std::move(seen);
    }
  }

  //! Virtual time: settles, then moves to the next due wake-up, at most to `until_ms`.
  //! False when there was nothing to wait for before `until_ms` (time is at `until_ms` then).
  bool step_time(int64_t until_ms) {
    settle();
    int64_t next = clock_->next_due_ms();
    if (next > until_ms) {
      clock_->advance_to(until_ms);
      return false;
    }
    clock_->advance_to(next);
    return true;
  }

  //! Virtual time: moves the time forward by `ms`, settling at every due wake-up on the way.
  void advance(std::chrono::milliseconds ms) {
    int64_t until = clock_->now_ms() + ms.count();
    while (step_time(until)) {
    }
    settle();
  }

  //! Lets virtual time pass until `condition` holds, at most `timeout` of virtual time (and
  //! `wall_patience` of wall time, against a hung engine).
  bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
    int64_t until = clock_->now_ms() + timeout.count();
    auto wall_deadline = std::chrono::steady_clock::now() + wall_patience;
    for (;;) {
      settle();
      if (condition()) return true;
      if (clock_->now_ms() >= until || std::chrono::steady_clock::now() >= wall_deadline) return false;
      step_time(until);
    }
  }

  //! Waits until no order is in flight.
  bool wait_quiet() {
    return wait_for([&] { return eng.stats().orders.in_flight == 0; }, patience);
  }

  wallet_id wallet(wallet_kind kind, tenant_id t = tenant, currency cur = usd, int64_t overdraft = 0) {
    auto created = eng.create_wallet(t, cur, kind, overdraft);
    EXPECT_EQ(created.code, result_code::ok);
    return created.id;
  }

  std::string next_request_id(const std::string& prefix = "req-") { return prefix + std::to_string(++request_seq_); }

  order_command top_up(wallet_id to, int64_t amount, channel_id channel = good_channel, tenant_id t = tenant,
                       currency cur = usd) {
    order_command c = base(order_kind::top_up, amount, t, cur);
    c.destination = to;
    c.channel = channel;
    return c;
  }
  order_command pay(wallet_id payer, wallet_id merchant, int64_t amount, wallet_id fee_wallet = no_wallet,
                    int64_t fee = 0, tenant_id t = tenant, currency cur = usd) {
    order_command c = base(order_kind::pay, amount, t, cur);
    c.source = payer;
    c.destination = merchant;
    c.fee_wallet = fee_wallet;
    c.fee_amount = fee;
    return c;
  }
  order_command withdraw(wallet_id from, int64_t amount, channel_id channel = good_channel, tenant_id t = tenant,
                         currency cur = usd) {
    order_command c = base(order_kind::withdraw, amount, t, cur);
    c.source = from;
    c.channel = channel;
    return c;
  }
  order_command transfer(wallet_id from, wallet_id to, int64_t amount, tenant_id t = tenant, currency cur = usd) {
    order_command c = base(order_kind::transfer, amount, t, cur);
    c.source = from;
    c.destination = to;
    return c;
  }
  order_command refund(order_id original, int64_t amount, tenant_id t = tenant, currency cur = usd) {
    order_command c = base(order_kind::refund, amount, t, cur);
    c.original_order = original;
    return c;
  }
  order_command commission(wallet_id fee_wallet, wallet_id merchant, int64_t amount, tenant_id t = tenant,
                           currency cur = usd) {
    order_command c = base(order_kind::commission, amount, t, cur);
    c.source = fee_wallet;
    c.destination = merchant;
    return c;
  }

  //! How long a test waits for an order or for quiet before it gives up.
  std::chrono::milliseconds patience = 20s;

  //! How long a wait may take in wall time before the test gives up (a hung engine).
  std::chrono::milliseconds wall_patience = 60s;

  order_reply run(const order_command& c) { return run(c, patience); }
  //! Submits and waits for the final state or a refusal, at most `timeout` of virtual time;
  //! `unavailable` without an order id when none came by then.
  order_reply run(const order_command& c, std::chrono::milliseconds timeout) {
    caf::scoped_actor self{eng.system()};
    uint64_t tag = ++client_tag_;
    self->send(eng.host_for(c.tenant, c.request_id), submit_atom::value, std::vector<submit_item>{submit_item{tag, c}});
    order_reply result;
    result.code = result_code::unavailable;
    bool done = false;
    auto take = [&] {
      bool more = true;
      while (more && !done)
        self->receive(
            [&](replies_atom, std::vector<order_reply>& replies) {
              for (auto& reply : replies)
                if (reply.client_tag == tag) {
                  result = std::move(reply);
                  done = true;
                }
            },
            caf::after(std::chrono::milliseconds(0)) >> [&] { more = false; });
      return done;
    };
    if (!wait_for(take, timeout)) take();
    return result;
  }

  //! Submits every command at once (one message per host, in `chunk`s) and waits for all
  //! their final states or refusals, at most `timeout` of virtual time (which moves only once
  //! the engine settled). Replies in the order of `commands`; one that did not
  //! come gets `unavailable` without an order id.
  std::vector<order_reply> run_all(const std::vector<order_command>& commands, size_t chunk = 200) {
    return run_all(commands, chunk, patience);
  }
  std::vector<order_reply> run_all(const std::vector<order_command>& commands, size_t chunk,
                                   std::chrono::milliseconds timeout) {
    caf::scoped_actor self{eng.system()};
    uint64_t first_tag = client_tag_ + 1;
    client_tag_ += commands.size();
    std::vector<std::vector<submit_item>> by_host(eng.hosts().size());
    for (size_t i = 0; i < commands.size(); ++i) {
      const order_host_actor& host = eng.host_for(commands[i].tenant, commands[i].request_id);
      size_t index = 0;
      while (eng.hosts()[index] != host) ++index;
      by_host[index].push_back(submit_item{first_tag + i, commands[i]});
    }
    for (size_t index = 0; index < by_host.size(); ++index)
      for (size_t from = 0; from < by_host[index].size(); from += chunk) {
        auto begin = by_host[index].begin() + static_cast<std::ptrdiff_t>(from);
        auto end = by_host[index].begin() + static_cast<std::ptrdiff_t>(std::min(by_host[index].size(), from + chunk));
        self->send(eng.hosts()[index], submit_atom::value, std::vector<submit_item>(begin, end));
      }
    std::vector<order_reply> results(commands.size());
    for (auto& r : results) r.code = result_code::unavailable;
    size_t received = 0;
    auto take = [&] {
      bool more = true;
      while (more && received < commands.size())
        self->receive(
            [&](replies_atom, std::vector<order_reply>& replies) {
              for (auto& reply : replies) {
                if (reply.client_tag < first_tag || reply.client_tag - first_tag >= commands.size()) continue;
                results[reply.client_tag - first_tag] = std::move(reply);
                ++received;
              }
            },
            caf::after(std::chrono::milliseconds(0)) >> [&] { more = false; });
      return received == commands.size();
    };
    if (!wait_for(take, timeout)) take();
    return results;
  }

  //! Runs a command that must succeed; returns its reply.
  order_reply must_succeed(const order_command& c) {
    order_reply r = run(c);
    EXPECT_NE(r.id, 0u) << "refused: " << to_string(r.code);
    EXPECT_EQ(r.state, order_state::succeeded) << "reason: " << to_string(r.code);
    EXPECT_EQ(r.code, result_code::ok);
    return r;
  }

  //! Tops a wallet up through the well-behaved channel.
  void fund(wallet_id w, int64_t amount, tenant_id t = tenant, currency cur = usd) {
    must_succeed(top_up(w, amount, good_channel, t, cur));
  }

  balances balance(wallet_id w, tenant_id t = tenant) {
    wallet_view v = eng.get_wallet(t, w);
    EXPECT_EQ(v.code, result_code::ok);
    EXPECT_TRUE(v.journal_ok);
    return v.current;
  }

  wallet_id system(tenant_id t = tenant, currency cur = usd) { return eng.system_wallet(t, cur); }

  //! Every wallet's non-zero balances (from the audit, which reads dormant wallets without
  //! waking them). Wallets at zero are left out: a system wallet may appear on first use.
  std::map<wallet_id, balances> snapshot() {
    EXPECT_TRUE(wait_quiet());
    std::map<wallet_id, balances> result;
    for (const auto& [id, b] : eng.audit_wallets().balances_by_wallet)
      if (b != balances{}) result.emplace(id, b);
    return result;
  }

  //! Waits until no order is in flight, then checks conservation, limits, journals.
  void expect_conserved() {
    ASSERT_TRUE(wait_quiet()) << "orders still in flight";
    wallet_audit audit = eng.audit_wallets();
    EXPECT_TRUE(audit.ok) << audit.detail;
    for (const auto& [cur, sum] : audit.sum_by_currency) EXPECT_EQ(sum, 0) << "currency " << cur;
    EXPECT_EQ(audit.below_limit, 0u);
    EXPECT_EQ(audit.open_transactions, 0u);
    EXPECT_EQ(audit.journal_mismatches, 0u);
  }

  //! The command is refused before an order exists, and nothing changes.
  void expect_refused(const order_command& c, result_code code) {
    auto before = snapshot();
    order_reply r = run(c);
    EXPECT_EQ(r.id, 0u) << "request " << c.request_id;
    EXPECT_EQ(r.code, code) << "request " << c.request_id;
    EXPECT_EQ(r.wallets.size(), 0u);
    EXPECT_EQ(snapshot(), before) << "request " << c.request_id;
    expect_conserved();
  }

  //! The command creates an order that fails with `code`, and nothing changes.
  order_reply expect_failed(const order_command& c, result_code code) {
    auto before = snapshot();
    order_reply r = run(c);
    EXPECT_NE(r.id, 0u) << "request " << c.request_id << " refused with " << to_string(r.code);
    EXPECT_EQ(r.state, order_state::failed) << "request " << c.request_id;
    EXPECT_EQ(r.code, code) << "request " << c.request_id;
    EXPECT_EQ(r.posted_amount, 0);
    EXPECT_EQ(snapshot(), before) << "request " << c.request_id;
    expect_conserved();
    return r;
  }

 private:
  order_command base(order_kind kind, int64_t amount, tenant_id t, currency cur) {
    order_command c;
    c.tenant = t;
    c.request_id = next_request_id();
    c.kind = kind;
    c.amount = amount;
    c.cur = cur;
    return c;
  }

  uint64_t request_seq_ = 0;
  uint64_t client_tag_ = 0;
};

//! The clock of a virtual_harness, built before its engine.
struct virtual_clock_holder {
  manual_clock virtual_clock;
};

//! A harness whose engine runs on virtual time (see harness).
class virtual_harness : private virtual_clock_holder, public harness {
 public:
  explicit virtual_harness(engine_config config = fast_config()) : harness(std::move(config), &virtual_clock) {}
};

//! The balances a reply reports for one wallet; fails the test when the wallet is missing.
inline balances reply_balance(const order_reply& r, wallet_id w) {
  for (const auto& wb : r.wallets)
    if (wb.wallet == w) return wb.after;
  ADD_FAILURE() << "wallet " << w << " not in the reply of order " << r.id;
  return {};
}

inline balances avail(int64_t available) { return balances{available, 0, 0}; }

}  // namespace actor_test
}  // namespace txengine
