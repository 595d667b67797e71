#include "persistence/lease_keeper.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <random>

#include <spdlog/spdlog.h>

#include "persistence/lease_store.hpp"

namespace txengine::persistence {

namespace {

uint64_t new_incarnation() {
  std::random_device device;
  uint64_t v = (static_cast<uint64_t>(device()) << 32) ^ device();
  v ^= static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  return (v & 0x7fff'ffff'ffff'ffffull) | 1;  // never 0 (the column's placeholder)
}

}  // namespace

lease_keeper::lease_keeper(mysql_endpoint endpoint, shard_layout layout, cluster_config config,
                           std::shared_ptr<partition_ownership> ownership, members_handler on_members,
                           acquired_handler on_acquired, settle_handler settle)
    : endpoint_(std::move(endpoint)),
      layout_(std::move(layout)),
      config_(std::move(config)),
      ownership_(std::move(ownership)),
      on_members_(std::move(on_members)),
      on_acquired_(std::move(on_acquired)),
      settle_(std::move(settle)),
      incarnation_(new_incarnation()) {}

lease_keeper::~lease_keeper() { stop(false); }

lease_store& lease_keeper::store() {
  if (!store_) store_ = std::make_unique<lease_store>(endpoint_, layout_, config_.leases);
  return *store_;
}

void lease_keeper::start() {
  const cluster_node self = ownership_->self();
  store().prepare();
  // A process of this node id that died (a restart right after a crash) leaves its registration
  // until it expires: waited for, up to a ttl. One that renews it is alive: refused at once.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(config_.leases.ttl_ms) +
                       2 * std::chrono::milliseconds(config_.round_interval_ms);
  for (int64_t seen = -1;;) {
    try {
      store().join(self, incarnation_, config_.endpoint);
      break;
    } catch (const node_in_use_error& e) {
      if ((seen >= 0 && e.expires_ms() != seen) || std::chrono::steady_clock::now() >= give_up) throw;
      if (seen < 0)
        spdlog::warn("cluster: node id {} is registered by another process; waiting for it to expire, or to be "
                     "renewed (then this start is refused)", self);
      seen = e.expires_ms();
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait_for(lock, std::chrono::milliseconds(config_.round_interval_ms), [this] { return quit_; });
      if (quit_) throw lease_store_error("stopped while waiting for node id " + std::to_string(self));
    }
  }
  spdlog::info("cluster: node {} joined as {} (incarnation {:x}), {} partitions, lease ttl {} ms", self,
               config_.endpoint, incarnation_, config_.leases.partitions, config_.leases.ttl_ms);
  // An earlier process of this id can decide nothing more now (the join gave its leases new
  // epochs): its branches are settled before any of its partitions is read. One it decided
  // and still holds (paused) must be committed by it first: waited for, up to a ttl.
  if (settle_) {
    for (bool warned = false;;) {
      bool settled = false;
      try {
        settled = settle_(self, true);
      } catch (const std::exception& e) {
        spdlog::warn("cluster: node {}: its earlier process's branches not settled now ({})", self, e.what());
      }
      if (settled) break;
      if (std::chrono::steady_clock::now() >= give_up)
        throw lease_store_error("an earlier process of node id " + std::to_string(self) +
                                " still holds a committed batch's XA branch (paused?): start again once it ended");
      if (!warned)
        spdlog::warn("cluster: node {}: an earlier process still holds a committed batch's XA branch; waiting", self);
      warned = true;
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait_for(lock, std::chrono::milliseconds(config_.round_interval_ms), [this] { return quit_; });
      if (quit_) throw lease_store_error("stopped while settling node " + std::to_string(self) + "'s branches");
    }
  }
  // Nodes started together see one another before they take partitions.
  if (config_.join_settle_ms > 0) {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait_for(lock, std::chrono::milliseconds(config_.join_settle_ms), [this] { return quit_; });
    if (quit_) return;
  }
  // The first rounds, until a round takes nothing more: the node starts with its share of what
  // is free (partitions of a node that died lately come in later rounds, once they expire).
  for (int i = 0; i < 16; ++i) {
    uint64_t before = stats().acquired;
    round();
    if (stats().acquired == before) break;
  }
  spdlog::info("cluster: node {} holds {} of {} partitions at start ({} live nodes)", self, ownership_->held(),
               config_.leases.partitions, stats().live_nodes);
  thread_ = std::thread([this] { main(); });
}

void lease_keeper::stop(bool leave) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopped_) return;
    stopped_ = quit_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (ownership_->fenced()) {
    // A fenced process commits nothing more: its id is free for its restart at once (the
    // restart's join gives up the leases it still names, with new epochs).
    try {
      store().deregister(ownership_->self(), incarnation_);
    } catch (const std::exception& e) {
      spdlog::warn("cluster: fenced node {} could not end its registration ({}): a restart waits up to {} ms",
                   ownership_->self(), e.what(), config_.leases.ttl_ms);
    }
  } else if (leave && store_) {
    try {
      store_->leave(ownership_->self(), incarnation_);
      ownership_->assign({});
      spdlog::info("cluster: node {} left the cluster (its leases are free at once)", ownership_->self());
    } catch (const std::exception& e) {
      spdlog::warn("cluster: node {} could not leave cleanly ({}): its leases expire in {} ms", ownership_->self(),
                   e.what(), config_.leases.ttl_ms);
    }
  }
  store_.reset();
}

lease_keeper_stats lease_keeper::stats() const {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  return stats_;
}

std::string lease_keeper::describe() const {
  auto s = stats();
  return "cluster node " + std::to_string(ownership_->self()) + " at " + config_.endpoint + ": " +
         std::to_string(ownership_->held()) + " of " + std::to_string(config_.leases.partitions) + " partitions, " +
         std::to_string(s.live_nodes) + " live node(s), lease ttl " + std::to_string(config_.leases.ttl_ms) + " ms";
}

void lease_keeper::main() {
  mysql_thread_scope scope;
  int64_t failures_in_a_row = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait_for(lock, std::chrono::milliseconds(config_.round_interval_ms), [this] { return quit_; });
      if (quit_) return;
    }
    if (ownership_->fenced()) return;  // nothing of this node may be renewed any more
    try {
      round();
      failures_in_a_row = 0;
    } catch (const std::exception& e) {
      {
        std::lock_guard<std::mutex> lock(stats_mutex_);
        ++stats_.round_failures;
      }
      if (failures_in_a_row++ % 10 == 0)
        spdlog::error("cluster: node {}: lease round failed ({}); leases expire {} ms after their last renewal",
                      ownership_->self(), e.what(), config_.leases.ttl_ms);
      store_.reset();  // reconnect next round
    }
  }
}

void lease_keeper::round() {
  const cluster_node self = ownership_->self();
  lease_store& s = store();
  if (!s.heartbeat(self, incarnation_)) {
    ownership_->fence("node id " + std::to_string(self) +
                      " was taken by another process after this one's registration expired (it was paused or cut "
                      "off from MySQL for longer than the lease ttl)");
    return;
  }
  const int64_t now = s.now_ms();
  std::vector<cluster_node> live;
  std::vector<cluster_peer> members;
  for (auto& m : s.live_members()) {
    live.push_back(m.node);
    members.push_back(cluster_peer{m.node, std::move(m.endpoint), m.incarnation});
  }
  lease_plan plan = plan_lease_round(s.leases(), live, self, now, config_.leases);
  const bool serving = ownership_->serving();
  if (serving) {
    // Nothing is given back while the node serves (its wallets may be in memory).
    plan.renew.insert(plan.renew.end(), plan.release.begin(), plan.release.end());
    plan.release.clear();
  }
  std::map<uint32_t, uint64_t> released;
  for (const auto& l : plan.release) {
    s.release(l, self);
    released[l.partition] = l.epoch;
  }
  uint64_t acquired = 0;
  for (const auto& l : plan.acquire)
    if (s.acquire(l, self)) {
      ++acquired;
      // Another node's: not served before the batches it committed are wholly visible.
      if (l.owner != no_node && l.owner != self) unsettled_[l.partition] = l.owner;
    }
  s.renew(plan.renew, self);

  // What this node holds now: its leases at their epochs (an expired one that nobody took is
  // still its own: nobody else can have committed for it at that epoch).
  std::vector<partition_lease> snapshot = s.leases();
  std::map<uint32_t, partition_lease> by_partition;
  std::set<cluster_node> holders;
  for (const auto& l : snapshot) {
    by_partition[l.partition] = l;
    holders.insert(l.owner);
  }
  // The previous owners' prepared branches (persistence/split_commit.hpp): a batch it decided
  // whose order-side branch is still prepared holds rows that reads here would not see (an
  // order's intent, its request id). Undecided ones are rolled back once that node can decide
  // nothing more (it is not live and holds no partition), else left: the fence refuses them.
  std::set<cluster_node> waiting;
  {
    std::map<cluster_node, bool> settled;
    for (auto it = unsettled_.begin(); it != unsettled_.end();) {
      if (by_partition[it->first].owner != self) {  // lost again before it was served
        it = unsettled_.erase(it);
        continue;
      }
      const cluster_node n = it->second;
      auto done = settled.find(n);
      if (done == settled.end()) {
        const bool gone = holders.count(n) == 0 && std::find(live.begin(), live.end(), n) == live.end();
        bool ok = !settle_;
        if (settle_) {
          try {
            ok = settle_(n, gone);
          } catch (const std::exception& e) {
            spdlog::warn("cluster: node {}'s prepared branches not settled now ({})", n, e.what());
          }
        }
        done = settled.emplace(n, ok).first;
        if (!ok) waiting.insert(n);
      }
      it = done->second ? unsettled_.erase(it) : std::next(it);
    }
  }
  std::vector<partition_lease> held;
  for (auto& l : snapshot) {
    if (l.owner != self) continue;
    if (unsettled_.count(l.partition)) {
      l.owner = no_node;  // routed nowhere (orders of its wallets wait, retryably) until settled
      continue;
    }
    held.push_back(l);
  }
  if (!waiting.empty() && unsettled_.size() != unsettled_logged_)
    spdlog::warn("cluster: node {} holds {} partition(s) it does not serve yet: a batch their previous owner "
                 "committed is not wholly visible (its branch held by a live, paused process); asked again next round",
                 self, unsettled_.size());
  unsettled_logged_ = waiting.empty() ? 0 : unsettled_.size();
  uint64_t lost = 0;
  for (uint32_t p = 0; p < config_.leases.partitions; ++p) {
    uint64_t had = ownership_->epoch(p);
    if (had == 0) continue;
    const partition_lease& now_lease = by_partition[p];
    if (now_lease.owner == self && now_lease.epoch == had) continue;
    if (released.count(p)) {
      spdlog::info("cluster: node {} gave partition {} back (epoch {}) to rebalance", self, p, had);
      continue;
    }
    ++lost;
    spdlog::error("cluster: node {} lost partition {} (held at epoch {}, now node {} at epoch {})", self, p, had,
                  now_lease.owner, now_lease.epoch);
    if (serving)
      ownership_->fence("partition " + std::to_string(p) + " was taken by node " + std::to_string(now_lease.owner) +
                        " while this node held it at epoch " + std::to_string(had) +
                        " (this node did not renew it within the lease ttl: paused, slow or cut off from MySQL)");
  }
  // Before any order of a partition taken over is resumed here: steps of the node that lost it,
  // still on their way, are refused from now on (docs/cluster.md).
  ownership_->note_epochs(snapshot);
  std::vector<uint32_t> taken_over;
  if (serving)
    for (const auto& l : held)
      if (ownership_->epoch(l.partition) == 0) taken_over.push_back(l.partition);
  if (!taken_over.empty()) {
    // Before they count as held: the wallet ids continue past the previous owner's first.
    spdlog::warn("cluster: node {} took over {} partition(s) while serving; resuming their orders", self,
                 taken_over.size());
    ownership_->note_takeover();
    if (on_acquired_) on_acquired_(taken_over);
  }
  ownership_->assign(held);
  ownership_->assign_owners(snapshot, s.now_ms());
  if (on_members_) on_members_(members);
  if (acquired > 0)
    spdlog::info("cluster: node {} took {} partition(s), holds {} of {}", self, acquired, held.size(),
                 config_.leases.partitions);
  std::lock_guard<std::mutex> lock(stats_mutex_);
  ++stats_.rounds;
  stats_.acquired += acquired;
  stats_.released += released.size();
  stats_.lost += lost;
  stats_.held = static_cast<uint32_t>(held.size());
  stats_.live_nodes = static_cast<uint32_t>(std::max<size_t>(1, live.size()));
}

}  // namespace txengine::persistence
