// bench_cluster: what a cluster costs and what it carries (issue 14, docs/cluster.md,
// "Throughput"). Three cluster nodes run in this process (each its own actor system, wallet
// gateway and TCP links over loopback, one MariaDB for all), durable acks; the same workload
// runs on one node alone in the same run, and the ratio is the cluster's throughput to that.
//
// Workloads (orders homed on every node, each node's driver keeping --concurrency / nodes
// orders outstanding on its own node, as clients of each node would):
//   cluster_transfer  transfers from a node's wallets to wallets chosen uniformly among all the
//                     cluster's: (nodes - 1) / nodes of them cross nodes;
//   cluster_pay_hot   payments from every node's payers to one merchant wallet on node 1: the
//                     hot wallet takes a credit from every node.
// Each workload runs four timed phases, each on fresh databases' wallets made for it:
//   single   one node holding every partition, the same wallets and the same total concurrency;
//   mixed    the cluster, the workload as above (ops/s, p50, p99, link messages and bytes);
//   local    the cluster, every order's legs on its home node (for pay: a merchant per node);
//   cross    the cluster, every order's credit leg on the next node.
// CPU per order: this process (every node and its driver) plus the MariaDB server when it runs
// on this machine, over the phase and the commit of what it left (so local and cross compare
// the whole cost of an order on this machine). Link messages: what the nodes' wallet gateways
// received from and sent to other nodes (steps, their answers); link bytes: TCP payload bytes
// acknowledged on the link sockets (both directions, CAF's framing included), read from the
// kernel (TCP_INFO) for every socket of this process on a node's cluster port.
// After each setup the committed data is audited (persistence/audit.hpp): every currency sums to
// zero, every wallet equals its movements, every order is final and recorded; the exit status is
// non-zero when an audit fails.
//
// Usage: bench_cluster [--orders N] [--wallets W] [--nodes K] [--concurrency C] [--partitions P]
//                      [--workload NAME] [--databases D] [--tables T] [--prefix NAME] [--mysql URI] [--json]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <dirent.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <spdlog/spdlog.h>

#include "apps/cli.hpp"
#include "apps/load_driver.hpp"
#include "apps/mysql_cli.hpp"
#include "benchmarks/mysql_bench_support.hpp"
#include "node/engine.hpp"
#include "persistence/audit.hpp"
#include "persistence/schema.hpp"
#include "persistence/shard_layout.hpp"

using namespace txengine;
using namespace txengine::persistence;
using namespace txengine::bench;

namespace {

constexpr tenant_id bench_tenant = 1;
//! Every user wallet may go this far below zero: transfers never fail for funds, and the money
//! still sums to zero (no top-up needed).
constexpr int64_t overdraft = 1'000'000'000'000;

struct options {
  uint64_t orders = 30'000;  //!< per phase
  uint64_t wallets = 1'000;  //!< user wallets per node
  uint32_t nodes = 3;
  uint32_t concurrency = 1'500;  //!< orders outstanding in all, split evenly over the driving nodes
  uint32_t partitions = 256;
  shard_layout layout;
  mysql_endpoint endpoint = endpoint_from_environment();
  std::string only;
  bool json = false;
};

struct phase_result {
  uint64_t orders = 0, succeeded = 0, failed = 0, refused = 0;
  double seconds = 0, ops_per_s = 0, p50_us = 0, p99_us = 0;
  double own_cpu_us = 0, server_cpu_us = -1;
  double cpu_us() const { return own_cpu_us + std::max(server_cpu_us, 0.0); }
  double link_messages_per_order = 0;
  double link_bytes_per_order = -1;  //!< -1: the kernel did not say
  double commits_per_order = 0;      //!< the writers' committed batches (all nodes)
  double rows_per_commit = 0;
  //! What the server did per order (its global status): rows written, updated or deleted
  //! (Handler_write + Handler_update + Handler_delete), and transactions committed (COMMIT and
  //! XA COMMIT: a split batch is one of each).
  double server_rows_per_order = 0;
  double server_commits_per_order = 0;
};

//! The server's row changes and commits so far (SHOW GLOBAL STATUS).
std::pair<int64_t, int64_t> server_work(mysql_connection& conn) {
  int64_t rows = 0, commits = 0;
  auto rs = conn.query(
      "SHOW GLOBAL STATUS WHERE Variable_name IN ('Handler_write', 'Handler_update', 'Handler_delete', 'Com_commit', "
      "'Com_xa_commit')");
  while (rs->next()) {
    std::string name(rs->getString(1));
    int64_t value = std::stoll(std::string(rs->getString(2)));
    (name.rfind("Handler_", 0) == 0 ? rows : commits) += value;
  }
  return {rows, commits};
}

struct workload_result {
  std::string name;
  phase_result single, mixed, local, cross;
  double cross_share = 0;  //!< of the mixed phase's orders, those with a leg on another node
  bool audit_ok = true;
  std::string audit_summary;
};

//! One node's orders in a phase: `kind` from one of `sources` to one of `destinations` (another
//! wallet than the source), amounts 1..100; the latency of each from its submit to its final reply.
class node_load : public workload {
 public:
  node_load(std::string prefix, order_kind kind, std::vector<wallet_id> sources, std::vector<wallet_id> destinations,
            uint64_t orders)
      : prefix_(std::move(prefix)),
        kind_(kind),
        sources_(std::move(sources)),
        destinations_(std::move(destinations)),
        started_(orders + 1) {
    latencies_.reserve(orders);
  }
  order_command next(uint64_t sequence) override {
    uint64_t r = splitmix(std::hash<std::string>()(prefix_) ^ sequence);
    order_command c;
    c.tenant = bench_tenant;
    c.request_id = prefix_ + std::to_string(sequence);
    c.kind = kind_;
    c.source = sources_[r % sources_.size()];
    size_t d = (r >> 24) % destinations_.size();
    if (destinations_[d] == c.source) d = (d + 1) % destinations_.size();
    c.destination = destinations_[d];
    c.amount = 1 + static_cast<int64_t>((r >> 48) % 100);
    c.cur = usd_;
    if (sequence < started_.size()) started_[sequence] = std::chrono::steady_clock::now();
    return c;
  }
  void on_reply(const order_command& command, const order_reply& reply) override {
    (void)reply;
    uint64_t sequence = std::stoull(command.request_id.substr(prefix_.size()));
    if (sequence >= started_.size()) return;
    latencies_.push_back(static_cast<uint32_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started_[sequence])
            .count()));
  }
  const std::vector<uint32_t>& latencies() const { return latencies_; }

 private:
  std::string prefix_;
  order_kind kind_;
  std::vector<wallet_id> sources_, destinations_;
  std::vector<std::chrono::steady_clock::time_point> started_;
  std::vector<uint32_t> latencies_;
  currency usd_ = *currency::parse("USD");
};

uint16_t port_of(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port);
  if (a.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port);
  return 0;
}

//! TCP payload bytes acknowledged so far on this process's sockets with an end on one of
//! `ports` (the links between nodes in this process: each end counts what it sent); -1 when
//! the kernel does not report them.
int64_t link_bytes(const std::set<uint16_t>& ports) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int64_t total = 0;
  bool reported = false;
  while (dirent* entry = readdir(dir)) {
    char* end = nullptr;
    long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd == dirfd(dir)) continue;
    struct stat st {};
    if (fstat(static_cast<int>(fd), &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    sockaddr_storage local{}, peer{};
    socklen_t ll = sizeof local, pl = sizeof peer;
    if (getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&local), &ll) != 0) continue;
    if (getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&peer), &pl) != 0) continue;  // a listener
    if (!ports.count(port_of(local)) && !ports.count(port_of(peer))) continue;
    tcp_info info{};
    socklen_t il = sizeof info;
    if (getsockopt(static_cast<int>(fd), IPPROTO_TCP, TCP_INFO, &info, &il) != 0) continue;
    if (il < offsetof(tcp_info, tcpi_bytes_acked) + sizeof info.tcpi_bytes_acked) continue;
    total += static_cast<int64_t>(info.tcpi_bytes_acked);
    reported = true;
  }
  closedir(dir);
  return reported ? total : -1;
}

//! Waits (bounded) until `condition` holds.
template <class Condition>
bool eventually(Condition condition, std::chrono::seconds limit) {
  for (auto deadline = std::chrono::steady_clock::now() + limit; std::chrono::steady_clock::now() < deadline;) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

//! A running cluster of `count` nodes (1: a lone node holding every partition) on fresh databases.
class cluster_run {
 public:
  cluster_run(const options& opt, uint32_t count) : opt_(opt) {
    mysql_connection admin(opt.endpoint);
    drop_schema(admin, opt.layout);
    std::vector<engine_config> configs;
    for (uint32_t n = 1; n <= count; ++n) configs.push_back(node_config(n, count));
    // Started together, each on its own thread (as separate processes would be): they see one
    // another within the settle time and share the partitions from the first rounds.
    nodes_.resize(count);
    std::vector<std::thread> threads;
    std::mutex mutex;
    std::string error;
    for (uint32_t i = 0; i < count; ++i)
      threads.emplace_back([&, i] {
        try {
          nodes_[i] = std::make_unique<engine>(configs[i]);
        } catch (const std::exception& e) {
          std::lock_guard<std::mutex> lock(mutex);
          error += (error.empty() ? "" : "; ") + std::string(e.what());
        }
      });
    for (auto& t : threads) t.join();
    if (!error.empty()) throw std::runtime_error("a node did not start: " + error);
    bool shared = eventually(
        [&] {
          uint32_t held = 0;
          for (auto& node : nodes_) {
            if (node->ownership()->held() == 0 || node->cluster_links() + 1 != count) return false;
            held += static_cast<uint32_t>(node->ownership()->held());
          }
          return held == opt.partitions;
        },
        std::chrono::seconds(60));
    if (!shared) throw std::runtime_error("the nodes did not share the partitions and link within 60 s");
    for (auto& node : nodes_) ports_.insert(node->cluster_port());
  }

  engine& node(size_t i) { return *nodes_[i]; }
  size_t size() const { return nodes_.size(); }
  const std::set<uint16_t>& ports() const { return ports_; }

  //! `count` user wallets made on node `i` (in the partitions it holds).
  std::vector<wallet_id> wallets(size_t i, uint64_t count, wallet_kind kind = wallet_kind::user) {
    std::vector<wallet_id> out;
    for (uint64_t k = 0; k < count; ++k) {
      auto made = nodes_[i]->create_wallet(bench_tenant, usd_, kind, kind == wallet_kind::user ? overdraft : 0);
      if (made.code != result_code::ok) throw std::runtime_error("a wallet was refused: " + std::string(to_string(made.code)));
      out.push_back(made.id);
    }
    return out;
  }

  //! Waits until every node is quiet and committed what it had.
  void settle() {
    for (auto& node : nodes_) {
      if (!node->wait_until_quiet(std::chrono::seconds(120))) throw std::runtime_error("orders still in flight");
      if (!node->sync_storage(std::chrono::seconds(300))) throw std::runtime_error("storage did not sync");
      if (node->fenced()) throw std::runtime_error("a node was fenced: " + node->fence_reason());
    }
  }

 private:
  engine_config node_config(cluster_node n, uint32_t count) const {
    engine_config c;
    c.node_id = n;
    storage_config s;
    s.uri = uri_of(opt_.endpoint);
    s.databases = opt_.layout.databases;
    s.tables = opt_.layout.tables;
    s.prefix = opt_.layout.prefix;
    s.ack = ack_mode::durable;
    c.storage = s;
    cluster_config cluster;
    cluster.endpoint = "127.0.0.1:0";  // any free port: the one taken is registered
    cluster.leases.partitions = opt_.partitions;
    cluster.join_settle_ms = count > 1 ? 1'000 : 0;
    c.cluster = cluster;
    return c;
  }

  const options& opt_;
  std::vector<std::unique_ptr<engine>> nodes_;
  std::set<uint16_t> ports_;
  currency usd_ = *currency::parse("USD");
};

//! The totals of every node's link counters.
uint64_t link_messages(cluster_run& run) {
  uint64_t total = 0;
  for (size_t i = 0; i < run.size(); ++i) {
    auto c = run.node(i).cluster_link_counters();
    total += c.messages_in + c.messages_out;
  }
  return total;
}

//! The writers' committed batches and rows, all nodes.
std::pair<uint64_t, uint64_t> commits(cluster_run& run) {
  uint64_t batches = 0, rows = 0;
  for (size_t i = 0; i < run.size(); ++i) {
    auto s = run.node(i).stats();
    batches += s.storage_batches_committed;
    rows += s.storage_rows_written;
  }
  return {batches, rows};
}

//! Runs one load per node (nullptr: that node drives nothing) to the end, then lets every node
//! commit what it has; latencies from all of them.
phase_result run_phase(cluster_run& run, std::vector<std::unique_ptr<node_load>>& loads, const options& opt,
                       long server) {
  mysql_connection status(opt.endpoint);
  run.settle();
  wait_for_idle_server(server, std::chrono::seconds(30));
  size_t driving = 0;
  for (auto& l : loads) driving += l != nullptr;
  phase_result r;
  r.orders = opt.orders / driving * driving;
  uint64_t messages_before = link_messages(run);
  auto commits_before = commits(run);
  auto server_before = server_work(status);
  int64_t bytes_before = link_bytes(run.ports());
  cpu_meter cpu(server);
  std::vector<load_result> results(loads.size());
  std::vector<std::thread> threads;
  auto started = std::chrono::steady_clock::now();
  for (size_t i = 0; i < loads.size(); ++i) {
    if (!loads[i]) continue;
    threads.emplace_back([&, i] {
      load_options lo;
      lo.orders = opt.orders / driving;
      lo.concurrency = std::max<uint32_t>(1, opt.concurrency / static_cast<uint32_t>(driving));
      results[i] = run_load(run.node(i), *loads[i], lo);
    });
  }
  for (auto& t : threads) t.join();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  run.settle();
  std::tie(r.own_cpu_us, r.server_cpu_us) = cpu.per_order(r.orders);
  int64_t bytes_after = link_bytes(run.ports());
  auto commits_after = commits(run);
  auto server_after = server_work(status);
  r.server_rows_per_order = static_cast<double>(server_after.first - server_before.first) / static_cast<double>(r.orders);
  r.server_commits_per_order =
      static_cast<double>(server_after.second - server_before.second) / static_cast<double>(r.orders);
  double batches = static_cast<double>(commits_after.first - commits_before.first);
  r.commits_per_order = batches / static_cast<double>(r.orders);
  r.rows_per_commit = batches > 0 ? static_cast<double>(commits_after.second - commits_before.second) / batches : 0;
  r.link_messages_per_order = static_cast<double>(link_messages(run) - messages_before) / static_cast<double>(r.orders);
  if (bytes_before >= 0 && bytes_after >= bytes_before)
    r.link_bytes_per_order = static_cast<double>(bytes_after - bytes_before) / static_cast<double>(r.orders);
  if (run.size() == 1) r.link_bytes_per_order = 0;
  std::vector<uint32_t> all;
  for (size_t i = 0; i < loads.size(); ++i) {
    if (!loads[i]) continue;
    r.succeeded += results[i].succeeded;
    r.failed += results[i].failed;
    r.refused += results[i].refused;
    all.insert(all.end(), loads[i]->latencies().begin(), loads[i]->latencies().end());
  }
  std::sort(all.begin(), all.end());
  r.ops_per_s = static_cast<double>(r.orders) / r.seconds;
  r.p50_us = percentile(all, 0.50);
  r.p99_us = percentile(all, 0.99);
  return r;
}

//! The phases' orders: which wallets each node's orders go from and to.
enum class shape { mixed, local, cross };

std::vector<std::unique_ptr<node_load>> loads_for(const std::string& name, shape s, const std::string& phase,
                                                  const std::vector<std::vector<wallet_id>>& users,
                                                  const std::vector<wallet_id>& merchants, uint64_t orders_per_node) {
  const size_t n = users.size();
  std::vector<wallet_id> everyone;
  for (const auto& u : users) everyone.insert(everyone.end(), u.begin(), u.end());
  std::vector<std::unique_ptr<node_load>> loads;
  for (size_t i = 0; i < n; ++i) {
    const std::string prefix = phase + "-" + std::to_string(i + 1) + "-";
    std::vector<wallet_id> to;
    if (name == "cluster_pay_hot") {
      // mixed: the one hot merchant (node 1's); local: this node's; cross: the next node's.
      to = {s == shape::mixed ? merchants[0] : s == shape::local ? merchants[i] : merchants[(i + 1) % n]};
    } else {
      to = s == shape::mixed ? everyone : s == shape::local ? users[i] : users[(i + 1) % n];
    }
    loads.push_back(std::make_unique<node_load>(prefix, name == "cluster_pay_hot" ? order_kind::pay : order_kind::transfer,
                                                users[i], to, orders_per_node));
  }
  return loads;
}

//! The committed data after a setup: sums zero, movements match, every order final and recorded.
bool audited(const options& opt, uint64_t orders, std::string& summary) {
  audit_report a = audit(opt.endpoint, opt.layout);
  std::string extra;
  if (a.orders != orders) extra += "; " + std::to_string(a.orders) + " order rows, expected " + std::to_string(orders);
  if (a.orders_not_final != 0) extra += "; " + std::to_string(a.orders_not_final) + " orders not final";
  summary = a.summary() + extra;
  return a.ok && extra.empty();
}

workload_result run_workload(const std::string& name, const options& opt) {
  workload_result w;
  w.name = name;
  mysql_connection admin(opt.endpoint);
  long server = server_pid(admin);
  auto note = [&](const std::string& what) {
    if (!opt.json) std::fprintf(stderr, "%s: %s\n", name.c_str(), what.c_str());
  };
  auto check = [&](const phase_result& p, const char* phase) {
    if (p.refused != 0)
      throw std::runtime_error(name + " " + phase + ": " + std::to_string(p.refused) + " orders refused");
  };
  {
    // One node with the same wallets (as many as the cluster's) and the same total concurrency.
    cluster_run single(opt, 1);
    std::vector<std::vector<wallet_id>> users;
    std::vector<wallet_id> merchants;
    for (uint32_t n = 0; n < opt.nodes; ++n) users.push_back(single.wallets(0, opt.wallets));
    merchants = single.wallets(0, 1, wallet_kind::merchant);
    std::vector<wallet_id> everyone;
    for (const auto& u : users) everyone.insert(everyone.end(), u.begin(), u.end());
    std::vector<std::unique_ptr<node_load>> loads;
    loads.push_back(std::make_unique<node_load>("single-", name == "cluster_pay_hot" ? order_kind::pay : order_kind::transfer,
                                                everyone, name == "cluster_pay_hot" ? merchants : everyone, opt.orders));
    note("one node: " + single.node(0).cluster_description());
    w.single = run_phase(single, loads, opt, server);
    check(w.single, "single");
    std::string summary;
    w.audit_ok = audited(opt, w.single.orders, summary);
    w.audit_summary = "one node: " + summary + "; ";
  }
  cluster_run cluster(opt, opt.nodes);
  std::vector<std::vector<wallet_id>> users;
  std::vector<wallet_id> merchants;
  for (uint32_t n = 0; n < opt.nodes; ++n) {
    users.push_back(cluster.wallets(n, opt.wallets));
    merchants.push_back(cluster.wallets(n, 1, wallet_kind::merchant).front());
  }
  for (uint32_t n = 0; n < opt.nodes; ++n) note(cluster.node(n).cluster_description());
  uint64_t per_node = opt.orders / opt.nodes;
  auto run_shape = [&](shape s, const char* phase) {
    auto loads = loads_for(name, s, phase, users, merchants, per_node);
    phase_result p = run_phase(cluster, loads, opt, server);
    check(p, phase);
    note(std::string(phase) + ": " + std::to_string(static_cast<uint64_t>(p.ops_per_s)) + " orders/s");
    return p;
  };
  w.mixed = run_shape(shape::mixed, "mixed");
  w.local = run_shape(shape::local, "local");
  w.cross = run_shape(shape::cross, "cross");
  // Transfers: a destination on another node (nodes - 1) / nodes of the time; payments: every
  // node's payers but node 1's pay across.
  w.cross_share = static_cast<double>(opt.nodes - 1) / opt.nodes;
  std::string summary;
  if (!audited(opt, w.mixed.orders + w.local.orders + w.cross.orders, summary)) w.audit_ok = false;
  w.audit_summary += "cluster: " + summary;
  if (!w.audit_ok) std::fprintf(stderr, "%s: AUDIT FAILED: %s\n", name.c_str(), w.audit_summary.c_str());
  return w;
}

std::string number(double v, const char* format = "%.1f") {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, v);
  return buffer;
}

std::string json_of(const workload_result& w, const options& opt) {
  auto cpu = [](const phase_result& p) { return number(p.cpu_us()); };
  auto bytes = [](double v) { return v >= 0 ? number(v, "%.0f") : std::string("null"); };
  return "{\"name\":\"" + w.name + "\",\"nodes\":" + std::to_string(opt.nodes) + ",\"orders\":" +
         std::to_string(w.mixed.orders) + ",\"cross_node_share\":" + number(w.cross_share, "%.2f") +
         ",\"ops_per_s\":" + number(w.mixed.ops_per_s) + ",\"p50_us\":" + number(w.mixed.p50_us, "%.0f") +
         ",\"p99_us\":" + number(w.mixed.p99_us, "%.0f") + ",\"single_node_ops_per_s\":" + number(w.single.ops_per_s) +
         ",\"single_node_p50_us\":" + number(w.single.p50_us, "%.0f") +
         ",\"single_node_p99_us\":" + number(w.single.p99_us, "%.0f") + ",\"ratio\":" +
         number(w.single.ops_per_s > 0 ? w.mixed.ops_per_s / w.single.ops_per_s : 0, "%.2f") +
         ",\"cross_node_cpu_us\":" + cpu(w.cross) + ",\"local_cpu_us\":" + cpu(w.local) +
         ",\"cpu_ratio\":" + number(w.local.cpu_us() > 0 ? w.cross.cpu_us() / w.local.cpu_us() : 0, "%.2f") +
         ",\"single_node_cpu_us\":" + cpu(w.single) + ",\"mixed_cpu_us\":" + cpu(w.mixed) +
         ",\"server_cpu_us\":{\"single\":" + number(w.single.server_cpu_us) + ",\"mixed\":" +
         number(w.mixed.server_cpu_us) + ",\"local\":" + number(w.local.server_cpu_us) + ",\"cross\":" +
         number(w.cross.server_cpu_us) + "}" + ",\"local_ops_per_s\":" + number(w.local.ops_per_s) +
         ",\"cross_ops_per_s\":" + number(w.cross.ops_per_s) +
         ",\"link_messages_per_order\":" + number(w.mixed.link_messages_per_order, "%.2f") +
         ",\"link_bytes_per_order\":" + bytes(w.mixed.link_bytes_per_order) +
         ",\"link_messages_per_cross_order\":" + number(w.cross.link_messages_per_order, "%.2f") +
         ",\"link_bytes_per_cross_order\":" + bytes(w.cross.link_bytes_per_order) +
         ",\"commits_per_order\":{\"single\":" + number(w.single.commits_per_order, "%.3f") + ",\"mixed\":" +
         number(w.mixed.commits_per_order, "%.3f") + ",\"local\":" + number(w.local.commits_per_order, "%.3f") +
         ",\"cross\":" + number(w.cross.commits_per_order, "%.3f") + "}" + ",\"server_rows_per_order\":{\"single\":" +
         number(w.single.server_rows_per_order) + ",\"mixed\":" + number(w.mixed.server_rows_per_order) +
         ",\"local\":" + number(w.local.server_rows_per_order) + ",\"cross\":" + number(w.cross.server_rows_per_order) +
         "}" +
         ",\"failed\":" + std::to_string(w.single.failed + w.mixed.failed + w.local.failed + w.cross.failed) +
         ",\"audit_ok\":" + (w.audit_ok ? "true" : "false") + "}";
}

void print_table(const std::vector<workload_result>& results, const options& opt) {
  std::printf("%-17s %-8s %9s %10s %9s %9s %10s %10s %9s %9s %9s %9s %8s %8s\n", "workload", "phase", "orders", "ops/s",
              "p50 us", "p99 us", "cpu us/op", "db us/op", "link msg", "link B", "commits", "rows/cmt", "db rows", "db cmts");
  for (const auto& w : results) {
    for (auto [phase, p] : {std::pair<const char*, const phase_result*>{"single", &w.single}, {"mixed", &w.mixed},
                            {"local", &w.local}, {"cross", &w.cross}}) {
      std::printf("%-17s %-8s %9llu %10.0f %9.0f %9.0f %10.1f %10s %9.2f %9s %9.3f %9.1f %8.1f %8.3f\n", w.name.c_str(), phase,
                  (unsigned long long)p->orders, p->ops_per_s, p->p50_us, p->p99_us, p->own_cpu_us,
                  p->server_cpu_us >= 0 ? number(p->server_cpu_us).c_str() : "-", p->link_messages_per_order,
                  p->link_bytes_per_order >= 0 ? number(p->link_bytes_per_order, "%.0f").c_str() : "-",
                  p->commits_per_order, p->rows_per_commit, p->server_rows_per_order, p->server_commits_per_order);
    }
    std::printf("%-17s ratio (mixed / single) %.2f (target >= 0.50); CPU per order cross / local %.2f (target <= 2)\n",
                w.name.c_str(), w.single.ops_per_s > 0 ? w.mixed.ops_per_s / w.single.ops_per_s : 0.0,
                w.local.cpu_us() > 0 ? w.cross.cpu_us() / w.local.cpu_us() : 0.0);
  }
  for (const auto& w : results) std::printf("audit %s: %s\n", w.name.c_str(), w.audit_summary.c_str());
  std::printf(
      "single: one node with every partition; mixed: %u nodes, the workload; local: every leg on its home node;\n"
      "cross: every credit leg on the next node. cpu us/op: this process (all nodes and drivers); db us/op: the\n"
      "MariaDB server's, per order. link msg / link B: messages and TCP bytes between nodes per order.\n"
      "commits: the writers' committed batches per order; rows/cmt: rows written per batch; db rows, db cmts:\n"
      "the server's row writes, updates and deletes, and its commits (COMMIT and XA COMMIT), per order.\n",
      opt.nodes);
}

int parse(int argc, char** argv, options& opt) {
  CLI::App app{"bench_cluster: cluster nodes in one process on one MariaDB against one node alone, same run",
               "bench_cluster"};
  opt.layout.prefix = "txbench_cluster";
  cli::add_number(app, "--orders", opt.orders, "orders per phase (at least 30: more than --nodes)", 30);
  cli::add_number(app, "--wallets", opt.wallets, "user wallets per node", 2, 1'000'000);
  cli::add_number(app, "--nodes", opt.nodes, "cluster nodes", 2, 16);
  cli::add_number(app, "--concurrency", opt.concurrency, "orders outstanding in all", 1, 100'000);
  cli::add_number(app, "--partitions", opt.partitions, "cluster partitions", 16, 65'536);
  cli::add_number(app, "--databases", opt.layout.databases, "wallet id mod D picks the database", 1, 1u << 20);
  cli::add_number(app, "--tables", opt.layout.tables, "wallet id mod T picks the table", 1, 1u << 20);
  app.add_option("--prefix,--db-prefix", opt.layout.prefix, "databases <prefix>_0.. (dropped and recreated)")
      ->capture_default_str()
      ->type_name("NAME")
      ->check(cli::database_prefix());
  cli::add_mysql_endpoint(app, opt.endpoint,
                          "the server (default: TXENGINE_MYSQL_URI or the private server of scripts/mariadb.sh)");
  cli::add_choice(app, "--workload", opt.only, "only this workload (default: both)",
                  {"cluster_transfer", "cluster_pay_hot"});
  app.add_flag("--json", opt.json, "one JSON object a workload");
  if (int code = cli::parse(app, argc, argv); code >= 0) return code;
  std::string why;
  if (!opt.layout.valid(&why)) {
    std::fprintf(stderr, "bench_cluster: %s\n", why.c_str());
    return cli::exit_usage;
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  if (int code = parse(argc, argv, opt); code >= 0) return code;
  if (!opt.json)
    std::printf("bench_cluster: %u cluster nodes in this process (durable acks, links over loopback) against one\n"
                "node alone, server %s, shards %ux%u, %u partitions, %llu orders per phase, %llu wallets per node,\n"
                "%u orders outstanding\n\n",
                opt.nodes, opt.endpoint.describe().c_str(), opt.layout.databases, opt.layout.tables, opt.partitions,
                (unsigned long long)opt.orders, (unsigned long long)opt.wallets, opt.concurrency);
  spdlog::set_level(spdlog::level::err);  // the nodes warn that Kafka publication is off
  mysql_thread_scope scope;
  std::vector<workload_result> results;
  bool all_ok = true;
  try {
    for (const char* name : {"cluster_transfer", "cluster_pay_hot"}) {
      if (!opt.only.empty() && opt.only != name) continue;
      results.push_back(run_workload(name, opt));
      all_ok = all_ok && results.back().audit_ok;
      if (opt.json) std::printf("%s\n", json_of(results.back(), opt).c_str());
      std::fflush(stdout);
    }
  } catch (const sql::SQLException& e) {
    std::fprintf(stderr, "bench_cluster: MySQL error %d at %s: %s\n", e.getErrorCode(), opt.endpoint.describe().c_str(),
                 e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cluster: %s\n", e.what());
    return 1;
  }
  if (!opt.json) print_table(results, opt);
  return all_ok ? 0 : 1;
}
