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
#include "core/routing.hpp"
#include "core/test_hooks.hpp"
#include "ports/actor_interfaces.hpp"
#include "ports/clock.hpp"
#include "ports/messages.hpp"
#include "ports/storage_config.hpp"
#include "ports/storage_link.hpp"
#include "ports/storage_messages.hpp"
#include "ports/storage_rows.hpp"

namespace txengine::sim {

const char* fault_name(size_t kind) {
  static const char* names[] = {"commit_failed",  "commit_slow",  "message_dropped", "message_duplicated",
                                "message_delayed", "reply_lost",  "crash",           "clock_jump",
                                "load_failed",    "provider_outage"};
  return kind < fault_kinds ? names[kind] : "?";
}

namespace {

const currency usd = *currency::parse("USD");
constexpr tenant_id tenant = 1;
constexpr int64_t start_ms = 1'750'000'000'000;

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
  };
  std::map<wallet_id, wallet_row> wallets;  //!< effective rows: balances and version from the newest movement
  std::map<std::pair<wallet_id, order_id>, tcc_row> tcc;
  std::map<order_id, order_row> orders;
  std::map<std::pair<tenant_id, std::string>, order_id> requests;
  std::map<order_id, std::vector<order_id>> refunds_of;
  std::map<std::pair<wallet_id, order_id>, leg_trace> traces;
  std::map<order_id, int64_t> net;  //!< the sum of an order's committed movements
  std::deque<pending_batch> pending;
  std::vector<std::string> violations;
  storage_link* link = nullptr;  //!< of the engine running now
  uint64_t generation = 0;       //!< of the engine running now: a dead engine's messages are ignored
  bool trace = false;            //!< prints every committed row (--trace)
  bool down = false;             //!< commits fail (an outage)
  uint32_t load_fail_ppm = 0;
  std::mt19937_64* rng = nullptr;
  uint64_t* load_failures = nullptr;

  void violation(std::string what) {
    if (violations.size() < 50) violations.push_back(std::move(what));
  }

  //! Commits the first `count` pending batches as one transaction; acknowledges them.
  void commit(size_t count, const std::function<void(const caf::strong_actor_ptr&, uint64_t)>& ack) {
    count = std::min(count, pending.size());
    std::vector<std::pair<wallet_id, order_id>> moved;
    std::set<order_id> touched;
    // In the order of the batches (not by pointer: a run must not depend on addresses).
    std::vector<std::pair<caf::strong_actor_ptr, uint64_t>> acks;
    int64_t rows = 0;
    for (size_t i = 0; i < count; ++i) {
      pending_batch p = std::move(pending.front());
      pending.pop_front();
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
    if (link != nullptr) {
      link->rows_queued.fetch_sub(rows);
      link->batches_committed.fetch_add(1);
    }
    for (const auto& [sender, seq] : acks) ack(sender, seq);
  }

  void apply_order(const order_row& o) {
    if (trace)
      std::fprintf(stderr, "  committed order %llu %s %s request %s created %lld\n", (unsigned long long)o.id,
                   std::string(to_string(o.command.kind)).c_str(), std::string(to_string(o.state)).c_str(),
                   o.command.request_id.c_str(), (long long)(o.created_ms - start_ms));
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

  std::vector<recovered_order> open_orders() const {
    std::vector<recovered_order> out;
    for (const auto& [id, o] : orders) {
      if (is_final(o.state)) continue;
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
    writer_actor::extend_with<wallet_loader_actor, order_loader_actor>::extend<caf::reacts_to<uint64_t>>;

store_actor::behavior_type store_behavior(store_actor::pointer self, sim_store* store) {
  const uint64_t generation = store->generation;
  // A crashed engine's last messages never reach the store (it died with them).
  self->set_default_handler(caf::drop);
  return {
      [=](persist_atom, write_batch& b) {
        if (store->generation == generation) store->pending.push_back({self->current_sender(), std::move(b)});
      },
      [=](sync_atom) { return store->pending.empty(); },
      [=](sync_atom, checkpoint_all_atom) { return store->pending.empty(); },
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
        std::vector<std::vector<recovered_order>> by_host(hosts.size());
        for (auto& r : store->open_orders())
          by_host[host_index(r.command.tenant, r.command.request_id, hosts.size())].push_back(std::move(r));
        for (size_t h = 0; h < hosts.size(); ++h)
          if (!by_host[h].empty()) self->send(hosts[h], recover_atom::value, std::move(by_host[h]));
        for (const auto& host : hosts) self->send(host, recovered_atom::value);
      },
      [=](recover_atom, const std::vector<uint32_t>&) {},  // a cluster's takeover: the simulator runs one node
      [=](uint64_t) {},  // a host's count of resumed orders
      [=](history_atom, const history_page_request&) { return history_page{true, {}}; },
      [=](history_atom, const order_history_request&) { return order_history{true, {}}; },
  };
}

// -- the client -------------------------------------------------------------------------

struct client_sink {
  std::vector<order_reply> replies;
  std::vector<wallet_view> views;
  std::vector<host_stats> stats;
  size_t waiting = 0;
};

caf::behavior client_behavior(caf::event_based_actor* self, client_sink* sink, std::vector<wallet_shard_actor> shards,
                              std::vector<order_host_actor> hosts) {
  return {
      [=](replies_atom, std::vector<order_reply>& replies) {
        for (auto& r : replies) sink->replies.push_back(std::move(r));
      },
      [=](audit_atom) {
        for (const auto& shard : shards) {
          ++sink->waiting;
          self->request(shard, caf::infinite, audit_atom::value)
              .then([=](std::vector<wallet_view>& views) {
                for (auto& v : views) sink->views.push_back(std::move(v));
                --sink->waiting;
              });
        }
      },
      [=](stats_atom) {
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

// -- one life of the engine ----------------------------------------------------------------

class sim_caf_config : public caf::actor_system_config {
 public:
  sim_caf_config() {
    set("scheduler.policy", caf::atom("testing"));
    set("logger.console-verbosity", caf::atom("quiet"));
  }
};

struct world {
  sim_caf_config cfg;
  caf::actor_system sys{cfg};
  caf::scheduler::test_coordinator& sched = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  std::unique_ptr<storage_link> link = std::make_unique<storage_link>();
  std::unique_ptr<wallet_directory> directory;
  std::vector<order_host_actor> hosts;
  std::vector<std::pair<channel_id, channel_actor>> channels;
  store_actor store;
  caf::actor client;
  client_sink sink;

  world(sim_store& st, manual_clock& clock, const order_config& order, const wallet_actor_config& wallet_config,
        const std::vector<std::pair<channel_id, channel_config>>& channel_configs) {
    link->config.ack = ack_mode::durable;
    link->orders_at_start = st.orders.size();
    st.link = link.get();
    store = sys.spawn(store_behavior, &st);
    link->writer = store;
    link->loader = store;
    link->order_loader = store;
    wallet_actor_config wc = wallet_config;
    wc.clock = &clock;
    directory = std::make_unique<wallet_directory>(sys, wc, 3, link.get());
    wallet_id max_id = 0;
    std::vector<std::tuple<tenant_id, uint32_t, wallet_id>> systems;
    for (const auto& [id, row] : st.wallets) {
      max_id = std::max(max_id, id);
      if (row.info.kind == wallet_kind::system) systems.emplace_back(row.info.tenant, row.info.cur.packed(), id);
    }
    if (max_id != 0) directory->restore_ids(max_id, systems);
    for (uint32_t lane = 0; lane < 2; ++lane) {
      order_host_config hc;
      hc.lane = lane;
      hc.order = order;
      hc.storage = link.get();
      hc.clock = &clock;
      hc.orders_in_flight_max = 1000;
      hosts.push_back(spawn_order_host(sys, hc, directory.get()));
    }
    for (const auto& [id, cc] : channel_configs) {
      auto channel = spawn_simulated_channel(sys, cc, &clock);
      set_channel_hosts(channel, hosts);
      channels.emplace_back(id, channel);
    }
    host_peers peers{hosts, channels};
    for (const auto& host : hosts) set_host_peers(host, peers);
    client = sys.spawn(client_behavior, &sink, directory->shards(), hosts);
    if (link->orders_at_start > 0) caf::anon_send(store, recover_atom::value, hosts);
  }

  //! Every actor of this life ends (a crash: nothing of their memory is kept).
  void shut_down() {
    std::vector<caf::actor> all;
    for (const auto& h : hosts) all.push_back(caf::actor_cast<caf::actor>(h));
    for (const auto& [id, c] : channels) all.push_back(caf::actor_cast<caf::actor>(c));
    for (const auto& s : directory->shards()) all.push_back(caf::actor_cast<caf::actor>(s));
    all.push_back(caf::actor_cast<caf::actor>(store));
    all.push_back(client);
    for (const auto& a : all) caf::anon_send_exit(a, caf::exit_reason::kill);
    while (sched.try_run_once()) {
    }
    hosts.clear();
    channels.clear();
    directory.reset();
    while (sched.try_run_once()) {
    }
    store = store_actor();
    client = caf::actor();
    link->writer = writer_actor();
    link->loader = wallet_loader_actor();
    link->order_loader = order_loader_actor();
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
    channels_ = {{1, good}, {2, bad}};
    if (opt_.broken == broken_rule::anti_hanging) p_delay_ = std::max<uint32_t>(p_delay_, 20'000);
  }

  sim_result run() {
    test_hooks::broken = static_cast<uint8_t>(opt_.broken);
    start_world();
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
  uint32_t ppm() { return static_cast<uint32_t>(rng_() % 1'000'000); }
  bool chance(uint32_t p) { return p != 0 && ppm() < p; }
  void trace(const std::string& what) {
    if (opt_.trace) std::fprintf(stderr, "[%lld] %s\n", static_cast<long long>(clock_.now_ms() - start_ms), what.c_str());
  }

  void start_world() {
    w_ = std::make_unique<world>(store_, clock_, order_, wallet_, channels_);
  }

  void setup_wallets() {
    auto create = [&](wallet_kind kind) {
      result_code code;
      wallet_id id = w_->directory->create(tenant, usd, kind, 0, code);
      return id;
    };
    for (int i = 0; i < 6; ++i) users_.push_back(create(wallet_kind::user));
    for (int i = 0; i < 3; ++i) merchants_.push_back(create(wallet_kind::merchant));
    fee_ = create(wallet_kind::fee);
    w_->directory->system_wallet(tenant, usd);
    run_jobs_fifo();
    commit_all();
  }

  void run_jobs_fifo() {
    while (w_->sched.try_run_once()) ++res_.jobs_run;
  }

  void commit_all() {
    store_.commit(store_.pending.size(), [&](const caf::strong_actor_ptr& to, uint64_t seq) {
      caf::anon_send(caf::actor_cast<committed_sink>(to), committed_atom::value, seq);
    });
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
      c.channel = rng_() % 3 == 0 ? 2 : 1;
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
      c.channel = rng_() % 2 == 0 ? 2 : 1;
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
    r.outstanding = true;
    uint64_t tag = ++tag_;
    tags_[tag] = request_id;
    const order_host_actor& host = w_->hosts[host_index(c.tenant, c.request_id, w_->hosts.size())];
    caf::send_as(w_->client, host, submit_atom::value, std::vector<submit_item>{submit_item{tag, c}});
    ++res_.commands;
    trace("submit " + request_id + " kind " + std::string(to_string(c.kind)) + " amount " + std::to_string(c.amount));
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
    auto& content = e.content();
    if (!content.match_elements<caf::atom_value, std::vector<T>>() || content.get_as<caf::atom_value>(0) != atom)
      return false;
    auto& items = content.get_mutable_as<std::vector<T>>(1);
    if (items.empty()) return false;
    auto to = caf::actor_cast<caf::actor>(&actor);
    if (chance(p_drop_)) {
      ++res_.faults[fault_message_dropped];
      trace("drop " + caf::to_string(atom));
      items.clear();
      return true;
    }
    if (chance(p_dup_)) {
      ++res_.faults[fault_message_duplicated];
      trace("duplicate " + caf::to_string(atom));
      held_.push_back({to, e.sender, caf::make_message(atom, items), steps_done_ + rng_() % 50});
      return true;
    }
    if (allow_delay && chance(p_delay_)) {
      ++res_.faults[fault_message_delayed];
      trace("delay " + caf::to_string(atom));
      held_.push_back({to, e.sender, caf::make_message(atom, std::move(items)), steps_done_ + rng_() % 400});
      items.clear();
      return true;
    }
    return false;
  }

  void maybe_fault_message(caf::resumable* job) {
    auto* actor = dynamic_cast<caf::scheduled_actor*>(job);
    if (actor == nullptr) return;
    caf::mailbox_element* e = actor->mailbox().peek();
    if (e == nullptr) return;
    digest_.add(actor->id());
    digest_.add(e->content().type_token());
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
    if (mangle<leg_result>(*e, *actor, step_ack_atom::value, true)) return;
    if (mangle<channel_request>(*e, *actor, channel_atom::value, true)) return;
    if (mangle<channel_response>(*e, *actor, chan_ack_atom::value, true)) return;
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
    if (jobs.empty()) return;
    size_t pick = faults ? static_cast<size_t>(rng_() % jobs.size()) : 0;
    if (pick != 0) std::rotate(jobs.begin(), jobs.begin() + static_cast<std::ptrdiff_t>(pick),
                               jobs.begin() + static_cast<std::ptrdiff_t>(pick) + 1);
    if (faults) maybe_fault_message(jobs.front());
    else if (auto* a = dynamic_cast<caf::scheduled_actor*>(jobs.front())) digest_.add(a->id());
    digest_.add(static_cast<uint64_t>(clock_.now_ms()));
    w_->sched.run_once();
    ++res_.jobs_run;
  }

  void commit_step(bool faults) {
    if (store_.pending.empty()) return;
    if (faults && (store_.down || chance(p_commit_fail_))) {
      // The commit fails: nothing of it is kept, the writer retries (the rows stay pending);
      // new commands are refused meanwhile.
      ++res_.faults[fault_commit_failed];
      w_->link->storage_down.store(true);
      trace("commit failed");
      return;
    }
    w_->link->storage_down.store(false);
    size_t count = faults ? 1 + static_cast<size_t>(rng_() % store_.pending.size()) : store_.pending.size();
    trace("commit " + std::to_string(count) + " of " + std::to_string(store_.pending.size()));
    store_.commit(count, [&](const caf::strong_actor_ptr& to, uint64_t seq) {
      caf::anon_send(caf::actor_cast<committed_sink>(to), committed_atom::value, seq);
    });
  }

  void crash() {
    ++res_.faults[fault_crash];
    trace("crash: " + std::to_string(store_.pending.size()) + " uncommitted batches lost");
    ++store_.generation;
    store_.pending.clear();
    held_.clear();
    w_->shut_down();
    w_.reset();
    store_.pending.clear();
    clock_.clear();
    // A restart takes time: the new engine's clock (and so its order ids) starts later.
    clock_.advance(1 + static_cast<int64_t>(rng_() % 3'000));
    for (auto& [key, r] : requests_) r.outstanding = false;
    tags_.clear();
    start_world();
  }

  void one_step(bool faults) {
    ++steps_done_;
    release_held(false);
    uint32_t k = static_cast<uint32_t>(rng_() % 1000);
    if (faults && chance(p_crash_)) return crash();
    if (faults && chance(p_jump_)) {
      ++res_.faults[fault_clock_jump];
      // At most 25 s by default: a wallet forgets a finished TCC record 30 s after it finished, and
      // a confirm whose answer was lost and whose repeat comes later than that is refused forever
      // (docs/simulation.md, "What it found"); --long-pauses allows jumps of up to a minute.
      int64_t by = 1'000 + static_cast<int64_t>(rng_() % (opt_.long_pauses ? 60'000 : 24'000));
      trace("clock jump +" + std::to_string(by));
      clock_.advance(by);
      // The engine catches up at the new time before anything else happens (without --long-pauses:
      // two jumps in a row would make one longer than the record retention).
      if (!opt_.long_pauses) run_jobs_fifo();
      return;
    }
    if (k < 40) {
      if (faults) new_command();
    } else if (k < 55) {
      if (faults) retry_one();
    } else if (k < 120) {
      if (faults && !store_.pending.empty() && rng_() % 4 == 0) ++res_.faults[fault_commit_slow];
      else commit_step(faults);
    } else if (k < 160 || w_->sched.jobs.empty()) {
      int64_t next = clock_.next_due_ms();
      int64_t by = 1 + static_cast<int64_t>(rng_() % 40);
      if (next != manual_clock::never && next - clock_.now_ms() < by) clock_.advance_to(next);
      else clock_.advance(by);
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

  //! Faults stop; the client keeps resending what has no final answer; time moves on until
  //! everything is final and committed.
  void quiesce() {
    release_held(true);
    w_->link->storage_down.store(false);
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
      if (all_final && w_->sched.jobs.empty() && store_.pending.empty() && open_in_store() == 0) {
        if (in_flight() == 0) return;
      }
      if (clock_.now_ms() > until) {
        std::string open;
        for (const auto& [id, o] : store_.orders)
          if (!is_final(o.state))
            open += " " + std::to_string(id) + " (" + std::string(to_string(o.command.kind)) + " " +
                    std::string(to_string(o.state)) + " posted " + std::to_string(o.posted_amount) + " legs " +
                    o.legs_json + ")";
        store_.violation("no quiescence within an hour of virtual time: " + std::to_string(open_in_store()) +
                         " orders not final in the store:" + open + ", " + std::to_string(in_flight()) +
                         " in flight in the hosts");
        return;
      }
      int64_t next = clock_.next_due_ms();
      clock_.advance_to(std::min(next == manual_clock::never ? clock_.now_ms() + 1'000 : next, clock_.now_ms() + 1'000));
    }
  }

  size_t open_in_store() const {
    size_t open = 0;
    for (const auto& [id, o] : store_.orders) open += !is_final(o.state);
    return open;
  }

  uint64_t in_flight() {
    w_->sink.stats.clear();
    caf::anon_send(w_->client, stats_atom::value);
    run_jobs_fifo();
    uint64_t n = 0;
    for (const auto& s : w_->sink.stats) n += s.in_flight;
    return n;
  }

  void finish() {
    // At quiescence: every order final, money conserved, memory equal to what is committed.
    if (store_.violations.empty()) {
      w_->sink.views.clear();
      caf::anon_send(w_->client, audit_atom::value);
      run_jobs_fifo();
      std::map<wallet_id, balances> memory;
      for (const auto& v : w_->sink.views) {
        memory[v.info.id] = v.current;
        if (v.open_transactions != 0)
          store_.violation("wallet " + std::to_string(v.info.id) + " has open transactions at quiescence");
        if (!v.journal_ok) store_.violation("wallet " + std::to_string(v.info.id) + ": journal does not replay");
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
    }
    for (const auto& [id, o] : store_.orders) ++res_.orders_by_state[std::string(to_string(o.state))];
    res_.violations = store_.violations;
    res_.virtual_ms = clock_.now_ms() - start_ms;
    digest_.add(static_cast<uint64_t>(res_.virtual_ms));
    res_.digest = digest_.h;
    w_->shut_down();
    w_.reset();
  }

  sim_options opt_;
  std::mt19937_64 rng_;
  sim_result res_;
  digest digest_;
  manual_clock clock_{start_ms};
  sim_store store_;
  order_config order_;
  wallet_actor_config wallet_;
  std::vector<std::pair<channel_id, channel_config>> channels_;
  std::unique_ptr<world> w_;
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
  o << "},\"digest\":\"" << hex << "\",\"ok\":" << (ok() ? "true" : "false") << ",\"violations\":[";
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
