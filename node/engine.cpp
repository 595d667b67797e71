#include "node/engine.hpp"

#include <cstdlib>
#include <functional>
#include <thread>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include <caf/io/all.hpp>
#include <caf/openssl/publish.hpp>

#include "actors/channel_actor.hpp"
#include "channels/http_channel.hpp"
#include "cluster/link_tls.hpp"
#include "cluster/peer_links.hpp"
#include "cluster/wallet_gateway.hpp"
#include "core/check.hpp"
#include "core/order_id_generator.hpp"
#include "core/routing.hpp"
#include "actors/order_host.hpp"
#include "actors/wallet_actor.hpp"
#ifdef TXENGINE_WITH_MYSQL
#include "persistence/lease_keeper.hpp"
#include "persistence/lease_store.hpp"
#include "persistence/order_loader.hpp"
#include "persistence/storage_bootstrap.hpp"
#include "persistence/storage_target.hpp"
#include "persistence/wallet_loader.hpp"
#include "persistence/writer.hpp"
#endif
#ifndef TXENGINE_WITH_MYSQL
namespace txengine::persistence {
// Without MySQL there is never a cluster (its leases live there); the engine still holds the pointer.
class lease_keeper {
 public:
  void stop(bool) {}
  std::string describe() const { return {}; }
};
}  // namespace txengine::persistence
#endif
#ifdef TXENGINE_WITH_KAFKA
#include "persistence/outbox_store.hpp"
#include "publication/publisher.hpp"
#else
namespace txengine::publication {
// Without librdkafka there is never a publisher; the engine still holds the (empty) pointer.
class outbox_publisher {};
}  // namespace txengine::publication
#endif

namespace txengine {

namespace {

class engine_caf_config : public caf::actor_system_config {
 public:
  engine_caf_config(uint32_t threads, const std::optional<cluster_config>& cluster) {
    if (cluster) {
      // The cluster's links (docs/cluster.md): CAF's middleman, and the message types that cross;
      // off loopback over TLS (CAF's openssl module).
      load<caf::io::middleman>();
      if (cluster->tls()) cluster::enable_link_tls(*this, *cluster);
      cluster::add_cluster_message_types(*this);
      // No CAF heartbeats: over TLS CAF 0.17.6 closes links still in their handshake at a tick.
      // cluster::peer_links checks each link's health itself (docs/cluster.md, "Link health").
    }
    set("scheduler.max-threads", static_cast<size_t>(threads));
    // Measured here: the sharing policy beats work stealing for this many-small-actors load.
    const char* policy = std::getenv("TXENGINE_SCHEDULER_POLICY");
    set("scheduler.policy", caf::atom_from_string(policy ? policy : "sharing"));
    if (const char* throughput = std::getenv("TXENGINE_MAX_THROUGHPUT"))
      set("scheduler.max-throughput", static_cast<size_t>(std::stoul(throughput)));
    // Stay quiet: the engine prints its own reports.
    set("logger.console-verbosity", caf::atom("quiet"));
  }
};

void add(host_stats& total, const host_stats& s) {
  total.submitted += s.submitted;
  total.refused += s.refused;
  total.duplicates += s.duplicates;
  total.succeeded += s.succeeded;
  total.failed += s.failed;
  total.in_flight += s.in_flight;
  total.retained += s.retained;
  total.step_resends += s.step_resends;
  total.channel_queries += s.channel_queries;
  total.channel_reroutes += s.channel_reroutes;
  total.alerts += s.alerts;
  total.resumed += s.resumed;
  total.final_retained += s.final_retained;
  total.evicted += s.evicted;
  total.forwarded += s.forwarded;
  total.forward_resends += s.forward_resends;
  total.forwarded_in += s.forwarded_in;
  total.remote_replies += s.remote_replies;
  total.forward_replies += s.forward_replies;
  total.forward_replies_stale += s.forward_replies_stale;
  total.relays += s.relays;
  for (size_t i = 0; i < total.alerts_by_kind.size() && i < s.alerts_by_kind.size(); ++i)
    total.alerts_by_kind[i] += s.alerts_by_kind[i];
  for (size_t i = 0; i < total.failed_by_code.size() && i < s.failed_by_code.size(); ++i)
    total.failed_by_code[i] += s.failed_by_code[i];
}

}  // namespace

engine::engine(engine_config config) : config_(std::move(config)) {
  TX_CHECK(config_.order_hosts >= 1 && config_.order_hosts <= order_id_generator::lanes_max);
  TX_CHECK(config_.node_id < order_id_generator::nodes_max);
  uint32_t threads = config_.scheduler_threads;
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  if (!config_.routes.empty())
    if (std::string problem = engine_config_problem(config_); !problem.empty()) throw storage_unavailable(problem);
  if (config_.cluster) {
    // Before the actor system: its openssl module would find bad files only at a first link.
    std::string problem = engine_config_problem(config_);
    if (problem.empty()) problem = cluster::link_tls_problem(*config_.cluster);
    if (!problem.empty()) throw storage_unavailable(problem);
    config_.storage->xa_node = config_.node_id;  // its branch ids are its own
  }
  if (config_.callbacks) {  // bound before anything starts, so a port in use stops the start cleanly
    std::string error;
    callbacks_ = callback_listener::start(*config_.callbacks, config_.http_channels,
                                          [this](order_id id) { return host_of(id); }, error);
    if (!callbacks_) throw storage_unavailable(error);
  }
  caf_config_ = std::make_unique<engine_caf_config>(threads, config_.cluster);
  system_ = std::make_unique<caf::actor_system>(*caf_config_);
  config_.wallet.clock = config_.clock;
  // A cancel tombstone is kept at least as long as a try of its order may still arrive.
  config_.wallet.core.finished_record_min_keep_ms = config_.order.try_deadline_ms;
  if (config_.storage) start_storage();
  directory_ = std::make_unique<wallet_directory>(*system_, config_.wallet, 2 * threads, storage_.get());
  if (ownership_) {
    cluster::peer_links* peers = peers_.get();
    directory_->set_cluster({ownership_.get(), [peers](cluster_node node) { return peers->gateway_of(node); },
                             [peers] { return peers->generation(); }});
  }
  directory_ready_.store(directory_.get());
  if (storage_) directory_->restore_ids(storage_start_.max_wallet_id, storage_start_.system_wallets);
  std::vector<channel_id> channel_ids;
  for (const auto& [id, settings] : config_.channels) channel_ids.push_back(id);
  for (const auto& [id, settings] : config_.http_channels) channel_ids.push_back(id);
  auto health = std::make_shared<channel_health>(channel_ids);
  auto router = std::make_shared<const channel_router>(config_.routes);
  for (uint32_t lane = 0; lane < config_.order_hosts; ++lane) {
    order_host_config host_config;
    host_config.router = router;
    host_config.health = health;
    host_config.node_id = config_.node_id;
    host_config.lane = lane;
    host_config.order = config_.order;
    host_config.orders_in_flight_max = std::max<size_t>(1, config_.orders_in_flight_max / config_.order_hosts);
    host_config.orders_retained_max = std::max<size_t>(1, config_.orders_retained_max / config_.order_hosts);
    host_config.storage = storage_.get();
    host_config.clock = config_.clock;
    hosts_.push_back(spawn_order_host(*system_, host_config, directory_.get()));
  }
  for (const auto& [id, channel_config] : config_.channels) {
    auto channel = spawn_simulated_channel(*system_, channel_config, config_.clock, id);
    set_channel_hosts(channel, hosts_);
    channels_.emplace_back(id, channel);
  }
  for (const auto& [id, settings] : config_.http_channels) {
    std::shared_ptr<http_channel_link> link;
    auto channel = spawn_http_channel(*system_, id, settings, &link, health);
    http_links_.emplace_back(id, std::move(link));
    set_channel_hosts(channel, hosts_);
    channels_.emplace_back(id, channel);
  }
  host_peers peers{hosts_, channels_};
  for (const auto& host : hosts_) set_host_peers(host, peers);
  hosts_ready_.store(&hosts_);
  if (callbacks_) callbacks_->set_ready(true);
  // Every order not final when the engine stopped is read and resumed in its host, while new
  // commands are accepted (docs/durability-design.md, "Recovery").
  if (storage_) caf::anon_send(storage_->order_loader, recover_atom::value, hosts_);
  if (ownership_) ownership_->start_serving();
}

engine::~engine() {
  // A cluster node's gateway first, and waited for: it hands other nodes' steps, submits and
  // queries to the hosts and shards stopped below (after it, those nodes resend to the next owner).
  hosts_ready_.store(nullptr);
  directory_ready_.store(nullptr);
  if (gateway_) {
    caf::anon_send_exit(gateway_, caf::exit_reason::user_shutdown);
    caf::scoped_actor self{*system_};
    self->wait_for(gateway_);
    gateway_ = wallet_gateway_actor();
  }
  if (callbacks_) callbacks_->set_ready(false);  // before the hosts it hands callbacks to go
  callbacks_.reset();
  // Hosts and channels first, and waited for: a host mid-message still uses the directory.
  std::vector<caf::actor> stopped;
  for (const auto& host : hosts_) stopped.push_back(caf::actor_cast<caf::actor>(host));
  for (const auto& [id, channel] : channels_) stopped.push_back(caf::actor_cast<caf::actor>(channel));
  for (const auto& host : hosts_) caf::anon_send_exit(host, caf::exit_reason::user_shutdown);
  for (const auto& [id, channel] : channels_) caf::anon_send_exit(channel, caf::exit_reason::user_shutdown);
  {
    caf::scoped_actor self{*system_};
    self->wait_for(stopped);
  }
  stopped.clear();
  hosts_.clear();
  channels_.clear();
  // Storage mode: the shards are waited for too before the writer stops.
  if (storage_)
    for (const auto& shard : directory_->shards()) stopped.push_back(caf::actor_cast<caf::actor>(shard));
  directory_.reset();  // stops the active wallets
  if (storage_) {
    {
      // Nothing sends to the writer any more once these are gone.
      caf::scoped_actor self{*system_};
      self->wait_for(stopped);
    }
    stopped.clear();
    // What was handed to the writer is committed if MySQL answers within a bound; past it,
    // the rest is dropped as a crash would drop it (what was acknowledged is committed).
    // The wallets' deferred checkpoints are written too (a restart reads them from the
    // journal otherwise: correct, only slower to read).
    const bool crashed = storage_->stopping.load() || storage_->fenced();
    if (!crashed) {
      caf::scoped_actor self{*system_};
      self->request(storage_->writer, std::chrono::seconds(60), sync_atom::value, checkpoint_all_atom::value)
          .receive([](bool) {}, [](caf::error&) {});
    }
    storage_->stopping.store(true);
    caf::anon_send_exit(storage_->writer, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(storage_->loader, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(storage_->order_loader, caf::exit_reason::user_shutdown);
    // A detached actor's thread ends only once no handle to it is left.
    storage_->writer = writer_actor();
    storage_->loader = wallet_loader_actor();
    storage_->order_loader = order_loader_actor();
    // A cluster node gives its leases back only after a clean stop committed everything; after
    // a crash (or a fence) they expire as a dead node's would.
    if (keeper_) keeper_->stop(!crashed);
    keeper_.reset();  // its handler holds the order loader's handle: the loader's thread ends only once none is left
    peers_ready_.store(nullptr);
    peers_.reset();
  }
  publisher_.reset();  // bounded (kafka.stop_flush_ms); what is left is published by the next start
  system_.reset();     // waits for every actor to finish
}

void engine::start_storage() {
#ifdef TXENGINE_WITH_MYSQL
  auto start = persistence::prepare_storage(*config_.storage);
  if (!start.ok) throw storage_unavailable("storage: " + start.error);
  storage_start_.max_wallet_id = start.max_wallet_id;
  storage_start_.system_wallets = start.system_wallets;
  storage_start_.wallets = start.wallets;
  storage_ = std::make_unique<storage_link>();
  storage_->config = *config_.storage;
  storage_->orders_at_start = start.orders;
  if (config_.cluster) {
    // Before the writer: its fence reads the leases (the first batches come once the keeper
    // holds its partitions, below); before the publisher: it publishes their outbox rows only.
    ownership_ = std::make_shared<partition_ownership>(config_.node_id, config_.cluster->leases.partitions,
                                                       config_.cluster->leases.ttl_ms);
    storage_->ownership = ownership_;
  }
  start_publication();  // before the writer: the publisher counts the unpublished rows first
  storage_->writer = persistence::spawn_writer(*system_, storage_.get());
  storage_->loader = persistence::spawn_wallet_loader(*system_, storage_.get());
  storage_->order_loader = persistence::spawn_order_loader(*system_, storage_.get());
  if (config_.cluster) {
    try {
      start_cluster();
    } catch (...) {
      // The engine does not start: the actors started so far must end, or the actor system
      // would wait for them for ever.
      storage_->stopping.store(true);
      if (gateway_) caf::anon_send_exit(gateway_, caf::exit_reason::user_shutdown);
      caf::anon_send_exit(storage_->writer, caf::exit_reason::user_shutdown);
      caf::anon_send_exit(storage_->loader, caf::exit_reason::user_shutdown);
      caf::anon_send_exit(storage_->order_loader, caf::exit_reason::user_shutdown);
      gateway_ = wallet_gateway_actor();
      storage_->writer = writer_actor();
      storage_->loader = wallet_loader_actor();
      storage_->order_loader = order_loader_actor();
      keeper_.reset();
      peers_ready_.store(nullptr);
    peers_.reset();
      throw;
    }
  }
  storage_description_ = "MySQL " + start.description + ", ack " +
                         (storage_->durable_ack() ? "durable" : "memory (may lose the last moments on a crash)") +
                         ", " + std::to_string(start.wallets) + " wallets and " + std::to_string(start.orders) +
                         " orders stored" +
                         (start.branches_committed + start.branches_rolled_back > 0
                              ? ", prepared branches settled: " + std::to_string(start.branches_committed) +
                                    " committed, " + std::to_string(start.branches_rolled_back) + " rolled back"
                              : std::string());
#else
  throw storage_unavailable("storage: this build has no MySQL support (libmysqlcppconn-dev was not found)");
#endif
}

void engine::start_cluster() {
#ifdef TXENGINE_WITH_MYSQL
  cluster_config cluster = *config_.cluster;
  auto on_fenced = config_.on_fenced;
  const cluster_node self = config_.node_id;
  ownership_->on_fenced([on_fenced, self](const std::string& why) {
    spdlog::critical("cluster: node {} is FENCED and commits nothing more: {}", self, why);
    if (on_fenced) on_fenced(why);
  });
  // The wallet gateway other nodes' hosts send steps to, published on the cluster endpoint
  // (port 0: any, and the one taken is registered). Answers wait for a commit with durable acks.
  cluster::wallet_gateway_config gateway;
  std::atomic<wallet_directory*>* ready = &directory_ready_;
  gateway.shard_of = [ready](wallet_id w) -> wallet_shard_actor {
    wallet_directory* d = ready->load();
    if (d == nullptr || !d->holds(w)) return wallet_shard_actor();
    return d->shards()[d->shard_index(w)];
  };
  std::shared_ptr<partition_ownership> ownership = ownership_;
  gateway.note_epoch = [ownership](uint32_t p, uint64_t epoch) { return ownership->note_epoch(p, epoch); };
  if (storage_->durable_ack()) gateway.writer = storage_->writer;
  // Other nodes' clients: their forwarded submits and their queries of orders go to the host of
  // the same lane here (every node runs the same number of hosts).
  std::atomic<const std::vector<order_host_actor>*>* hosts = &hosts_ready_;
  gateway.host_of_request = [hosts](tenant_id tenant, const std::string& request_id) -> order_host_actor {
    const std::vector<order_host_actor>* h = hosts->load();
    return h == nullptr ? order_host_actor() : (*h)[host_index(tenant, request_id, h->size())];
  };
  gateway.host_of_order = [hosts](order_id id) -> order_host_actor {
    const std::vector<order_host_actor>* h = hosts->load();
    uint32_t lane = order_id_generator::lane_of(id);
    return h == nullptr || lane >= h->size() ? order_host_actor() : (*h)[lane];
  };
  std::atomic<cluster::peer_links*>* peers_ready = &peers_ready_;
  gateway.on_hello = [peers_ready](uint32_t node, caf::actor other) {
    if (cluster::peer_links* p = peers_ready->load()) p->on_hello(node, std::move(other));
  };
  gateway_counters_ = gateway.counters;
  gateway_ = cluster::spawn_wallet_gateway(*system_, gateway);
  std::string host;
  uint16_t port = 0;
  if (!cluster::split_endpoint(cluster.endpoint, host, port))
    throw storage_unavailable("cluster: the endpoint " + cluster.endpoint + " is not HOST:PORT");
  auto published = cluster.tls() ? caf::openssl::publish(gateway_, port, host.c_str(), true)
                                  : system_->middleman().publish(gateway_, port, host.c_str(), true);
  if (!published)
    throw storage_unavailable("cluster: cannot listen on " + cluster.endpoint + ": " + system_->render(published.error()));
  cluster_port_ = *published;
  cluster.endpoint = host + ":" + std::to_string(*published);
  peers_ = std::make_unique<cluster::peer_links>(*system_, config_.node_id, cluster.tls(),
                                                 cluster::link_silence_for(cluster.leases.ttl_ms));
  cluster::peer_links* peers = peers_.get();
  peers->set_own_gateway(gateway_);
  peers_ready_.store(peers);
  // Partitions taken over while serving (a dead or fenced node's): wallet ids continue past the
  // ones it created, and its non-final orders homed there are resumed here.
  std::atomic<wallet_directory*>* directory = &directory_ready_;
  storage_config storage = *config_.storage;
  order_loader_actor order_loader = storage_->order_loader;
  auto on_acquired = [directory, storage, order_loader](const std::vector<uint32_t>& partitions) {
    if (wallet_directory* d = directory->load()) d->restore_ids(persistence::read_max_wallet_id(storage), {});
    caf::anon_send(order_loader, recover_atom::value, partitions);
  };
  // Before a node's partitions are read here (at this node's start: its own earlier process's;
  // after a takeover: the previous owner's), the XA branches that node left prepared are settled
  // (a killed process's; one a paused process still holds waits for it).
  auto settle = [storage](cluster_node n, bool may_roll_back) {
    auto settled = persistence::settle_branches_of_node(storage, n, may_roll_back);
    if (settled.committed + settled.rolled_back > 0)
      spdlog::warn("cluster: node {}'s prepared branches settled: {} committed, {} rolled back", n, settled.committed,
                   settled.rolled_back);
    return settled.decided_all_committed();
  };
  keeper_ = std::make_unique<persistence::lease_keeper>(
      persistence::endpoint_of(*config_.storage), persistence::layout_of(*config_.storage), cluster, ownership_,
      [peers](const std::vector<cluster_peer>& members) { peers->update(members); }, on_acquired, settle);
  try {
    keeper_->start();
  } catch (const persistence::lease_store_error& e) {
    throw storage_unavailable(std::string("cluster: ") + e.what());
  } catch (const std::exception& e) {
    throw storage_unavailable(std::string("cluster: the partition leases could not be read or written: ") + e.what());
  }
#endif
}

size_t engine::cluster_links() const { return peers_ ? peers_->connected() : 0; }

uint64_t engine::cluster_link_failures() const { return peers_ ? peers_->failed_connects() : 0; }

engine::link_counters engine::cluster_link_counters() const {
  link_counters out;
  if (!gateway_counters_) return out;
  const auto& c = *gateway_counters_;
  out.messages_in = c.messages_in.load(std::memory_order_relaxed);
  out.messages_out = c.messages_out.load(std::memory_order_relaxed);
  out.steps = c.steps.load(std::memory_order_relaxed);
  out.answered = c.answered.load(std::memory_order_relaxed);
  out.barriers = c.barriers.load(std::memory_order_relaxed);
  out.forwarded = c.forwarded.load(std::memory_order_relaxed);
  out.not_local = c.not_local.load(std::memory_order_relaxed);
  out.dropped = c.dropped.load(std::memory_order_relaxed);
  out.no_sender = c.no_sender.load(std::memory_order_relaxed);
  out.pings = c.pings.load(std::memory_order_relaxed);
  if (peers_) {
    out.silent = peers_->silent();
    out.silences = peers_->silences();
  }
  return out;
}

std::string engine::cluster_description() const { return keeper_ ? keeper_->describe() : std::string(); }

void engine::stop_storage_now() {
  if (storage_) storage_->stopping.store(true);
}

recovery_report engine::recovery() const {
  recovery_report report;
  if (!storage_) {
    report.done = true;
    return report;
  }
  std::lock_guard<std::mutex> lock(storage_->recovery_mutex);
  return storage_->recovery;
}

bool engine::wait_for_recovery(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (recovery().done) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling a condition, bounded by the deadline
  }
}

std::string recovery_report::summary() const {
  std::string s = "resumed " + std::to_string(resumed) + " of " + std::to_string(orders) + " non-final orders";
  std::string detail;
  for (size_t i = 0; i < by_state.size(); ++i)
    if (by_state[i] != 0)
      detail += (detail.empty() ? "" : ", ") + std::string(to_string(static_cast<order_state>(i))) + " " +
                std::to_string(by_state[i]);
  std::string kinds;
  for (size_t i = 0; i < by_kind.size(); ++i)
    if (by_kind[i] != 0)
      kinds += (kinds.empty() ? "" : ", ") + std::string(to_string(static_cast<order_kind>(i))) + " " +
               std::to_string(by_kind[i]);
  if (!detail.empty()) s += " (" + detail + "; " + kinds + ")";
  s += " in " + std::to_string(elapsed_ms) + " ms";
  if (unreadable != 0 || orders != resumed)
    s += "; " + std::to_string(orders - resumed) + " not resumed (see the errors above)";
  if (!error.empty()) s += "; " + error;
  if (!done) s += " (still running)";
  return s;
}

void engine::start_publication() {
  const publication_config& kafka = storage_->config.kafka;
  if (!kafka.enabled()) {
    publication_description_ =
        "Kafka publication OFF (kafka.bootstrap_servers is empty): final states are not published, no outbox rows";
    spdlog::warn("{}", publication_description_);
    return;
  }
#ifdef TXENGINE_WITH_KAFKA
  // A cluster node publishes the outbox rows of the partitions it holds (docs/cluster.md).
  persistence::outbox_share share;
  if (ownership_) {
    share.partitions = ownership_->partitions();
    std::shared_ptr<const partition_ownership> ownership = ownership_;
    share.held = [ownership] { return ownership->held_partitions(); };
  }
  try {
    publisher_ = std::make_unique<publication::outbox_publisher>(storage_->config, *storage_,
                                                                 persistence::mysql_outbox(storage_->config, share));
  } catch (const std::exception& e) {
    throw storage_unavailable(std::string("kafka: ") + e.what());
  }
  publication_description_ = publisher_->description();
#else
  throw storage_unavailable("kafka: this build has no Kafka support (librdkafka-dev was not found)");
#endif
}

publication_stats engine::publication() {
#ifdef TXENGINE_WITH_KAFKA
  if (publisher_) return publisher_->stats();
#endif
  return publication_stats();
}

void engine::reset_publication_latency() {
#ifdef TXENGINE_WITH_KAFKA
  if (publisher_) publisher_->reset_latency();
#endif
}

bool engine::sync_storage(std::chrono::milliseconds timeout) {
  if (!storage_) return true;
  caf::scoped_actor self{*system_};
  bool ok = false;
  self->request(storage_->writer, timeout, sync_atom::value)
      .receive([&](bool committed) { ok = committed; }, [&](caf::error&) { ok = false; });
  return ok;
}

std::string engine_config_problem(const engine_config& config) {
  const auto& o = config.order;
  int64_t horizon = o.try_deadline_ms + o.retry_max_ms;
  if (config.wallet.core.finished_record_retention_ms <= horizon)
    return "wallet.finished_record_retention_ms (" + std::to_string(config.wallet.core.finished_record_retention_ms) +
           ") must exceed order.try_deadline_ms + order.retry_max_ms (" + std::to_string(horizon) +
           "): a late try or repeat would no longer find its record";
  if (config.cluster) {
    if (!config.storage) return "[cluster] needs [storage]: the partition leases and their fence live in MySQL";
    std::string problem = cluster_config_problem(*config.cluster, config.node_id);
    if (!problem.empty()) return "[cluster]: " + problem;
  }
  std::unordered_set<channel_id> channel_ids;
  for (const auto& [id, settings] : config.channels)
    if (!channel_ids.insert(id).second) return "channel " + std::to_string(id) + " is configured twice";
  for (const auto& [id, settings] : config.http_channels) {
    if (!channel_ids.insert(id).second) return "channel " + std::to_string(id) + " is configured twice";
    std::string problem = http_provider_problem(settings);
    if (!problem.empty()) return "provider " + std::to_string(id) + ": " + problem;
  }
  if (!config.routes.empty()) {
    std::vector<channel_id> ids(channel_ids.begin(), channel_ids.end());
    std::string problem = channel_router::problem(config.routes, ids);
    if (!problem.empty()) return problem;
  }
  if (o.retry_initial_ms > o.retry_max_ms)
    return "order.retry_initial_ms (" + std::to_string(o.retry_initial_ms) + ") must not exceed order.retry_max_ms (" +
           std::to_string(o.retry_max_ms) + ")";
  return {};
}

std::vector<std::pair<channel_id, http_channel_counters>> engine::provider_counters() const {
  std::vector<std::pair<channel_id, http_channel_counters>> out;
  for (const auto& [id, link] : http_links_) out.emplace_back(id, counters_of(*link));
  return out;
}

engine::created_wallet engine::create_wallet(tenant_id tenant, currency cur, wallet_kind kind,
                                             int64_t overdraft_limit) {
  created_wallet created;
  created.id = directory_->create(tenant, cur, kind, overdraft_limit, created.code);
  return created;
}

engine::created_wallet engine::create_wallet(tenant_id tenant, currency cur, wallet_kind kind,
                                             int64_t overdraft_limit, const std::string& request_id) {
  created_wallet created;
  if (request_id.empty()) return create_wallet(tenant, cur, kind, overdraft_limit);
  if (request_id.size() > limits::request_id_length_max) {
    created.code = result_code::invalid_request_id;
    return created;
  }
  created.code = wallet_directory::validate(tenant, cur, kind, overdraft_limit);
  if (created.code != result_code::ok) return created;
  uint64_t hash = wallet_directory::request_hash(cur, kind, overdraft_limit);
  auto known = [&](wallet_id id, uint64_t stored_hash) {
    if (stored_hash != hash) {
      created.code = result_code::duplicate_conflict;
      return created;
    }
    created.id = id;
    created.duplicate = true;
    // It may have been created moments ago: answer once it is committed, as the first answer was.
    if (storage_ && !sync_storage(std::chrono::milliseconds(limits::query_deadline_ms))) {
      created.code = result_code::unavailable;
      created.id = no_wallet;
    }
    return created;
  };
  auto claim = directory_->claim_request(tenant, request_id);
  using state = wallet_directory::wallet_request::state;
  if (claim.st == state::known) return known(claim.id, claim.hash);
  if (claim.st == state::pending) {
    created.code = result_code::unavailable;  // the same request id is being created right now
    return created;
  }
  // Claimed: nobody else creates this request id until it is settled or released.
  if (storage_) {
    wallet_request_found found;
    found.failed = true;
    caf::scoped_actor self{*system_};
    self->request(storage_->loader, std::chrono::milliseconds(limits::query_deadline_ms), wallet_lookup_atom::value,
                  tenant, request_id)
        .receive([&](wallet_request_found& answer) { found = answer; }, [&](caf::error&) {});
    if (found.failed) {
      directory_->release_request(tenant, request_id);
      created.code = result_code::unavailable;
      return created;
    }
    if (found.found) {
      directory_->settle_request(tenant, request_id, found.id, found.content_hash);
      return known(found.id, found.content_hash);
    }
  }
  created.id = directory_->create(tenant, cur, kind, overdraft_limit, created.code, request_id, hash);
  if (created.code != result_code::ok) {
    directory_->release_request(tenant, request_id);
    return created;
  }
  directory_->settle_request(tenant, request_id, created.id, hash);
  if (storage_ && !sync_storage(std::chrono::milliseconds(limits::query_deadline_ms))) {
    created.code = result_code::unavailable;  // not known to be committed: the same request id later returns it
    created.id = no_wallet;
  }
  return created;
}

const order_host_actor& engine::host_for(tenant_id tenant, const std::string& request_id) const {
  return hosts_[host_index(tenant, request_id, hosts_.size())];
}

const order_host_actor* engine::host_of(order_id id) const {
  if (order_id_generator::node_of(id) != config_.node_id) return nullptr;
  uint32_t lane = order_id_generator::lane_of(id);
  return lane < hosts_.size() ? &hosts_[lane] : nullptr;
}

order_reply engine::execute(const order_command& command, std::chrono::milliseconds timeout) {
  caf::scoped_actor self{*system_};
  uint64_t tag = next_tag_++;
  std::vector<submit_item> items{submit_item{tag, command}};
  self->send(host_for(command.tenant, command.request_id), submit_atom::value, std::move(items));
  order_reply result;
  result.code = result_code::unavailable;
  bool done = false;
  while (!done) {
    self->receive(
        [&](replies_atom, std::vector<order_reply>& replies) {
          for (auto& reply : replies)
            if (reply.client_tag == tag) {
              result = std::move(reply);
              done = true;
            }
        },
        caf::after(timeout) >> [&] { done = true; });
  }
  return result;
}

//! A query not answered by then gets `unavailable` (retryable): the shard or host is swamped,
//! or MySQL is slow to read what left memory.
const auto query_deadline = std::chrono::milliseconds(limits::query_deadline_ms);

order_reply engine::get_order(tenant_id tenant, order_id id) { return get_order(tenant, id, false); }

order_reply engine::get_order(tenant_id tenant, order_id id, bool include_movements) {
  order_reply result;
  result.code = result_code::unknown_order;
  auto ask = [&](const auto& handle) {
    caf::scoped_actor self{*system_};
    self->request(handle, query_deadline, get_order_atom::value, tenant, id, include_movements)
        .receive([&](order_reply& reply) { result = std::move(reply); },
                 [&](caf::error&) { result.code = result_code::unavailable; });
    return result;
  };
  if (const order_host_actor* host = host_of(id)) return ask(*host);
  if (!peers_) return result;
  // A cluster node: another node's order id. That node knows it (in memory while it runs it,
  // else from MySQL); while it is not connected (dead: its orders resumed where its partitions
  // went), the host of the same lane here answers from its memory (resumed here) or from MySQL.
  cluster_node node = order_id_generator::node_of(id);
  uint32_t lane = order_id_generator::lane_of(id);
  if (node == no_node || lane >= hosts_.size()) return result;
  if (wallet_gateway_actor gateway = peers_->gateway_of(node)) return ask(gateway);
  return ask(hosts_[lane]);
}

namespace {

wallet_view unknown_wallet_view() {
  wallet_view view;
  view.code = result_code::unknown_wallet;
  return view;
}

//! A wallet shard, or the wallet gateway of the cluster node that holds the wallet.
template <class Handle, class... Ts>
wallet_view ask_wallet(caf::actor_system& system, const Handle& wallet, Ts... args) {
  wallet_view result;
  caf::scoped_actor self{system};
  self->request(wallet, query_deadline, args...)
      .receive([&](wallet_view& view) { result = std::move(view); },
               [&](caf::error&) { result.code = result_code::unavailable; });
  return result;
}

}  // namespace

template <class... Ts>
wallet_view engine::ask_remote_wallet(wallet_id id, Ts... args) {
  // A cluster node: the node that holds the wallet answers (its shard, through its gateway);
  // while no node holds it or its node is not connected: unavailable (retryable).
  wallet_gateway_actor gateway = directory_->remote_gateway(id);
  if (!gateway) {
    wallet_view view;
    view.code = result_code::unavailable;
    return view;
  }
  return ask_wallet(*system_, gateway, args...);
}

wallet_view engine::get_wallet(tenant_id tenant, wallet_id id) {
  if (!directory_->holds(id)) return ask_remote_wallet(id, get_wallet_atom::value, id, tenant);
  auto wallet = directory_->resolve(id);
  if (!wallet) return unknown_wallet_view();
  return ask_wallet(*system_, *wallet, get_wallet_atom::value, id, tenant);
}

wallet_view engine::admin(tenant_id tenant, wallet_id id, admin_op op, int64_t argument) {
  if (!directory_->holds(id)) return ask_remote_wallet(id, admin_atom::value, id, op, tenant, argument);
  auto wallet = directory_->resolve(id);
  if (!wallet) return unknown_wallet_view();
  return ask_wallet(*system_, *wallet, admin_atom::value, id, op, tenant, argument);
}


std::pair<result_code, std::vector<journal_entry>> engine::movements(tenant_id tenant, wallet_id id,
                                                                     uint64_t from_sequence, uint32_t limit) {
  std::pair<result_code, std::vector<journal_entry>> result{result_code::unknown_wallet, {}};
  if (limit > 10'000) {
    result.first = result_code::request_too_large;
    return result;
  }
  auto ask = [&](const auto& handle) {
    caf::scoped_actor self{*system_};
    self->request(handle, query_deadline, movements_atom::value, id, tenant, from_sequence, limit)
        .receive(
            [&](result_code code, std::vector<journal_entry>& entries) {
              result.first = code;
              result.second = std::move(entries);
            },
            [&](caf::error&) { result.first = result_code::unavailable; });
    return result;
  };
  if (!directory_->holds(id)) {
    // A cluster node: the node that holds the wallet answers (unavailable while none can).
    if (wallet_gateway_actor gateway = directory_->remote_gateway(id)) return ask(gateway);
    result.first = result_code::unavailable;
    return result;
  }
  auto wallet = directory_->resolve(id);
  if (!wallet) return result;
  return ask(*wallet);
}

engine_stats engine::stats() {
  engine_stats result;
  caf::scoped_actor self{*system_};
  for (const auto& host : hosts_)
    self->request(host, query_deadline, stats_atom::value)
        .receive([&](host_stats& s) { add(result.orders, s); }, [&](caf::error&) {});
  result.wallets = directory_->wallets();
  result.active_wallets = directory_->active();
  if (storage_) {
    result.storage_rows_queued = storage_->rows_queued.load();
    result.storage_batches_committed = storage_->batches_committed.load();
    result.storage_rows_committed = storage_->rows_committed.load();
    result.storage_rows_written = storage_->rows_written.load();
    result.storage_commit_failures = storage_->commit_failures.load();
    result.storage_commit_us_total = storage_->commit_us_total.load();
    result.publication = publication();
  }
  return result;
}

std::optional<tenant_stats> engine::stats_of(tenant_id tenant) {
  tenant_stats result;
  bool complete = true;
  caf::scoped_actor self{*system_};
  for (const auto& host : hosts_)
    self->request(host, query_deadline, stats_atom::value, tenant)
        .receive(
            [&](const tenant_stats& s) {
              result.submitted += s.submitted;
              result.refused += s.refused;
              result.duplicates += s.duplicates;
              result.succeeded += s.succeeded;
              result.failed += s.failed;
              result.in_flight += s.in_flight;
            },
            [&](caf::error&) { complete = false; });
  if (!complete) return std::nullopt;
  result.wallets = directory_->wallets_of(tenant);
  return result;
}

bool engine::wait_until_quiet(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (stats().orders.in_flight == 0) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling a condition, bounded by the deadline
  }
}

wallet_audit engine::audit_wallets() {
  wallet_audit audit;
  std::vector<wallet_view> views;
  caf::scoped_actor self{*system_};
  // Active wallets from their shards first, then the dormant ones: a wallet a shard passivates
  // in between was already counted, and the audit runs when no order is in flight.
  for (const auto& shard : directory_->shards())
    self->request(shard, caf::infinite, audit_atom::value)
        .receive(
            [&](std::vector<wallet_view>& shard_views) {
              for (auto& view : shard_views) views.push_back(std::move(view));
            },
            [&](caf::error&) { audit.detail += "a wallet shard did not answer; "; });
  std::unordered_set<wallet_id> seen;
  seen.reserve(views.size());
  for (const auto& view : views) seen.insert(view.info.id);
  for (wallet_id id : directory_->all_ids()) {
    if (seen.count(id)) continue;
    if (auto dormant = directory_->dormant(id)) views.push_back(view_of(*dormant, dormant->info().tenant));
  }
  std::map<std::string, bool> overflowed;
  for (const auto& view : views) {
    ++audit.wallets;
    const auto& b = view.current;
    std::string cur = view.info.cur.code();
    int64_t& sum = audit.sum_by_currency[cur];
    if (!checked_add(sum, b.available, sum) || !checked_add(sum, b.frozen, sum) || !checked_add(sum, b.incoming, sum))
      overflowed[cur] = true;
    if (view.info.kind != wallet_kind::system && b.available < -view.info.overdraft_limit) ++audit.below_limit;
    if (b.frozen < 0 || b.incoming < 0) ++audit.below_limit;
    if (!view.journal_ok) ++audit.journal_mismatches;
    audit.open_transactions += view.open_transactions;
    audit.balances_by_wallet[view.info.id] = b;
  }
  if (audit.wallets != directory_->wallets()) {
    audit.ok = false;
    audit.detail += "not every wallet answered; ";
  }
  for (const auto& [cur, sum] : audit.sum_by_currency)
    if (sum != 0 || overflowed.count(cur)) {
      audit.ok = false;
      audit.detail += "currency " + cur + " sums to " + std::to_string(sum) + "; ";
    }
  if (audit.below_limit != 0) {
    audit.ok = false;
    audit.detail += std::to_string(audit.below_limit) + " wallets below their limit; ";
  }
  if (audit.journal_mismatches != 0) {
    audit.ok = false;
    audit.detail += std::to_string(audit.journal_mismatches) + " journals do not replay; ";
  }
  if (audit.open_transactions != 0) {
    audit.ok = false;
    audit.detail += std::to_string(audit.open_transactions) + " open transactions; ";
  }
  return audit;
}

}  // namespace txengine
