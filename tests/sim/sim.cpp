// The deterministic simulator (docs/simulation.md). Everything random comes from one
// std::mt19937_64 seeded with the seed; everything runs on this thread (CAF's test_coordinator
// runs one message of one actor per job); time is a manual_clock that only this file moves.
#include "tests/sim/sim.hpp"

#include <algorithm>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <unordered_map>

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "actors/channel_actor.hpp"
#include "actors/directory.hpp"
#include "actors/order_host.hpp"
#include "actors/wallet_actor.hpp"
#include "cluster/wallet_gateway.hpp"
#include "core/order_id_generator.hpp"
#include "core/partition_leases.hpp"
#include "core/routing.hpp"
#include "core/test_hooks.hpp"
#include "ports/actor_interfaces.hpp"
#include "ports/clock.hpp"
#include "ports/cluster.hpp"
#include "ports/messages.hpp"
#include "ports/storage_config.hpp"
#include "ports/storage_link.hpp"
#include "ports/storage_messages.hpp"
#include "ports/storage_rows.hpp"

namespace txengine::sim {

const char* fault_name(size_t kind) {
  static const char* names[] = {"commit_failed",   "commit_slow", "message_dropped", "message_duplicated",
                                "message_delayed", "reply_lost",  "crash",           "clock_jump",
                                "load_failed",     "provider_outage", "node_crash",  "node_pause",
                                "link_cut",        "fenced",      "takeover"};
  return kind < fault_kinds ? names[kind] : "?";
}

namespace {

const currency usd = *currency::parse("USD");
constexpr tenant_id tenant = 1;
constexpr int64_t start_ms = 1'750'000'000'000;
//! Cluster nodes the simulator runs at most (--nodes).
constexpr size_t nodes_max = 2;

//! FNV-1a, 64 bits.
struct digest {
  uint64_t h = 14695981039346656037ull;
  void add(uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h ^= (v >> (8 * i)) & 0xFF;
      h *= 1099511628211ull;
    }
  }
  void add(const std::string& s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
    add(s.size());
  }
};

// -- the simulated store ------------------------------------------------------------------

//! What a wallet leg's committed movements and records say so far (the TCC rules' checks).
struct leg_trace {
  int tries = 0, confirms = 0, cancels = 0;
  bool tombstone = false;  //!< a committed cancelled record (with or without a try)
  bool confirmed_record = false;
};

//! The "database": what was committed survives crashes; what was handed over and not yet
//! committed (pending) is lost by one. Commits are chosen by the simulator, in arrival order
//! (the writer commits its mailbox in order).
struct sim_store {
  struct pending_batch {
    caf::strong_actor_ptr sender;
    write_batch batch;
    uint64_t seq = 0;  //!< per node, in arrival order
  };
  struct member {
    uint64_t incarnation = 0;
    int64_t expires_ms = 0;
  };
  std::map<wallet_id, wallet_row> wallets;  //!< effective rows: balances and version from the newest movement
  std::map<std::pair<wallet_id, order_id>, tcc_row> tcc;
  std::map<order_id, order_row> orders;
  std::map<std::pair<tenant_id, std::string>, order_id> requests;
  std::map<order_id, std::vector<order_id>> refunds_of;
  std::map<std::pair<wallet_id, order_id>, leg_trace> traces;
  std::map<order_id, int64_t> net;  //!< the sum of an order's committed movements
  std::map<order_id, std::vector<order_movement>> movements_of;  //!< committed, in commit order
  //! Each node's writer: batches handed over and not committed yet, in arrival order; commit
  //! barriers (sync_atom) waiting for the batch that was last when they came.
  std::array<std::deque<pending_batch>, nodes_max> pending;
  std::array<uint64_t, nodes_max> next_seq{};
  std::array<std::vector<std::pair<uint64_t, caf::typed_response_promise<bool>>>, nodes_max> syncs;
  std::vector<std::string> violations;
  std::array<storage_link*, nodes_max> link{};  //!< of each node's engine running now
  //! Of each node's engine running now: a dead engine's messages are ignored.
  std::array<uint64_t, nodes_max> generation{};
  // The cluster (--nodes 2): the leases table and the nodes' registrations, as
  // persistence/lease_store.cpp keeps them in MySQL, and each node's view of what it holds
  // (the writer's fence reads it, as commit_executor::fence_holds does).
  std::vector<partition_lease> leases;
  std::map<cluster_node, member> members;
  uint32_t ownership_partitions = 0;  //!< the partition count (0: no cluster)
  bool fence_off = false;             //!< txsim --break fence
  std::array<partition_ownership*, nodes_max> ownership{};
  bool trace = false;            //!< prints every committed row (--trace)
  bool down = false;             //!< commits fail (an outage)
  uint32_t load_fail_ppm = 0;
  std::mt19937_64* rng = nullptr;
  uint64_t* load_failures = nullptr;

  void violation(std::string what) {
    if (violations.size() < 50) violations.push_back(std::move(what));
  }

  size_t pending_batches() const {
    size_t n = 0;
    for (const auto& p : pending) n += p.size();
    return n;
  }

  //! A node's commit barrier: true once everything it handed over before is committed.
  //! (A promise is made only when the answer waits: making one answers the request through it.)
  template <class Self>
  caf::result<bool> sync(size_t node, Self* self) {
    if (pending[node].empty()) return true;
    auto promise = self->template make_response_promise<bool>();
    syncs[node].emplace_back(pending[node].back().seq, promise);
    return promise;
  }

  //! The fence (commit_executor::fence_holds): the node holds every partition the first `count`
  //! batches touch, at the epoch the leases table has. False: refused (nothing is applied).
  bool fence_holds(size_t node, size_t count) {
    const partition_ownership* o = ownership[node];
    if (o == nullptr || fence_off) return true;
    std::set<uint32_t> touched;
    auto mark = [&](wallet_id w) { touched.insert(partition_of(w, o->partitions())); };
    for (size_t i = 0; i < count && i < pending[node].size(); ++i) {
      const write_batch& b = pending[node][i].batch;
      for (const auto& w : b.wallets) mark(w.info.id);
      for (const auto& m : b.movements) mark(m.wallet);
      for (const auto& t : b.tcc) mark(t.wallet);
      for (const auto& r : b.orders) mark(order_home(r.command));
    }
    for (uint32_t p : touched) {
      uint64_t epoch = o->epoch(p);
      if (epoch == 0 || p >= leases.size() || !lease_allows_commit(leases[p], o->self(), epoch)) return false;
    }
    return true;
  }

  //! Commits the first `count` pending batches of a node as one transaction; acknowledges them.
  void commit(size_t node, size_t count, const std::function<void(const caf::strong_actor_ptr&, uint64_t)>& ack) {
    count = std::min(count, pending[node].size());
    uint64_t last_seq = 0;
    std::vector<std::pair<wallet_id, order_id>> moved;
    std::set<order_id> touched;
    // In the order of the batches (not by pointer: a run must not depend on addresses).
    std::vector<std::pair<caf::strong_actor_ptr, uint64_t>> acks;
    int64_t rows = 0;
    for (size_t i = 0; i < count; ++i) {
      pending_batch p = std::move(pending[node].front());
      pending[node].pop_front();
      last_seq = p.seq;
      write_batch& b = p.batch;
      rows += static_cast<int64_t>(b.rows());
      for (auto& w : b.wallets) {
        auto found = wallets.find(w.info.id);
        if (found == wallets.end()) {
          wallets.emplace(w.info.id, w);
        } else {
          found->second.info = w.info;  // status, limit; balances follow the movements
          if (w.version >= found->second.version) {
            found->second.current = w.current;
            found->second.version = w.version;
          }
        }
      }
      for (auto& o : b.orders) {
        apply_order(o);
        touched.insert(o.id);
      }
      for (auto& m : b.movements) {
        apply_movement(m);
        moved.emplace_back(m.wallet, m.entry.txn);
      }
      for (auto& t : b.tcc) apply_tcc(t);
      if (b.ack_seq != 0 && p.sender) {
        auto known = std::find_if(acks.begin(), acks.end(), [&](const auto& a) { return a.first == p.sender; });
        if (known == acks.end()) acks.emplace_back(p.sender, b.ack_seq);
        else known->second = std::max(known->second, b.ack_seq);
      }
    }
    // Conservation, on every commit: the movements of an order whose final row is committed sum
    // to zero (all its effects are committed before or with its final row; the sum of all
    // wallets is then zero up to the orders still in flight).
    for (const auto& [wallet, order] : moved) touched.insert(order);
    for (order_id order : touched) {
      auto row = orders.find(order);
      if (row == orders.end() || !is_final(row->second.state)) continue;
      int64_t sum = net[order];
      if (sum != 0)
        violation("money not conserved by order " + std::to_string(order) + " (" +
                  std::string(to_string(row->second.command.kind)) + " " + std::string(to_string(row->second.state)) +
                  "): its committed movements sum to " + std::to_string(sum));
    }
    // Intent before effects: every effect's order has a committed row once the effect is.
    for (const auto& [wallet, order] : moved)
      if (orders.count(order) == 0)
        violation("intent before effects: wallet " + std::to_string(wallet) + " has a movement of order " +
                  std::to_string(order) + " whose order row was never committed");
    if (link[node] != nullptr) {
      link[node]->rows_queued.fetch_sub(rows);
      link[node]->batches_committed.fetch_add(1);
    }
    for (const auto& [sender, seq] : acks) ack(sender, seq);
    // The node's commit barriers are answered by its store actor (a promise is delivered in the
    // context of the actor that made it).
    if (link[node] != nullptr && count > 0)
      caf::anon_send(caf::actor_cast<caf::actor>(link[node]->writer), committed_atom::value, last_seq);
  }

  //! In node's store actor: answers the commit barriers waiting for batches up to `seq`.
  void synced(size_t node, uint64_t seq) {
    auto& waiting = syncs[node];
    for (auto it = waiting.begin(); it != waiting.end();) {
      if (it->first <= seq) {
        it->second.deliver(true);
        it = waiting.erase(it);
      } else {
        ++it;
      }
    }
  }

  void apply_order(const order_row& o) {
    if (trace)
      std::fprintf(stderr, "  committed order %llu %s %s request %s created %lld\n", (unsigned long long)o.id,
                   std::string(to_string(o.command.kind)).c_str(), std::string(to_string(o.state)).c_str(),
                   o.command.request_id.c_str(), (long long)(o.created_ms - start_ms));
    if (trace && o.command.kind == order_kind::refund)
      std::fprintf(stderr, "    refund of %llu amount %lld legs %s\n", (unsigned long long)o.command.original_order,
                   (long long)o.command.amount, o.legs_json.c_str());
    auto found = orders.find(o.id);
    if (found != orders.end() && is_final(found->second.state)) {
      if (o.state != found->second.state || o.posted_amount != found->second.posted_amount)
        violation("final order " + std::to_string(o.id) + " changed from " + std::string(to_string(found->second.state)) +
                  " to " + std::string(to_string(o.state)));
      return;
    }
    if (o.intent) {
      auto key = std::make_pair(o.command.tenant, o.command.request_id);
      auto [it, inserted] = requests.emplace(key, o.id);
      if (!inserted && it->second != o.id)
        violation("request id " + o.command.request_id + " committed for two orders " + std::to_string(it->second) +
                  " and " + std::to_string(o.id));
      if (o.command.kind == order_kind::refund) refunds_of[o.command.original_order].push_back(o.id);
    }
    if (found == orders.end()) orders.emplace(o.id, o);
    else found->second = o;
    if (o.command.kind == order_kind::refund && o.state == order_state::succeeded) check_refunded(o.command.original_order);
  }

  //! Never refunded more than was paid: the succeeded refunds of a payment sum to at most its
  //! posted amount (refund_allowance; checked on every commit of a succeeded refund).
  void check_refunded(order_id payment) {
    auto paid = orders.find(payment);
    auto refunds = refunds_of.find(payment);
    if (paid == orders.end() || refunds == refunds_of.end()) return;
    int64_t refunded = 0;
    for (order_id r : refunds->second) {
      const order_row& row = orders.at(r);
      if (row.state == order_state::succeeded) refunded += row.posted_amount;
    }
    if (refunded > paid->second.posted_amount)
      violation("payment " + std::to_string(payment) + " refunded " + std::to_string(refunded) + " of " +
                std::to_string(paid->second.posted_amount) + " paid");
  }

  void apply_movement(const movement_row& m) {
    if (trace)
      std::fprintf(stderr, "  committed movement wallet %llu order %llu phase %d seq %llu\n", (unsigned long long)m.wallet,
                   (unsigned long long)m.entry.txn, (int)m.entry.phase, (unsigned long long)m.entry.sequence);
    auto w = wallets.find(m.wallet);
    if (w == wallets.end()) {
      violation("movement of unknown wallet " + std::to_string(m.wallet));
      return;
    }
    if (m.entry.sequence != w->second.version + 1)
      violation("wallet " + std::to_string(m.wallet) + ": movement " + std::to_string(m.entry.sequence) +
                " after version " + std::to_string(w->second.version));
    w->second.current = m.entry.after;
    w->second.version = m.entry.sequence;
    movements_of[m.entry.txn].push_back(order_movement{m.wallet, m.entry});
    net[m.entry.txn] += m.entry.delta.available + m.entry.delta.frozen + m.entry.delta.incoming;
    leg_trace& t = traces[{m.wallet, m.entry.txn}];
    std::string at = " (wallet " + std::to_string(m.wallet) + ", order " + std::to_string(m.entry.txn) + ")";
    switch (m.entry.phase) {
      case tcc_phase::try_:
        if (t.tombstone || t.cancels > 0) violation("anti-hanging: a try applied after its cancel" + at);
        if (t.tries > 0) violation("idempotent try: a second try movement" + at);
        ++t.tries;
        break;
      case tcc_phase::confirm:
        if (t.confirms > 0) violation("idempotent confirm: a second confirm movement" + at);
        if (t.cancels > 0 || t.tombstone) violation("confirm after cancel" + at);
        ++t.confirms;
        break;
      case tcc_phase::cancel:
        if (t.cancels > 0) violation("idempotent cancel: a second cancel movement" + at);
        if (t.confirms > 0) violation("cancel after confirm" + at);
        if (t.tries == 0) violation("empty rollback: a cancel moved money with no try" + at);
        ++t.cancels;
        break;
    }
  }

  void apply_tcc(const tcc_row& r) {
    if (trace)
      std::fprintf(stderr, "  committed tcc wallet %llu order %llu state %d tried %lld confirmed %lld\n",
                   (unsigned long long)r.wallet, (unsigned long long)r.order, (int)r.record.state,
                   (long long)r.record.tried_amount, (long long)r.record.confirmed_amount);
    leg_trace& t = traces[{r.wallet, r.order}];
    std::string at = " (wallet " + std::to_string(r.wallet) + ", order " + std::to_string(r.order) + ")";
    auto key = std::make_pair(r.wallet, r.order);
    auto found = tcc.find(key);
    const tcc_record& now = r.record;
    if (found != tcc.end()) {
      const tcc_record& before = found->second.record;
      if (before.state == tcc_record_state::cancelled && now.state != tcc_record_state::cancelled)
        violation("anti-hanging: a TCC record left cancelled (state " + std::to_string(static_cast<int>(now.state)) +
                  "): a try after its cancel" + at);
      if (before.state == tcc_record_state::confirmed && now.state != tcc_record_state::confirmed)
        violation("TCC record left confirmed for " + std::to_string(static_cast<int>(now.state)) + at);
    }
    if (now.state == tcc_record_state::confirmed && now.confirmed_amount > now.tried_amount)
      violation("partial confirm: confirmed " + std::to_string(now.confirmed_amount) + " of " +
                std::to_string(now.tried_amount) + " tried" + at);
    if (now.state == tcc_record_state::cancelled) t.tombstone = true;
    if (now.state == tcc_record_state::confirmed) t.confirmed_record = true;
    tcc[key] = r;
  }

  loaded_wallet load(wallet_id id) const {
    loaded_wallet l;
    auto w = wallets.find(id);
    if (w == wallets.end()) return l;
    l.found = true;
    l.row = w->second;
    for (auto it = tcc.lower_bound({id, 0}); it != tcc.end() && it->first.first == id; ++it) l.records.push_back(it->second);
    return l;
  }

  request_found lookup(const request_lookup& r) const {
    request_found f;
    f.tenant = r.tenant;
    f.request_id = r.request_id;
    auto found = requests.find({r.tenant, r.request_id});
    if (found == requests.end()) return f;
    const order_row& o = orders.at(found->second);
    f.found = true;
    f.id = o.id;
    f.content_hash = command_content_hash(o.command);
    f.state = o.state;
    f.reason = o.reason;
    f.posted_amount = o.posted_amount;
    f.created_ms = o.created_ms;
    f.final_ms = o.final_ms;
    return f;
  }

  loaded_original original(order_id id) const {
    loaded_original l;
    l.id = id;
    auto found = orders.find(id);
    if (found == orders.end()) return l;
    const order_row& o = found->second;
    l.found = true;
    l.command = o.command;
    l.state = o.state;
    l.reason = o.reason;
    l.posted_amount = o.posted_amount;
    l.created_ms = o.created_ms;
    l.final_ms = o.final_ms;
    parse_legs_json(o.legs_json, l.legs);
    if (auto refunds = refunds_of.find(id); refunds != refunds_of.end())
      for (order_id r : refunds->second) {
        const order_row& row = orders.at(r);
        std::vector<stored_leg> legs;
        stored_refund s{r, row.state, row.command.amount, !parse_legs_json(row.legs_json, legs) || legs.size() == 3};
        l.refunds.push_back(s);
      }
    return l;
  }

  //! Non-final orders; `mine` (a cluster node's) keeps those homed in its partitions.
  std::vector<recovered_order> open_orders(const std::function<bool(uint32_t)>& mine = {}) const {
    std::vector<recovered_order> out;
    for (const auto& [id, o] : orders) {
      if (is_final(o.state)) continue;
      if (mine && ownership_partitions > 0 && !mine(partition_of(order_home(o.command), ownership_partitions))) continue;
      recovered_order r;
      r.id = id;
      r.command = o.command;
      r.row.state = o.state;
      r.row.reason = o.reason;
      r.row.posted_amount = o.posted_amount;
      r.row.created_ms = o.created_ms;
      r.row.try_deadline_ms = o.try_deadline_ms;
      r.row.updated_ms = o.updated_ms;
      std::string error;
      if (!parse_legs_json(o.legs_json, r.row.legs, &error)) {
        const_cast<sim_store*>(this)->violation("order " + std::to_string(id) + ": legs not readable: " + error);
        continue;
      }
      if (!o.route.empty() && !parse_route_trail(o.route, r.row.route)) {
        const_cast<sim_store*>(this)->violation("order " + std::to_string(id) + ": route not readable: " + o.route);
        continue;
      }
      out.push_back(std::move(r));
    }
    return out;
  }
};

//! The store as the engine sees it: the writer, the wallet loader and the order loader in one
//! actor, with their typed interfaces (ports/actor_interfaces.hpp), so the compiler holds it to
//! the same protocols as persistence/. It also takes the hosts' counts of resumed orders (the
//! answers to recover_atom, which the real order loader requests).
using store_actor =
    writer_actor::extend_with<wallet_loader_actor, order_loader_actor>::extend<caf::reacts_to<uint64_t>,
                                                                               caf::reacts_to<committed_atom, uint64_t>>;

//! `node_hosts`: the hosts of the node this store actor serves (a cluster's takeover resumes orders there).
store_actor::behavior_type store_behavior(store_actor::pointer self, sim_store* store, size_t node,
                                          const std::vector<order_host_actor>* node_hosts) {
  const uint64_t generation = store->generation[node];
  // A crashed engine's last messages never reach the store (it died with them).
  self->set_default_handler(caf::drop);
  return {
      [=](persist_atom, write_batch& b) {
        if (store->generation[node] == generation)
          store->pending[node].push_back({self->current_sender(), std::move(b), ++store->next_seq[node]});
      },
      [=](sync_atom) { return store->sync(node, self); },
      [=](sync_atom, checkpoint_all_atom) { return store->sync(node, self); },
      [=](load_atom, wallet_id id) {
        loaded_wallet l;
        if (store->load_fail_ppm != 0 && (*store->rng)() % 1'000'000 < store->load_fail_ppm) {
          l.failed = true;
          ++*store->load_failures;
        } else {
          l = store->load(id);
        }
        self->send(caf::actor_cast<wallet_shard_actor>(self->current_sender()), loaded_atom::value, id, std::move(l));
      },
      [=](lookup_atom, const std::vector<request_lookup>& keys) {
        std::vector<request_found> answers;
        for (const auto& k : keys) answers.push_back(store->lookup(k));
        self->send(caf::actor_cast<order_host_actor>(self->current_sender()), found_atom::value, std::move(answers));
      },
      [=](wallet_lookup_atom, tenant_id, const std::string&) { return wallet_request_found{}; },
      [=](origin_atom, const std::vector<order_id>& ids) {
        std::vector<loaded_original> out;
        for (order_id id : ids) out.push_back(store->original(id));
        self->send(caf::actor_cast<order_host_actor>(self->current_sender()), origin_found_atom::value, std::move(out));
      },
      [=](recover_atom, const std::vector<order_host_actor>& hosts) {
        // The order loader's recovery: every non-final order to the host of its request id, then
        // "recovered" to every host (the same messages persistence/order_loader.cpp sends).
        // A cluster node resumes the orders homed in the partitions it holds.
        const partition_ownership* o = store->ownership[node];
        std::function<bool(uint32_t)> mine;
        if (o != nullptr) mine = [o](uint32_t p) { return o->owner_of(p) == o->self(); };
        std::vector<std::vector<recovered_order>> by_host(hosts.size());
        for (auto& r : store->open_orders(mine))
          by_host[host_index(r.command.tenant, r.command.request_id, hosts.size())].push_back(std::move(r));
        for (size_t h = 0; h < hosts.size(); ++h)
          if (!by_host[h].empty()) self->send(hosts[h], recover_atom::value, std::move(by_host[h]));
        for (const auto& host : hosts) self->send(host, recovered_atom::value);
      },
      [=](recover_atom, const std::vector<uint32_t>& partitions) {
        // A cluster node's takeover: the non-final orders homed in these partitions, to its hosts.
        std::set<uint32_t> taken(partitions.begin(), partitions.end());
        const std::vector<order_host_actor>& hosts = *node_hosts;
        std::vector<std::vector<recovered_order>> by_host(hosts.size());
        for (auto& r : store->open_orders([&](uint32_t p) { return taken.count(p) > 0; }))
          by_host[host_index(r.command.tenant, r.command.request_id, hosts.size())].push_back(std::move(r));
        for (size_t h = 0; h < hosts.size(); ++h)
          if (!by_host[h].empty()) self->send(hosts[h], recover_atom::value, std::move(by_host[h]));
      },
      [=](uint64_t) {},  // a host's count of resumed orders
      [=](committed_atom, uint64_t seq) {
        if (store->generation[node] == generation) store->synced(node, seq);
      },
      [=](history_atom, const history_page_request&) { return history_page{true, {}}; },
      [=](history_atom, const order_history_request& r) {
        // An order's committed movements (GetOrder of an order read from storage), by wallet.
        order_history h;
        auto o = store->orders.find(r.order);
        auto m = store->movements_of.find(r.order);
        if (o == store->orders.end() || o->second.command.tenant != r.tenant || m == store->movements_of.end()) return h;
        h.movements = m->second;
        std::stable_sort(h.movements.begin(), h.movements.end(),
                         [](const order_movement& a, const order_movement& b) { return a.wallet < b.wallet; });
        return h;
      },
  };
}

// -- the client -------------------------------------------------------------------------

struct client_sink {
  std::vector<order_reply> replies;
  std::vector<wallet_view> views;
  std::vector<host_stats> stats;
  size_t waiting = 0;
};

caf::behavior client_behavior(caf::event_based_actor* self, client_sink* sink) {
  return {
      [=](replies_atom, std::vector<order_reply>& replies) {
        for (auto& r : replies) sink->replies.push_back(std::move(r));
      },
      [=](audit_atom, const std::vector<wallet_shard_actor>& shards) {
        for (const auto& shard : shards) {
          ++sink->waiting;
          self->request(shard, caf::infinite, audit_atom::value)
              .then([=](std::vector<wallet_view>& views) {
                for (auto& v : views) sink->views.push_back(std::move(v));
                --sink->waiting;
              });
        }
      },
      [=](stats_atom, const std::vector<order_host_actor>& hosts) {
        for (const auto& host : hosts) {
          ++sink->waiting;
          self->request(host, caf::infinite, stats_atom::value).then([=](host_stats& s) {
            sink->stats.push_back(s);
            --sink->waiting;
          });
        }
      },
  };
}

// -- the engines ------------------------------------------------------------------------------

class sim_caf_config : public caf::actor_system_config {
 public:
  sim_caf_config() {
    set("scheduler.policy", caf::atom("testing"));
    set("logger.console-verbosity", caf::atom("quiet"));
  }
};

//! One life of one node's engine: its actors as node/engine.cpp composes them (a cluster node's
//! with its wallet gateway and its routes to the other node), its writer and loaders being the
//! store actor. A crash ends them all; the next life is another node_world.
struct node_world {
  size_t index = 0;
  cluster_node id = no_node;  //!< no_node: one engine, no cluster
  std::unique_ptr<storage_link> link = std::make_unique<storage_link>();
  std::unique_ptr<wallet_directory> directory;
  std::vector<order_host_actor> hosts;
  std::vector<std::pair<channel_id, channel_actor>> channels;
  store_actor store;
  wallet_gateway_actor gateway;
  std::shared_ptr<cluster::gateway_counters> gateway_counters;

  std::vector<caf::actor> actors() const {
    std::vector<caf::actor> all;
    for (const auto& h : hosts) all.push_back(caf::actor_cast<caf::actor>(h));
    for (const auto& [cid, c] : channels) all.push_back(caf::actor_cast<caf::actor>(c));
    if (directory)
      for (const auto& sh : directory->shards()) all.push_back(caf::actor_cast<caf::actor>(sh));
    if (gateway) all.push_back(caf::actor_cast<caf::actor>(gateway));
    all.push_back(caf::actor_cast<caf::actor>(store));
    return all;
  }
};

//! The actor system every node runs in (one thread, one scheduler), and the client.
struct world {
  sim_caf_config cfg;
  caf::actor_system sys{cfg};
  caf::scheduler::test_coordinator& sched = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  std::array<std::unique_ptr<node_world>, nodes_max> nodes;
  caf::actor client;
  client_sink sink;

  world() { client = sys.spawn(client_behavior, &sink); }
  ~world() {
    caf::anon_send_exit(client, caf::exit_reason::kill);
    while (sched.try_run_once()) {
    }
  }
};

// -- the run ----------------------------------------------------------------------------------

struct request_state {
  order_command command;
  bool conflicting = false;   //!< same request id as an earlier one, other content
  bool final_seen = false;
  order_reply final_reply;
  int64_t last_sent_ms = 0;
  bool outstanding = false;
  bool settled = false;  //!< refused for good: nothing more to wait for
  result_code last_refusal = result_code::ok;  //!< the code of the last refusal heard
};

class simulation {
 public:
  explicit simulation(const sim_options& o) : opt_(o), rng_(o.seed * 0x9E3779B97F4A7C15ull + 1) {
    res_.seed = o.seed;
    store_.rng = &rng_;
    store_.trace = o.trace;
    store_.load_failures = &res_.faults[fault_load_failed];
    order_.try_deadline_ms = 3'000;
    order_.retry_initial_ms = 50;
    order_.retry_max_ms = 800;
    order_.channel_query_min_delay_ms = 100;
    order_.channel_query_max_interval_ms = 1'000;
    order_.channel_submit_timeout_ms = 500;
    order_.channel_not_found_final_ms = 3'000;
    wallet_.idle_ms = 1'000 + static_cast<int64_t>(rng_() % 4'000);
    // Faults of this seed: each kind on or off, and how often.
    auto pick = [&](uint32_t max_ppm) { return rng_() % 3 == 0 ? 0u : static_cast<uint32_t>(rng_() % max_ppm); };
    p_commit_fail_ = pick(150'000);
    p_drop_ = pick(30'000);
    p_dup_ = pick(30'000);
    p_delay_ = pick(30'000);
    p_reply_lost_ = pick(100'000);
    p_crash_ = pick(1'500);
    p_jump_ = pick(2'000);
    p_outage_ = pick(1'000);
    store_.load_fail_ppm = pick(100'000);
    channel_config good;
    good.latency_ms = 1 + static_cast<int64_t>(rng_() % 20);
    good.seed = rng_();
    channel_config bad = good;
    bad.latency_ms = 1 + static_cast<int64_t>(rng_() % 300);
    bad.settle_ms = static_cast<int64_t>(rng_() % 500);
    bad.decline_ppm = static_cast<uint32_t>(rng_() % 200'000);
    bad.reply_lost_ppm = pick(300'000);
    bad.reply_unknown_ppm = pick(300'000);
    bad.submit_lost_ppm = pick(200'000);
    bad.partial_ppm = pick(300'000);
    bad.seed = rng_();
    // The misbehaving provider's declines carry a code it declared "nothing moved": an
    // order routed by the engine (channel 0: provider 2 first, then 1) goes on to provider 1.
    bad.declared_decline_ppm = 1'000'000;
    channels_ = {{1, good}, {2, bad}};
    route_rule both;
    both.providers = {{2, 1}, {1, 0}};
    router_ = std::make_shared<const channel_router>(std::vector<route_rule>{both});
    if (opt_.broken == broken_rule::anti_hanging) p_delay_ = std::max<uint32_t>(p_delay_, 20'000);
    nodes_ = std::clamp<uint32_t>(opt_.nodes, 1, nodes_max);
    if (cluster()) {
      // The cluster's faults (drawn only here: one engine's seeds keep their faults).
      p_node_crash_ = pick(1'500);
      p_node_pause_ = pick(1'500);
      p_link_cut_ = pick(1'500);
      rules_.partitions = 8;
      rules_.ttl_ms = 3'000;
      rules_.release_per_round = 2;
      store_.ownership_partitions = rules_.partitions;
      for (uint32_t p = 0; p < rules_.partitions; ++p) store_.leases.push_back(partition_lease{p, no_node, 0, 0});
    }
  }

  sim_result run() {
    if (opt_.broken <= broken_rule::intent_before_effects) test_hooks::broken = static_cast<uint8_t>(opt_.broken);
    store_.fence_off = opt_.broken == broken_rule::fence;
    w_ = std::make_unique<world>();
    start_all();
    setup_wallets();
    for (uint64_t step = 0; step < opt_.steps && store_.violations.empty(); ++step) {
      ++res_.steps;
      one_step(true);
      take_replies();
    }
    quiesce();
    test_hooks::broken = 0;
    finish();
    return res_;
  }

 private:
  bool cluster() const { return nodes_ > 1; }
  uint32_t ppm() { return static_cast<uint32_t>(rng_() % 1'000'000); }
  bool chance(uint32_t p) { return p != 0 && ppm() < p; }
  void trace(const std::string& what) {
    if (opt_.trace) std::fprintf(stderr, "[%lld] %s\n", static_cast<long long>(clock_.now_ms() - start_ms), what.c_str());
  }

  // Nodes ----------------------------------------------------------------------------------------
  //! What outlives one life of a node's engine: its process state as the cluster sees it.
  struct node_life {
    std::shared_ptr<partition_ownership> ownership;  //!< of the running process (a new one per start)
    uint64_t incarnation = 0;
    int64_t next_round_ms = 0;
    int64_t restart_at_ms = 0;   //!< while down: when it starts again
    int64_t paused_until_ms = 0;  //!< stopped (SIGSTOP) until then
    int64_t paused_since_ms = 0;
  };

  node_world* node(size_t i) { return i < nodes_ ? w_->nodes[i].get() : nullptr; }
  bool up(size_t i) { return node(i) != nullptr; }
  bool paused(size_t i) { return up(i) && life_[i].paused_until_ms > clock_.now_ms(); }
  bool runs(size_t i) { return up(i) && !paused(i); }

  //! The node an actor belongs to; -1 for the client (and actors of no node).
  int node_of_actor(caf::actor_id id) const {
    auto found = actor_node_.find(id);
    return found == actor_node_.end() ? -1 : found->second;
  }

  //! Node `from`'s link to node `to` (cluster::peer_links): no gateway while `to` is down, and,
  //! like the real health check, once the link (or `to`, paused) has been silent for 1.5 s.
  wallet_gateway_actor gateway_for(size_t from, cluster_node to) {
    if (to == no_node || to > nodes_) return wallet_gateway_actor();
    size_t j = to - 1;
    if (j == from || !up(j)) return wallet_gateway_actor();
    if (link_seen_down(j)) return wallet_gateway_actor();
    return node(j)->gateway;
  }
  bool link_seen_down(size_t to) {
    const int64_t now = clock_.now_ms();
    constexpr int64_t silence_ms = 1'500;
    if (cut_until_ms_ > now && now - cut_since_ms_ >= silence_ms) return true;
    return paused(to) && now - life_[to].paused_since_ms >= silence_ms;
  }

  //! Starts node i's engine (after its lease rounds, for a cluster node), as node/engine.cpp does.
  void start_node(size_t i) {
    auto n = std::make_unique<node_world>();
    node_world& nw = *n;
    nw.index = i;
    nw.id = cluster() ? static_cast<cluster_node>(i + 1) : no_node;
    nw.link->config.ack = ack_mode::durable;
    nw.link->orders_at_start = store_.orders.size();
    store_.link[i] = nw.link.get();
    if (cluster()) {
      nw.link->ownership = life_[i].ownership;
      store_.ownership[i] = life_[i].ownership.get();
    }
    nw.store = w_->sys.spawn(store_behavior, &store_, i, &nw.hosts);
    nw.link->writer = nw.store;
    nw.link->loader = nw.store;
    nw.link->order_loader = nw.store;
    wallet_actor_config wc = wallet_;
    wc.clock = &clock_;
    wc.core.finished_record_min_keep_ms = order_.try_deadline_ms;
    nw.directory = std::make_unique<wallet_directory>(w_->sys, wc, 3, nw.link.get());
    if (cluster())
      nw.directory->set_cluster({life_[i].ownership.get(),
                                 [this, i](cluster_node to) { return gateway_for(i, to); },
                                 [this] { return links_generation_; }});
    wallet_id max_id = 0;
    std::vector<std::tuple<tenant_id, uint32_t, wallet_id>> systems;
    for (const auto& [id, row] : store_.wallets) {
      max_id = std::max(max_id, id);
      if (row.info.kind == wallet_kind::system) systems.emplace_back(row.info.tenant, row.info.cur.packed(), id);
    }
    if (max_id != 0) nw.directory->restore_ids(max_id, systems);
    for (uint32_t lane = 0; lane < 2; ++lane) {
      order_host_config hc;
      hc.node_id = nw.id;
      hc.lane = lane;
      hc.order = order_;
      hc.storage = nw.link.get();
      hc.clock = &clock_;
      hc.orders_in_flight_max = 1000;
      hc.router = router_;
      nw.hosts.push_back(spawn_order_host(w_->sys, hc, nw.directory.get()));
    }
    for (const auto& [id, cc] : channels_) {
      auto channel = spawn_simulated_channel(w_->sys, cc, &clock_, id);
      set_channel_hosts(channel, nw.hosts);
      nw.channels.emplace_back(id, channel);
    }
    host_peers peers{nw.hosts, nw.channels};
    for (const auto& host : nw.hosts) set_host_peers(host, peers);
    if (cluster()) {
      // The wallet gateway the other node's hosts send steps, submits and queries to
      // (node/engine.cpp, start_cluster), answering steps after its writer's commit barrier.
      cluster::wallet_gateway_config gc;
      wallet_directory* d = nw.directory.get();
      gc.shard_of = [d](wallet_id w) -> wallet_shard_actor {
        if (!d->holds(w)) return wallet_shard_actor();
        return d->shards()[d->shard_index(w)];
      };
      if (opt_.broken != broken_rule::gateway_barrier) gc.writer = nw.store;
      partition_ownership* o = life_[i].ownership.get();
      if (opt_.broken != broken_rule::stale_steps)
        gc.note_epoch = [o](uint32_t p, uint64_t epoch) { return o->note_epoch(p, epoch); };
      const std::vector<order_host_actor>* hosts = &nw.hosts;
      gc.host_of_request = [hosts](tenant_id t, const std::string& r) { return (*hosts)[host_index(t, r, hosts->size())]; };
      gc.host_of_order = [hosts](order_id id) -> order_host_actor {
        uint32_t lane = order_id_generator::lane_of(id);
        return lane < hosts->size() ? (*hosts)[lane] : order_host_actor();
      };
      nw.gateway_counters = gc.counters;
      nw.gateway = cluster::spawn_wallet_gateway(w_->sys, gc);
    }
    for (const auto& a : nw.actors()) actor_node_[a.id()] = static_cast<int>(i);
    w_->nodes[i] = std::move(n);
    if (nw.link->orders_at_start > 0) caf::anon_send(nw.store, recover_atom::value, nw.hosts);
    if (cluster()) life_[i].ownership->start_serving();
    ++links_generation_;
    trace("node " + std::to_string(i) + " started" +
          (cluster() ? ", holds " + std::to_string(life_[i].ownership->held()) + " partitions" : std::string()));
  }

  //! Every node starts (the nodes see each other's registrations before they take partitions,
  //! as join_settle_ms lets them).
  void start_all() {
    if (cluster()) {
      for (size_t i = 0; i < nodes_; ++i) join(i);
      for (size_t i = 0; i < nodes_; ++i) first_rounds(i);
    }
    for (size_t i = 0; i < nodes_; ++i) start_node(i);
  }

  //! Node i's process ends with everything in its memory: actors, batches not committed,
  //! commit barriers, its messages still queued (the other node's messages to it bounce).
  void stop_node(size_t i) {
    node_world* nw = node(i);
    if (nw == nullptr) return;
    ++store_.generation[i];
    store_.pending[i].clear();
    store_.syncs[i].clear();
    store_.link[i] = nullptr;
    store_.ownership[i] = nullptr;
    life_[i].paused_until_ms = 0;
    auto all = nw->actors();
    for (const auto& a : all) caf::anon_send_exit(a, caf::exit_reason::kill);
    run_jobs_fifo();
    nw->hosts.clear();
    nw->channels.clear();
    nw->directory.reset();
    run_jobs_fifo();
    for (const auto& a : all) actor_node_.erase(a.id());
    w_->nodes[i].reset();
    ++links_generation_;
    for (auto& [key, r] : requests_) r.outstanding = false;
  }

  // The cluster's leases, as persistence/lease_keeper.cpp keeps them -----------------------------
  //! A node's process joins: a new incarnation, registered once the previous one's registration
  //! expired; every lease an earlier process of this id still names is given up with a new epoch.
  void join(size_t i) {
    const cluster_node self = static_cast<cluster_node>(i + 1);
    node_life& l = life_[i];
    l.incarnation = ++incarnations_;
    l.ownership = std::make_shared<partition_ownership>(self, rules_.partitions, rules_.ttl_ms);
    store_.members[self] = sim_store::member{l.incarnation, clock_.now_ms() + rules_.ttl_ms};
    for (auto& lease : store_.leases)
      if (lease.owner == self) {
        lease.owner = no_node;
        ++lease.epoch;
        lease.expires_ms = clock_.now_ms();
      }
  }

  //! A joined node's first rounds (not serving yet), until a round takes nothing more.
  void first_rounds(size_t i) {
    node_life& l = life_[i];
    for (int r = 0; r < 16; ++r)
      if (lease_round(i) == 0) break;
    l.next_round_ms = clock_.now_ms() + round_interval_ms_;
  }

  //! One lease round of node i (lease_keeper::round without the XA settling: the store commits
  //! atomically); returns the partitions acquired. Fences the node when it lost what it served.
  uint32_t lease_round(size_t i) {
    const cluster_node self = static_cast<cluster_node>(i + 1);
    partition_ownership& o = *life_[i].ownership;
    if (o.fenced()) return 0;
    const int64_t now = clock_.now_ms();
    auto& me = store_.members[self];
    if (me.incarnation != life_[i].incarnation) {
      o.fence("node id taken by another process");
      return 0;
    }
    me.expires_ms = now + rules_.ttl_ms;
    std::vector<cluster_node> live;
    for (const auto& [n, m] : store_.members)
      if (m.expires_ms >= now) live.push_back(n);
    lease_plan plan = plan_lease_round(store_.leases, live, self, now, rules_);
    const bool serving = o.serving();
    if (serving) {
      plan.renew.insert(plan.renew.end(), plan.release.begin(), plan.release.end());
      plan.release.clear();
    }
    std::set<uint32_t> released;
    for (const auto& seen : plan.release) {
      partition_lease& l = store_.leases[seen.partition];
      if (l.owner == self && l.epoch == seen.epoch) {
        l.owner = no_node;
        l.expires_ms = now;
        released.insert(seen.partition);
      }
    }
    uint32_t acquired = 0;
    for (const auto& seen : plan.acquire) {
      partition_lease& l = store_.leases[seen.partition];
      if (l.epoch == seen.epoch && (l.owner == no_node || l.expires_ms < now)) {
        trace("node " + std::to_string(i) + " takes partition " + std::to_string(l.partition) + " from node " +
              std::to_string(static_cast<int>(l.owner) - 1) + " at epoch " + std::to_string(l.epoch + 1));
        l.owner = self;
        ++l.epoch;
        l.expires_ms = now + rules_.ttl_ms;
        ++acquired;
      }
    }
    for (const auto& seen : plan.renew) {
      partition_lease& l = store_.leases[seen.partition];
      if (l.owner == self && l.epoch == seen.epoch) l.expires_ms = now + rules_.ttl_ms;
    }
    std::vector<partition_lease> held;
    for (const auto& l : store_.leases)
      if (l.owner == self) held.push_back(l);
    for (uint32_t p = 0; p < rules_.partitions; ++p) {
      uint64_t had = o.epoch(p);
      if (had == 0) continue;
      const partition_lease& l = store_.leases[p];
      if ((l.owner == self && l.epoch == had) || released.count(p)) continue;
      if (serving) {
        o.fence("partition " + std::to_string(p) + " was taken while this node held it");
        return acquired;
      }
    }
    o.note_epochs(store_.leases);
    std::vector<uint32_t> taken_over;
    if (serving)
      for (const auto& l : held)
        if (o.epoch(l.partition) == 0) taken_over.push_back(l.partition);
    if (!taken_over.empty() && up(i)) {
      // engine.cpp's on_acquired: ids continue past the previous owner's; its orders resume here.
      ++res_.faults[fault_takeover];
      o.note_takeover();
      wallet_id max_id = store_.wallets.empty() ? 0 : store_.wallets.rbegin()->first;
      node(i)->directory->restore_ids(max_id, {});
      caf::anon_send(node(i)->store, recover_atom::value, taken_over);
    }
    o.assign(held);
    o.assign_owners(store_.leases, now);
    return acquired;
  }

  //! After the clock moved: CAF's own clock (request deadlines) follows; nodes restart, resume
  //! and run their lease rounds when due; a fenced node stops.
  void time_moved() {
    const int64_t now = clock_.now_ms();
    if (now > caf_now_ms_) {
      w_->sched.advance_time(std::chrono::milliseconds(now - caf_now_ms_));
      caf_now_ms_ = now;
    }
    if (!cluster()) return;
    for (size_t i = 0; i < nodes_; ++i) {
      if (!up(i)) {
        if (now < life_[i].restart_at_ms) continue;
        auto& me = store_.members[static_cast<cluster_node>(i + 1)];
        if (me.expires_ms >= now) {
          life_[i].restart_at_ms = me.expires_ms + 1;  // the dead process's registration must expire first
          continue;
        }
        join(i);
        first_rounds(i);
        start_node(i);
        continue;
      }
      if (life_[i].paused_until_ms != 0 && life_[i].paused_until_ms <= now) {
        trace("node " + std::to_string(i) + " continues");
        life_[i].paused_until_ms = 0;
        ++links_generation_;
        // Its threads race on: the writer may commit before the lease keeper's overdue round
        // finds the leases lost (what the fence is for).
        life_[i].next_round_ms = now + static_cast<int64_t>(rng_() % round_interval_ms_);
      }
      if (!paused(i) && now >= life_[i].next_round_ms) {
        lease_round(i);
        life_[i].next_round_ms = now + round_interval_ms_;
      }
      check_fenced(i);
    }
    if (cut_until_ms_ != 0 && cut_until_ms_ <= now) {
      trace("link restored");
      cut_until_ms_ = 0;
      ++links_generation_;
    }
    // The health check's verdicts change routes: what waits on the other node is sent again.
    uint32_t seen = 0;
    for (size_t i = 0; i < nodes_; ++i) seen |= (link_seen_down(i) ? 1u : 0u) << i;
    if (seen != links_seen_) {
      links_seen_ = seen;
      ++links_generation_;
    }
  }

  void check_fenced(size_t i) {
    if (!up(i) || !life_[i].ownership->fenced()) return;
    ++res_.faults[fault_fenced];
    trace("node " + std::to_string(i) + " FENCED: " + life_[i].ownership->fence_reason());
    stop_node(i);
    life_[i].restart_at_ms = clock_.now_ms() + 1 + static_cast<int64_t>(rng_() % 3'000);
  }

  void advance(int64_t by) {
    clock_.advance(by);
    time_moved();
  }
  void advance_to(int64_t t) {
    clock_.advance_to(t);
    time_moved();
  }

  void setup_wallets() {
    // A cluster: each node creates wallets in partitions it holds, one after the other.
    size_t next = 0;
    auto create = [&](wallet_kind kind) {
      result_code code;
      node_world* n = node(next++ % nodes_);
      wallet_id id = n->directory->create(tenant, usd, kind, 0, code);
      if (id == no_wallet) store_.violation("setup: wallet not created: " + std::string(to_string(code)));
      return id;
    };
    for (int i = 0; i < 6; ++i) users_.push_back(create(wallet_kind::user));
    for (int i = 0; i < 3; ++i) merchants_.push_back(create(wallet_kind::merchant));
    fee_ = create(wallet_kind::fee);
    for (size_t i = 0; i < nodes_; ++i) node(i)->directory->system_wallet(tenant, usd);
    run_jobs_fifo();
    commit_all();
  }

  //! A job may run unless its actor's node is stopped.
  bool runnable(caf::resumable* job) {
    auto* a = dynamic_cast<caf::scheduled_actor*>(job);
    if (a == nullptr) return true;
    int n = node_of_actor(a->id());
    return n < 0 || !paused(static_cast<size_t>(n));
  }

  //! Moves job `k` to the front of the scheduler's queue.
  void to_front(size_t k) {
    auto& jobs = w_->sched.jobs;
    if (k != 0)
      std::rotate(jobs.begin(), jobs.begin() + static_cast<std::ptrdiff_t>(k), jobs.begin() + static_cast<std::ptrdiff_t>(k) + 1);
  }

  void run_jobs_fifo() {
    auto& jobs = w_->sched.jobs;
    for (;;) {
      size_t k = 0;
      while (k < jobs.size() && !runnable(jobs[k])) ++k;
      if (k == jobs.size()) return;
      to_front(k);
      w_->sched.run_once();
      ++res_.jobs_run;
    }
  }

  size_t runnable_jobs() {
    size_t n = 0;
    for (auto* job : w_->sched.jobs) n += runnable(job);
    return n;
  }

  void ack(const caf::strong_actor_ptr& to, uint64_t seq) {
    caf::anon_send(caf::actor_cast<committed_sink>(to), committed_atom::value, seq);
  }

  //! Commits `count` of node i's pending batches if the fence lets it; else the node is fenced.
  void commit_node(size_t i, size_t count) {
    if (!store_.fence_holds(i, count)) {
      life_[i].ownership->fence("the fence refused a batch: its partitions are no longer this node's at its epochs");
      check_fenced(i);
      return;
    }
    store_.commit(i, count, [&](const caf::strong_actor_ptr& to, uint64_t seq) { ack(to, seq); });
  }

  void commit_all() {
    for (size_t i = 0; i < nodes_; ++i) {
      if (!runs(i)) continue;
      node(i)->link->storage_down.store(false);
      if (!store_.pending[i].empty()) commit_node(i, store_.pending[i].size());
    }
    run_jobs_fifo();
  }

  // Workload ------------------------------------------------------------------------------
  wallet_id any_user() { return users_[rng_() % users_.size()]; }
  wallet_id any_merchant() { return merchants_[rng_() % merchants_.size()]; }

  order_command next_command() {
    order_command c;
    c.tenant = tenant;
    c.cur = usd;
    c.request_id = "r" + std::to_string(++request_seq_);
    c.amount = 1 + static_cast<int64_t>(rng_() % 500);
    uint32_t k = static_cast<uint32_t>(rng_() % 100);
    if (k < 25) {
      c.kind = order_kind::top_up;
      c.destination = rng_() % 4 == 0 ? any_merchant() : any_user();
      c.channel = pick_channel(rng_(), 3);
      c.amount *= 4;
    } else if (k < 45) {
      c.kind = order_kind::pay;
      c.source = any_user();
      c.destination = any_merchant();
      if (rng_() % 3 == 0) {
        c.fee_wallet = fee_;
        c.fee_amount = c.amount / 10;
      }
    } else if (k < 55) {
      c.kind = order_kind::withdraw;
      c.source = any_user();
      c.channel = pick_channel(rng_(), 2);
    } else if (k < 75) {
      c.kind = order_kind::transfer;
      c.source = any_user();
      c.destination = any_user();
      if (c.destination == c.source) c.destination = users_[(std::find(users_.begin(), users_.end(), c.source) - users_.begin() + 1) % users_.size()];
    } else if (k < 90 && !payments_.empty()) {
      c.kind = order_kind::refund;
      auto [id, amount] = payments_[rng_() % payments_.size()];
      c.original_order = id;
      c.amount = 1 + static_cast<int64_t>(rng_() % static_cast<uint64_t>(amount));
    } else {
      c.kind = order_kind::commission;
      c.source = fee_;
      c.destination = any_merchant();
      c.amount = 1 + c.amount / 5;
    }
    return c;
  }

  void submit(const std::string& request_id, const order_command& c) {
    request_state& r = requests_[request_id];
    r.last_sent_ms = clock_.now_ms();
    // A cluster's client reaches any node that is up (a node down refuses the connection: the
    // client tries again later).
    size_t target = cluster() ? static_cast<size_t>(rng_() % nodes_) : 0;
    if (!up(target)) target = (target + 1) % nodes_;
    if (!up(target)) return;
    r.outstanding = true;
    uint64_t tag = ++tag_;
    tags_[tag] = request_id;
    const auto& hosts = node(target)->hosts;
    const order_host_actor& host = hosts[host_index(c.tenant, c.request_id, hosts.size())];
    caf::send_as(w_->client, host, submit_atom::value, std::vector<submit_item>{submit_item{tag, c}});
    ++res_.commands;
    trace("submit " + request_id + " kind " + std::string(to_string(c.kind)) + " amount " + std::to_string(c.amount) +
          (cluster() ? " to node " + std::to_string(target) : std::string()));
  }

  void new_command() {
    uint32_t k = static_cast<uint32_t>(rng_() % 100);
    if (k < 6 && !order_ids_.empty()) {
      // The same request id with the same content (a client's repeat).
      const std::string& id = order_ids_[rng_() % order_ids_.size()];
      submit(id, requests_[id].command);
      return;
    }
    if (k < 8 && !order_ids_.empty()) {
      // The same request id with other content: must be refused as a conflict.
      std::string id = order_ids_[rng_() % order_ids_.size()];
      order_command c = requests_[id].command;
      c.amount += 1;
      std::string key = id + "#conflict" + std::to_string(++conflict_seq_);
      requests_[key].command = c;
      requests_[key].conflicting = true;
      conflict_of_[key] = id;
      submit(key, c);
      return;
    }
    order_command c = next_command();
    requests_[c.request_id].command = c;
    order_ids_.push_back(c.request_id);
    submit(c.request_id, c);
  }
  //! A client resends what has no final answer yet (lost replies, refusals, crashes).
  void retry_one() {
    for (int tries = 0; tries < 8 && !order_ids_.empty(); ++tries) {
      const std::string& id = order_ids_[rng_() % order_ids_.size()];
      request_state& r = requests_[id];
      if (r.final_seen || r.settled || clock_.now_ms() - r.last_sent_ms < 2'000) continue;
      submit(id, r.command);
      return;
    }
  }

  void take_replies() {
    auto replies = std::move(w_->sink.replies);
    w_->sink.replies.clear();
    for (auto& reply : replies) {
      auto tag = tags_.find(reply.client_tag);
      if (tag == tags_.end()) continue;
      std::string key = tag->second;
      tags_.erase(tag);
      digest_.add(reply.id);
      digest_.add(static_cast<uint64_t>(reply.state));
      digest_.add(static_cast<uint64_t>(reply.code));
      request_state& r = requests_[key];
      r.outstanding = false;
      trace("reply " + key + " id " + std::to_string(reply.id) + " " + std::string(to_string(reply.state)) + " " +
            std::string(to_string(reply.code)));
      if (r.conflicting) {
        // Other content under a known request id: a conflict, or (its original not yet known
        // to the engine, e.g. refused or lost) an order of its own; never the original's order.
        const request_state& first = requests_[conflict_of_[key]];
        if (reply.id != 0 && first.final_seen && reply.id == first.final_reply.id)
          store_.violation("request id " + key + " with other content got the original order " + std::to_string(reply.id));
        continue;
      }
      if (reply.id == 0) {
        // Refused. Retryable: the client sends it again later. Otherwise (invalid, or a conflict:
        // another command took the request id first, e.g. this one was lost in a crash) settled.
        r.last_refusal = reply.code;
        if (!is_retryable(reply.code)) r.settled = true;
        continue;
      }
      if (!is_final(reply.state)) {
        store_.violation("request " + key + ": a reply that is not final (" + std::string(to_string(reply.state)) + ")");
        continue;
      }
      if (r.final_seen) {
        if (reply.id != r.final_reply.id || reply.state != r.final_reply.state ||
            reply.posted_amount != r.final_reply.posted_amount)
          store_.violation("acknowledged order changed: request " + key + " was order " + std::to_string(r.final_reply.id) +
                           " " + std::string(to_string(r.final_reply.state)) + ", now " + std::to_string(reply.id) + " " +
                           std::string(to_string(reply.state)));
        continue;
      }
      r.final_seen = true;
      r.final_reply = reply;
      ++res_.acknowledged;
      // Durable acks: what a client heard is committed.
      auto stored = store_.orders.find(reply.id);
      if (stored == store_.orders.end() || stored->second.state != reply.state ||
          stored->second.posted_amount != reply.posted_amount)
        store_.violation("acknowledged order " + std::to_string(reply.id) + " (" + key + ") is not committed as acknowledged");
      if (reply.kind == order_kind::pay && reply.state == order_state::succeeded && reply.posted_amount > 0)
        payments_.emplace_back(reply.id, reply.posted_amount);
    }
    // Acknowledged orders stay as acknowledged in the store (checked on every step: cheap).
    for (const auto& [key, r] : requests_) {
      if (!r.final_seen) continue;
      auto stored = store_.orders.find(r.final_reply.id);
      if (stored == store_.orders.end() || stored->second.state != r.final_reply.state) {
        store_.violation("acknowledged order " + std::to_string(r.final_reply.id) + " lost or changed in the store");
        break;
      }
    }
  }

  // Faults and events ------------------------------------------------------------------------
  struct held_message {
    caf::actor to;
    caf::strong_actor_ptr from;
    caf::message msg;
    uint64_t release_at_step;
  };

  template <class T>
  bool mangle(caf::mailbox_element& e, caf::scheduled_actor& actor, caf::atom_value atom, bool allow_delay) {
    return mangle_items<T>(e, actor, atom, allow_delay);
  }

  //! `(atom, vector<T>[, vector<Side>])`: dropped, duplicated or delayed as one message (a step
  //! message to another node's gateway carries the steps' fences beside them).
  template <class T, class Side = void>
  bool mangle_items(caf::mailbox_element& e, caf::scheduled_actor& actor, caf::atom_value atom, bool allow_delay) {
    auto& content = e.content();
    constexpr bool side = !std::is_void<Side>::value;
    if constexpr (side) {
      if (!content.match_elements<caf::atom_value, std::vector<T>, std::vector<Side>>()) return false;
    } else {
      if (!content.match_elements<caf::atom_value, std::vector<T>>()) return false;
    }
    if (content.get_as<caf::atom_value>(0) != atom) return false;
    auto& items = content.get_mutable_as<std::vector<T>>(1);
    if (items.empty()) return false;
    auto copy = [&](bool move) {
      if constexpr (side) {
        auto& more = content.get_mutable_as<std::vector<Side>>(2);
        return move ? caf::make_message(atom, std::move(items), std::move(more)) : caf::make_message(atom, items, more);
      } else {
        return move ? caf::make_message(atom, std::move(items)) : caf::make_message(atom, items);
      }
    };
    auto clear = [&] {
      items.clear();
      if constexpr (side) content.get_mutable_as<std::vector<Side>>(2).clear();
    };
    auto to = caf::actor_cast<caf::actor>(&actor);
    if (chance(p_drop_)) {
      ++res_.faults[fault_message_dropped];
      trace("drop " + caf::to_string(atom));
      clear();
      return true;
    }
    if (chance(p_dup_)) {
      ++res_.faults[fault_message_duplicated];
      trace("duplicate " + caf::to_string(atom));
      held_.push_back({to, e.sender, copy(false), steps_done_ + rng_() % 50});
      return true;
    }
    if (allow_delay && chance(p_delay_)) {
      ++res_.faults[fault_message_delayed];
      trace("delay " + caf::to_string(atom));
      held_.push_back({to, e.sender, copy(true), steps_done_ + rng_() % 400});
      clear();
      return true;
    }
    return false;
  }

  //! Steps to another node's gateway (with their fences) lose their items.
  static bool clear_fenced_steps(caf::type_erased_tuple& content) {
    if (!content.match_elements<caf::atom_value, std::vector<leg_step>, std::vector<step_fence>>() ||
        content.get_as<caf::atom_value>(0) != steps_atom::value)
      return false;
    content.get_mutable_as<std::vector<leg_step>>(1).clear();
    content.get_mutable_as<std::vector<step_fence>>(2).clear();
    return true;
  }

  //! A message of these types loses its items (the link between the nodes is cut).
  template <class T>
  static bool clear_items(caf::type_erased_tuple& content, caf::atom_value atom) {
    if (!content.match_elements<caf::atom_value, std::vector<T>>() || content.get_as<caf::atom_value>(0) != atom)
      return false;
    content.get_mutable_as<std::vector<T>>(1).clear();
    return true;
  }

  void maybe_fault_message(caf::resumable* job) {
    auto* actor = dynamic_cast<caf::scheduled_actor*>(job);
    if (actor == nullptr) return;
    caf::mailbox_element* e = actor->mailbox().peek();
    if (e == nullptr) return;
    digest_.add(actor->id());
    digest_.add(e->content().type_token());
    if (cluster() && cut_until_ms_ > clock_.now_ms() && e->sender) {
      // The link is cut: what one node's actors send the other's is lost (steps, their answers,
      // forwarded submits and their replies).
      int to = node_of_actor(actor->id()), from = node_of_actor(e->sender->id());
      if (to >= 0 && from >= 0 && to != from) {
        auto& content = e->content();
        if (clear_items<leg_step>(content, steps_atom::value) || clear_fenced_steps(content) ||
            clear_items<leg_result>(content, step_ack_atom::value) ||
            clear_items<submit_item>(content, forward_atom::value) ||
            clear_items<order_reply>(content, replies_atom::value))
          trace("cut: a message from node " + std::to_string(from) + " to node " + std::to_string(to) + " lost");
        return;
      }
    }
    if (steps_done_ < outage_until_step_) {
      auto& content = e->content();
      if (content.match_elements<caf::atom_value, std::vector<channel_request>>() &&
          content.get_as<caf::atom_value>(0) == channel_atom::value)
        content.get_mutable_as<std::vector<channel_request>>(1).clear();
      if (content.match_elements<caf::atom_value, std::vector<channel_response>>() &&
          content.get_as<caf::atom_value>(0) == chan_ack_atom::value)
        content.get_mutable_as<std::vector<channel_response>>(1).clear();
    }
    if (mangle<leg_step>(*e, *actor, steps_atom::value, true)) return;
    if (mangle_items<leg_step, step_fence>(*e, *actor, steps_atom::value, true)) return;
    if (mangle<leg_result>(*e, *actor, step_ack_atom::value, true)) return;
    if (mangle<channel_request>(*e, *actor, channel_atom::value, true)) return;
    if (mangle<channel_response>(*e, *actor, chan_ack_atom::value, true)) return;
    if (cluster() && mangle<submit_item>(*e, *actor, forward_atom::value, true)) return;
    if (actor->id() == w_->client.id() && chance(p_reply_lost_)) {
      auto& content = e->content();
      if (content.match_elements<caf::atom_value, std::vector<order_reply>>()) {
        ++res_.faults[fault_reply_lost];
        content.get_mutable_as<std::vector<order_reply>>(1).clear();
      }
    }
  }

  void release_held(bool all) {
    for (size_t i = 0; i < held_.size();) {
      if (all || held_[i].release_at_step <= steps_done_) {
        held_message h = std::move(held_[i]);
        held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(i));
        if (h.to) h.to->enqueue(h.from, caf::make_message_id(), std::move(h.msg), nullptr);
      } else {
        ++i;
      }
    }
  }

  void run_one_job(bool faults) {
    auto& jobs = w_->sched.jobs;
    std::vector<size_t> ready;
    for (size_t k = 0; k < jobs.size(); ++k)
      if (runnable(jobs[k])) ready.push_back(k);
    if (ready.empty()) return;
    to_front(faults ? ready[rng_() % ready.size()] : ready.front());
    if (faults) maybe_fault_message(jobs.front());
    else if (auto* a = dynamic_cast<caf::scheduled_actor*>(jobs.front())) digest_.add(a->id());
    digest_.add(static_cast<uint64_t>(clock_.now_ms()));
    w_->sched.run_once();
    ++res_.jobs_run;
  }

  void commit_step(bool faults) {
    std::vector<size_t> writers;
    for (size_t i = 0; i < nodes_; ++i)
      if (runs(i) && !store_.pending[i].empty()) writers.push_back(i);
    if (writers.empty()) return;
    size_t i = writers[rng_() % writers.size()];
    storage_link& link = *node(i)->link;
    if (faults && (store_.down || chance(p_commit_fail_))) {
      // The commit fails: nothing of it is kept, the writer retries (the rows stay pending);
      // new commands are refused meanwhile.
      ++res_.faults[fault_commit_failed];
      link.storage_down.store(true);
      trace("commit failed");
      return;
    }
    link.storage_down.store(false);
    size_t pending = store_.pending[i].size();
    size_t count = faults ? 1 + static_cast<size_t>(rng_() % pending) : pending;
    trace("commit " + std::to_string(count) + " of " + std::to_string(pending) +
          (cluster() ? " of node " + std::to_string(i) : std::string()));
    commit_node(i, count);
  }

  //! Every node's process dies at once (a power cut); they start again a moment later.
  void crash() {
    ++res_.faults[fault_crash];
    trace("crash: " + std::to_string(store_.pending_batches()) + " uncommitted batches lost");
    held_.clear();
    for (size_t i = 0; i < nodes_; ++i) stop_node(i);
    clock_.clear();
    // A restart takes time: the new engine's clock (and so its order ids) starts later. A cluster
    // node's restart also waits for its previous registration to expire.
    int64_t by = 1 + static_cast<int64_t>(rng_() % 3'000);
    if (cluster()) by += rules_.ttl_ms;
    clock_.advance(by);
    time_moved();
    tags_.clear();
    if (!cluster()) start_all();  // a cluster's nodes start in time_moved, each once it may join
  }

  //! Cluster faults: one node killed (restarted later), stopped (maybe past its leases), or the
  //! link between the nodes cut.
  bool cluster_fault() {
    size_t i = static_cast<size_t>(rng_() % nodes_);
    if (chance(p_node_crash_) && up(i)) {
      ++res_.faults[fault_node_crash];
      trace("node " + std::to_string(i) + " killed");
      stop_node(i);
      life_[i].restart_at_ms = clock_.now_ms() + 1 + static_cast<int64_t>(rng_() % 6'000);
      return true;
    }
    if (chance(p_node_pause_) && runs(i)) {
      ++res_.faults[fault_node_pause];
      int64_t ms = 500 + static_cast<int64_t>(rng_() % 8'000);
      trace("node " + std::to_string(i) + " paused for " + std::to_string(ms) + " ms");
      life_[i].paused_since_ms = clock_.now_ms();
      life_[i].paused_until_ms = clock_.now_ms() + ms;
      ++links_generation_;
      return true;
    }
    if (chance(p_link_cut_) && cut_until_ms_ == 0) {
      ++res_.faults[fault_link_cut];
      int64_t ms = 500 + static_cast<int64_t>(rng_() % 8'000);
      trace("link cut for " + std::to_string(ms) + " ms");
      cut_since_ms_ = clock_.now_ms();
      cut_until_ms_ = clock_.now_ms() + ms;
      return true;
    }
    return false;
  }

  void one_step(bool faults) {
    ++steps_done_;
    release_held(false);
    uint32_t k = static_cast<uint32_t>(rng_() % 1000);
    if (faults && chance(p_crash_)) return crash();
    if (faults && cluster() && cluster_fault()) return;
    if (faults && chance(p_jump_)) {
      ++res_.faults[fault_clock_jump];
      // At most 25 s by default: a wallet forgets a finished TCC record 30 s after it finished, and
      // a confirm whose answer was lost and whose repeat comes later than that is refused forever
      // (docs/simulation.md, "What it found"); --long-pauses allows jumps of up to a minute.
      int64_t by = 1'000 + static_cast<int64_t>(rng_() % (opt_.long_pauses ? 60'000 : 24'000));
      trace("clock jump +" + std::to_string(by));
      // The whole machine was stopped: every node's timers fire late. The engine catches up at
      // the new time before anything else happens (without --long-pauses: two jumps in a row
      // would make one longer than the record retention); a cluster's lease rounds run after.
      clock_.advance(by);
      if (!opt_.long_pauses) run_jobs_fifo();
      time_moved();
      return;
    }
    if (k < 40) {
      if (faults) new_command();
    } else if (k < 55) {
      if (faults) retry_one();
    } else if (k < 120) {
      if (faults && store_.pending_batches() != 0 && rng_() % 4 == 0) ++res_.faults[fault_commit_slow];
      else commit_step(faults);
    } else if (k < 160 || runnable_jobs() == 0) {
      int64_t next = clock_.next_due_ms();
      int64_t by = 1 + static_cast<int64_t>(rng_() % 40);
      if (next != manual_clock::never && next - clock_.now_ms() < by) advance_to(next);
      else advance(by);
    } else {
      run_one_job(faults);
    }
    if (faults && chance(p_outage_)) {
      // A provider outage: for a while nothing reaches the providers and nothing comes back.
      ++res_.faults[fault_provider_outage];
      outage_until_step_ = steps_done_ + 50 + rng_() % 500;
      trace("provider outage until step " + std::to_string(outage_until_step_));
    }
  }

  bool all_up() {
    for (size_t i = 0; i < nodes_; ++i)
      if (!runs(i)) return false;
    return true;
  }

  //! Faults stop; the client keeps resending what has no final answer; time moves on until
  //! every node runs and everything is final and committed.
  void quiesce() {
    release_held(true);
    for (size_t i = 0; i < nodes_; ++i) {
      if (paused(i)) life_[i].paused_until_ms = clock_.now_ms();
      if (up(i)) node(i)->link->storage_down.store(false);
    }
    if (cut_until_ms_ != 0) cut_until_ms_ = clock_.now_ms();
    time_moved();
    int64_t until = clock_.now_ms() + 3'600'000;
    for (int round = 0; round < 100000 && store_.violations.empty(); ++round) {
      run_jobs_fifo();
      commit_all();
      take_replies();
      bool all_final = true;
      for (const auto& id : order_ids_) {
        request_state& r = requests_[id];
        if (r.final_seen || r.settled) continue;
        all_final = false;
        if (!r.outstanding || clock_.now_ms() - r.last_sent_ms > 5'000) submit(id, r.command);
      }
      run_jobs_fifo();
      commit_all();
      take_replies();
      if (all_final && all_up() && w_->sched.jobs.empty() && store_.pending_batches() == 0 && open_in_store() == 0) {
        if (in_flight() == 0) return;
      }
      if (clock_.now_ms() > until) {
        std::string open;
        size_t listed = 0;
        for (const auto& [id, o] : store_.orders)
          if (!is_final(o.state) && ++listed <= 5)
            open += " " + std::to_string(id) + " (" + std::string(to_string(o.command.kind)) + " " +
                    std::string(to_string(o.state)) + " posted " + std::to_string(o.posted_amount) + " legs " +
                    o.legs_json + ")";
        std::string waiting;
        size_t unanswered = 0;
        for (const auto& id : order_ids_) {
          const request_state& r = requests_[id];
          if (r.final_seen || r.settled) continue;
          if (++unanswered <= 5) waiting += " " + id + " (" + std::string(to_string(r.command.kind)) + ", last refused " +
                                            std::string(to_string(r.last_refusal)) + ")";
        }
        store_.violation("no quiescence within an hour of virtual time: " + std::to_string(open_in_store()) +
                         " orders not final in the store:" + open + ", " + std::to_string(in_flight()) +
                         " in flight in the hosts, " + std::to_string(unanswered) + " requests without a final answer:" +
                         waiting + (all_up() ? "" : ", a node is not running") + gateways());
        return;
      }
      int64_t next = clock_.next_due_ms();
      advance_to(std::min(next == manual_clock::never ? clock_.now_ms() + 1'000 : next, clock_.now_ms() + 1'000));
    }
  }

  //! What each node's wallet gateway did (a failure's report).
  std::string gateways() {
    std::string out;
    for (size_t i = 0; i < nodes_; ++i)
      if (up(i) && node(i)->gateway_counters) {
        const auto& c = *node(i)->gateway_counters;
        out += "; node " + std::to_string(i) + "'s gateway: steps " + std::to_string(c.steps.load()) + ", answered " +
               std::to_string(c.answered.load()) + ", barriers " + std::to_string(c.barriers.load()) + ", not local " +
               std::to_string(c.not_local.load()) + ", stale " + std::to_string(c.stale.load()) + ", dropped " +
               std::to_string(c.dropped.load());
      }
    return out;
  }

  size_t open_in_store() const {
    size_t open = 0;
    for (const auto& [id, o] : store_.orders) open += !is_final(o.state);
    return open;
  }

  uint64_t in_flight() {
    w_->sink.stats.clear();
    std::vector<order_host_actor> hosts;
    for (size_t i = 0; i < nodes_; ++i)
      if (up(i)) hosts.insert(hosts.end(), node(i)->hosts.begin(), node(i)->hosts.end());
    caf::anon_send(w_->client, stats_atom::value, hosts);
    run_jobs_fifo();
    uint64_t n = 0;
    for (const auto& s : w_->sink.stats) n += s.in_flight;
    return n;
  }

  void finish() {
    // At quiescence: every order final, money conserved, memory equal to what is committed.
    if (store_.violations.empty()) {
      std::map<wallet_id, balances> memory;
      for (size_t i = 0; i < nodes_; ++i) {
        if (!up(i)) continue;
        w_->sink.views.clear();
        caf::anon_send(w_->client, audit_atom::value, node(i)->directory->shards());
        run_jobs_fifo();
        for (const auto& v : w_->sink.views) {
          if (cluster() && !life_[i].ownership->owns(v.info.id))
            store_.violation("wallet " + std::to_string(v.info.id) + " is in the memory of node " + std::to_string(i) +
                             ", which does not hold its partition");
          if (!memory.emplace(v.info.id, v.current).second)
            store_.violation("wallet " + std::to_string(v.info.id) + " is in the memory of two nodes");
          if (v.open_transactions != 0)
            store_.violation("wallet " + std::to_string(v.info.id) + " has open transactions at quiescence");
          if (!v.journal_ok) store_.violation("wallet " + std::to_string(v.info.id) + ": journal does not replay");
        }
      }
      int64_t sum = 0;
      for (const auto& [id, row] : store_.wallets) {
        balances b = row.current;
        if (auto m = memory.find(id); m != memory.end()) {
          if (m->second != b)
            store_.violation("wallet " + std::to_string(id) + ": memory and store differ at quiescence");
          b = m->second;
        }
        sum += b.available + b.frozen + b.incoming;
        if (row.info.kind != wallet_kind::system && b.available < -row.info.overdraft_limit)
          store_.violation("wallet " + std::to_string(id) + " below its limit");
        if (b.frozen != 0 || b.incoming != 0)
          store_.violation("wallet " + std::to_string(id) + " holds frozen or incoming money at quiescence");
      }
      if (sum != 0) store_.violation("money not conserved: USD sums to " + std::to_string(sum));
      for (const auto& [key, t] : store_.tcc)
        if (t.record.state == tcc_record_state::tried)
          store_.violation("TCC record still tried at quiescence (wallet " + std::to_string(key.first) + ", order " +
                           std::to_string(key.second) + ")");
      // Every partition has one owner that serves it at the lease's epoch.
      for (const auto& l : store_.leases)
        if (l.owner == no_node || !up(l.owner - 1) || life_[l.owner - 1].ownership->epoch(l.partition) != l.epoch)
          store_.violation("partition " + std::to_string(l.partition) + " has no node serving it at quiescence");
    }
    for (const auto& [id, o] : store_.orders) {
      ++res_.orders_by_state[std::string(to_string(o.state))];
      res_.routed += o.command.channel == 0 && !o.route.empty();
      res_.rerouted += o.route.find(',') != std::string::npos;
    }
    res_.violations = store_.violations;
    res_.virtual_ms = clock_.now_ms() - start_ms;
    digest_.add(static_cast<uint64_t>(res_.virtual_ms));
    res_.digest = digest_.h;
    for (size_t i = 0; i < nodes_; ++i) stop_node(i);
    w_.reset();
  }

  sim_options opt_;
  std::mt19937_64 rng_;
  sim_result res_;
  digest digest_;
  manual_clock clock_{start_ms};
  int64_t caf_now_ms_ = start_ms;  //!< where CAF's test clock (request deadlines) stands
  sim_store store_;
  order_config order_;
  wallet_actor_config wallet_;
  std::vector<std::pair<channel_id, channel_config>> channels_;
  std::shared_ptr<const channel_router> router_;
  //! Provider 2 for one draw in `one_in`, else 1; of the draws for 2, half leave the choice to
  //! the engine's route (channel 0: 2 first, then 1 after a declared decline). One draw, as
  //! before routing, so a seed's other choices stay.
  static channel_id pick_channel(uint64_t draw, uint64_t one_in) {
    if (draw % one_in != 0) return 1;
    return (draw / one_in) % 2 == 0 ? 0 : 2;
  }
  std::unique_ptr<world> w_;
  size_t nodes_ = 1;
  std::array<node_life, nodes_max> life_{};
  std::unordered_map<caf::actor_id, int> actor_node_;
  lease_rules rules_;
  int64_t round_interval_ms_ = 1'000;
  uint64_t incarnations_ = 0;
  uint64_t links_generation_ = 0;
  uint32_t links_seen_ = 0;
  int64_t cut_since_ms_ = 0, cut_until_ms_ = 0;
  uint32_t p_node_crash_ = 0, p_node_pause_ = 0, p_link_cut_ = 0;
  uint32_t p_outage_ = 0;
  uint64_t outage_until_step_ = 0;
  uint32_t p_commit_fail_ = 0, p_drop_ = 0, p_dup_ = 0, p_delay_ = 0, p_reply_lost_ = 0, p_crash_ = 0, p_jump_ = 0;
  std::vector<wallet_id> users_, merchants_;
  wallet_id fee_ = no_wallet;
  std::map<std::string, request_state> requests_;
  std::vector<std::string> order_ids_;  //!< request ids of new commands (not the conflicting ones)
  std::map<std::string, std::string> conflict_of_;
  std::unordered_map<uint64_t, std::string> tags_;
  std::vector<std::pair<order_id, int64_t>> payments_;
  std::vector<held_message> held_;
  uint64_t request_seq_ = 0, conflict_seq_ = 0, tag_ = 0, steps_done_ = 0;
};

}  // namespace

std::string sim_result::json() const {
  std::ostringstream o;
  o << "{\"seed\":" << seed << ",\"steps\":" << steps << ",\"jobs\":" << jobs_run << ",\"virtual_ms\":" << virtual_ms
    << ",\"commands\":" << commands << ",\"acknowledged\":" << acknowledged << ",\"faults\":{";
  for (size_t i = 0; i < fault_kinds; ++i) o << (i ? "," : "") << "\"" << fault_name(i) << "\":" << faults[i];
  o << "},\"orders_by_state\":{";
  bool first = true;
  for (const auto& [state, n] : orders_by_state) {
    o << (first ? "" : ",") << "\"" << state << "\":" << n;
    first = false;
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(digest));
  o << "},\"routed\":" << routed << ",\"rerouted\":" << rerouted;
  o << ",\"digest\":\"" << hex << "\",\"ok\":" << (ok() ? "true" : "false") << ",\"violations\":[";
  for (size_t i = 0; i < violations.size(); ++i) {
    std::string v;
    for (char c : violations[i]) v += (c == '"' || c == '\\') ? '\'' : c;
    o << (i ? "," : "") << "\"" << v << "\"";
  }
  o << "]}";
  return o.str();
}

sim_result run_seed(const sim_options& options) { return simulation(options).run(); }

}  // namespace txengine::sim
