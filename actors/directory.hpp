#pragma once
// Wallet id -> wallet shard. Wallets live in one of two forms: active in the wallet shard
// actor that owns them (shard = id % shards), or a dormant wallet_core kept by the store
// (here: memory; later MySQL). A shard activates a wallet on its first step and passivates
// it (back to dormant) when idle.
//
// Why shards instead of one actor per wallet (docs/perf-notes.md): with wallets chosen
// uniformly, steps to one wallet can never be batched, so every step was one CAF message
// (~0.5-1 us each on 2 cores). A shard still serializes every mutation of each of its
// wallets (one actor, no locks), but an order host sends one message per shard per flush
// with all the steps for that shard's wallets, whatever their number.
//
// The table is a striped-lock map: hosts route by id alone (no lookup on the order path);
// shards take the lock only to activate or passivate a wallet.
#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <string>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <tuple>
#include <unordered_map>
#include <vector>

#include <caf/all.hpp>

#include "core/result_code.hpp"
#include "core/types.hpp"
#include "core/wallet_core.hpp"
#include "ports/actor_interfaces.hpp"
#include "ports/clock.hpp"
#include "ports/cluster.hpp"
#include "ports/storage_link.hpp"
#include "ports/storage_messages.hpp"

namespace txengine {

struct wallet_actor_config {
  //! A wallet with no open transaction and no message for this long is passivated.
  int64_t idle_ms = 60'000;
  wallet_config core;
  //! Wallet shard actors; a wallet belongs to shard (id % shards). 0 = 2 per scheduler thread.
  uint32_t shards = 0;
  //! Time and timers of the shards and the directory; nullptr = the wall clock.
  clock_port* clock = nullptr;
};

class wallet_directory {
 public:
  //! Spawns the wallet shards (`config.shards`, or `default_shards` when that is 0).
  //! `storage`: nullptr keeps wallets in memory only; otherwise new wallets are written to it
  //! and a shard loads a wallet this directory does not know from it.
  wallet_directory(caf::actor_system& system, wallet_actor_config config, uint32_t default_shards = 4,
                   storage_link* storage = nullptr);
  ~wallet_directory();

  //! Creates a dormant wallet; its id is assigned here. Returns no_wallet on bad input via `code`.
  //! `request_id` (with its content hash): idempotent creation, written with the wallet's row.
  wallet_id create(tenant_id tenant, currency cur, wallet_kind kind, int64_t overdraft_limit, result_code& code,
                   const std::string& request_id = {}, uint64_t request_hash = 0);

  //! Idempotent creation: what is known here of a create_wallet request id.
  struct wallet_request {
    enum class state : uint8_t {
      claimed,  //!< unknown until now: the caller owns it and must settle() or release() it
      pending,  //!< another call is creating it right now
      known,    //!< created (here, or found in storage): `id` and `hash`
    };
    state st = state::claimed;
    wallet_id id = no_wallet;
    uint64_t hash = 0;
  };
  wallet_request claim_request(tenant_id tenant, const std::string& request_id);
  void settle_request(tenant_id tenant, const std::string& request_id, wallet_id id, uint64_t hash);
  void release_request(tenant_id tenant, const std::string& request_id);
  //! Why a wallet cannot be created with these values (ok when it can).
  static result_code validate(tenant_id tenant, currency cur, wallet_kind kind, int64_t overdraft_limit);
  //! The content a create_wallet request id stands for (currency, kind, overdraft limit).
  static uint64_t request_hash(currency cur, wallet_kind kind, int64_t overdraft_limit);

  //! The tenant's system wallet for a currency, created on first use. A cluster node uses one
  //! in a partition it holds (one per tenant, currency and node, docs/cluster.md).
  wallet_id system_wallet(tenant_id tenant, currency cur);

  //! The shard actor that owns a known wallet; std::nullopt for an unknown wallet. Messages
  //! to a shard name the wallet (see wallet_actor.hpp).
  std::optional<wallet_shard_actor> resolve(wallet_id id);

  //! Routing without a lookup: the shard of any id (an unknown id is answered by the shard).
  size_t shard_index(wallet_id id) const { return static_cast<size_t>(id % shards_.size()); }

  //! A cluster node (docs/cluster.md): which node holds each wallet's partition, and the wallet
  //! gateways of the other nodes. Set once, before any order.
  struct cluster_routes {
    const partition_ownership* ownership = nullptr;
    std::function<wallet_gateway_actor(cluster_node)> gateway_of;
    //! Grows when a link to another node was made or lost (cluster::peer_links::generation).
    std::function<uint64_t()> links_generation;
  };
  void set_cluster(cluster_routes routes) { routes_ = std::move(routes); }
  //! A cluster node (set_cluster was called).
  bool clustered() const { return routes_.ownership != nullptr; }
  //! True when this node may act on the wallet (always outside a cluster).
  bool holds(wallet_id id) const {
    return routes_.ownership == nullptr || routes_.ownership->owner_of_wallet(id) == routes_.ownership->self();
  }
  //! Where the steps for a wallet go: a shard index (below shards().size()), the slot of the
  //! node that holds it (shards().size() + node: its wallet gateway), or `unroutable` while no
  //! node holds it (the steps wait for their orders' resend).
  static constexpr size_t unroutable = static_cast<size_t>(-1);
  size_t route(wallet_id id) const {
    if (routes_.ownership == nullptr) return shard_index(id);
    cluster_node owner = routes_.ownership->owner_of_wallet(id);
    if (owner == routes_.ownership->self()) return shard_index(id);
    return owner == no_node ? unroutable : shards_.size() + owner;
  }
  //! The partition of an order's home wallet and the epoch at which this node holds it (0: it
  //! does not); (0, 0) outside a cluster.
  std::pair<uint32_t, uint64_t> home_fence(wallet_id home) const {
    if (routes_.ownership == nullptr) return {0, 0};
    uint32_t p = partition_of(home, routes_.ownership->partitions());
    return {p, routes_.ownership->epoch(p)};
  }
  //! A cluster node that took partitions over while serving (their orders, created by another
  //! node, are in MySQL only).
  bool took_over() const { return routes_.ownership != nullptr && routes_.ownership->taken_over(); }
  //! Grows whenever routes may have changed (an owner, or a link): what waits for an answer
  //! from another node is sent again (0 outside a cluster).
  uint64_t routes_version() const {
    if (routes_.ownership == nullptr) return 0;
    return routes_.ownership->changes() + (routes_.links_generation ? routes_.links_generation() : 0);
  }
  //! The wallet gateway of the node that holds `id`, when that is another node and it is connected.
  wallet_gateway_actor remote_gateway(wallet_id id) const {
    size_t slot = route(id);
    return slot == unroutable ? wallet_gateway_actor() : gateway_of_slot(slot);
  }
  //! Slots route() can return (shards, then one per node id).
  size_t route_slots() const { return shards_.size() + (routes_.ownership ? cluster_nodes_max : 0); }
  //! The gateway of a node's slot; invalid while that node is not connected.
  wallet_gateway_actor gateway_of_slot(size_t slot) const {
    return slot < shards_.size() ? wallet_gateway_actor() : gateway_of_node(static_cast<cluster_node>(slot - shards_.size()));
  }
  //! The wallet gateway of another node; invalid while it is not connected (or outside a cluster).
  wallet_gateway_actor gateway_of_node(cluster_node node) const {
    if (!routes_.gateway_of || node == no_node || node >= cluster_nodes_max) return wallet_gateway_actor();
    return routes_.gateway_of(node);
  }
  const std::vector<wallet_shard_actor>& shards() const { return shards_; }
  //! How many shards there are (known before they are all spawned).
  size_t shards_expected() const { return shard_count_; }

  //! For the owning shard: takes a dormant wallet's core; std::nullopt for an unknown id.
  std::optional<wallet_core> activate(wallet_id id);
  //! For the owning shard: keeps an idle wallet's core dormant again.
  void passivate(wallet_id id, wallet_core core);

  //! Storage mode, at start (and a cluster node's takeover): ids continue after `max_id`; the
  //! system wallets storage holds.
  void restore_ids(wallet_id max_id, const std::vector<std::tuple<tenant_id, uint32_t, wallet_id>>& system_wallets);
  //! For the owning shard: a wallet of `tenant` it loaded from storage is now known and active.
  void adopt(wallet_id id, tenant_id tenant);
  storage_link* storage() const { return storage_; }

  size_t wallets() const { return wallet_count_.load(); }
  size_t active() const { return active_count_.load(); }
  //! How many of wallets() belong to `tenant` (GetStats of that tenant).
  size_t wallets_of(tenant_id tenant) const;

  //! Calls `f` with every wallet id (active and dormant); for checks and reports.
  std::vector<wallet_id> all_ids() const;
  //! A dormant wallet's state, or std::nullopt when it is active or unknown.
  std::optional<wallet_core> dormant(wallet_id id) const;

 private:
  static constexpr size_t stripes = 64;
  struct entry {
    bool active = false;
    std::optional<wallet_core> dormant;
  };
  struct stripe {
    mutable std::mutex mutex;
    std::unordered_map<wallet_id, entry> entries;
  };
  stripe& stripe_of(wallet_id id) { return stripes_[id % stripes]; }
  void count_for_tenant(tenant_id tenant);
  const stripe& stripe_of(wallet_id id) const { return stripes_[id % stripes]; }

  caf::actor_system& system_;
  wallet_actor_config config_;
  storage_link* storage_ = nullptr;
  cluster_routes routes_;
  std::array<stripe, stripes> stripes_;
  std::vector<wallet_shard_actor> shards_;
  size_t shard_count_ = 1;
  std::atomic<wallet_id> next_id_{1};
  std::atomic<size_t> wallet_count_{0};
  std::atomic<size_t> active_count_{0};
  mutable std::mutex tenant_counts_mutex_;
  std::unordered_map<tenant_id, size_t> wallets_by_tenant_;  //!< one entry per tenant with a wallet
  //! Request ids of wallets created with one, by (tenant, request id). Memory only: as many as
  //! wallets (each wallet is kept here too). Storage: a cache of wallet_requests, the newest
  //! limits::wallet_requests_cached_max (older ones are looked up in MySQL again).
  std::mutex requests_mutex_;
  std::unordered_map<std::string, wallet_request> requests_;
  std::deque<std::string> requests_order_;
  std::mutex system_wallets_mutex_;
  //! Every system wallet known, by (tenant, currency): one per node that ever created one.
  std::map<std::pair<tenant_id, uint32_t>, std::vector<wallet_id>> system_wallets_;
};

}  // namespace txengine
