// order_registry: a host's orders and the decisions about them (issue 11): new, repeat,
// conflict, refused for room, what a tenant sees, retention, refunds of final payments.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/order_registry.hpp"
#include "test_support.hpp"

using namespace txengine;
using namespace txengine::test;

namespace {

//! A client waiting for an order, as the tests name it.
using waiter_t = int;
using registry = order_registry<waiter_t>;

constexpr int64_t window_ms = 1'000;

order_command transfer(const std::string& request_id, int64_t amount = 1000, tenant_id t = tenant) {
  order_command c = command_of(order_kind::transfer, amount);
  c.request_id = request_id;
  c.tenant = t;
  return c;
}

order_command pay(const std::string& request_id, int64_t amount = 1000) {
  order_command c = command_of(order_kind::pay, amount);
  c.request_id = request_id;
  return c;
}

//! A registry and the host's part in the tests: ids, starting orders and answering their steps.
struct host {
  explicit host(size_t in_flight_max = 100, size_t retained_max = 100, int64_t retention_ms = window_ms)
      : orders(in_flight_max, retained_max, retention_ms) {}

  //! Submits `command` as a host does; returns the verdict (a fresh one is started as order `next_id`).
  registry::verdict submit(const order_command& command, int64_t now, waiter_t client = 1) {
    std::string key = request_key(command.tenant, command.request_id);
    auto verdict = orders.admit(key, command);
    if (verdict.is == admission::running) verdict.live->waiters.push_back(client);
    if (verdict.is != admission::fresh) return verdict;
    if (result_code room = orders.room_for_new(now); room != result_code::ok) {
      verdict.is = admission::refused;
      verdict.code = room;
      return verdict;
    }
    order_id id = next_id++;
    auto it = orders.add_new(key, id, command, no_wallet, config, now, client);
    std::vector<order_action> out;
    it->second.core.start(now, out);
    verdict.id = id;
    return verdict;
  }

  //! Every leg answers `phase` with ok.
  void answer_all(registry::live_iterator it, tcc_phase phase, int64_t now) {
    std::vector<order_action> out;
    for (uint16_t leg = 0; leg < it->second.core.legs().size(); ++leg)
      it->second.core.on_step_reply(leg, phase, result_code::ok, tenant, balances{}, now, out);
  }

  //! Order `id` succeeds at `now` (its final row in writer batch `commit_seq`).
  std::vector<waiter_t> succeed(order_id id, int64_t now, uint64_t commit_seq = 0) {
    auto it = orders.find_live(id);
    EXPECT_NE(it, orders.live_end());
    answer_all(it, tcc_phase::try_, now);
    answer_all(it, tcc_phase::confirm, now);
    EXPECT_EQ(it->second.core.state(), order_state::succeeded);
    auto waiters = std::move(it->second.waiters);
    orders.finish(it, now, commit_seq);
    return waiters;
  }

  //! Order `id` fails at `now`: its first leg refuses the try.
  void fail(order_id id, int64_t now) {
    auto it = orders.find_live(id);
    ASSERT_NE(it, orders.live_end());
    std::vector<order_action> out;
    it->second.core.on_step_reply(0, tcc_phase::try_, result_code::insufficient_funds, tenant, balances{}, now, out);
    for (uint16_t leg = 1; leg < it->second.core.legs().size(); ++leg)
      it->second.core.on_step_reply(leg, tcc_phase::try_, result_code::ok, tenant, balances{}, now, out);
    for (int round = 0; round < 3 && !is_final(it->second.core.state()); ++round) answer_all(it, tcc_phase::cancel, now);
    ASSERT_EQ(it->second.core.state(), order_state::failed);
    orders.finish(it, now, 0);
  }

  registry orders;
  order_config config;
  order_id next_id = 1'000;
};

}  // namespace

// --- Submits ---------------------------------------------------------------------------

TEST(OrderRegistry, AnUnknownRequestIdIsANewOrder) {
  host h;
  auto verdict = h.submit(transfer("r-1"), t_start);
  EXPECT_EQ(verdict.is, admission::fresh);
  EXPECT_EQ(verdict.id, 1'000u);
  EXPECT_EQ(h.orders.running(), 1u);
  EXPECT_EQ(h.orders.finals(), 0u);
  EXPECT_EQ(h.orders.order_of(request_key(tenant, "r-1")), 1'000u);
}

TEST(OrderRegistry, AnInvalidCommandIsRefusedWithItsValidationCode) {
  host h;
  order_command bad = transfer("r-1", 0);
  auto verdict = h.submit(bad, t_start);
  EXPECT_EQ(verdict.is, admission::refused);
  EXPECT_EQ(verdict.code, validate(bad));
  EXPECT_NE(verdict.code, result_code::ok);
  EXPECT_EQ(h.orders.running(), 0u);
  EXPECT_EQ(h.orders.request_ids(), 0u);
}

TEST(OrderRegistry, ARepeatOfARunningOrderWaitsForItsAnswer) {
  host h;
  order_id id = h.submit(transfer("r-1"), t_start, 1).id;
  auto verdict = h.submit(transfer("r-1"), t_start + 1, 2);
  EXPECT_EQ(verdict.is, admission::running);
  EXPECT_EQ(verdict.id, id);
  EXPECT_EQ(h.orders.running(), 1u);
  // Both clients hear the answer, the first one first.
  EXPECT_EQ(h.succeed(id, t_start + 2), (std::vector<waiter_t>{1, 2}));
}

TEST(OrderRegistry, ARepeatOfAFinalOrderIsAnsweredWithIt) {
  host h;
  order_id id = h.submit(transfer("r-1", 700), t_start).id;
  h.succeed(id, t_start + 5);
  auto verdict = h.submit(transfer("r-1", 700), t_start + 6);
  ASSERT_EQ(verdict.is, admission::final);
  EXPECT_EQ(verdict.id, id);
  ASSERT_NE(verdict.record, nullptr);
  EXPECT_EQ(verdict.record->state, order_state::succeeded);
  EXPECT_EQ(verdict.record->reason, result_code::ok);
  EXPECT_EQ(verdict.record->posted_amount, 700);
  EXPECT_EQ(verdict.record->created_ms, t_start);
  EXPECT_EQ(verdict.record->finished_ms, t_start + 5);
  EXPECT_EQ(h.orders.running(), 0u);
  EXPECT_EQ(h.orders.finals(), 1u);
}

TEST(OrderRegistry, AFailedOrderIsRepeatedAsFailedNotRetried) {
  host h;
  order_id id = h.submit(transfer("r-1"), t_start).id;
  h.fail(id, t_start + 1);
  auto verdict = h.submit(transfer("r-1"), t_start + 2);
  ASSERT_EQ(verdict.is, admission::final);
  EXPECT_EQ(verdict.id, id);
  EXPECT_EQ(verdict.record->state, order_state::failed);
  EXPECT_EQ(verdict.record->reason, result_code::insufficient_funds);
}

TEST(OrderRegistry, ARepeatWithOtherContentIsADuplicateConflict) {
  host h;
  order_id id = h.submit(transfer("r-1", 1000), t_start).id;
  auto running = h.submit(transfer("r-1", 1001), t_start + 1, 2);
  EXPECT_EQ(running.is, admission::conflict);
  EXPECT_EQ(running.code, result_code::duplicate_conflict);
  EXPECT_EQ(running.id, id);
  // The conflicting client does not wait for the order.
  auto waiters = h.succeed(id, t_start + 2);
  EXPECT_EQ(waiters, (std::vector<waiter_t>{1}));
  order_command other_kind = pay("r-1", 1000);
  EXPECT_EQ(h.submit(other_kind, t_start + 3).is, admission::conflict);
  EXPECT_EQ(h.submit(transfer("r-1", 999), t_start + 3).code, result_code::duplicate_conflict);
  EXPECT_EQ(h.submit(transfer("r-1", 1000), t_start + 3).is, admission::final);
}

TEST(OrderRegistry, TheSameRequestIdOfAnotherTenantIsAnotherOrder) {
  host h;
  order_id mine = h.submit(transfer("r-1", 1000, tenant), t_start).id;
  auto theirs = h.submit(transfer("r-1", 5, other_tenant), t_start);
  EXPECT_EQ(theirs.is, admission::fresh);  // not even a conflict: their content differs, their key too
  EXPECT_NE(theirs.id, mine);
  EXPECT_EQ(h.orders.running(), 2u);
  EXPECT_EQ(h.orders.order_of(request_key(tenant, "r-1")), mine);
  EXPECT_EQ(h.orders.order_of(request_key(other_tenant, "r-1")), theirs.id);
  // A tenant id's bytes and a request id never run together into another tenant's key.
  EXPECT_NE(request_key(1, std::string("\x02\x00\x00\x00", 4) + "x"), request_key(2, "x"));
}

TEST(OrderRegistry, ARecoveredOrderRunsUnderItsRequestIdWithNoOneWaitingYet) {
  host h;
  order_command command = transfer("r-1");
  std::string key = request_key(tenant, "r-1");
  auto it = h.orders.add_live(key, order_core(42, command, no_wallet, h.config, t_start));
  EXPECT_TRUE(it->second.waiters.empty());
  EXPECT_EQ(h.orders.order_of(key), 42u);
  EXPECT_TRUE(h.orders.knows(42));
  // The client repeats its request after the restart: it waits for the resumed order.
  auto verdict = h.submit(command, t_start + 1, 7);
  EXPECT_EQ(verdict.is, admission::running);
  EXPECT_EQ(verdict.id, 42u);
  std::vector<order_action> out;
  it->second.core.start(t_start + 1, out);
  EXPECT_EQ(h.succeed(42, t_start + 2), (std::vector<waiter_t>{7}));
}

// --- What a tenant sees ----------------------------------------------------------------

TEST(OrderRegistry, AnotherTenantsOrderLooksUnknown) {
  host h;
  order_id id = h.submit(transfer("r-1"), t_start).id;
  EXPECT_EQ(h.orders.find(tenant, id).is, visibility::running);
  EXPECT_EQ(h.orders.find(tenant, id).live->first, id);
  EXPECT_EQ(h.orders.find(other_tenant, id).is, visibility::hidden);
  h.succeed(id, t_start + 1);
  auto mine = h.orders.find(tenant, id);
  ASSERT_EQ(mine.is, visibility::final);
  EXPECT_EQ(mine.record->state, order_state::succeeded);
  auto theirs = h.orders.find(other_tenant, id);
  EXPECT_EQ(theirs.is, visibility::hidden);
  EXPECT_EQ(theirs.record, nullptr);
  EXPECT_EQ(h.orders.find(tenant, id + 1).is, visibility::absent);
}

TEST(OrderRegistry, ARefundOfAnotherTenantsPaymentIsAnsweredAsOfAnUnknownOrder) {
  host h;
  order_id payment = h.submit(pay("p-1", 1000), t_start).id;
  // Running: not refundable yet for its tenant, unknown for another one.
  EXPECT_EQ(h.orders.apply_refund(tenant, payment, 900, tcc_phase::try_, usd, 100).code,
            result_code::original_not_refundable);
  EXPECT_EQ(h.orders.apply_refund(other_tenant, payment, 900, tcc_phase::try_, usd, 100).code,
            result_code::unknown_order);
  h.succeed(payment, t_start + 1);
  auto theirs = h.orders.apply_refund(other_tenant, payment, 900, tcc_phase::try_, usd, 100);
  EXPECT_EQ(theirs.code, result_code::unknown_order);
  EXPECT_EQ(theirs.original, nullptr);
  EXPECT_EQ(h.orders.apply_refund(tenant, 12345, 900, tcc_phase::try_, usd, 100).code, result_code::unknown_order);
  auto mine = h.orders.apply_refund(tenant, payment, 900, tcc_phase::try_, usd, 100);
  EXPECT_EQ(mine.code, result_code::ok);
  ASSERT_NE(mine.original, nullptr);
  EXPECT_EQ(mine.original->command.source, user_a);
  EXPECT_EQ(mine.original->command.destination, merchant_w);
  EXPECT_EQ(h.orders.find_final(payment)->allowance->reserved(), 100);
}

TEST(OrderRegistry, RefundsOfAPaymentNeverExceedIt) {
  host h;
  order_id payment = h.submit(pay("p-1", 1000), t_start).id;
  h.succeed(payment, t_start + 1);
  EXPECT_EQ(h.orders.apply_refund(tenant, payment, 901, tcc_phase::try_, usd, 600).code, result_code::ok);
  EXPECT_NE(h.orders.apply_refund(tenant, payment, 902, tcc_phase::try_, usd, 600).code, result_code::ok);
  EXPECT_EQ(h.orders.apply_refund(tenant, payment, 901, tcc_phase::confirm, usd, 600).code, result_code::ok);
  EXPECT_EQ(h.orders.apply_refund(tenant, payment, 903, tcc_phase::try_, usd, 400).code, result_code::ok);
  EXPECT_EQ(h.orders.find_final(payment)->allowance->refundable(), 0);
  // A transfer is no refund's original.
  order_id other = h.submit(transfer("t-1"), t_start + 2).id;
  h.succeed(other, t_start + 3);
  EXPECT_EQ(h.orders.apply_refund(tenant, other, 904, tcc_phase::try_, usd, 1).code,
            result_code::original_not_refundable);
}

// --- Room ------------------------------------------------------------------------------

TEST(OrderRegistry, PastTheInFlightBoundNewOrdersAreOverloaded) {
  host h(2);
  order_id first = h.submit(transfer("r-1"), t_start).id;
  h.submit(transfer("r-2"), t_start);
  auto refused = h.submit(transfer("r-3"), t_start);
  EXPECT_EQ(refused.is, admission::refused);
  EXPECT_EQ(refused.code, result_code::overloaded);
  EXPECT_EQ(h.orders.order_of(request_key(tenant, "r-3")), 0u);  // nothing recorded: it may be sent again
  // A repeat is still answered: it adds no order.
  EXPECT_EQ(h.submit(transfer("r-1"), t_start).is, admission::running);
  h.succeed(first, t_start + 1);
  EXPECT_EQ(h.submit(transfer("r-3"), t_start + 1).is, admission::fresh);
}

TEST(OrderRegistry, PastTheRetainedBoundTheOldestFinalOrderLeavesForANewOne) {
  host h(100, 2, 1'000'000);
  for (int i = 0; i < 3; ++i) {
    order_id id = h.submit(transfer("r-" + std::to_string(i)), t_start + i).id;
    h.succeed(id, t_start + i);
  }
  EXPECT_EQ(h.orders.finals(), 3u);
  EXPECT_EQ(h.submit(transfer("r-new"), t_start + 10).is, admission::fresh);
  EXPECT_EQ(h.orders.finals(), 2u);
  EXPECT_EQ(h.orders.evicted(), 1u);
  EXPECT_EQ(h.orders.order_of(request_key(tenant, "r-0")), 0u);  // its request id left with it
  EXPECT_NE(h.orders.order_of(request_key(tenant, "r-1")), 0u);
}

TEST(OrderRegistry, PastTheRetainedBoundWithNothingCommittedNewOrdersAreOverloaded) {
  host h(100, 2, 1'000'000);
  for (int i = 0; i < 3; ++i) {
    order_id id = h.submit(transfer("r-" + std::to_string(i)), t_start + i).id;
    h.succeed(id, t_start + i, /*commit_seq=*/i + 1);
  }
  auto refused = h.submit(transfer("r-new"), t_start + 10);
  EXPECT_EQ(refused.is, admission::refused);
  EXPECT_EQ(refused.code, result_code::overloaded);
  h.orders.committed(1);
  EXPECT_EQ(h.submit(transfer("r-new"), t_start + 11).is, admission::fresh);
  EXPECT_EQ(h.orders.evicted(), 1u);
}

// --- Retention -------------------------------------------------------------------------

TEST(OrderRegistry, AFinalOrderLeavesWhenItsWindowPassesAndItsRequestIdIsNewAgain) {
  host h;
  order_id id = h.submit(transfer("r-1"), t_start).id;
  h.succeed(id, t_start + 100);
  EXPECT_EQ(h.orders.evict(t_start + 100 + window_ms - 1), 0u);
  EXPECT_EQ(h.submit(transfer("r-1"), t_start + 100 + window_ms - 1).is, admission::final);
  EXPECT_EQ(h.orders.evict(t_start + 100 + window_ms), 1u);
  EXPECT_EQ(h.orders.finals(), 0u);
  EXPECT_EQ(h.orders.request_ids(), 0u);
  EXPECT_EQ(h.orders.find(tenant, id).is, visibility::absent);
  EXPECT_FALSE(h.orders.knows(id));
  // Without storage a repeat after the window is a new order (with storage the host asks it first).
  EXPECT_EQ(h.submit(transfer("r-1"), t_start + 100 + window_ms).is, admission::fresh);
}

TEST(OrderRegistry, RunningOrdersNeverLeave) {
  host h(100, 1, window_ms);
  order_id a = h.submit(transfer("r-1"), t_start).id;
  order_id b = h.submit(transfer("r-2"), t_start).id;
  EXPECT_EQ(h.orders.evict(t_start + 100 * window_ms), 0u);
  EXPECT_TRUE(h.orders.knows(a));
  EXPECT_TRUE(h.orders.knows(b));
}

TEST(OrderRegistry, PastTheRetainedMaximumTheOldestLeaveWithinTheWindow) {
  host h(100, 3, 1'000'000);
  std::vector<order_id> ids;
  // All started before any is final (a submit past the maximum would evict already).
  for (int i = 0; i < 5; ++i) ids.push_back(h.submit(transfer("r-" + std::to_string(i)), t_start + i).id);
  for (int i = 0; i < 5; ++i) h.succeed(ids[i], t_start + i);
  EXPECT_EQ(h.orders.finals(), 5u);
  EXPECT_EQ(h.orders.evict(t_start + 10), 2u);
  EXPECT_FALSE(h.orders.knows(ids[0]));
  EXPECT_FALSE(h.orders.knows(ids[1]));
  for (int i = 2; i < 5; ++i) EXPECT_TRUE(h.orders.knows(ids[i]));
  EXPECT_EQ(h.orders.finals(), 3u);
  EXPECT_EQ(h.orders.evicted(), 2u);
}

TEST(OrderRegistry, AFinalOrderStaysUntilItsRowIsCommittedAndSoDoThoseAfterIt) {
  host h;
  order_id a = h.submit(transfer("r-1"), t_start).id;
  order_id b = h.submit(transfer("r-2"), t_start).id;
  h.succeed(a, t_start, /*commit_seq=*/3);
  h.succeed(b, t_start, /*commit_seq=*/4);
  int64_t late = t_start + 10 * window_ms;
  EXPECT_EQ(h.orders.evict(late), 0u);
  h.orders.committed(2);
  EXPECT_EQ(h.orders.evict(late), 0u);
  h.orders.committed(3);
  EXPECT_EQ(h.orders.evict(late), 1u);
  EXPECT_FALSE(h.orders.knows(a));
  EXPECT_TRUE(h.orders.knows(b));
  h.orders.committed(1);  // an older notice changes nothing
  EXPECT_EQ(h.orders.committed_seq(), 3u);
  h.orders.committed(4);
  EXPECT_EQ(h.orders.evict(late), 1u);
  EXPECT_EQ(h.orders.finals(), 0u);
}

TEST(OrderRegistry, APaymentWithARefundReservingPartOfItStaysWhileOthersLeave) {
  host h;
  order_id payment = h.submit(pay("p-1", 1000), t_start).id;
  h.succeed(payment, t_start);
  order_id later = h.submit(transfer("t-1"), t_start).id;
  h.succeed(later, t_start + 1);
  ASSERT_EQ(h.orders.apply_refund(tenant, payment, 900, tcc_phase::try_, usd, 100).code, result_code::ok);
  int64_t after_window = t_start + 1 + window_ms;
  EXPECT_EQ(h.orders.evict(after_window), 1u);  // the transfer behind it left
  EXPECT_TRUE(h.orders.knows(payment));
  EXPECT_FALSE(h.orders.knows(later));
  // The refund is confirmed: nothing is reserved, the payment leaves a window after it was pinned.
  ASSERT_EQ(h.orders.apply_refund(tenant, payment, 900, tcc_phase::confirm, usd, 100).code, result_code::ok);
  EXPECT_EQ(h.orders.evict(after_window + window_ms - 1), 0u);
  EXPECT_EQ(h.orders.evict(after_window + window_ms), 1u);
  EXPECT_FALSE(h.orders.knows(payment));
}

TEST(OrderRegistry, AFinalPaymentWhoseRefundsAreSettledLeavesInTime) {
  host h;
  order_id payment = h.submit(pay("p-1", 1000), t_start).id;
  h.succeed(payment, t_start);
  ASSERT_EQ(h.orders.apply_refund(tenant, payment, 900, tcc_phase::try_, usd, 100).code, result_code::ok);
  ASSERT_EQ(h.orders.apply_refund(tenant, payment, 900, tcc_phase::cancel, usd, 0).code, result_code::ok);
  EXPECT_EQ(h.orders.evict(t_start + window_ms), 1u);
}

// --- Read back from storage ------------------------------------------------------------

final_order stored(const order_command& command, order_state state, int64_t posted) {
  final_order record;
  record.command = command;
  record.state = state;
  record.posted_amount = posted;
  record.created_ms = 5;
  record.finished_ms = 6;
  return record;
}

TEST(OrderRegistry, AFinalOrderReadBackByItsRequestIdAnswersRepeatsWithItsRefundsUnknown) {
  host h;
  order_command command = pay("p-1", 1000);
  std::string key = request_key(tenant, "p-1");
  final_order& record = h.orders.read_back(key, 77, stored(command, order_state::succeeded, 1000), t_start);
  EXPECT_TRUE(record.refunds_unknown);
  EXPECT_EQ(h.orders.finals(), 1u);
  EXPECT_EQ(h.orders.order_of(key), 77u);
  auto repeat = h.orders.admit(key, command);
  ASSERT_EQ(repeat.is, admission::final);
  EXPECT_EQ(repeat.id, 77u);
  EXPECT_EQ(repeat.record->finished_ms, 6);
  order_command changed = command;
  changed.amount = 999;
  EXPECT_EQ(h.orders.admit(key, changed).is, admission::conflict);
  // Read back again (two lookups crossed): the first record stays, retained once.
  h.orders.read_back(key, 77, stored(command, order_state::succeeded, 1000), t_start + 1);
  EXPECT_EQ(h.orders.finals(), 1u);
  EXPECT_EQ(h.orders.evict(t_start + window_ms), 1u);
  EXPECT_EQ(h.orders.finals(), 0u);
  EXPECT_EQ(h.orders.evict(t_start + 1 + window_ms), 0u);  // its second retention entry is stale
}

TEST(OrderRegistry, AnOriginalReadBackWithItsRefundsHasItsAllowanceRebuilt) {
  host h;
  order_command command = pay("p-1", 1000);
  h.orders.read_back(request_key(tenant, "p-1"), 77, stored(command, order_state::succeeded, 1000), t_start);
  // The order loader read it with its refunds: one took 300, one holds 200 reserved.
  std::vector<stored_refund_state> refunds = {{901, order_state::succeeded, 300, true},
                                              {902, order_state::trying, 200, true}};
  auto misfits = h.orders.adopt(77, stored(command, order_state::succeeded, 1000), refunds, t_start + 1);
  EXPECT_TRUE(misfits.empty());
  final_order* record = h.orders.find_final(77);
  ASSERT_NE(record, nullptr);
  EXPECT_FALSE(record->refunds_unknown);
  ASSERT_NE(record->allowance, nullptr);
  EXPECT_EQ(record->allowance->refunded(), 300);
  EXPECT_EQ(record->allowance->reserved(), 200);
  EXPECT_EQ(h.orders.finals(), 1u);
  EXPECT_NE(h.orders.apply_refund(tenant, 77, 903, tcc_phase::try_, usd, 501).code, result_code::ok);
  EXPECT_EQ(h.orders.apply_refund(tenant, 77, 903, tcc_phase::try_, usd, 500).code, result_code::ok);
}

TEST(OrderRegistry, AnOriginalNotInMemoryIsAdoptedWithoutARequestId) {
  host h;
  order_command command = pay("p-1", 1000);
  std::vector<stored_refund_state> refunds = {{901, order_state::succeeded, 900, true},
                                              {902, order_state::succeeded, 200, true}};  // corrupt: past the amount
  auto misfits = h.orders.adopt(77, stored(command, order_state::succeeded, 1000), refunds, t_start);
  ASSERT_EQ(misfits.size(), 1u);
  EXPECT_EQ(misfits[0].id, 902u);
  EXPECT_EQ(h.orders.find_final(77)->allowance->refunded(), 900);
  EXPECT_EQ(h.orders.order_of(request_key(tenant, "p-1")), 0u);
  EXPECT_EQ(h.orders.find(tenant, 77).is, visibility::final);
  // Not a payment that succeeded: no allowance, its refunds known all the same.
  h.orders.adopt(78, stored(transfer("t-1"), order_state::succeeded, 1000), {}, t_start);
  EXPECT_EQ(h.orders.find_final(78)->allowance, nullptr);
  EXPECT_FALSE(h.orders.find_final(78)->refunds_unknown);
}

// --- Randomized against a model --------------------------------------------------------

namespace {

//! The registry's rules as the simplest maps: what each request id names, which orders are
//! running or final (and when final), and what each final order's row commit is.
struct model {
  struct order {
    order_command command;
    bool final = false;
    int64_t final_since = 0;
    uint64_t commit_seq = 0;
  };
  std::map<std::string, order_id> requests;
  std::map<order_id, order> orders;
  std::vector<order_id> final_order_of_finishing;  // final orders in the order they became final
  uint64_t committed = 0;

  size_t running() const {
    size_t n = 0;
    for (const auto& [id, o] : orders) n += !o.final;
    return n;
  }
  size_t finals() const { return orders.size() - running(); }

  //! Oldest first while past the window or the maximum; stops at the first uncommitted one.
  void evict(int64_t now, int64_t retention_ms, size_t retained_max) {
    size_t retained = finals();
    while (!final_order_of_finishing.empty()) {
      order_id id = final_order_of_finishing.front();
      const order& o = orders.at(id);
      if (now - o.final_since < retention_ms && retained <= retained_max) break;
      if (o.commit_seq > committed) break;
      final_order_of_finishing.erase(final_order_of_finishing.begin());
      requests.erase(request_key(o.command.tenant, o.command.request_id));
      orders.erase(id);
      --retained;
    }
  }
};

}  // namespace

TEST(OrderRegistry, RandomizedAgainstAMapModel) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    auto pick = [&](uint32_t n) { return static_cast<uint32_t>(rng() % n); };
    const size_t in_flight_max = 1 + pick(8);
    const size_t retained_max = 1 + pick(12);
    const int64_t retention_ms = 50 + pick(200);
    host h(in_flight_max, retained_max, retention_ms);
    model m;
    int64_t now = t_start;
    uint64_t seq = 0;
    for (int step = 0; step < 3'000; ++step) {
      now += pick(10);
      uint32_t what = pick(10);
      if (what < 5) {
        // A submit of one of a few request ids of two tenants, sometimes with other content.
        tenant_id t = pick(2) == 0 ? tenant : other_tenant;
        order_command c = transfer("r-" + std::to_string(pick(15)), 1000 + pick(2), t);
        std::string key = request_key(t, c.request_id);
        auto expected = admission::fresh;
        order_id expected_id = 0;
        if (auto known = m.requests.find(key); known != m.requests.end()) {
          const auto& o = m.orders.at(known->second);
          expected_id = known->second;
          expected = !o.command.same_content(c) ? admission::conflict : o.final ? admission::final : admission::running;
        }
        // Room (a submit evicts first when past the retained maximum).
        result_code room = result_code::ok;
        if (expected == admission::fresh) {
          if (m.running() >= in_flight_max) {
            room = result_code::overloaded;
          } else if (m.finals() > retained_max) {
            m.evict(now, retention_ms, retained_max);
            if (m.finals() > retained_max) room = result_code::overloaded;
          }
        }
        auto verdict = h.submit(c, now);
        if (room != result_code::ok) {
          ASSERT_EQ(verdict.is, admission::refused);
          ASSERT_EQ(verdict.code, room);
        } else {
          ASSERT_EQ(verdict.is, expected);
          if (expected != admission::fresh) {
            ASSERT_EQ(verdict.id, expected_id);
          } else {
            m.requests[key] = verdict.id;
            m.orders[verdict.id] = model::order{c};
          }
        }
      } else if (what < 8) {
        // A running order finishes (its row in the next writer batch half the time).
        std::vector<order_id> running;
        for (const auto& [id, o] : m.orders)
          if (!o.final) running.push_back(id);
        if (running.empty()) continue;
        order_id id = running[pick(static_cast<uint32_t>(running.size()))];
        uint64_t commit = pick(2) == 0 ? 0 : ++seq;
        if (pick(3) == 0) {
          h.fail(id, now);
          auto it = m.orders.find(id);
          it->second.final = true;
          it->second.final_since = now;
          it->second.commit_seq = 0;
        } else {
          h.succeed(id, now, commit);
          auto it = m.orders.find(id);
          it->second.final = true;
          it->second.final_since = now;
          it->second.commit_seq = commit;
        }
        m.final_order_of_finishing.push_back(id);
      } else if (what < 9) {
        // The writer commits some batches.
        if (seq > m.committed) {
          uint64_t to = m.committed + 1 + pick(static_cast<uint32_t>(seq - m.committed));
          m.committed = to;
          h.orders.committed(to);
        }
      } else {
        // After input the host evicts.
        size_t before = m.orders.size();
        m.evict(now, retention_ms, retained_max);
        ASSERT_EQ(h.orders.evict(now), before - m.orders.size());
      }
      ASSERT_EQ(h.orders.running(), m.running());
      ASSERT_EQ(h.orders.finals(), m.finals());
      ASSERT_EQ(h.orders.request_ids(), m.requests.size());
      // What each tenant sees of a few orders.
      for (const auto& [id, o] : m.orders) {
        visibility mine = o.final ? visibility::final : visibility::running;
        ASSERT_EQ(h.orders.find(o.command.tenant, id).is, mine);
        tenant_id other = o.command.tenant == tenant ? other_tenant : tenant;
        ASSERT_EQ(h.orders.find(other, id).is, visibility::hidden);
        ASSERT_TRUE(h.orders.knows(id));
      }
      for (const auto& [key, id] : m.requests) ASSERT_EQ(h.orders.order_of(key), id);
    }
  }
}
