// Randomized tests against sequential models.
//
// 1. Concurrent: thousands of random orders of every kind on a few hot wallets, 200 at a
//    time (on virtual time: each wave submitted at once), some with repeated request ids, through a well-behaved and a
//    misbehaving channel. Afterwards: conservation, every succeeded order replayed in a
//    simple model gives every wallet's balance exactly, limits hold, every order is final,
//    failures carry only business reasons, repeats answer with the original order.
// 2. Sequential: one order at a time through the engine and through a model that decides
//    success or failure itself; every outcome and every balance must agree exactly.
#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <gtest/gtest.h>

#include "apps/load_driver.hpp"
#include "tests/actors/actor_test_support.hpp"

namespace txengine::actor_test {
namespace {

channel_config misbehaving_channel(uint64_t seed) {
  channel_config c;
  c.latency_ms = 2;
  c.settle_ms = 10;
  c.decline_ppm = 50'000;
  c.reply_lost_ppm = 50'000;
  c.reply_unknown_ppm = 100'000;
  c.submit_lost_ppm = 20'000;
  c.partial_ppm = 50'000;
  c.seed = seed;
  return c;
}

struct hot_wallets {
  std::vector<wallet_id> users;
  std::vector<wallet_id> merchants;
  wallet_id fee = no_wallet;
  wallet_id system = no_wallet;
  std::map<wallet_id, int64_t> limits;
};

hot_wallets make_hot_wallets(harness& h) {
  hot_wallets w;
  for (int i = 0; i < 5; ++i) w.users.push_back(h.wallet(wallet_kind::user, tenant, usd, i == 0 ? 3'000 : 0));
  for (int i = 0; i < 2; ++i) w.merchants.push_back(h.wallet(wallet_kind::merchant));
  w.fee = h.wallet(wallet_kind::fee);
  w.system = h.system();
  w.limits[w.users[0]] = 3'000;
  return w;
}

//! Expected available balances, rebuilt from succeeded orders (addition commutes).
struct replay_model {
  std::map<wallet_id, int64_t> available;
  void move(wallet_id from, wallet_id to, int64_t amount) {
    available[from] -= amount;
    available[to] += amount;
  }
};

struct paid_record {
  order_id id;
  wallet_id payer;
  wallet_id merchant;
  int64_t amount;
};

struct seen_reply {
  order_command command;
  order_reply reply;
};

class random_orders : public workload {
 public:
  random_orders(const hot_wallets& w, uint64_t seed, replay_model& model)
      : w_(w), rng_(seed), model_(model), prefix_("rnd-" + std::to_string(seed) + "-") {}

  order_command next(uint64_t sequence) override {
    if (!recent_.empty() && rng_() % 100 < 4) {  // a repeat of an earlier request, same content
      ++repeats_sent;
      return recent_[rng_() % recent_.size()];
    }
    order_command c;
    c.tenant = tenant;
    c.request_id = prefix_ + std::to_string(sequence);
    c.cur = usd;
    c.amount = 1 + static_cast<int64_t>(rng_() % 4'000);
    unsigned dice = static_cast<unsigned>(rng_() % 100);
    if (dice < 25) {
      c.kind = order_kind::transfer;
      size_t i = rng_() % w_.users.size();
      size_t j = (i + 1 + rng_() % (w_.users.size() - 1)) % w_.users.size();
      c.source = w_.users[i];
      c.destination = w_.users[j];
    } else if (dice < 50) {
      c.kind = order_kind::pay;
      c.source = w_.users[rng_() % w_.users.size()];
      c.destination = w_.merchants[rng_() % w_.merchants.size()];
      if (rng_() % 2 == 0 && c.amount > 1) {
        c.fee_wallet = w_.fee;
        c.fee_amount = 1 + static_cast<int64_t>(rng_() % static_cast<uint64_t>(c.amount / 4 + 1));
        if (c.fee_amount >= c.amount) c.fee_amount = c.amount - 1;
      }
    } else if (dice < 60) {
      c.kind = order_kind::top_up;
      c.destination = rng_() % 4 == 0 ? w_.merchants[rng_() % w_.merchants.size()] : w_.users[rng_() % w_.users.size()];
      c.channel = rng_() % 2 ? good_channel : bad_channel;
    } else if (dice < 70) {
      c.kind = order_kind::withdraw;
      c.source = rng_() % 4 == 0 ? w_.merchants[rng_() % w_.merchants.size()] : w_.users[rng_() % w_.users.size()];
      c.channel = rng_() % 2 ? good_channel : bad_channel;
    } else if (dice < 90 && !paid_.empty()) {
      c.kind = order_kind::refund;
      const paid_record& original = paid_[rng_() % paid_.size()];
      c.original_order = original.id;
      c.amount = 1 + static_cast<int64_t>(rng_() % static_cast<uint64_t>(original.amount * 2 / 3 + 1));
    } else {
      c.kind = order_kind::commission;
      c.source = w_.fee;
      c.destination = w_.merchants[rng_() % w_.merchants.size()];
      c.amount = 1 + static_cast<int64_t>(rng_() % 300);
    }
    if (recent_.size() < 64) recent_.push_back(c);
    else recent_[rng_() % recent_.size()] = c;
    return c;
  }

  void on_reply(const order_command& command, const order_reply& reply) override {
    replies.push_back({command, reply});
    if (reply.id == 0 || reply.duplicate || reply.state != order_state::succeeded) return;
    switch (command.kind) {
      case order_kind::top_up: model_.move(w_.system, command.destination, reply.posted_amount); break;
      case order_kind::withdraw: model_.move(command.source, w_.system, reply.posted_amount); break;
      case order_kind::transfer:
      case order_kind::commission: model_.move(command.source, command.destination, command.amount); break;
      case order_kind::pay:
        model_.move(command.source, command.destination, command.amount - command.fee_amount);
        if (command.fee_amount > 0) model_.move(command.source, command.fee_wallet, command.fee_amount);
        paid_.push_back({reply.id, command.source, command.destination, command.amount});
        pays_[reply.id] = paid_.back();
        break;
      case order_kind::refund: {
        auto found = pays_.find(command.original_order);
        if (found == pays_.end()) {
          ADD_FAILURE() << "refund " << reply.id << " of an order that is not a known payment";
          break;
        }
        model_.move(found->second.merchant, found->second.payer, command.amount);
        refunded_[command.original_order] += command.amount;
        break;
      }
    }
  }

  std::vector<seen_reply> replies;
  uint64_t repeats_sent = 0;
  std::unordered_map<order_id, paid_record> pays_;
  std::map<order_id, int64_t> refunded_;

 private:
  const hot_wallets& w_;
  std::mt19937_64 rng_;
  replay_model& model_;
  std::string prefix_;
  std::vector<order_command> recent_;
  std::vector<paid_record> paid_;
};

//! Virtual time: `orders` commands of `load`, `concurrency` of them in flight at once (each wave
//! submitted together and answered before the next is drawn), every reply handed to the load.
//! Returns how many replies came.
uint64_t run_waves(harness& h, workload& load, uint64_t orders, size_t concurrency) {
  uint64_t answered = 0;
  for (uint64_t sequence = 0; sequence < orders;) {
    std::vector<order_command> wave;
    for (; sequence < orders && wave.size() < concurrency; ++sequence) wave.push_back(load.next(sequence));
    std::vector<order_reply> replies = h.run_all(wave, concurrency);
    for (size_t i = 0; i < wave.size(); ++i) {
      load.on_reply(wave[i], replies[i]);
      answered += replies[i].code != result_code::unavailable || replies[i].id != 0;
    }
  }
  return answered;
}

class EngineRandomized : public ::testing::TestWithParam<uint64_t> {};

TEST_P(EngineRandomized, ConcurrentOrdersMatchReplayModel) {
  const uint64_t seed = GetParam();
  engine_config config = fast_config();
  config.order.try_deadline_ms = 10'000;  // under load a try is slow, never lost
  config.channels.emplace_back(bad_channel, misbehaving_channel(seed));
  virtual_harness h(config);
  hot_wallets w = make_hot_wallets(h);
  replay_model model;
  // Funding through the well-behaved channel.
  for (wallet_id u : w.users) {
    h.fund(u, 20'000);
    model.move(w.system, u, 20'000);
  }
  h.fund(w.merchants[0], 5'000);
  model.move(w.system, w.merchants[0], 5'000);

  random_orders load(w, seed, model);
  load_options options;
  options.orders = 4'000;
  options.concurrency = 200;
  ASSERT_EQ(run_waves(h, load, options.orders, options.concurrency), options.orders);
  ASSERT_TRUE(h.wait_quiet());

  // (a) conservation, (c) limits, journals, no open transaction.
  wallet_audit audit = h.eng.audit_wallets();
  EXPECT_TRUE(audit.ok) << audit.detail;
  ASSERT_EQ(audit.sum_by_currency.count("USD"), 1u);
  EXPECT_EQ(audit.sum_by_currency.at("USD"), 0);
  EXPECT_EQ(audit.below_limit, 0u);
  EXPECT_EQ(audit.open_transactions, 0u);
  EXPECT_EQ(audit.journal_mismatches, 0u);

  // (b) replay of every succeeded order gives every wallet's balance exactly.
  for (const auto& [id, b] : audit.balances_by_wallet) {
    int64_t expected = model.available.count(id) ? model.available.at(id) : 0;
    EXPECT_EQ(b.available, expected) << "wallet " << id;
    EXPECT_EQ(b.frozen, 0) << "wallet " << id;
    EXPECT_EQ(b.incoming, 0) << "wallet " << id;
    // (c) again, with the limits this test set.
    if (id != w.system) {
      int64_t limit = w.limits.count(id) ? w.limits.at(id) : 0;
      EXPECT_GE(b.available, -limit) << "wallet " << id;
    }
  }

  // (d) every order final, as its reply said; (e) only business reasons for failures.
  const std::set<result_code> expected_failures = {result_code::insufficient_funds,
                                                   result_code::refund_exceeds_original,
                                                   result_code::channel_declined};
  EXPECT_EQ(h.eng.stats().orders.in_flight, 0u);
  std::map<std::string, std::vector<const seen_reply*>> by_request;
  std::map<result_code, int> failures;
  size_t succeeded = 0;
  for (const auto& seen : load.replies) {
    const order_reply& r = seen.reply;
    ASSERT_NE(r.id, 0u) << "refused with " << to_string(r.code);
    by_request[seen.command.request_id].push_back(&seen);
    EXPECT_TRUE(is_final(r.state));
    if (r.duplicate) continue;
    order_reply stored = h.eng.get_order(tenant, r.id);
    EXPECT_EQ(stored.id, r.id);
    EXPECT_EQ(stored.state, r.state) << "order " << r.id;
    EXPECT_EQ(stored.code, r.code) << "order " << r.id;
    EXPECT_EQ(stored.posted_amount, r.posted_amount) << "order " << r.id;
    if (r.state == order_state::succeeded) {
      ++succeeded;
      EXPECT_EQ(r.code, result_code::ok);
      if (seen.command.kind == order_kind::top_up || seen.command.kind == order_kind::withdraw) {
        EXPECT_GT(r.posted_amount, 0);
        EXPECT_LE(r.posted_amount, r.amount);
      } else {
        EXPECT_EQ(r.posted_amount, r.amount);
      }
    } else {
      ++failures[r.code];
      EXPECT_TRUE(expected_failures.count(r.code)) << "order " << r.id << " failed with " << to_string(r.code);
      EXPECT_EQ(r.posted_amount, 0);
    }
  }
  // Repeats answer with the original order, which ran once.
  for (const auto& [request, seen] : by_request) {
    size_t originals = 0;
    for (const auto* s : seen) {
      EXPECT_EQ(s->reply.id, seen.front()->reply.id) << request;
      EXPECT_EQ(s->reply.state, seen.front()->reply.state) << request;
      EXPECT_EQ(s->reply.code, seen.front()->reply.code) << request;
      if (!s->reply.duplicate) ++originals;
    }
    EXPECT_EQ(originals, 1u) << request;
  }
  EXPECT_GT(load.repeats_sent, 50u);
  EXPECT_EQ(h.eng.stats().orders.duplicates, load.repeats_sent);
  // Refunds never exceed their payment.
  for (const auto& [original, total] : load.refunded_) EXPECT_LE(total, load.pays_.at(original).amount);
  // The mix really exercised the engine.
  EXPECT_GT(succeeded, options.orders / 3);
  EXPECT_GT(failures[result_code::insufficient_funds], 0);
  EXPECT_GT(failures[result_code::channel_declined], 0);
  EXPECT_GT(load.refunded_.size(), 10u);
}

INSTANTIATE_TEST_SUITE_P(Seeds, EngineRandomized, ::testing::Values(uint64_t{11}, uint64_t{2026}, uint64_t{777}));

// --- Sequential: the model decides every outcome ------------------------------------------

class sequential_model {
 public:
  struct wallet {
    wallet_kind kind;
    int64_t available = 0;
    int64_t limit = 0;
    bool frozen = false;
  };
  struct payment {
    wallet_id payer;
    wallet_id merchant;
    int64_t amount;
    int64_t refunded = 0;
  };

  std::map<wallet_id, wallet> wallets;
  std::map<order_id, order_kind> succeeded_orders;
  std::map<order_id, payment> payments;
  wallet_id system = no_wallet;

  //! The reasons an order may fail with (several when several legs refuse: the first
  //! answer wins), or {ok} when it must succeed.
  std::set<result_code> expect(const order_command& c) const {
    std::set<result_code> reasons;
    auto debit = [&](wallet_id id, uint16_t kinds, int64_t amount) {
      const wallet& w = wallets.at(id);
      if (!(kinds & (1u << static_cast<unsigned>(w.kind)))) reasons.insert(result_code::wallet_kind_not_allowed);
      else if (w.frozen) reasons.insert(result_code::wallet_frozen);
      else if (w.kind != wallet_kind::system && w.available - amount < -w.limit)
        reasons.insert(result_code::insufficient_funds);
    };
    auto credit = [&](wallet_id id, uint16_t kinds) {
      const wallet& w = wallets.at(id);
      if (!(kinds & (1u << static_cast<unsigned>(w.kind)))) reasons.insert(result_code::wallet_kind_not_allowed);
    };
    const uint16_t payers = kinds_mask({wallet_kind::user, wallet_kind::merchant});
    const uint16_t merchants = kinds_mask({wallet_kind::merchant});
    const uint16_t fees = kinds_mask({wallet_kind::fee});
    switch (c.kind) {
      case order_kind::top_up: credit(c.destination, payers); break;
      case order_kind::withdraw: debit(c.source, payers, c.amount); break;
      case order_kind::transfer:
        debit(c.source, payers, c.amount);
        credit(c.destination, payers);
        break;
      case order_kind::pay:
        debit(c.source, payers, c.amount);
        credit(c.destination, merchants);
        if (c.fee_amount > 0) credit(c.fee_wallet, fees);
        break;
      case order_kind::commission:
        debit(c.source, fees, c.amount);
        credit(c.destination, merchants);
        break;
      case order_kind::refund: {
        auto found = payments.find(c.original_order);
        if (found == payments.end()) {
          reasons.insert(succeeded_orders.count(c.original_order) || failed_orders.count(c.original_order)
                             ? result_code::original_not_refundable
                             : result_code::unknown_order);
        } else if (c.amount > found->second.amount - found->second.refunded) {
          reasons.insert(result_code::refund_exceeds_original);
        } else {
          debit(found->second.merchant, merchants, c.amount);
          credit(found->second.payer, payers);
        }
        break;
      }
    }
    if (reasons.empty()) reasons.insert(result_code::ok);
    return reasons;
  }

  void apply(const order_command& c, order_id id) {
    auto move = [&](wallet_id from, wallet_id to, int64_t amount) {
      wallets.at(from).available -= amount;
      wallets.at(to).available += amount;
    };
    succeeded_orders[id] = c.kind;
    switch (c.kind) {
      case order_kind::top_up: move(system, c.destination, c.amount); break;
      case order_kind::withdraw: move(c.source, system, c.amount); break;
      case order_kind::transfer:
      case order_kind::commission: move(c.source, c.destination, c.amount); break;
      case order_kind::pay:
        move(c.source, c.destination, c.amount - c.fee_amount);
        if (c.fee_amount > 0) move(c.source, c.fee_wallet, c.fee_amount);
        payments[id] = {c.source, c.destination, c.amount};
        break;
      case order_kind::refund: {
        payment& p = payments.at(c.original_order);
        move(p.merchant, p.payer, c.amount);
        p.refunded += c.amount;
        break;
      }
    }
  }

  std::set<order_id> failed_orders;
};

TEST(EngineSequentialModel, EveryOutcomeAndBalanceMatches) {
  for (uint64_t seed : {5u, 6u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    virtual_harness h;
    std::mt19937_64 rng(seed);
    sequential_model model;
    model.system = h.system();
    model.wallets[model.system] = {wallet_kind::system};
    std::vector<wallet_id> users, merchants, all;
    for (int i = 0; i < 4; ++i) {
      int64_t limit = i == 0 ? 1'500 : 0;
      users.push_back(h.wallet(wallet_kind::user, tenant, usd, limit));
      model.wallets[users.back()] = {wallet_kind::user, 0, limit};
    }
    for (int i = 0; i < 2; ++i) {
      merchants.push_back(h.wallet(wallet_kind::merchant));
      model.wallets[merchants.back()] = {wallet_kind::merchant};
    }
    wallet_id fee = h.wallet(wallet_kind::fee);
    model.wallets[fee] = {wallet_kind::fee};
    all = users;
    all.insert(all.end(), merchants.begin(), merchants.end());
    all.push_back(fee);
    auto any_of = [&](const std::vector<wallet_id>& v) { return v[rng() % v.size()]; };
    std::vector<order_id> orders_seen;
    std::map<std::string, int> outcomes;

    for (int step = 0; step < 500; ++step) {
      // Now and then an admin change: freeze or unfreeze a user or a merchant.
      if (rng() % 100 < 4) {
        wallet_id target = rng() % 3 ? any_of(users) : any_of(merchants);
        bool freeze = !model.wallets.at(target).frozen;
        wallet_view v = h.eng.admin(tenant, target, freeze ? admin_op::freeze : admin_op::unfreeze);
        ASSERT_EQ(v.code, result_code::ok);
        model.wallets.at(target).frozen = freeze;
      }
      int64_t amount = 1 + static_cast<int64_t>(rng() % 3'000);
      order_command c;
      unsigned dice = static_cast<unsigned>(rng() % 100);
      if (dice < 15) {
        c = h.top_up(rng() % 8 ? any_of(users) : any_of(all), amount * 2);
      } else if (dice < 25) {
        c = h.withdraw(rng() % 8 ? any_of(users) : any_of(all), amount);
      } else if (dice < 45) {
        wallet_id from = rng() % 10 ? any_of(users) : any_of(all);
        wallet_id to = rng() % 10 ? any_of(users) : any_of(all);
        if (from == to) continue;
        c = h.transfer(from, to, amount);
      } else if (dice < 70) {
        wallet_id payer = rng() % 10 ? any_of(users) : any_of(all);
        wallet_id merchant = rng() % 10 ? any_of(merchants) : any_of(all);
        if (payer == merchant) continue;
        if (rng() % 2 && amount > 1 && payer != fee && merchant != fee)
          c = h.pay(payer, merchant, amount, fee, 1 + amount / 10 >= amount ? amount - 1 : 1 + amount / 10);
        else
          c = h.pay(payer, merchant, amount);
      } else if (dice < 90 && !orders_seen.empty()) {
        // Mostly refunds of payments, sometimes of other orders or of made-up ids.
        order_id original;
        if (!model.payments.empty() && rng() % 5) {
          auto it = model.payments.begin();
          std::advance(it, static_cast<long>(rng() % model.payments.size()));
          original = it->first;
          int64_t left = it->second.amount - it->second.refunded;
          amount = rng() % 6 == 0 ? left + 1 : 1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(left / 2 + 1));
        } else if (rng() % 4) {
          original = orders_seen[rng() % orders_seen.size()];
        } else {
          original = (order_id{1'000} << 22) | ((rng() % 2) << 12) | (rng() % 100);  // never issued
        }
        c = h.refund(original, amount);
      } else {
        wallet_id from = rng() % 8 ? fee : any_of(all);
        wallet_id to = rng() % 8 ? any_of(merchants) : any_of(all);
        if (from == to) continue;
        c = h.commission(from, to, 1 + amount / 10);
      }
      std::set<result_code> expected = model.expect(c);
      order_reply r = h.run(c);
      ASSERT_NE(r.id, 0u) << "step " << step << ": refused with " << to_string(r.code);
      orders_seen.push_back(r.id);
      bool expect_success = expected.count(result_code::ok) == 1;
      ASSERT_EQ(r.state, expect_success ? order_state::succeeded : order_state::failed)
          << "step " << step << " " << to_string(c.kind) << " amount " << c.amount << ": reason "
          << to_string(r.code);
      ASSERT_TRUE(expected.count(r.code)) << "step " << step << " " << to_string(c.kind) << ": got "
                                          << to_string(r.code) << ", expected " << to_string(*expected.begin());
      ++outcomes[std::string(to_string(r.code))];
      if (expect_success) {
        EXPECT_EQ(r.posted_amount, c.amount);
        model.apply(c, r.id);
      } else {
        model.failed_orders.insert(r.id);
      }
      // The reply's balances are the model's, since nothing else runs.
      for (const auto& wb : r.wallets)
        ASSERT_EQ(wb.after, avail(model.wallets.at(wb.wallet).available))
            << "step " << step << " wallet " << wb.wallet << " after " << to_string(c.kind);
    }
    ASSERT_TRUE(h.wait_quiet());
    wallet_audit audit = h.eng.audit_wallets();
    EXPECT_TRUE(audit.ok) << audit.detail;
    EXPECT_EQ(audit.sum_by_currency["USD"], 0);
    EXPECT_EQ(audit.balances_by_wallet.size(), model.wallets.size());
    for (const auto& [id, w] : model.wallets) {
      EXPECT_EQ(audit.balances_by_wallet[id], avail(w.available)) << "wallet " << id;
      EXPECT_EQ(h.balance(id), avail(w.available)) << "wallet " << id;
    }
    // The walk met successes and each kind of business refusal.
    for (const char* code : {"ok", "insufficient_funds", "wallet_frozen", "wallet_kind_not_allowed",
                             "refund_exceeds_original", "original_not_refundable", "unknown_order"})
      EXPECT_GT(outcomes[code], 0) << code;
  }
}

}  // namespace
}  // namespace txengine::actor_test
