// The wallet gateway of a cluster node (cluster/wallet_gateway.hpp) across a real CAF middleman
// link: two actor systems in this process, node B publishing its gateway on a loopback port,
// node A's order host (a stand-in) sending TCC steps to it. B's shard and writer are stand-ins
// too: the shard answers every step, the writer holds each commit barrier until the test
// releases it. Checked: steps cross the link and reach the local shard; their answers go back
// only after the barrier committed; a failed barrier answers nothing (the host's resend is
// answered later); steps of wallets B does not hold get no answer; memory acks answer at once.
// Every wait is on a condition with a bounded deadline.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "cluster/wallet_gateway.hpp"

using namespace txengine;

namespace {

using release_atom = caf::atom_constant<caf::atom("release")>;
using send_atom = caf::atom_constant<caf::atom("send")>;

class node_config : public caf::actor_system_config {
 public:
  node_config() {
    load<caf::io::middleman>();
    cluster::add_cluster_message_types(*this);
    set("scheduler.max-threads", size_t{2});
    set("logger.console-verbosity", caf::atom("quiet"));
  }
};

//! What the stand-ins saw, shared with the test thread.
struct observed {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<leg_result> answers;  //!< at node A's host
  size_t steps_at_shard = 0;        //!< at node B's shard
  size_t barriers = 0;              //!< sync requests at node B's writer

  template <class Condition>
  bool wait(Condition condition) {
    std::unique_lock<std::mutex> lock(mutex);
    return cv.wait_for(lock, std::chrono::seconds(30), condition);
  }
  void update(const std::function<void()>& change) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      change();
    }
    cv.notify_all();
  }
};

//! Node B's wallet shard: answers every step at once, as a shard does after applying it.
caf::behavior shard_stand_in(caf::event_based_actor* self, observed* seen) {
  return {[self, seen](steps_atom, const std::vector<leg_step>& steps) {
    std::vector<leg_result> results;
    for (const auto& s : steps) {
      leg_result r;
      r.txn = s.command.txn;
      r.leg = s.leg;
      r.phase = s.command.phase;
      r.code = result_code::ok;
      r.tenant = s.command.tenant;
      r.sequence = 7;
      results.push_back(r);
    }
    seen->update([&] { seen->steps_at_shard += steps.size(); });
    self->send(caf::actor_cast<order_host_actor>(self->current_sender()), step_ack_atom::value, std::move(results));
  }};
}

struct writer_stand_in_state {
  std::vector<caf::response_promise> pending;
};

//! Node B's writer: holds every commit barrier until (release_atom, committed).
caf::behavior writer_stand_in(caf::stateful_actor<writer_stand_in_state>* self, observed* seen) {
  return {[self, seen](sync_atom) {
            auto promise = self->make_response_promise();
            self->state.pending.push_back(promise);
            seen->update([&] { ++seen->barriers; });
            return promise;
          },
          [self](release_atom, bool committed) {
            for (auto& p : self->state.pending) p.deliver(committed);
            self->state.pending.clear();
          }};
}

//! Node A's order host: sends steps to the gateway, records the answers.
caf::behavior host_stand_in(caf::event_based_actor* self, wallet_gateway_actor gateway, observed* seen) {
  return {[self, gateway](send_atom, std::vector<leg_step>& steps) {
            self->send(gateway, steps_atom::value, std::move(steps));
          },
          [seen](step_ack_atom, const std::vector<leg_result>& results) {
            seen->update([&] { seen->answers.insert(seen->answers.end(), results.begin(), results.end()); });
          }};
}

leg_step step(wallet_id wallet, order_id txn, tcc_phase phase = tcc_phase::try_) {
  leg_step s;
  s.wallet = wallet;
  s.leg = static_cast<uint16_t>(wallet % 4);
  s.command.txn = txn;
  s.command.phase = phase;
  s.command.amount = 100;
  s.command.tenant = 3;
  return s;
}

//! Node B (gateway, shard, writer) and node A (a host) linked over loopback.
class ClusterGateway : public ::testing::Test {
 protected:
  void start(bool with_barrier) {
    shard_ = caf::actor_cast<wallet_shard_actor>(node_b_.spawn(shard_stand_in, &seen_));
    writer_ = node_b_.spawn(writer_stand_in, &seen_);
    cluster::wallet_gateway_config config;
    config.counters = counters_;
    // Node B holds wallets below 100.
    config.shard_of = [this](wallet_id w) { return w < 100 ? shard_ : wallet_shard_actor(); };
    if (with_barrier) config.writer = caf::actor_cast<writer_actor>(writer_);
    gateway_ = cluster::spawn_wallet_gateway(node_b_, config);
    auto port = node_b_.middleman().publish(gateway_, 0, "127.0.0.1");
    ASSERT_TRUE(port) << node_b_.render(port.error());
    auto remote = node_a_.middleman().remote_actor<wallet_gateway_actor>("127.0.0.1", *port);
    ASSERT_TRUE(remote) << node_a_.render(remote.error());
    host_ = node_a_.spawn(host_stand_in, *remote, &seen_);
  }
  void TearDown() override {
    caf::anon_send_exit(host_, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(gateway_, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(writer_, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(shard_, caf::exit_reason::user_shutdown);
  }
  void send(std::vector<leg_step> steps) { caf::anon_send(host_, send_atom::value, std::move(steps)); }
  void release(bool committed) { caf::anon_send(writer_, release_atom::value, committed); }

  observed seen_;
  node_config config_a_, config_b_;
  caf::actor_system node_a_{config_a_};
  caf::actor_system node_b_{config_b_};
  std::shared_ptr<cluster::gateway_counters> counters_ = std::make_shared<cluster::gateway_counters>();
  wallet_shard_actor shard_;
  caf::actor writer_;
  wallet_gateway_actor gateway_;
  caf::actor host_;
};

}  // namespace

TEST_F(ClusterGateway, StepsCrossTheLinkAndAreAnsweredOnlyAfterTheCommitBarrier) {
  start(true);
  send({step(5, 1001), step(6, 1001), step(500, 1002)});  // wallet 500 is not node B's
  ASSERT_TRUE(seen_.wait([&] { return seen_.steps_at_shard == 2 && seen_.barriers == 1; }));
  {
    std::lock_guard<std::mutex> lock(seen_.mutex);
    EXPECT_TRUE(seen_.answers.empty()) << "an answer left before its effect was committed";
  }
  release(true);
  ASSERT_TRUE(seen_.wait([&] { return seen_.answers.size() == 2; }));
  for (const auto& r : seen_.answers) {
    EXPECT_EQ(r.txn, 1001u);
    EXPECT_EQ(r.code, result_code::ok);
    EXPECT_EQ(r.tenant, 3u);
    EXPECT_EQ(r.sequence, 7u);
  }
  EXPECT_EQ(counters_->steps.load(), 3u);
  EXPECT_EQ(counters_->not_local.load(), 1u);
  EXPECT_EQ(counters_->answered.load(), 2u);
  EXPECT_EQ(counters_->barriers.load(), 1u);
}

TEST_F(ClusterGateway, AFailedBarrierAnswersNothingAndTheResendIsAnsweredLater) {
  start(true);
  send({step(7, 2001)});
  ASSERT_TRUE(seen_.wait([&] { return seen_.barriers == 1; }));
  release(false);  // the writer could not commit (the node stops, or was fenced)
  // The resend of the host after its backoff: a new step, a new barrier.
  send({step(7, 2001)});
  ASSERT_TRUE(seen_.wait([&] { return seen_.barriers == 2; }));
  {
    std::lock_guard<std::mutex> lock(seen_.mutex);
    EXPECT_TRUE(seen_.answers.empty());
  }
  EXPECT_EQ(counters_->dropped.load(), 1u);
  release(true);
  ASSERT_TRUE(seen_.wait([&] { return seen_.answers.size() == 1; }));
  EXPECT_EQ(seen_.answers[0].txn, 2001u);
}

TEST_F(ClusterGateway, WithMemoryAcksAnswersGoBackAtOnce) {
  start(false);
  send({step(1, 3001, tcc_phase::confirm), step(2, 3001, tcc_phase::confirm)});
  ASSERT_TRUE(seen_.wait([&] { return seen_.answers.size() == 2; }));
  EXPECT_EQ(seen_.answers[0].phase, tcc_phase::confirm);
  EXPECT_EQ(counters_->barriers.load(), 0u);
  EXPECT_EQ(seen_.barriers, 0u);
}
