#include "cluster/peer_links.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>

#include <caf/io/all.hpp>
#include <caf/openssl/remote_actor.hpp>
#include <spdlog/spdlog.h>

#include "ports/actor_handles.hpp"

namespace txengine::cluster {

bool split_endpoint(const std::string& endpoint, std::string& host, uint16_t& port) {
  auto colon = endpoint.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == endpoint.size()) return false;
  char* end = nullptr;
  long p = std::strtol(endpoint.c_str() + colon + 1, &end, 10);
  if (end == endpoint.c_str() + colon + 1 || *end != '\0' || p < 0 || p > 65535) return false;
  host = endpoint.substr(0, colon);
  port = static_cast<uint16_t>(p);
  return true;
}

namespace {

using probe_atom = caf::atom_constant<caf::atom("probe")>;

}  // namespace

peer_links::peer_links(caf::actor_system& system, cluster_node self, bool tls, int64_t silence_ms)
    : system_(system),
      self_(self),
      tls_(tls),
      silence_ms_(std::max<int64_t>(silence_ms, 3)),
      prober_(spawn_prober(system, board_, silence_ms_)),
      thread_([this] { main(); }) {}

caf::actor peer_links::spawn_prober(caf::actor_system& system, std::shared_ptr<ping_board> board, int64_t silence_ms) {
  return system.spawn([board, silence_ms](caf::event_based_actor* self) -> caf::behavior {
    return {
        [self, board, silence_ms](probe_atom, uint32_t node, uint64_t serial, const wallet_gateway_actor& gateway) {
          self->request(gateway, std::chrono::milliseconds(silence_ms), ping_atom::value)
              .then(
                  [board, node, serial](ping_atom) {
                    std::lock_guard<std::mutex> lock(board->mutex);
                    board->answers[node] = {serial, std::chrono::steady_clock::now()};
                  },
                  [](caf::error&) {});  // unanswered: the silence shows it
        },
    };
  });
}

peer_links::link peer_links::make_link(const cluster_peer& peer, wallet_gateway_actor gateway) {
  link l;
  l.peer = peer;
  l.gateway = std::move(gateway);
  l.serial = ++next_serial_;
  l.answered = std::chrono::steady_clock::now();
  return l;
}

void peer_links::check_health() {
  using std::chrono::milliseconds;
  auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> lock(board_->mutex);
    for (auto& [node, l] : links_) {
      auto answer = board_->answers.find(node);
      if (answer != board_->answers.end() && answer->second.first == l.serial)
        l.answered = std::max(l.answered, answer->second.second);
    }
  }
  for (auto& [node, l] : links_) {
    if (now - l.pinged >= milliseconds(silence_ms_ / 3)) {
      l.pinged = now;
      caf::anon_send(prober_, probe_atom::value, uint32_t{node}, l.serial, l.gateway);
    }
    bool quiet = now - l.answered > milliseconds(silence_ms_);
    if (quiet == l.silent) continue;
    l.silent = quiet;
    generation_.fetch_add(1, std::memory_order_acq_rel);
    if (quiet) {
      silences_.fetch_add(1, std::memory_order_acq_rel);
      spdlog::warn("cluster: node {} at {} answered no ping for {} ms: its link counts as down until it answers",
                   node, l.peer.endpoint, silence_ms_);
    } else {
      spdlog::info("cluster: node {} at {} answers again: its link is up", node, l.peer.endpoint);
    }
  }
}

peer_links::~peer_links() { stop(); }

void peer_links::update(const std::vector<cluster_peer>& members) {
  std::map<cluster_node, cluster_peer> wanted;
  for (const auto& m : members)
    if (m.node != self_ && m.node != no_node) wanted[m.node] = m;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (wanted == wanted_) return;
    wanted_ = std::move(wanted);
    changed_ = true;
  }
  cv_.notify_all();
}

wallet_gateway_actor peer_links::gateway_of(cluster_node node) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = links_.find(node);
  return found == links_.end() || found->second.silent ? wallet_gateway_actor() : found->second.gateway;
}

size_t peer_links::silent_links() const {
  return static_cast<size_t>(std::count_if(links_.begin(), links_.end(), [](const auto& l) { return l.second.silent; }));
}

size_t peer_links::silent() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return silent_links();
}

size_t peer_links::connected() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return links_.size() - silent_links();
}

void peer_links::set_own_gateway(wallet_gateway_actor gateway) {
  std::lock_guard<std::mutex> lock(mutex_);
  own_gateway_ = std::move(gateway);
}

void peer_links::on_hello(cluster_node node, caf::actor gateway) {
  if (node == self_ || node == no_node || node >= self_) return;  // only lower ids connect to this one
  auto handle = caf::actor_cast<wallet_gateway_actor>(gateway);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // The lower node says hello again every round: news only when this node lacks the link.
    // By identity: after the link was made again, the new proxy of the same gateway compares
    // equal to the dead one (ports/actor_handles.hpp).
    auto linked = links_.find(node);
    if (linked != links_.end() && same_actor(linked->second.gateway, handle)) return;
    auto known = hellos_.find(node);
    if (known != hellos_.end() && same_actor(known->second, handle)) return;
    hellos_[node] = std::move(handle);
    changed_ = true;
  }
  cv_.notify_all();
}

void peer_links::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    quit_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  caf::anon_send_exit(prober_, caf::exit_reason::user_shutdown);
  std::lock_guard<std::mutex> lock(mutex_);
  links_.clear();
}

std::vector<cluster_node> peer_links::cut_nodes() {
  static const char* path = std::getenv("TXENGINE_CLUSTER_CUT_FILE");
  std::vector<cluster_node> nodes;
  if (path == nullptr) return nodes;
  std::ifstream in(path);
  long long node = 0;
  while (in >> node)
    if (node > 0 && node < static_cast<long long>(cluster_nodes_max)) nodes.push_back(static_cast<cluster_node>(node));
  return nodes;
}

void peer_links::main() {
  // Watches the gateways' proxies: one goes down when its link breaks.
  caf::scoped_actor watcher{system_};
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    // Wake up on a change, and now and then to retry the members not connected yet and to see
    // which links broke.
    cv_.wait_for(lock, std::min<std::chrono::milliseconds>(std::chrono::seconds(1), std::chrono::milliseconds(silence_ms_ / 3)),
                 [this] { return quit_ || changed_; });
    if (quit_) return;
    changed_ = false;
    std::vector<caf::actor_addr> down;
    bool more = true;
    while (more)
      watcher->receive([&](caf::down_msg& d) { down.push_back(d.source); },
                       caf::after(std::chrono::seconds(0)) >> [&] { more = false; });
    std::map<cluster_node, cluster_peer> wanted = wanted_;
    for (cluster_node node : cut_nodes()) wanted.erase(node);  // the fault switch: as if unreachable
    // A down message names a proxy by address, which a new proxy of the same gateway shares
    // (ports/actor_handles.hpp): only the very handle that went down counts.
    auto went_down = [&](const wallet_gateway_actor& gateway) {
      return std::any_of(down.begin(), down.end(), [&](const caf::actor_addr& d) { return is_source_of(d, gateway); });
    };
    for (auto it = hellos_.begin(); it != hellos_.end();) it = went_down(it->second) ? hellos_.erase(it) : std::next(it);
    for (auto it = links_.begin(); it != links_.end();) {
      auto w = wanted.find(it->first);
      bool broke = went_down(it->second.gateway);
      if (broke || w == wanted.end() || !(w->second == it->second.peer)) {
        spdlog::info("cluster: link to node {} at {} {}", it->first, it->second.peer.endpoint,
                     broke ? "broke" : w == wanted.end() ? "dropped (the node left, or the link is cut)"
                                                          : "dropped (the node restarted)");
        it = links_.erase(it);
        generation_.fetch_add(1, std::memory_order_acq_rel);
      } else {
        ++it;
      }
    }
    check_health();
    // The links this node made are introduced again every round (about a second): the other end
    // may have lost its handle while this end's stayed up; without a new hello it would never send
    // here again.
    if (own_gateway_)
      for (const auto& [node, l] : links_)
        if (node > self_)
          caf::anon_send(l.gateway, hello_atom::value, uint32_t{self_}, caf::actor_cast<caf::actor>(own_gateway_));
    for (const auto& [node, peer] : wanted) {
      if (links_.count(node) != 0) continue;
      if (node < self_ && own_gateway_) {
        // One link per pair: the lower node connects and introduces its gateway over that link.
        auto hello = hellos_.find(node);
        if (hello == hellos_.end()) continue;
        watcher->monitor(hello->second);
        spdlog::info("cluster: link to node {} at {} up (made by that node{})", node, peer.endpoint, tls_ ? ", TLS" : "");
        links_[node] = make_link(peer, hello->second);
        hellos_.erase(hello);
        generation_.fetch_add(1, std::memory_order_acq_rel);
        continue;
      }
      std::string host;
      uint16_t port = 0;
      if (!split_endpoint(peer.endpoint, host, port)) continue;
      lock.unlock();  // connecting blocks; lookups go on meanwhile
      auto gateway = tls_ ? caf::openssl::remote_actor<wallet_gateway_actor>(system_, host, port)
                          : system_.middleman().remote_actor<wallet_gateway_actor>(host, port);
      lock.lock();
      if (quit_) return;
      if (gateway) {
        watcher->monitor(*gateway);
        spdlog::info("cluster: link to node {} at {} up{}", node, peer.endpoint, tls_ ? " (TLS)" : "");
        warned_.erase(node);
        links_[node] = make_link(peer, *gateway);
        generation_.fetch_add(1, std::memory_order_acq_rel);
        if (own_gateway_) caf::anon_send(*gateway, hello_atom::value, uint32_t{self_}, caf::actor_cast<caf::actor>(own_gateway_));
      } else {
        failed_connects_.fetch_add(1, std::memory_order_acq_rel);
        // Once per incarnation of the node: a dead one is retried every second until it leaves.
        if (warned_[node] != peer.incarnation) {
          warned_[node] = peer.incarnation;
          spdlog::warn("cluster: cannot link to node {} at {}: {} (retried every second)", node, peer.endpoint,
                       system_.render(gateway.error()));
        }
      }
    }
  }
}

}  // namespace txengine::cluster
