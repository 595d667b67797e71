// The wallet gateway of a cluster node (cluster/wallet_gateway.hpp) across a real CAF middleman
// link: two actor systems in this process, node B publishing its gateway on a loopback port,
// node A's order host (a stand-in) sending TCC steps to it. B's shard and writer are stand-ins
// too: the shard answers every step, the writer holds each commit barrier until the test
// releases it. Checked: steps cross the link and reach the local shard; their answers go back
// only after the barrier committed; a failed barrier answers nothing (the host's resend is
// answered later); steps of wallets B does not hold get no answer; memory acks answer at once;
// submits node A forwards reach the host of their lane on B, which answers A's host; a query of
// a wallet reaches B's shard and is answered across the link, one of a wallet B does not hold is
// `unavailable`; a broken link is noticed (cluster/peer_links.hpp) and made again; a link to a
// peer that hangs (a TCP proxy the test freezes: nothing passes, nothing is closed) counts as
// down once it answered no ping for the silence bound, and up again once it answers; a higher node takes a lower node's gateway from its hellos (one link per pair);
// after a link is made again, messages go to the new proxy, not the dead one.
// Every wait is on a condition with a bounded deadline.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <condition_variable>
#include <mutex>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>

#include <caf/all.hpp>
#include <caf/detail/scope_guard.hpp>
#include <caf/io/all.hpp>

#include "cluster/peer_links.hpp"
#include "cluster/wallet_gateway.hpp"
#include "ports/actor_handles.hpp"

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
  std::vector<order_reply> replies; //!< at node A's host: answers to its forwarded submits
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

//! Node B's wallet shard: answers every step at once, as a shard does after applying it, and
//! a query of a wallet with its id and the asking tenant.
caf::behavior shard_stand_in(caf::event_based_actor* self, observed* seen) {
  return {[](get_wallet_atom, wallet_id w, tenant_id tenant) {
            wallet_view view;
            view.info.id = w;
            view.info.tenant = tenant;
            view.current.available = 42;
            return view;
          },
          [self, seen](steps_atom, const std::vector<leg_step>& steps) {
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

//! Node A's order host: sends steps and forwarded submits to the gateway, records the answers.
caf::behavior host_stand_in(caf::event_based_actor* self, wallet_gateway_actor gateway, observed* seen) {
  return {[self, gateway](send_atom, std::vector<leg_step>& steps, std::vector<step_fence>& fences) {
            self->send(gateway, steps_atom::value, std::move(steps), std::move(fences));
          },
          [self, gateway](send_atom, std::vector<submit_item>& items) {
            self->send(gateway, forward_atom::value, std::move(items));
          },
          [seen](step_ack_atom, const std::vector<leg_result>& results) {
            seen->update([&] { seen->answers.insert(seen->answers.end(), results.begin(), results.end()); });
          },
          [seen](replies_atom, const std::vector<order_reply>& replies) {
            seen->update([&] { seen->replies.insert(seen->replies.end(), replies.begin(), replies.end()); });
          }};
}

//! Node B's order host of a lane: answers each forwarded submit to its sender (an order with
//! the lane in its id).
caf::behavior lane_host_stand_in(caf::event_based_actor* self, uint32_t lane) {
  return {[self, lane](forward_atom, const std::vector<submit_item>& items) {
    std::vector<order_reply> replies;
    for (const auto& item : items) {
      order_reply reply;
      reply.client_tag = item.client_tag;
      reply.id = 1000 + lane;
      reply.tenant = item.command.tenant;
      reply.request_id = item.command.request_id;
      reply.state = order_state::succeeded;
      replies.push_back(reply);
    }
    self->send(caf::actor_cast<order_client_actor>(self->current_sender()), replies_atom::value, std::move(replies));
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
    partition_ownership* ownership = &ownership_;
    config.note_epoch = [ownership](uint32_t p, uint64_t epoch) { return ownership->note_epoch(p, epoch); };
    // Node B's order hosts: two lanes; forwarded submits go by request id (even/odd length).
    for (uint32_t lane : {0u, 1u})
      lanes_.push_back(caf::actor_cast<order_host_actor>(node_b_.spawn(lane_host_stand_in, lane)));
    config.host_of_request = [this](tenant_id, const std::string& request_id) {
      return request_id == "nohost" ? order_host_actor() : lanes_[request_id.size() % 2];
    };
    gateway_ = cluster::spawn_wallet_gateway(node_b_, config);
    auto port = node_b_.middleman().publish(gateway_, 0, "127.0.0.1");
    ASSERT_TRUE(port) << node_b_.render(port.error());
    auto remote = node_a_.middleman().remote_actor<wallet_gateway_actor>("127.0.0.1", *port);
    ASSERT_TRUE(remote) << node_a_.render(remote.error());
    remote_ = *remote;
    host_ = node_a_.spawn(host_stand_in, *remote, &seen_);
  }
  void TearDown() override {
    caf::anon_send_exit(host_, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(gateway_, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(writer_, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(shard_, caf::exit_reason::user_shutdown);
    for (auto& lane : lanes_) caf::anon_send_exit(lane, caf::exit_reason::user_shutdown);
  }
  //! Steps of orders whose home is not fenced (epoch 0), or with the fences given (one per step).
  void send(std::vector<leg_step> steps, std::vector<step_fence> fences = {}) {
    fences.resize(steps.size());
    caf::anon_send(host_, send_atom::value, std::move(steps), std::move(fences));
  }
  void release(bool committed) { caf::anon_send(writer_, release_atom::value, committed); }
  //! Commits every barrier the gateway asks for, as it asks, until `answers` answers came back.
  //! A release only answers the barriers already asked for, and how many rounds the gateway
  //! needs depends on when each step's answer reached it, so the test follows its requests.
  bool commit_until_answers(size_t answers) {
    size_t released = 0;
    for (int round = 0; round < 16; ++round) {
      size_t barriers = 0;
      if (!seen_.wait([&] { return seen_.answers.size() >= answers || seen_.barriers > released; })) return false;
      {
        std::lock_guard<std::mutex> lock(seen_.mutex);
        if (seen_.answers.size() >= answers) return true;
        barriers = seen_.barriers;
      }
      release(true);
      released = barriers;
    }
    return false;
  }

  observed seen_;
  node_config config_a_, config_b_;
  caf::actor_system node_a_{config_a_};
  caf::actor_system node_b_{config_b_};
  std::shared_ptr<cluster::gateway_counters> counters_ = std::make_shared<cluster::gateway_counters>();
  partition_ownership ownership_{2, 8, 3'000};  //!< node B's view: the epochs it has seen
  wallet_shard_actor shard_;
  caf::actor writer_;
  wallet_gateway_actor gateway_;
  wallet_gateway_actor remote_;  //!< node B's gateway as node A sees it
  std::vector<order_host_actor> lanes_;
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
  EXPECT_EQ(counters_->messages_in.load(), 1u);   // three steps in one message
  EXPECT_EQ(counters_->messages_out.load(), 1u);  // two answers to one host after one barrier
}

TEST_F(ClusterGateway, StepsOfANodeThatLostTheirOrdersHomeAreRefused) {
  // Node A held partition 3 (its orders' home) at epoch 4; another node took it over at epoch 5
  // and resumed those orders. A's steps still on their way must not touch B's wallets (a cancel
  // of A's over a leg the new owner confirms would leave that order stuck and money lost).
  start(true);
  auto home = [](uint64_t epoch) { return step_fence{3, epoch}; };
  send({step(5, 3001)}, {home(4)});  // nothing newer seen yet: accepted
  ASSERT_TRUE(seen_.wait([&] { return seen_.steps_at_shard == 1; }));
  // The new owner's step (epoch 5) teaches node B the newer epoch; A's later step (4) is refused,
  // a step of another partition is not affected.
  send({step(6, 3002), step(7, 3003), step(8, 3004)}, {home(5), home(4), step_fence{}});
  ASSERT_TRUE(seen_.wait([&] { return seen_.steps_at_shard == 3; }));
  EXPECT_EQ(counters_->stale.load(), 1u);
  EXPECT_EQ(ownership_.epoch_seen(3), 5u);
  // The keeper's rounds raise it too: epoch 6 seen in the leases refuses epoch 5 from now on.
  ownership_.note_epochs({partition_lease{3, 1, 6, 0}});
  send({step(5, 3005), step(9, 3006)}, {home(5), step_fence{}});
  ASSERT_TRUE(seen_.wait([&] { return seen_.steps_at_shard == 4; }));
  EXPECT_EQ(counters_->stale.load(), 2u);
  // The accepted steps are answered after their barriers (one in flight at a time); the refused
  // one never is (its order was taken over: the sender is fenced soon).
  ASSERT_TRUE(commit_until_answers(4));
  std::lock_guard<std::mutex> lock(seen_.mutex);
  for (const auto& r : seen_.answers) EXPECT_TRUE(r.txn != 3003u && r.txn != 3005u);
}

TEST_F(ClusterGateway, AStepsMessageWhoseFencesDoNotMatchItsStepsIsRefusedWhole) {
  start(true);
  // Two steps, one fence (and, the other way round, one step, two fences): nothing is applied.
  caf::anon_send(host_, send_atom::value, std::vector<leg_step>{step(5, 4001), step(6, 4001)},
                 std::vector<step_fence>{step_fence{}});
  caf::anon_send(host_, send_atom::value, std::vector<leg_step>{step(7, 4002)},
                 std::vector<step_fence>{step_fence{}, step_fence{}});
  send({step(8, 4003)});  // a well-formed one after them
  ASSERT_TRUE(seen_.wait([&] { return seen_.steps_at_shard == 1; }));
  EXPECT_EQ(counters_->malformed.load(), 2u);
  // The barrier is asked for after the shard answered, so it may not be asked for yet here.
  ASSERT_TRUE(commit_until_answers(1));
  std::lock_guard<std::mutex> lock(seen_.mutex);
  EXPECT_EQ(seen_.answers[0].txn, 4003u);
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

TEST_F(ClusterGateway, ForwardedSubmitsReachTheHostOfTheirLaneWhichAnswersTheSender) {
  start(true);
  auto item = [](uint64_t tag, const std::string& request_id) {
    submit_item i;
    i.client_tag = tag;
    i.command.tenant = 3;
    i.command.request_id = request_id;
    return i;
  };
  caf::anon_send(host_, send_atom::value, std::vector<submit_item>{item(1, "ab"), item(2, "abc"), item(3, "nohost")});
  ASSERT_TRUE(seen_.wait([&] { return seen_.replies.size() == 3; }));
  std::map<uint64_t, order_reply> by_tag;
  for (const auto& r : seen_.replies) by_tag[r.client_tag] = r;
  EXPECT_EQ(by_tag[1].id, 1000u);  // lane 0
  EXPECT_EQ(by_tag[2].id, 1001u);  // lane 1
  EXPECT_EQ(by_tag[1].request_id, "ab");
  EXPECT_EQ(by_tag[3].id, 0u);  // no host there yet: refused, retryable, nothing recorded
  EXPECT_EQ(by_tag[3].code, result_code::unavailable);
  EXPECT_EQ(counters_->forwarded.load(), 3u);
}

TEST_F(ClusterGateway, WalletQueriesAreAnsweredAcrossTheLinkOnlyForWalletsItHolds) {
  start(true);
  caf::scoped_actor self{node_a_};
  wallet_view held, other;
  self->request(remote_, std::chrono::seconds(30), get_wallet_atom::value, wallet_id{5}, tenant_id{3})
      .receive([&](wallet_view& v) { held = v; }, [&](caf::error& e) { ADD_FAILURE() << node_a_.render(e); });
  EXPECT_EQ(held.code, result_code::ok);
  EXPECT_EQ(held.info.id, 5u);
  EXPECT_EQ(held.info.tenant, 3u);
  EXPECT_EQ(held.current.available, 42);
  self->request(remote_, std::chrono::seconds(30), get_wallet_atom::value, wallet_id{500}, tenant_id{3})
      .receive([&](wallet_view& v) { other = v; }, [&](caf::error& e) { ADD_FAILURE() << node_a_.render(e); });
  EXPECT_EQ(other.code, result_code::unavailable);  // node B does not hold it: the asker's routes were stale
  EXPECT_EQ(counters_->queries.load(), 2u);
  EXPECT_EQ(counters_->messages_in.load(), 2u);
}

namespace {

//! A gateway of a node that holds no wallet (the links' tests need only its handle).
cluster::wallet_gateway_config gateway_config() {
  cluster::wallet_gateway_config c;
  c.shard_of = [](wallet_id) { return wallet_shard_actor(); };
  return c;
}

//! Node 2 (first incarnation) at a loopback port: what the lease keeper would report.
cluster_peer node_two_at(uint16_t port) {
  cluster_peer b;
  b.node = 2;
  b.endpoint = "127.0.0.1:" + std::to_string(port);
  b.incarnation = 1;
  return b;
}

//! Waits (at most 30 s) until `condition` holds.
template <class Condition>
bool wait_for(Condition condition) {
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30); std::chrono::steady_clock::now() < deadline;) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

}  // namespace

TEST(PeerLinks, ABrokenLinkIsNoticedAndMadeAgain) {
  node_config config_a;
  caf::actor_system node_a{config_a};
  uint16_t port = 0;
  auto node_b = std::make_unique<node_config>();
  auto system_b = std::make_unique<caf::actor_system>(*node_b);
  auto gateway = cluster::spawn_wallet_gateway(*system_b, gateway_config());
  auto published = system_b->middleman().publish(gateway, 0, "127.0.0.1", true);
  ASSERT_TRUE(published);
  port = *published;
  cluster::peer_links links(node_a, 1);
  links.update({node_two_at(port)});
  ASSERT_TRUE(wait_for([&] { return links.connected() == 1; }));
  uint64_t linked = links.generation();
  EXPECT_GT(linked, 0u);
  EXPECT_TRUE(links.gateway_of(2));
  // Node B's process goes away (its system ends: the connection closes).
  caf::anon_send_exit(gateway, caf::exit_reason::user_shutdown);
  gateway = wallet_gateway_actor();
  system_b.reset();
  ASSERT_TRUE(wait_for([&] { return links.generation() > linked; })) << "the broken link went unnoticed";
  // It comes back at the same endpoint (a quick restart): connected again, a new generation.
  node_b = std::make_unique<node_config>();
  system_b = std::make_unique<caf::actor_system>(*node_b);
  gateway = cluster::spawn_wallet_gateway(*system_b, gateway_config());
  ASSERT_TRUE(wait_for([&] { return static_cast<bool>(system_b->middleman().publish(gateway, port, "127.0.0.1", true)); }));
  uint64_t broken = links.generation();
  ASSERT_TRUE(wait_for([&] { return links.connected() == 1 && links.generation() > broken; }));
  links.stop();
  caf::anon_send_exit(gateway, caf::exit_reason::user_shutdown);
}

TEST(PeerLinks, AHigherNodeTakesALowerNodesGatewayFromItsHellosOnly) {
  // With TLS only the lower node connects, and it says hello with its gateway every round; the
  // higher node links to what the hellos bring (no connect of its own), and gets a lost handle back
  // from the next hello.
  node_config config;
  caf::actor_system node{config};
  cluster::peer_links links(node, 2, /*tls=*/true);
  auto own = cluster::spawn_wallet_gateway(node, gateway_config());
  links.set_own_gateway(own);  // as the engine does: one link per pair, made by the lower node
  cluster_peer lower;
  lower.node = 1;
  lower.endpoint = "127.0.0.1:1";  // never connected to: node 1 is the one that connects
  lower.incarnation = 1;
  links.update({lower});
  auto first = cluster::spawn_wallet_gateway(node, gateway_config());
  links.on_hello(1, caf::actor_cast<caf::actor>(first));
  links.on_hello(3, caf::actor_cast<caf::actor>(first));  // a higher id never introduces itself: ignored
  ASSERT_TRUE(wait_for([&] { return links.gateway_of(1) == first; }));
  EXPECT_FALSE(links.gateway_of(3));
  uint64_t linked = links.generation();
  links.on_hello(1, caf::actor_cast<caf::actor>(first));  // the same hello again: nothing changes
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(links.generation(), linked);
  // The handle goes down (its route was lost) while node 1 still thinks the link is up: the next
  // hello, with the handle of node 1's new route, links it again.
  caf::anon_send_exit(first, caf::exit_reason::user_shutdown);
  ASSERT_TRUE(wait_for([&] { return !links.gateway_of(1); })) << "the lost handle went unnoticed";
  auto second = cluster::spawn_wallet_gateway(node, gateway_config());
  links.on_hello(1, caf::actor_cast<caf::actor>(second));
  ASSERT_TRUE(wait_for([&] { return links.gateway_of(1) == second; }));
  EXPECT_GT(links.generation(), linked);
  links.stop();
  caf::anon_send_exit(second, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(own, caf::exit_reason::user_shutdown);
}

namespace {

//! A TCP proxy on loopback that the test controls: it forwards bytes between each connection it
//! accepts and `target_port`, until freeze(): from then on nothing passes and nothing is closed
//! (as with a peer that hangs, or a cut that sends no reset), and new connections are refused.
//! cut() closes the connections it carries now (both ends see the link break) and goes on
//! accepting new ones.
class freezing_proxy {
 public:
  explicit freezing_proxy(uint16_t target_port) : target_(target_port) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a = loopback(0);
    socklen_t len = sizeof a;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listener_, 16) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("the test proxy cannot listen");
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~freezing_proxy() {
    stop_ = true;
    thread_.join();
    for (auto& [a, b] : pairs_) {
      ::close(a);
      ::close(b);
    }
    ::close(listener_);
  }
  uint16_t port() const { return port_; }
  void freeze() { frozen_ = true; }
  void thaw() { frozen_ = false; }
  void cut() { cut_ = true; }

 private:
  static sockaddr_in loopback(uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
  }
  void accept_one() {
    int client = ::accept(listener_, nullptr, nullptr);
    if (client < 0) return;
    if (frozen_) {
      ::close(client);
      return;
    }
    int target = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = loopback(target_);
    if (::connect(target, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(client);
      ::close(target);
      return;
    }
    pairs_.emplace_back(client, target);
  }
  void run() {
    while (!stop_) {
      if (cut_.exchange(false)) {
        for (auto& [a, b] : pairs_) {
          ::close(a);
          ::close(b);
        }
        pairs_.clear();
      }
      std::vector<pollfd> fds{{listener_, POLLIN, 0}};
      if (!frozen_)
        for (auto& [a, b] : pairs_) {
          fds.push_back({a, POLLIN, 0});
          fds.push_back({b, POLLIN, 0});
        }
      if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
      if (fds[0].revents & POLLIN) accept_one();
      if (frozen_) continue;
      std::vector<size_t> closed;
      for (size_t i = 1; i < fds.size(); ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        size_t pair = (i - 1) / 2;
        int from = fds[i].fd;
        int to = from == pairs_[pair].first ? pairs_[pair].second : pairs_[pair].first;
        char buffer[65536];
        ssize_t n = ::read(from, buffer, sizeof buffer);
        bool ok = n > 0;
        for (ssize_t done = 0; ok && done < n;) {
          ssize_t w = ::write(to, buffer + done, static_cast<size_t>(n - done));
          ok = w > 0;
          done += w;
        }
        if (!ok) closed.push_back(pair);
      }
      std::sort(closed.begin(), closed.end());
      closed.erase(std::unique(closed.begin(), closed.end()), closed.end());
      for (auto it = closed.rbegin(); it != closed.rend(); ++it) {
        ::close(pairs_[*it].first);
        ::close(pairs_[*it].second);
        pairs_.erase(pairs_.begin() + static_cast<std::ptrdiff_t>(*it));
      }
    }
  }

  uint16_t target_;
  int listener_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false}, frozen_{false}, cut_{false};
  std::vector<std::pair<int, int>> pairs_;  //!< the proxy thread's own
  std::thread thread_;
};

}  // namespace

TEST(PeerLinks, ALinkToAPeerThatHangsCountsAsDownUntilItAnswersAgain) {
  node_config config_a, config_b;
  caf::actor_system node_a{config_a}, node_b{config_b};
  auto config = gateway_config();
  auto counters = config.counters;
  auto gateway = cluster::spawn_wallet_gateway(node_b, config);
  auto published = node_b.middleman().publish(gateway, 0, "127.0.0.1", true);
  ASSERT_TRUE(published);
  freezing_proxy proxy(*published);
  cluster::peer_links links(node_a, 1);
  auto end = caf::detail::make_scope_guard([&] {
    links.stop();
    caf::anon_send_exit(gateway, caf::exit_reason::user_shutdown);
  });
  links.update({node_two_at(proxy.port())});
  ASSERT_TRUE(wait_for([&] { return links.connected() == 1; }));
  wallet_gateway_actor first = links.gateway_of(2);
  // Healthy: pinged every second and answering, so never silent.
  ASSERT_TRUE(wait_for([&] { return counters->pings.load() >= 3; }));
  EXPECT_EQ(links.silent(), 0u);
  EXPECT_EQ(links.connected(), 1u);
  uint64_t linked = links.generation();

  // Node B hangs: its link carries nothing more, and TCP closes nothing (CAF would keep the proxy
  // up for ever). The health check counts it down once no ping was answered for the silence bound.
  proxy.freeze();
  auto frozen_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait_for([&] { return links.silent() == 1 && links.connected() == 0; }))
      << "a link to a peer that hangs went unnoticed";
  auto silent_after = std::chrono::steady_clock::now() - frozen_at;
  EXPECT_GE(silent_after, std::chrono::milliseconds(links.silence_ms() - links.silence_ms() / 3));
  EXPECT_FALSE(links.gateway_of(2)) << "a silent link's gateway is not handed out";
  EXPECT_GT(links.generation(), linked) << "whoever waits for answers over it resends";
  EXPECT_EQ(links.silences(), 1u);
  uint64_t silenced = links.generation();

  // It answers again: the same link is up again, not made anew.
  proxy.thaw();
  ASSERT_TRUE(wait_for([&] { return links.connected() == 1 && links.silent() == 0; }))
      << "a link whose peer answers again stayed down";
  EXPECT_TRUE(same_actor(links.gateway_of(2), first));
  EXPECT_GT(links.generation(), silenced);
  std::printf("the hung link counted down after %lld ms (silence bound %lld ms), up again once it answered\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(silent_after).count()),
              static_cast<long long>(links.silence_ms()));
}

TEST(PeerLinks, AfterALinkIsMadeAgainMessagesGoToTheNewProxyNotTheDeadOne) {
  // CAF 0.17 kills its proxies of a node's actors when the link to it breaks, and makes new ones
  // when the link is made again: the new proxy of the same gateway compares equal to the dead one
  // (same node id, same actor id), yet what goes to the dead one is dropped without a trace. An
  // order host kept its outbox slots by equality and sent every later forwarded submit to the dead
  // proxy (ports/actor_handles.hpp): the cluster kill test over TLS lost requests that way.
  node_config config_a, config_b;
  caf::actor_system node_a{config_a}, node_b{config_b};
  auto config = gateway_config();
  auto counters = config.counters;
  auto gateway = cluster::spawn_wallet_gateway(node_b, config);
  auto published = node_b.middleman().publish(gateway, 0, "127.0.0.1", true);
  ASSERT_TRUE(published);
  freezing_proxy proxy(*published);
  cluster::peer_links links(node_a, 1);
  links.update({node_two_at(proxy.port())});
  // Ends the gateway however the test ends (a live actor would keep node B's system from ending).
  auto end = caf::detail::make_scope_guard([&] {
    links.stop();
    caf::anon_send_exit(gateway, caf::exit_reason::user_shutdown);
  });
  ASSERT_TRUE(wait_for([&] { return links.connected() == 1; }));
  wallet_gateway_actor first = links.gateway_of(2);
  uint64_t linked = links.generation();

  caf::scoped_actor host{node_a};  // stands in for node A's order host: the sender
  per_actor<wallet_gateway_actor, submit_item> outbox;
  auto flush = [&] {
    outbox.drain([&](const wallet_gateway_actor& to, std::vector<submit_item> items) {
      host->send(to, forward_atom::value, std::move(items));
    });
  };
  submit_item item;
  item.client_tag = 1;
  item.command.tenant = 3;
  item.command.request_id = "r1";
  outbox[first].push_back(item);
  flush();
  ASSERT_TRUE(wait_for([&] { return counters->forwarded.load() == 1; }));

  // The link breaks (both processes stay up) and peer_links makes it again.
  proxy.cut();
  ASSERT_TRUE(wait_for([&] {
    auto now = links.gateway_of(2);
    return links.generation() > linked && now && !same_actor(now, first);
  })) << "the broken link was not made again";
  wallet_gateway_actor second = links.gateway_of(2);
  EXPECT_TRUE(second == first) << "CAF's handles compare by address: the trap this test is about";
  EXPECT_FALSE(same_actor(second, first));

  item.client_tag = 2;
  outbox[second].push_back(item);
  EXPECT_EQ(outbox.slots(), 2u) << "the new proxy shares the dead one's slot";
  flush();
  ASSERT_TRUE(wait_for([&] { return counters->forwarded.load() == 2; }))
      << "the forwarded submit went to the dead proxy";
}
