// Tenant isolation (issue 13, DESIGN.md "Tenants"): tenant B learns nothing about tenant A
// through any request, neither balances nor which wallets and orders exist, and nothing of A
// changes. Each probe naming one of A's wallets or orders is sent again naming an id that does
// not exist; both answers must be the same field by field, once the ids the caller chose and
// the new order's own id and times are set aside.
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "ports/clock.hpp"
#include "core/order_id_generator.hpp"
#include "tests/actors/actor_test_support.hpp"

namespace txengine::actor_test {
namespace {

constexpr tenant_id tenant_a = tenant;
constexpr tenant_id tenant_b = other_tenant;
//! No wallet has this id: ids are handed out from 1 and the test creates a few dozen.
constexpr wallet_id ghost_wallet = 900'000;

//! An order reply as text, without what differs between two probes by construction: the
//! wallet the probe named (shown as X), the order's id (only whether there is one), request id,
//! times and client tag.
std::string describe(const order_reply& r, wallet_id probed) {
  auto id = [probed](wallet_id w) { return w == probed ? std::string("X") : std::to_string(w); };
  std::ostringstream os;
  os << "order " << (r.id == 0 ? "none" : "some") << " tenant " << r.tenant << " kind " << to_string(r.kind)
     << " state " << to_string(r.state) << " code " << to_string(r.code) << " amount " << r.amount << " posted "
     << r.posted_amount << " currency " << (r.cur.valid() ? r.cur.code() : std::string("-")) << " source "
     << id(r.source) << " destination " << id(r.destination) << " duplicate " << r.duplicate << " wallets [";
  for (const auto& w : r.wallets)
    os << " " << id(w.wallet) << ":" << w.after.available << "/" << w.after.frozen << "/" << w.after.incoming;
  os << " ]";
  return os.str();
}

//! A wallet view as text, every field.
std::string describe(const wallet_view& v) {
  std::ostringstream os;
  os << "code " << to_string(v.code) << " id " << v.info.id << " tenant " << v.info.tenant << " currency "
     << (v.info.cur.valid() ? v.info.cur.code() : std::string("-")) << " kind " << to_string(v.info.kind)
     << " status " << to_string(v.info.status) << " limit " << v.info.overdraft_limit << " balances "
     << v.current.available << "/" << v.current.frozen << "/" << v.current.incoming << " open "
     << v.open_transactions << " sequence " << v.journal_sequence << " journal_ok " << v.journal_ok;
  return os.str();
}

std::string describe(const tenant_stats& s) {
  std::ostringstream os;
  os << "submitted " << s.submitted << " refused " << s.refused << " duplicates " << s.duplicates << " succeeded "
     << s.succeeded << " failed " << s.failed << " in_flight " << s.in_flight << " wallets " << s.wallets;
  return os.str();
}

std::string describe(const std::optional<tenant_stats>& s) { return s ? describe(*s) : "no answer"; }

std::string describe(const std::pair<result_code, std::vector<journal_entry>>& m) {
  return std::string(to_string(m.first)) + " entries " + std::to_string(m.second.size());
}

//! Two worlds in one engine. Tenant A: a funded user, a merchant paid by it, a fee wallet with
//! its fee, a frozen and a closed wallet, its system wallet (negative). Tenant B: its own user,
//! merchant and fee wallet, funded, so that B's probes would succeed with B's own wallets.
class engine_tenant_isolation : public ::testing::Test {
 protected:
  void SetUp() override {
    h.patience = 10s;
    a_user = h.wallet(wallet_kind::user, tenant_a);
    a_merchant = h.wallet(wallet_kind::merchant, tenant_a);
    a_fee = h.wallet(wallet_kind::fee, tenant_a);
    a_frozen = h.wallet(wallet_kind::user, tenant_a);
    a_closed = h.wallet(wallet_kind::user, tenant_a);
    h.fund(a_user, 10'000, tenant_a);
    h.fund(a_frozen, 500, tenant_a);
    a_paid = h.must_succeed(h.pay(a_user, a_merchant, 2'000, a_fee, 100, tenant_a)).id;
    ASSERT_EQ(h.eng.admin(tenant_a, a_frozen, admin_op::freeze).code, result_code::ok);
    ASSERT_EQ(h.eng.admin(tenant_a, a_closed, admin_op::close).code, result_code::ok);
    a_system = h.system(tenant_a);
    a_wallets = {a_user, a_merchant, a_fee, a_frozen, a_closed, a_system};

    b_user = h.wallet(wallet_kind::user, tenant_b);
    b_merchant = h.wallet(wallet_kind::merchant, tenant_b);
    b_fee = h.wallet(wallet_kind::fee, tenant_b);
    h.fund(b_user, 50'000, tenant_b);
    h.must_succeed(h.pay(b_user, b_merchant, 5'000, b_fee, 1'000, tenant_b));
    h.expect_conserved();
    ghost_order = a_paid + (uint64_t{1'000'000} << 22);  // same node and lane, 1000 s later: nobody has it
  }

  //! Everything of tenant A a probe could change, as A itself sees it.
  std::vector<std::string> state_of_a() {
    EXPECT_TRUE(h.wait_quiet());
    std::vector<std::string> state;
    for (wallet_id w : a_wallets) {
      state.push_back(describe(h.eng.get_wallet(tenant_a, w)));
      state.push_back(describe(h.eng.movements(tenant_a, w, 0, 1000)));
    }
    state.push_back(describe(h.eng.get_order(tenant_a, a_paid), no_wallet));
    return state;
  }

  //! B's order naming A's wallet `a` and the same order naming the ghost wallet: the same
  //! answer, and no balances of any of A's wallets. Repeats of both request ids too.
  void expect_same_as_ghost(const std::function<order_command(wallet_id)>& probe, wallet_id a) {
    order_command with_a = probe(a);
    order_command with_ghost = probe(ghost_wallet);
    ASSERT_EQ(with_a.tenant, tenant_b);
    for (int round = 0; round < 2; ++round) {  // the second round repeats both request ids
      order_reply got = h.run(with_a);
      order_reply want = h.run(with_ghost);
      EXPECT_EQ(describe(got, a), describe(want, ghost_wallet))
          << "wallet " << a << " " << to_string(with_a.kind) << (round ? " (repeat)" : "");
      EXPECT_EQ(got.code, result_code::unknown_wallet);
      expect_no_balance_of_a(got);
      // B asking for that order later: the same, too.
      EXPECT_EQ(describe(h.eng.get_order(tenant_b, got.id), a),
                describe(h.eng.get_order(tenant_b, want.id), ghost_wallet));
      expect_no_balance_of_a(h.eng.get_order(tenant_b, got.id));
    }
  }

  void expect_no_balance_of_a(const order_reply& r) {
    for (const auto& w : r.wallets)
      for (wallet_id mine : a_wallets) EXPECT_NE(w.wallet, mine) << "order " << r.id << " shows a wallet of A";
  }

  virtual_harness h;
  wallet_id a_user = no_wallet, a_merchant = no_wallet, a_fee = no_wallet, a_frozen = no_wallet,
            a_closed = no_wallet, a_system = no_wallet;
  std::vector<wallet_id> a_wallets;
  order_id a_paid = 0, ghost_order = 0;
  wallet_id b_user = no_wallet, b_merchant = no_wallet, b_fee = no_wallet;
};

TEST_F(engine_tenant_isolation, orders_naming_another_tenant_wallet_answer_as_for_an_unknown_wallet) {
  auto before = state_of_a();
  for (wallet_id a : a_wallets) {
    // Every order kind, A's wallet on each side it can take.
    expect_same_as_ghost([&](wallet_id w) { return h.transfer(w, b_user, 100, tenant_b); }, a);
    expect_same_as_ghost([&](wallet_id w) { return h.transfer(b_user, w, 100, tenant_b); }, a);
    expect_same_as_ghost([&](wallet_id w) { return h.pay(w, b_merchant, 100, no_wallet, 0, tenant_b); }, a);
    expect_same_as_ghost([&](wallet_id w) { return h.pay(b_user, w, 100, no_wallet, 0, tenant_b); }, a);
    expect_same_as_ghost([&](wallet_id w) { return h.pay(b_user, b_merchant, 100, w, 10, tenant_b); }, a);
    expect_same_as_ghost([&](wallet_id w) { return h.withdraw(w, 100, good_channel, tenant_b); }, a);
    expect_same_as_ghost([&](wallet_id w) { return h.top_up(w, 100, good_channel, tenant_b); }, a);
    expect_same_as_ghost([&](wallet_id w) { return h.commission(w, b_merchant, 100, tenant_b); }, a);
    expect_same_as_ghost([&](wallet_id w) { return h.commission(b_fee, w, 100, tenant_b); }, a);
  }
  EXPECT_EQ(state_of_a(), before);
  h.expect_conserved();
}

TEST_F(engine_tenant_isolation, wallet_queries_of_another_tenant_answer_as_for_an_unknown_wallet) {
  auto before = state_of_a();
  const wallet_view ghost_view = h.eng.get_wallet(tenant_b, ghost_wallet);
  EXPECT_EQ(ghost_view.code, result_code::unknown_wallet);
  for (wallet_id a : a_wallets) {
    SCOPED_TRACE("wallet " + std::to_string(a));
    EXPECT_EQ(describe(h.eng.get_wallet(tenant_b, a)), describe(ghost_view));
    for (auto op : {admin_op::freeze, admin_op::unfreeze, admin_op::close})
      EXPECT_EQ(describe(h.eng.admin(tenant_b, a, op)), describe(h.eng.admin(tenant_b, ghost_wallet, op)));
    for (int64_t limit : {int64_t{0}, int64_t{5}, int64_t{1'000'000}, int64_t{-1}})
      EXPECT_EQ(describe(h.eng.admin(tenant_b, a, admin_op::set_overdraft_limit, limit)),
                describe(h.eng.admin(tenant_b, ghost_wallet, admin_op::set_overdraft_limit, limit)));
    for (uint64_t from : {uint64_t{0}, uint64_t{1}, uint64_t{3}})
      EXPECT_EQ(describe(h.eng.movements(tenant_b, a, from, 1000)),
                describe(h.eng.movements(tenant_b, ghost_wallet, from, 1000)));
    EXPECT_EQ(h.eng.movements(tenant_b, a, 0, 1000).first, result_code::unknown_wallet);
  }
  EXPECT_EQ(state_of_a(), before);
}

TEST_F(engine_tenant_isolation, refund_of_another_tenant_order_answers_as_for_an_unknown_order) {
  auto before = state_of_a();
  // A's succeeded payment, refunded by B in full, in part, in another currency, repeated.
  for (int64_t amount : {int64_t{100}, int64_t{2'000}, int64_t{2'001}})
    for (currency cur : {usd, eur}) {
      order_command with_a = h.refund(a_paid, amount, tenant_b, cur);
      order_command with_ghost = h.refund(ghost_order, amount, tenant_b, cur);
      for (int round = 0; round < 2; ++round) {
        order_reply got = h.run(with_a);
        order_reply want = h.run(with_ghost);
        EXPECT_EQ(got.code, result_code::unknown_order);
        EXPECT_EQ(describe(got, no_wallet), describe(want, no_wallet)) << amount << " " << cur.code();
        expect_no_balance_of_a(got);
        EXPECT_EQ(describe(h.eng.get_order(tenant_b, got.id), no_wallet),
                  describe(h.eng.get_order(tenant_b, want.id), no_wallet));
      }
    }
  // A's other orders (a top-up, not refundable for A either) answer the same.
  order_id a_top_up = h.must_succeed(h.top_up(a_user, 1, good_channel, tenant_a)).id;
  before = state_of_a();
  EXPECT_EQ(describe(h.run(h.refund(a_top_up, 1, tenant_b)), no_wallet),
            describe(h.run(h.refund(ghost_order, 1, tenant_b)), no_wallet));
  EXPECT_EQ(state_of_a(), before);
  // A still refunds all its merchant holds of the payment: B's attempts reserved nothing of it.
  h.must_succeed(h.refund(a_paid, 1'900, tenant_a));
  h.expect_conserved();
}

TEST_F(engine_tenant_isolation, get_order_of_another_tenant_answers_as_for_an_unknown_order) {
  auto before = state_of_a();
  order_reply ghost = h.eng.get_order(tenant_b, ghost_order);
  EXPECT_EQ(ghost.code, result_code::unknown_order);
  EXPECT_EQ(describe(h.eng.get_order(tenant_b, a_paid), no_wallet), describe(ghost, no_wallet));
  // A's top-ups too (another host lane, probably).
  order_reply topped = h.must_succeed(h.top_up(a_user, 1, good_channel, tenant_a));
  EXPECT_EQ(describe(h.eng.get_order(tenant_b, topped.id), no_wallet), describe(ghost, no_wallet));
  before = state_of_a();
  EXPECT_EQ(describe(h.eng.get_order(tenant_b, topped.id), no_wallet), describe(ghost, no_wallet));
  EXPECT_EQ(state_of_a(), before);
}

// GetStats gives a tenant its own counts only: exact for each tenant, zero for a tenant that
// did nothing, unchanged by what another tenant does.
TEST(engine_tenant_isolation_stats, each_tenant_sees_only_its_own_counts) {
  virtual_harness h;
  constexpr tenant_id idle_tenant = 3;
  EXPECT_EQ(describe(h.eng.stats_of(tenant_a)), describe(tenant_stats{}));
  wallet_id a1 = h.wallet(wallet_kind::user, tenant_a);
  wallet_id a2 = h.wallet(wallet_kind::user, tenant_a);
  order_command top_up = h.top_up(a1, 1'000, good_channel, tenant_a);
  h.must_succeed(top_up);                                           // submitted 1, succeeded 1, system wallet
  h.must_succeed(h.transfer(a1, a2, 100, tenant_a));                // 2, succeeded 2
  h.expect_refused(h.transfer(a1, a2, 0, tenant_a), result_code::invalid_amount);  // 3, refused 1
  EXPECT_TRUE(h.run(top_up).duplicate);                             // 4, duplicates 1
  h.expect_failed(h.transfer(a1, a2, 5'000, tenant_a), result_code::insufficient_funds);  // 5, failed 1
  tenant_stats a = h.eng.stats_of(tenant_a).value();
  tenant_stats want_a{5, 1, 1, 2, 1, 0, 3};  // wallets: a1, a2 and A's USD system wallet
  EXPECT_EQ(describe(a), describe(want_a));

  wallet_id b1 = h.wallet(wallet_kind::user, tenant_b);
  h.must_succeed(h.top_up(b1, 500, good_channel, tenant_b));
  tenant_stats want_b{1, 0, 0, 1, 0, 0, 2};
  EXPECT_EQ(describe(h.eng.stats_of(tenant_b)), describe(want_b));
  EXPECT_EQ(describe(h.eng.stats_of(tenant_a)), describe(want_a));  // B's work is not A's
  EXPECT_EQ(describe(h.eng.stats_of(idle_tenant)), describe(tenant_stats{}));

  // A works on, and probes B's wallet: B's counts do not move, A's count A's own orders.
  for (int i = 0; i < 5; ++i) h.must_succeed(h.transfer(a1, a2, 1, tenant_a));
  h.expect_failed(h.transfer(b1, a2, 1, tenant_a), result_code::unknown_wallet);
  h.wallet(wallet_kind::merchant, tenant_a);
  EXPECT_EQ(describe(h.eng.stats_of(tenant_b)), describe(want_b));
  EXPECT_EQ(describe(h.eng.stats_of(idle_tenant)), describe(tenant_stats{}));
  want_a = {11, 1, 1, 7, 2, 0, 4};
  EXPECT_EQ(describe(h.eng.stats_of(tenant_a)), describe(want_a));

  // The engine-wide counters (in process only) are the sums.
  engine_stats all = h.eng.stats();
  EXPECT_EQ(all.orders.submitted, want_a.submitted + want_b.submitted);
  EXPECT_EQ(all.orders.succeeded, want_a.succeeded + want_b.succeeded);
  EXPECT_EQ(all.orders.failed, want_a.failed + want_b.failed);
  EXPECT_EQ(all.orders.refused, want_a.refused + want_b.refused);
  EXPECT_EQ(all.orders.duplicates, want_a.duplicates + want_b.duplicates);
  EXPECT_EQ(all.wallets, want_a.wallets + want_b.wallets);
}

// An order of A still running (its provider never answers) is as invisible to B as a final
// one: a refund of it and a query of it answer as for an order that does not exist.
TEST(engine_tenant_isolation_running, running_order_of_another_tenant_is_an_unknown_order) {
  engine_config config = fast_config();
  channel_config silent = well_behaved_channel();
  silent.submit_lost_ppm = 1'000'000;                   // the provider never hears of it ...
  config.order.channel_not_found_final_ms = 3'600'000;  // ... and "not found" is not final for an hour
  config.channels = {{good_channel, silent}};
  virtual_harness h(config);
  wallet_id a_user = h.wallet(wallet_kind::user, tenant_a);
  order_command top_up = h.top_up(a_user, 5'000, good_channel, tenant_a);
  // The first order of the engine: its id is (ms, node 0, its host's lane, sequence 0).
  uint32_t lane = 0;
  while (h.eng.hosts()[lane] != h.eng.host_for(tenant_a, top_up.request_id)) ++lane;
  int64_t from_ms = h.now_ms();
  EXPECT_EQ(h.run(top_up, 50ms).id, 0u);  // no final answer within 50 ms of virtual time: it keeps running
  int64_t to_ms = h.now_ms();
  ASSERT_TRUE(h.wait_for([&] { return h.eng.stats().orders.in_flight == 1; }, 10s));
  order_reply running;
  for (int64_t ms = from_ms; ms <= to_ms && running.id == 0; ++ms) {
    order_id id = (static_cast<uint64_t>(ms - order_id_generator::epoch_ms) << 22) | (uint64_t{lane} << 12);
    running = h.eng.get_order(tenant_a, id);
  }
  ASSERT_NE(running.id, 0u);
  ASSERT_EQ(running.state, order_state::processing);
  EXPECT_EQ(h.eng.stats_of(tenant_a).value().in_flight, 1u);
  EXPECT_EQ(h.eng.stats_of(tenant_b).value().in_flight, 0u);
  order_id ghost_order = running.id + (uint64_t{1'000'000} << 22);
  // A sees its running order, and may not refund it (not a succeeded payment).
  order_reply own = h.run(h.refund(running.id, 100, tenant_a));
  EXPECT_EQ(own.code, result_code::original_not_refundable);
  // B: the same as for an id nobody has.
  order_reply refund = h.run(h.refund(running.id, 100, tenant_b));
  order_reply ghost_refund = h.run(h.refund(ghost_order, 100, tenant_b));
  EXPECT_EQ(refund.code, result_code::unknown_order);
  EXPECT_EQ(describe(refund, no_wallet), describe(ghost_refund, no_wallet));
  EXPECT_EQ(describe(h.eng.get_order(tenant_b, running.id), no_wallet),
            describe(h.eng.get_order(tenant_b, ghost_order), no_wallet));
  // Nothing of A's order changed.
  order_reply after = h.eng.get_order(tenant_a, running.id);
  EXPECT_EQ(after.state, order_state::processing);
  EXPECT_EQ(describe(after, no_wallet), describe(running, no_wallet));
  EXPECT_EQ(h.balance(a_user, tenant_a), (balances{0, 0, 5'000}));
  EXPECT_EQ(h.eng.stats_of(tenant_a).value().in_flight, 1u);
  EXPECT_EQ(h.eng.stats_of(tenant_b).value().in_flight, 0u);  // B's refunds are final
}

}  // namespace
}  // namespace txengine::actor_test
