#pragma once
// The engine facade: builds the actor system, the wallet directory, the order hosts and
// the channels, and offers blocking calls for tools and tests. High-rate clients (the
// benchmark, the network server) talk to the hosts directly with submit messages.
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <caf/all.hpp>

#include "core/limits.hpp"
#include "core/order_core.hpp"
#include "core/channel_routing.hpp"
#include "core/simulated_channel.hpp"
#include "actors/directory.hpp"
#include "channels/callback_listener.hpp"
#include "channels/http_channel.hpp"
#include "ports/actor_interfaces.hpp"
#include "ports/channel_settings.hpp"
#include "ports/cluster.hpp"
#include "ports/messages.hpp"
#include "ports/publication.hpp"
#include "ports/storage_config.hpp"
#include "ports/storage_link.hpp"
#include "ports/storage_rows.hpp"

namespace txengine {

namespace publication {
class outbox_publisher;
}
namespace persistence {
class lease_keeper;
}
namespace cluster {
class peer_links;
struct gateway_counters;
}

struct engine_config {
  uint32_t node_id = 0;
  //! Order hosts (lanes) of this node; at most order_id_generator::lanes_max.
  uint32_t order_hosts = 2;
  //! CAF scheduler threads; 0 = the number of cores (CAF's default of 4 is slower on 2).
  uint32_t scheduler_threads = 0;
  order_config order;
  wallet_actor_config wallet;
  size_t orders_in_flight_max = limits::engine_orders_in_flight_max;
  size_t orders_retained_max = limits::engine_orders_retained_max;
  //! Simulated providers by channel id; channel 1 exists unless this is set otherwise.
  std::vector<std::pair<channel_id, channel_config>> channels = {{1, channel_config{}}};
  //! Providers over HTTP by channel id (channels/http_channel.hpp; `serve`'s [[providers]]).
  //! A channel id is either simulated or HTTP, never both.
  std::vector<std::pair<channel_id, http_provider_settings>> http_channels;
  //! Where top-ups and payouts that name no channel go, first matching rule first, and where
  //! they go after a refusal that moved nothing (core/channel_routing.hpp; `serve`'s [[routes]]).
  //! Empty: such orders go to channel 1.
  std::vector<route_rule> routes;
  //! The providers' callback endpoint (channels/callback_listener.hpp; `serve`'s [callbacks]);
  //! none = no callbacks (orders learn their outcome by querying).
  std::optional<callback_listener_config> callbacks;
  //! MySQL storage (docs/durability-design.md); none = in memory only, nothing persisted.
  std::optional<storage_config> storage;
  //! A cluster node (docs/cluster.md): partition leases in MySQL (needs `storage`) and the
  //! fence in every commit; none = a single node that owns every wallet.
  std::optional<cluster_config> cluster;
  //! Called once, on a storage thread, when the cluster node is fenced (it lost a partition it
  //! held state for, or its node id): it commits nothing more and must stop (`serve` exits).
  std::function<void(const std::string&)> on_fenced;
  //! Time and timers of every actor (ports/clock.hpp); nullptr = the wall clock. A manual_clock
  //! runs the engine on virtual time (tests); it must outlive the engine.
  clock_port* clock = nullptr;
};

//! Why settings that are each in range do not fit together (empty when they do), e.g. a wallet
//! forgetting a finished TCC record before its order's last try could arrive.
std::string engine_config_problem(const engine_config& config);

//! Thrown by the engine's constructor when storage is configured but cannot be used.
class storage_unavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct engine_stats {
  host_stats orders;
  size_t wallets = 0;
  size_t active_wallets = 0;
  // Storage (zero in memory mode).
  int64_t storage_rows_queued = 0;
  uint64_t storage_batches_committed = 0;
  uint64_t storage_rows_committed = 0;
  uint64_t storage_rows_written = 0;  //!< rows the writer's statements wrote or deleted (after dedup)
  uint64_t storage_commit_failures = 0;
  uint64_t storage_commit_us_total = 0;
  // Kafka publication (all zero when off).
  publication_stats publication;
};

//! Result of auditing every wallet (while no order is in flight).
struct wallet_audit {
  bool ok = true;
  size_t wallets = 0;
  //! Sum of available + frozen + incoming per currency: zero when money is conserved.
  std::map<std::string, int64_t> sum_by_currency;
  size_t below_limit = 0;       //!< wallets whose available is below -overdraft_limit
  size_t journal_mismatches = 0;
  size_t open_transactions = 0;
  std::map<wallet_id, balances> balances_by_wallet;
  std::string detail;
};

class engine {
 public:
  explicit engine(engine_config config = {});
  ~engine();
  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  caf::actor_system& system() { return *system_; }
  wallet_directory& directory() { return *directory_; }
  const engine_config& config() const { return config_; }
  //! "in memory (nothing persisted)" or "MySQL <uri> (...), ack durable|memory".
  const std::string& storage_description() const { return storage_description_; }
  bool persistent() const { return storage_ != nullptr; }
  //! "Kafka <servers>, topic <topic> ..." or why final states are not published.
  const std::string& publication_description() const { return publication_description_; }
  bool publishing() const { return publisher_ != nullptr; }
  //! The publisher's lag and counters (zero when not publishing).
  publication_stats publication();
  //! Forgets the publisher's latency samples so far (benchmarks measure one phase).
  void reset_publication_latency();
  //! Storage mode: waits until everything handed to the writer so far is committed; true
  //! at once in memory mode, false on timeout.
  bool sync_storage(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  //! Storage mode: nothing handed to the writer is committed from now on, as if the process
  //! died at this instant (recovery tests: destroy the engine next, then start another).
  void stop_storage_now();
  //! A cluster node: what it holds ("cluster node 1 at HOST:PORT: 256 of 256 partitions, ..."),
  //! or "" when the engine is not in a cluster.
  std::string cluster_description() const;
  //! The port this node's cluster link listens on (the one taken for port 0); 0 when not in a cluster.
  uint16_t cluster_port() const { return cluster_port_; }
  //! Other nodes whose wallet gateway this node is connected to (0 when not in a cluster).
  size_t cluster_links() const;
  //! Connects to other nodes' gateways that failed so far (down, or a certificate refused).
  uint64_t cluster_link_failures() const;
  //! What this node's wallet gateway received from and sent to other nodes (all zero when not in
  //! a cluster): benchmarks count link messages per order from it (bench_cluster).
  struct link_counters {
    uint64_t messages_in = 0, messages_out = 0, steps = 0, answered = 0, barriers = 0, forwarded = 0;
    uint64_t not_local = 0, dropped = 0, no_sender = 0;
    //! The health check (docs/cluster.md, "Link health"): other nodes' pings answered here; links
    //! silent now, and how often one fell silent.
    uint64_t pings = 0, silent = 0, silences = 0;
  };
  link_counters cluster_link_counters() const;
  //! The partitions this node holds (nullptr when not in a cluster).
  const partition_ownership* ownership() const { return ownership_.get(); }
  //! True once the cluster node was fenced (nothing more is committed; it must stop).
  bool fenced() const { return ownership_ && ownership_->fenced(); }
  std::string fence_reason() const { return ownership_ ? ownership_->fence_reason() : std::string(); }
  //! What recovery found and resumed at start (done at once in memory mode or on a fresh database).
  recovery_report recovery() const;
  //! Waits until recovery handed every non-final order to its host; false on timeout.
  bool wait_for_recovery(std::chrono::milliseconds timeout);

  struct created_wallet {
    result_code code = result_code::ok;
    wallet_id id = no_wallet;
    bool duplicate = false;  //!< a repeated request id answered with its wallet
  };
  //! Creates a wallet; each call creates one (no request id). Storage: returns before the row
  //! is committed (ordered before any effect on the wallet).
  created_wallet create_wallet(tenant_id tenant, currency cur, wallet_kind kind, int64_t overdraft_limit = 0);
  //! Idempotent creation: the same request id with the same content (currency, kind, overdraft
  //! limit) returns the same wallet (`duplicate`), also after a restart; other content gets
  //! `duplicate_conflict`; a repeat while the first call runs gets `unavailable` (retryable).
  //! Storage: returns once the wallet and its request id are committed (`unavailable` past the
  //! query deadline: the same request id later returns the wallet).
  created_wallet create_wallet(tenant_id tenant, currency cur, wallet_kind kind, int64_t overdraft_limit,
                               const std::string& request_id);
  wallet_id system_wallet(tenant_id tenant, currency cur) { return directory_->system_wallet(tenant, cur); }

  //! The host that owns a request id (and so its idempotency record and its order).
  const order_host_actor& host_for(tenant_id tenant, const std::string& request_id) const;
  //! The host that owns an order id, or nullptr for an id of another node or lane.
  const order_host_actor* host_of(order_id id) const;
  const std::vector<order_host_actor>& hosts() const { return hosts_; }
  const std::vector<std::pair<channel_id, channel_actor>>& channels() const { return channels_; }
  //! The callback endpoint, nullptr when not configured.
  const callback_listener* callbacks() const { return callbacks_.get(); }
  //! What each provider over HTTP counted so far (requests, unknowns, timeouts, refusals, circuit
  //! openings, in flight, queued: channels/http_channel.hpp), by channel id. Thread-safe.
  std::vector<std::pair<channel_id, http_channel_counters>> provider_counters() const;

  //! Submits one command and waits for its final state (or a refusal).
  order_reply execute(const order_command& command, std::chrono::milliseconds timeout = std::chrono::seconds(60));
  order_reply get_order(tenant_id tenant, order_id id);
  //! With `include_movements`: also the journal entries its steps made (`movements`): with
  //! storage what MySQL holds (docs/persistence.md, "History"), else the wallets' journals in memory.
  order_reply get_order(tenant_id tenant, order_id id, bool include_movements);
  wallet_view get_wallet(tenant_id tenant, wallet_id id);
  wallet_view admin(tenant_id tenant, wallet_id id, admin_op op, int64_t argument = 0);
  //! A page of a wallet's journal from `from_sequence`, oldest first. With storage, entries older
  //! than the journal in memory are read from MySQL (docs/persistence.md, "History").
  std::pair<result_code, std::vector<journal_entry>> movements(tenant_id tenant, wallet_id id, uint64_t from_sequence,
                                                               uint32_t limit);
  //! Engine-wide counters of every tenant, for the operator (benchmarks, the demo, tests).
  engine_stats stats();
  //! One tenant's counters, which are all a client of that tenant may see (GetStats);
  //! std::nullopt when an order host did not answer within the query deadline.
  std::optional<tenant_stats> stats_of(tenant_id tenant);
  //! Waits until no order is in flight; false on timeout.
  bool wait_until_quiet(std::chrono::milliseconds timeout);
  //! Audits every wallet: conservation per currency, limits, journals. Call when quiet.
  wallet_audit audit_wallets();

 private:
  engine_config config_;
  std::string storage_description_ = "in memory (nothing persisted)";
  std::string publication_description_ = "Kafka publication off (needs MySQL storage and kafka.bootstrap_servers)";
  std::shared_ptr<partition_ownership> ownership_;
  std::unique_ptr<cluster::peer_links> peers_;  //!< links to the other nodes' wallet gateways
  wallet_gateway_actor gateway_;                //!< this node's, published on its cluster endpoint
  uint16_t cluster_port_ = 0;                   //!< where gateway_ is published
  std::shared_ptr<cluster::gateway_counters> gateway_counters_;  //!< the gateway's (nullptr: no cluster)
  //! The directory once it exists (the gateway's thread reads it; it is set after the gateway starts).
  std::atomic<wallet_directory*> directory_ready_{nullptr};
  //! peers_ once made (the gateway, spawned before it, hands it the hellos of TLS links).
  std::atomic<cluster::peer_links*> peers_ready_{nullptr};
  //! The order hosts once they all run (the gateway's thread reads it; they start after it).
  std::atomic<const std::vector<order_host_actor>*> hosts_ready_{nullptr};
  std::unique_ptr<persistence::lease_keeper> keeper_;  //!< stopped after the writer
  std::unique_ptr<storage_link> storage_;
  std::unique_ptr<publication::outbox_publisher> publisher_;
  std::unique_ptr<caf::actor_system_config> caf_config_;
  std::unique_ptr<caf::actor_system> system_;
  std::unique_ptr<wallet_directory> directory_;
  std::vector<order_host_actor> hosts_;
  std::vector<std::pair<channel_id, channel_actor>> channels_;
  std::unique_ptr<callback_listener> callbacks_;
  std::vector<std::pair<channel_id, std::shared_ptr<http_channel_link>>> http_links_;
  uint64_t next_tag_ = 1;
  struct {
    wallet_id max_wallet_id = 0;
    uint64_t wallets = 0;
    std::vector<std::tuple<tenant_id, uint32_t, wallet_id>> system_wallets;
  } storage_start_;
  void start_storage();
  void start_cluster();
  //! A query of a wallet another cluster node holds, asked of that node's gateway.
  template <class... Ts>
  wallet_view ask_remote_wallet(wallet_id id, Ts... args);
  void start_publication();
};

}  // namespace txengine
