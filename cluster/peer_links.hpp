#pragma once
// The links of a cluster node to the other live nodes (issue 14, docs/cluster.md): for each, a
// handle to its wallet gateway, connected over CAF's middleman on a thread of this class (a
// connect blocks, and must never hold up the lease keeper's rounds or CAF's workers). The lease
// keeper reports the live members after each round; a member that left is dropped, a new one
// (or one whose endpoint changed: a restart) is connected. Order hosts look a node's gateway up
// when they flush steps for it; an unconnected node has none (its steps wait for the hosts'
// resend). A link that breaks (the other process died, or the network between them) is noticed
// within a second (the gateway's proxy goes down) and connected again while the node is live.
// A link to a node that hangs (a paused process, a network that drops everything and resets
// nothing) stays open for TCP; the health check counts it down: every third of its silence bound
// this node pings the other's gateway, and a link whose gateway answered none for that bound is
// **silent**: gateway_of() gives nothing for it (steps wait, forwarded submits are refused
// retryably, queries go to MySQL) until it answers again, when it counts as up at once. A silent
// link is not made again (CAF would hand back the same connection): its handle is pinged on.
//
// One link per pair of nodes, plain or TLS: once this node's own gateway is set, only the node of
// the lower id connects, and says hello with its gateway over that link (every round); the higher
// node links to what the hellos bring. (Both ends connecting made CAF reconcile two connections:
// CAF 0.17's openssl transport dropped one of them every second or so, and plain links at times
// lost both at start.) Without an own gateway (tests of the links alone) a node connects to
// every member.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <caf/all.hpp>

#include "core/partition_leases.hpp"
#include "ports/actor_interfaces.hpp"
#include "ports/cluster.hpp"

namespace txengine::cluster {

//! The health check of the links (docs/cluster.md, "Link health"): a link whose gateway answered
//! no ping for the silence bound counts as down; a ping goes to each linked gateway every third
//! of it. The bound is three fifths of the lease ttl, so that a hung node's link counts as down
//! before its leases expire, within these limits (the default ttl of 5 s gives 3 s).
constexpr int64_t link_silence_min_ms = 1'500;
constexpr int64_t link_silence_max_ms = 3'000;
constexpr int64_t link_silence_for(int64_t lease_ttl_ms) {
  int64_t bound = lease_ttl_ms / 5 * 3;
  return bound < link_silence_min_ms ? link_silence_min_ms : bound > link_silence_max_ms ? link_silence_max_ms : bound;
}

//! Splits HOST:PORT (port 0..65535; 0 = any, when listening); false when it is not one.
bool split_endpoint(const std::string& endpoint, std::string& host, uint16_t& port);

class peer_links {
 public:
  //! `tls`: connect with CAF's openssl module (the system loaded it: link_tls.hpp).
  //! `silence_ms`: the health check's bound (link_silence_for the lease ttl).
  peer_links(caf::actor_system& system, cluster_node self, bool tls = false,
             int64_t silence_ms = link_silence_max_ms);
  int64_t silence_ms() const { return silence_ms_; }
  ~peer_links();
  peer_links(const peer_links&) = delete;
  peer_links& operator=(const peer_links&) = delete;

  //! The live members as the last lease round saw them; returns at once.
  void update(const std::vector<cluster_peer>& members);
  //! The gateway of `node`, or an invalid handle while it is not connected.
  wallet_gateway_actor gateway_of(cluster_node node) const;
  //! Connected nodes now (whose links are not silent).
  size_t connected() const;
  //! Links that are silent now, and how many times a link fell silent so far.
  size_t silent() const;
  uint64_t silences() const { return silences_.load(std::memory_order_acquire); }
  //! Connects that failed so far (the other node down, or it refused this one's certificate).
  uint64_t failed_connects() const { return failed_connects_.load(std::memory_order_acquire); }
  //! Grows each time a link is made or lost: messages sent on a lost link may be lost with it,
  //! so whoever waits for answers over the links resends when this changes.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  //! Ends the thread (the handles are dropped).
  void stop();
  //! This node's own gateway, introduced to the nodes it connects to (before update()).
  void set_own_gateway(wallet_gateway_actor gateway);
  //! A node of a lower id introduced its gateway over the link it made to this node's.
  void on_hello(cluster_node node, caf::actor gateway);

 private:
  void main();
  //! The fault switch of the link-cut test (docs/cluster.md, "The link-cut test"): the node ids
  //! listed in the file TXENGINE_CLUSTER_CUT_FILE names, if that variable is set, are treated as
  //! unreachable: their links are dropped and not made again while they are listed (read about
  //! every second). Both ends list each other for a cut in both directions.
  static std::vector<cluster_node> cut_nodes();

  caf::actor_system& system_;
  const cluster_node self_;
  const bool tls_;
  const int64_t silence_ms_;  //!< the health check's bound; pings every third of it
  std::atomic<uint64_t> failed_connects_{0};
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::map<cluster_node, cluster_peer> wanted_;    //!< guarded by mutex_
  bool changed_ = false;                           //!< guarded by mutex_
  bool quit_ = false;                              //!< guarded by mutex_
  struct link {
    cluster_peer peer;  //!< a restart (another incarnation) is connected anew
    wallet_gateway_actor gateway;
    uint64_t serial = 0;  //!< which link this is: answers to an earlier link's pings do not count
    std::chrono::steady_clock::time_point answered;  //!< its last ping answered (or it was made)
    std::chrono::steady_clock::time_point pinged;    //!< its last ping sent
    bool silent = false;
  };
  //! Links silent now (mutex_ held).
  size_t silent_links() const;
  //! Sets up a new link (its health check starts now).
  link make_link(const cluster_peer& peer, wallet_gateway_actor gateway);
  //! Pings the links due for one, and counts each silent or up again (the link thread's).
  void check_health();
  //! Where the prober's answers land: node -> (serial, when), read by the link thread.
  struct ping_board {
    std::mutex mutex;
    std::map<cluster_node, std::pair<uint64_t, std::chrono::steady_clock::time_point>> answers;
  };
  static caf::actor spawn_prober(caf::actor_system& system, std::shared_ptr<ping_board> board, int64_t silence_ms);
  std::map<cluster_node, link> links_;             //!< guarded by mutex_
  //! Gateways introduced by lower nodes, not yet linked (guarded by mutex_).
  std::map<cluster_node, wallet_gateway_actor> hellos_;
  wallet_gateway_actor own_gateway_;               //!< guarded by mutex_
  //! The incarnation of each node whose failed connect was logged (the link thread's own).
  std::map<cluster_node, uint64_t> warned_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> silences_{0};
  uint64_t next_serial_ = 0;  //!< guarded by mutex_
  std::shared_ptr<ping_board> board_ = std::make_shared<ping_board>();
  caf::actor prober_;  //!< sends the pings (a request each, with a deadline) and notes the answers
  std::thread thread_;
};

}  // namespace txengine::cluster
