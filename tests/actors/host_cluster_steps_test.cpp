// An order host of a cluster node (issue 14, docs/cluster.md) on the test coordinator, with a
// store whose commits the test makes and another node's wallet gateway played by the test: a
// step to the other node's wallet is sent only once the order's decision row it acts on is
// committed here. That node's writer commits the step's effect, and nothing orders that commit
// after this node's rows: a confirm sent before the `confirming` row commits could be committed
// there while a crash here resumes the order as `trying` (the kill test found exactly that: a
// leg confirmed on one node, the order cancelling, its cancel refused for ever, money created).
#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <vector>

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "actors/directory.hpp"
#include "actors/order_host.hpp"
#include "ports/actor_interfaces.hpp"
#include "ports/clock.hpp"
#include "ports/cluster.hpp"
#include "ports/storage_link.hpp"
#include "ports/storage_messages.hpp"

using namespace txengine;

namespace {

const currency usd = *currency::parse("USD");
const currency eur = *currency::parse("EUR");
constexpr tenant_id tenant = 1;
constexpr cluster_node self_node = 1, other_node = 2;

class coordinator_config : public caf::actor_system_config {
 public:
  coordinator_config() {
    set("scheduler.policy", caf::atom("testing"));
    set("logger.console-verbosity", caf::atom("quiet"));
  }
};

//! What the store got, committed only when the test says.
struct store_log {
  struct pending {
    caf::strong_actor_ptr from;
    uint64_t ack_seq = 0;
    std::vector<order_state> order_states;  //!< of the order rows in the batch
    std::vector<std::pair<wallet_id, tcc_phase>> movements;  //!< its fund movements
  };
  std::deque<pending> batches;
};

writer_actor::behavior_type store_behavior(writer_actor::pointer self, store_log* log) {
  self->set_default_handler(caf::drop);
  return {
      [=](persist_atom, write_batch& b) {
        store_log::pending p{self->current_sender(), b.ack_seq, {}, {}};
        for (const auto& o : b.orders) p.order_states.push_back(o.state);
        for (const auto& m : b.movements) p.movements.emplace_back(m.wallet, m.entry.phase);
        log->batches.push_back(std::move(p));
      },
      [=](sync_atom) { return log->batches.empty(); },
      [=](sync_atom, checkpoint_all_atom) { return log->batches.empty(); },
  };
}

//! Another node's wallet gateway: records every step and answers it as accepted, at once or,
//! while `hold` is set, when the test releases the answers.
struct gateway_log {
  std::vector<leg_step> steps;
  std::vector<step_fence> fences;  //!< one per step
  bool hold = false;
  std::vector<std::pair<caf::strong_actor_ptr, std::vector<leg_result>>> held;
};

wallet_gateway_actor::behavior_type gateway_behavior(wallet_gateway_actor::pointer self, gateway_log* log) {
  return {
      [=](steps_atom, std::vector<leg_step>& steps, const std::vector<step_fence>& fences) {
        log->fences.insert(log->fences.end(), fences.begin(), fences.end());
        std::vector<leg_result> results;
        for (const auto& s : steps) {
          log->steps.push_back(s);
          leg_result r;
          r.txn = s.command.txn;
          r.leg = s.leg;
          r.phase = s.command.phase;
          r.code = result_code::ok;
          r.tenant = s.command.tenant;
          results.push_back(r);
        }
        if (log->hold) {
          log->held.emplace_back(self->current_sender(), std::move(results));
          return;
        }
        self->send(caf::actor_cast<order_host_actor>(self->current_sender()), step_ack_atom::value, std::move(results));
      },
      [](step_ack_atom, std::vector<leg_result>&) {},
      [](hello_atom, uint32_t, caf::actor) {},
      [](ping_atom) { return ping_atom::value; },
      [](forward_atom, std::vector<submit_item>&) {},
      [](get_wallet_atom, wallet_id, tenant_id) { return wallet_view(); },
      [](admin_atom, wallet_id, admin_op, tenant_id, int64_t) { return wallet_view(); },
      [](movements_atom, wallet_id, tenant_id, uint64_t, uint32_t) {
        return caf::make_result(result_code::unknown_wallet, std::vector<journal_entry>());
      },
      [](history_atom, wallet_id, tenant_id, order_id) { return std::vector<journal_entry>(); },
      [](get_order_atom, tenant_id, order_id, bool) { return order_reply(); },
  };
}

struct client_log {
  std::vector<order_reply> replies;
};

caf::behavior client_behavior(caf::event_based_actor*, client_log* log) {
  return {
      [=](replies_atom, std::vector<order_reply>& replies) {
        for (auto& r : replies) log->replies.push_back(std::move(r));
      },
  };
}

class HostOfAClusterNode : public ::testing::Test {
 protected:
  HostOfAClusterNode() {
    link_.config.ack = ack_mode::durable;
    store_ = sys_.spawn(store_behavior, &store_log_);
    link_.writer = store_;
    // Two partitions: 0 (even wallet ids) held here, 1 (odd ids) by the other node.
    ownership_ = std::make_shared<partition_ownership>(self_node, 2, 60'000);
    ownership_->assign({partition_lease{0, self_node, 1, clock_.now_ms() + 60'000}});
    ownership_->assign_owners({partition_lease{0, self_node, 1, clock_.now_ms() + 60'000},
                               partition_lease{1, other_node, 1, clock_.now_ms() + 60'000}},
                              clock_.now_ms());
    link_.ownership = ownership_;
    gateway_ = sys_.spawn(gateway_behavior, &gateway_log_);
    wallet_actor_config wallets;
    wallets.clock = &clock_;
    directory_ = std::make_unique<wallet_directory>(sys_, wallets, 1, &link_);
    wallet_gateway_actor gateway = gateway_;
    directory_->set_cluster({ownership_.get(), [gateway](cluster_node n) {
                               return n == other_node ? gateway : wallet_gateway_actor();
                             },
                             [] { return uint64_t{0}; }});
    order_host_config config;
    config.node_id = self_node;
    config.storage = &link_;
    config.clock = &clock_;
    host_ = spawn_order_host(sys_, config, directory_.get());
    set_host_peers(host_, host_peers{{host_}, {}});
    client_ = sys_.spawn(client_behavior, &client_log_);
    run();
  }

  ~HostOfAClusterNode() override {
    for (const caf::actor& a : {caf::actor_cast<caf::actor>(host_), caf::actor_cast<caf::actor>(gateway_),
                                caf::actor_cast<caf::actor>(store_), client_})
      caf::anon_send_exit(a, caf::exit_reason::kill);
    for (const auto& s : directory_->shards()) caf::anon_send_exit(s, caf::exit_reason::kill);
    run();
    directory_.reset();
    run();
  }

  void run() {
    while (sched_.try_run_once()) {
    }
  }

  //! Commits the batches the store holds now, in order (not those that come meanwhile).
  void commit_all() {
    for (size_t n = store_log_.batches.size(); n > 0; --n) {
      store_log::pending p = std::move(store_log_.batches.front());
      store_log_.batches.pop_front();
      if (p.ack_seq != 0) caf::anon_send(caf::actor_cast<committed_sink>(p.from), committed_atom::value, p.ack_seq);
      run();
    }
  }

  //! The other node answers what it held.
  void release_answers() {
    for (auto& [to, results] : gateway_log_.held)
      caf::anon_send(caf::actor_cast<order_host_actor>(to), step_ack_atom::value, std::move(results));
    gateway_log_.held.clear();
    run();
  }

  size_t steps_to_the_other_node(tcc_phase phase) const {
    size_t n = 0;
    for (const auto& s : gateway_log_.steps) n += s.command.phase == phase ? 1 : 0;
    return n;
  }

  //! The fund movements of `wallet` waiting in the store (not committed yet), by phase.
  std::vector<tcc_phase> pending_movements_of(wallet_id wallet) const {
    std::vector<tcc_phase> phases;
    for (const auto& b : store_log_.batches)
      for (const auto& [w, phase] : b.movements)
        if (w == wallet) phases.push_back(phase);
    return phases;
  }

  bool store_holds_order_row(order_state state) const {
    for (const auto& b : store_log_.batches)
      for (order_state s : b.order_states)
        if (s == state) return true;
    return false;
  }

  coordinator_config cfg_;
  caf::actor_system sys_{cfg_};
  caf::scheduler::test_coordinator& sched_ = dynamic_cast<caf::scheduler::test_coordinator&>(sys_.scheduler());
  manual_clock clock_;
  storage_link link_;
  std::shared_ptr<partition_ownership> ownership_;
  store_log store_log_;
  writer_actor store_;
  gateway_log gateway_log_;
  wallet_gateway_actor gateway_;
  std::unique_ptr<wallet_directory> directory_;
  order_host_actor host_;
  client_log client_log_;
  caf::actor client_;
};

}  // namespace

TEST_F(HostOfAClusterNode, AStepToAnotherNodesWalletWaitsForTheDecisionRowItActsOn) {
  result_code code = result_code::ok;
  wallet_id payer = no_wallet;
  while (payer == no_wallet || payer % 2 != 0) payer = directory_->create(tenant, usd, wallet_kind::user, 1'000, code);
  ASSERT_EQ(code, result_code::ok);
  const wallet_id payee = payer + 1;  // partition 1: the other node's
  ASSERT_FALSE(directory_->holds(payee));
  order_command transfer;
  transfer.tenant = tenant;
  transfer.kind = order_kind::transfer;
  transfer.request_id = "cross-node";
  transfer.source = payer;
  transfer.destination = payee;
  transfer.amount = 100;
  transfer.cur = usd;
  gateway_log_.hold = true;  // the other node answers once its own commit is done: when the test says
  caf::send_as(client_, host_, submit_atom::value, std::vector<submit_item>{submit_item{1, transfer}});
  run();
  // Its intent first, committed before anything of the order happens (it acts beyond this node).
  EXPECT_EQ(steps_to_the_other_node(tcc_phase::try_), 0u);
  commit_all();
  // The other node's try goes first; the payer's here waits for its answer (else its movement
  // would be committed alone, and its TCC record written, updated and deleted in three batches).
  ASSERT_EQ(steps_to_the_other_node(tcc_phase::try_), 1u);
  EXPECT_TRUE(pending_movements_of(payer).empty());
  gateway_log_.hold = false;
  release_answers();
  // The tries ran, the other node's first (it accepted), then the payer's here: the
  // order decided to confirm. The payer's try, the `confirming` row and the payer's confirm
  // wait in the store together (the writer takes them in one batch: one movement row, no TCC
  // record row), and the confirm to the other node waits for that batch.
  ASSERT_EQ(steps_to_the_other_node(tcc_phase::try_), 1u);
  ASSERT_TRUE(store_holds_order_row(order_state::confirming));
  EXPECT_EQ(pending_movements_of(payer), (std::vector<tcc_phase>{tcc_phase::try_, tcc_phase::confirm}));
  EXPECT_EQ(steps_to_the_other_node(tcc_phase::confirm), 0u)
      << "a confirm went to another node before the decision it acts on was committed here";
  // Resends on the timer wait too.
  clock_.advance(5'000);
  run();
  EXPECT_EQ(steps_to_the_other_node(tcc_phase::confirm), 0u);
  // Once the batch with the decision is committed, the confirm goes, once, and the order ends.
  commit_all();
  EXPECT_EQ(steps_to_the_other_node(tcc_phase::confirm), 1u);
  commit_all();
  commit_all();
  ASSERT_EQ(client_log_.replies.size(), 1u);
  EXPECT_EQ(client_log_.replies[0].state, order_state::succeeded) << to_string(client_log_.replies[0].code);
  // Every step to the other node carried its order's home fence: the payer's partition at the
  // epoch this node holds it (docs/cluster.md, "Steps of a node that lost its order").
  ASSERT_EQ(gateway_log_.fences.size(), gateway_log_.steps.size());
  for (const auto& f : gateway_log_.fences) {
    EXPECT_EQ(f.partition, partition_of(payer, ownership_->partitions()));
    EXPECT_EQ(f.epoch, ownership_->epoch(f.partition));
    EXPECT_NE(f.epoch, 0u);
  }
}

TEST_F(HostOfAClusterNode, ItsSystemWalletIsOneInAPartitionItHolds) {
  // Storage knows the tenant's USD system wallets of two nodes, another node's (odd id) first,
  // and an EUR one of the other node only (a restart, or a takeover, reads them all).
  directory_->restore_ids(20, {{tenant, usd.packed(), 11}, {tenant, usd.packed(), 12}, {tenant, eur.packed(), 13}});
  EXPECT_EQ(directory_->system_wallet(tenant, usd), 12u) << "another node's would make every top-up cross-node";
  wallet_id in_eur = directory_->system_wallet(tenant, eur);
  EXPECT_NE(in_eur, 13u);
  EXPECT_TRUE(directory_->holds(in_eur));
  EXPECT_GT(in_eur, 20u);
  EXPECT_EQ(directory_->system_wallet(tenant, eur), in_eur) << "the same one from then on";
}
