#pragma once
// Comparing actor handles, and gathering messages per destination actor, where some of the
// actors are on other cluster nodes.
//
// CAF 0.17 compares handles by address: node id and actor id. A handle of an actor on another
// node is a proxy, and when the link to that node breaks, CAF kills the proxy; when the link is
// made again, a message from or to the same actor gets a new proxy with the same node id and
// actor id. The old and the new handle compare equal, yet whatever is sent to the old one is
// dropped without a trace. So a handle kept across messages (a slot of an outbox, a link's
// gateway, the sender of an earlier message) must be told apart from a newer one by identity:
// `same_actor`. Found by the cluster kill test over TLS (docs/cluster.md, "Forwarded submits
// lost after a link was made again"): an order host kept sending to a dead proxy of another
// node's gateway, and answering a dead proxy of another node's host, for ever.
#include <utility>
#include <vector>

#include <caf/all.hpp>

namespace txengine {

//! The same actor object: not only the same address (a dead proxy and its live successor differ).
template <class A, class B>
bool same_actor(const A& a, const B& b) {
  return caf::actor_cast<caf::abstract_actor*>(a) == caf::actor_cast<caf::abstract_actor*>(b);
}

//! A down message's source is this handle (not an earlier proxy of the same remote actor).
template <class Handle>
bool is_source_of(const caf::actor_addr& source, const Handle& handle) {
  return source.get() != nullptr && source.get() == caf::actor_cast<caf::strong_actor_ptr>(handle).get();
}

//! An actor of another cluster node: a proxy (it lives in `local`, the system that made it, under
//! another node's id). An actor of another actor system of this process (the wire server's) has
//! another node id too, but lives in its own system.
template <class Handle>
bool on_another_node(const Handle& handle, const caf::actor_system& local) {
  auto ptr = caf::actor_cast<caf::strong_actor_ptr>(handle);
  return ptr && ptr->home_system == &local && ptr->node() != local.node();
}

//! Messages bound for other actors, gathered while handling a burst of input and sent as one
//! message per destination at the next flush. Few destinations (clients, channels, other
//! nodes' gateways): a linear search beats hashing actor handles, and the slots are kept between
//! flushes instead of rebuilding a map each time. Slots are by identity (same_actor): a new
//! proxy of a remote actor gets its own slot, never the dead one's.
template <class Handle, class Item>
class per_actor {
 public:
  std::vector<Item>& operator[](const Handle& dest) {
    for (auto& slot : slots_)
      if (same_actor(slot.first, dest)) return slot.second;
    slots_.emplace_back(dest, std::vector<Item>{});
    return slots_.back().second;
  }
  bool empty() const {
    for (const auto& slot : slots_)
      if (!slot.second.empty()) return false;
    return true;
  }
  template <class F>
  void drain(F&& send) {
    for (auto& slot : slots_)
      if (!slot.second.empty()) {
        size_t reserve = slot.second.size();
        send(slot.first, std::move(slot.second));
        slot.second = std::vector<Item>();
        slot.second.reserve(reserve);
      }
    if (slots_.size() > slots_kept_max) slots_.clear();  // many one-off clients, or old proxies: forget them
  }
  size_t slots() const { return slots_.size(); }

  //! Slots kept between flushes, at most (past it all are dropped at the end of a flush).
  static constexpr size_t slots_kept_max = 64;

 private:
  std::vector<std::pair<Handle, std::vector<Item>>> slots_;
};

}  // namespace txengine
