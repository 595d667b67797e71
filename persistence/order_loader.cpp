#include "persistence/order_loader.hpp"

#include <chrono>
#include <map>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "core/routing.hpp"
#include "ports/storage_messages.hpp"
#include "persistence/mysql_actor.hpp"
#include "persistence/mysql_connection.hpp"
#include "persistence/shard_layout.hpp"
#include "persistence/storage_target.hpp"

namespace txengine::persistence {

namespace {

using page_atom = caf::atom_constant<caf::atom("recpage")>;

//! The order loader's interface (ports/actor_interfaces.hpp) and the message it sends itself.
using loader_impl = order_loader_actor::extend<caf::reacts_to<page_atom>>;
using loader_pointer = loader_impl::pointer;

//! The columns a resumable order and a refund's original are read with, in this order.
constexpr const char* order_columns =
    "id,tenant,request_id,kind,state,result_code,currency,amount,confirmed_amount,source,destination,fee_wallet,"
    "fee_amount,original_order,channel,legs,try_deadline_ms,created_ms,updated_ms,final_ms,home_wallet,route";

//! How many columns order_columns names (the columns a query selects after them are numbered on).
constexpr int order_column_count() {
  int n = 1;
  for (const char* c = order_columns; *c != '\0'; ++c) n += *c == ',';
  return n;
}
static_assert(order_column_count() == 22);

//! order_columns, each qualified by `alias` ("o." for "o.id,o.tenant,...").
std::string qualified_columns(const std::string& alias) {
  std::string out = alias;
  for (const char* c = order_columns; *c != '\0'; ++c) {
    out += *c;
    if (*c == ',') out += alias;
  }
  return out;
}

//! Reads the command of an order row (columns as in order_columns); false when a value is out of range.
bool read_command(sql::ResultSet& rs, order_command& c, std::string& error) {
  c.tenant = static_cast<tenant_id>(rs.getUInt(2));
  c.request_id = std::string(rs.getString(3));
  unsigned kind = rs.getUInt(4);
  if (kind > static_cast<unsigned>(order_kind::commission)) {
    error = "kind " + std::to_string(kind);
    return false;
  }
  c.kind = static_cast<order_kind>(kind);
  auto cur = currency::parse(std::string(rs.getString(7)));
  if (!cur) {
    error = "currency '" + std::string(rs.getString(7)) + "'";
    return false;
  }
  c.cur = *cur;
  c.amount = rs.getInt64(8);
  c.source = rs.getUInt64(10);
  c.destination = rs.getUInt64(11);
  c.fee_wallet = rs.getUInt64(12);
  c.fee_amount = rs.getInt64(13);
  c.original_order = rs.getUInt64(14);
  c.channel = static_cast<channel_id>(rs.getUInt(15));
  c.home = c.kind == order_kind::refund ? rs.getUInt64(21) : no_wallet;
  return true;
}

bool read_state(unsigned value, order_state& state) {
  if (value > static_cast<unsigned>(order_state::failed)) return false;
  state = static_cast<order_state>(value);
  return true;
}

struct loader_state : mysql_actor_state {
  static inline const char* name = "order_loader";
  order_loader_config config;
  std::unique_ptr<mysql_connection> conn;
  // Recovery.
  std::vector<order_host_actor> hosts;
  //! The tables of one shard table index: its orders and their side tables (migration 0006).
  struct shard_tables {
    std::string orders, open_orders, refunds;
  };
  std::vector<shard_tables> tables;  //!< every shard table, read one after the other
  size_t table = 0;
  order_id after_id = 0;  //!< keyset: the last id read from the current table
  size_t outstanding = 0;  //!< pages handed to hosts and not yet taken
  uint32_t failures = 0;
  recovery_report report;
  std::chrono::steady_clock::time_point started;
  //! A cluster node's takeover run (docs/cluster.md): only orders homed in these partitions
  //! (indexed by partition); empty for the run at start. Runs queued behind the current one.
  std::vector<bool> only;
  std::vector<std::vector<uint32_t>> takeovers_queued;
  bool running = false;

  mysql_connection& connection() {
    if (!conn) conn = std::make_unique<mysql_connection>(endpoint);
    return *conn;
  }

  //! `select_from(t)` ("SELECT ... FROM ... WHERE ..." of one shard table) over every shard table.
  template <typename F>
  std::string all_tables_union(F select_from) const {
    std::string sql;
    for (const auto& t : tables) {
      if (!sql.empty()) sql += " UNION ALL ";
      sql += select_from(t);
    }
    return sql;
  }

  //! One page of non-final orders of the current table (its open_orders rows, keyset on the
  //! id, joined to their order rows), parsed; rows that are not an order are counted and
  //! logged. An open_orders row of a final or missing order is skipped with a warning (the
  //! audit reports it). False when MySQL failed.
  bool read_page(std::vector<recovered_order>& out, size_t& rows) {
    rows = 0;
    const shard_tables& t = tables[table];
    try {
      static const std::string columns = qualified_columns("o.");
      auto rs = connection().query("SELECT " + columns + ",p.id,o.is_final FROM " + t.open_orders + " p LEFT JOIN " +
                                   t.orders + " o ON o.id=p.id WHERE p.id>" + std::to_string(after_id) +
                                   " ORDER BY p.id LIMIT " + std::to_string(config.page_rows));
      constexpr int open_id_column = order_column_count() + 1, is_final_column = order_column_count() + 2;
      while (rs->next()) {
        ++rows;
        after_id = rs->getUInt64(open_id_column);
        if (rs->isNull(1) || rs->getUInt(is_final_column) != 0) {
          spdlog::warn("recovery: {} lists order {}, which is {}: skipped", t.open_orders, after_id,
                       rs->isNull(1) ? "missing" : "final");
          continue;
        }
        recovered_order r;
        r.id = rs->getUInt64(1);
        ++report.orders;
        std::string error;
        unsigned state = rs->getUInt(5);
        bool ok = read_command(*rs, r.command, error);
        if (ok && link->ownership) {
          // A cluster node resumes the orders whose home wallet it holds (at start), or those of
          // the partitions it took over (a takeover run); another node resumes the others.
          uint32_t p = partition_of(order_home(r.command), link->ownership->partitions());
          bool mine = only.empty() ? link->ownership->owner_of(p) == link->ownership->self() : p < only.size() && only[p];
          if (!mine) {
            --report.orders;
            continue;
          }
        }
        if (ok && !read_state(state, r.row.state)) ok = false, error = "state " + std::to_string(state);
        if (ok) {
          ++report.by_kind[static_cast<size_t>(r.command.kind)];
          ++report.by_state[static_cast<size_t>(r.row.state)];
          r.row.reason = static_cast<result_code>(rs->getUInt(6));
          r.row.posted_amount = rs->getInt64(9);
          r.row.try_deadline_ms = rs->getInt64(17);
          r.row.created_ms = rs->getInt64(18);
          r.row.updated_ms = rs->getInt64(19);
          ok = parse_legs_json(std::string(rs->getString(16)), r.row.legs, &error);
          std::string route(rs->getString(22));
          if (ok && !route.empty() && !parse_route_trail(route, r.row.route)) ok = false, error = "route '" + route + "'";
        }
        if (!ok) {
          spdlog::error("recovery: order {} in {} is not readable ({}): left as it is", r.id, t.orders, error);
          continue;
        }
        out.push_back(std::move(r));
      }
      failures = 0;
      return true;
    } catch (const sql::SQLException& e) {
      conn.reset();
      ++failures;
      spdlog::error("recovery: reading {} failed (attempt {}): {} ({})", t.open_orders, failures, e.what(),
                    e.getErrorCode());
      return false;
    }
  }

  void finish(loader_pointer self) {
    report.done = true;
    report.unreadable = report.orders - std::min(report.orders, report.resumed);
    report.elapsed_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
    running = false;
    if (!only.empty()) {
      // A takeover run: its own log line; the report of the start stays what engine::recovery() says.
      if (report.error.empty()) spdlog::info("recovery after a takeover: {}", report.summary());
      else spdlog::error("recovery after a takeover: {}", report.summary());
      only.clear();
      return start_queued_takeover(self);
    }
    {
      std::lock_guard<std::mutex> lock(link->recovery_mutex);
      link->recovery = report;
    }
    if (report.error.empty()) spdlog::info("recovery: {}", report.summary());
    else spdlog::error("recovery: {}", report.summary());
    for (const auto& host : hosts) self->send(host, recovered_atom::value);
    start_queued_takeover(self);
  }

  //! The next queued takeover run, if any and none runs.
  void start_queued_takeover(loader_pointer self) {
    if (running || takeovers_queued.empty() || !link->ownership) return;
    only.assign(link->ownership->partitions(), false);
    for (uint32_t p : takeovers_queued.front())
      if (p < only.size()) only[p] = true;
    takeovers_queued.erase(takeovers_queued.begin());
    start_run(self);
  }

  void start_run(loader_pointer self) {
    running = true;
    table = 0;
    after_id = 0;
    failures = 0;
    report = recovery_report();
    started = std::chrono::steady_clock::now();
    next_page(self);
  }

  //! Reads the next page and hands it to the hosts; moves to the next table at the end of one.
  void next_page(loader_pointer self) {
    while (table < tables.size()) {
      std::vector<recovered_order> page;
      size_t rows = 0;
      if (!read_page(page, rows)) {
        if (failures >= config.failures_max) {
          report.error = "MySQL failed " + std::to_string(failures) + " times in a row; the rest is not resumed";
          return finish(self);
        }
        auto backoff = std::chrono::milliseconds(std::min<int64_t>(50 << std::min<uint32_t>(failures, 5), 1000));
        self->delayed_send(self, backoff, page_atom::value);
        return;
      }
      if (rows < config.page_rows) {
        ++table;
        after_id = 0;
      }
      if (page.empty()) continue;
      std::vector<std::vector<recovered_order>> by_host(hosts.size());
      for (auto& r : page)
        by_host[host_index(r.command.tenant, r.command.request_id, hosts.size())].push_back(std::move(r));
      for (size_t h = 0; h < hosts.size(); ++h) {
        if (by_host[h].empty()) continue;
        ++outstanding;
        self->request(hosts[h], caf::infinite, recover_atom::value, std::move(by_host[h]))
            .then(
                [this, self](uint64_t resumed) {
                  report.resumed += resumed;
                  if (--outstanding == 0) self->send(self, page_atom::value);
                },
                [this, self](caf::error& error) {
                  // The engine is going away (its hosts stopped): recovery ends with it.
                  report.error = "a host did not take its orders: " + caf::to_string(error);
                  if (--outstanding == 0) finish(self);
                });
      }
      return;  // the next page once every host took this one
    }
    finish(self);
  }

  std::vector<loaded_original> load_originals(const std::vector<order_id>& ids) {
    std::vector<loaded_original> out;
    out.reserve(ids.size());
    for (size_t from = 0; from < ids.size(); from += config.originals_per_statement) {
      size_t to = std::min(ids.size(), from + config.originals_per_statement);
      std::unordered_map<order_id, size_t> at;  // id -> index in out
      std::string list;
      for (size_t i = from; i < to; ++i) {
        if (at.count(ids[i])) continue;
        at.emplace(ids[i], out.size());
        loaded_original o;
        o.id = ids[i];
        out.push_back(std::move(o));
        if (!list.empty()) list += ',';
        list += std::to_string(ids[i]);
      }
      for (int attempt = 1;; ++attempt) {
        try {
          read_originals(list, at, out);
          break;
        } catch (const sql::SQLException& e) {
          conn.reset();
          spdlog::error("refund originals: not loaded (attempt {}): {} ({})", attempt, e.what(), e.getErrorCode());
          if (attempt < 2) continue;
          for (const auto& [id, index] : at) {
            out[index] = loaded_original();
            out[index].id = id;
            out[index].failed = true;
          }
          break;
        }
      }
    }
    return out;
  }

  // History (issue 12): an order's movements and pages of a wallet's journal, by primary key.

  //! The columns a fund movement is read with, in this order.
  static constexpr const char* movement_columns =
      "m.wallet_id,m.seq,m.order_id,m.phase,m.d_available,m.d_frozen,m.d_incoming,m.available_after,m.frozen_after,"
      "m.incoming_after,m.at_ms";

  struct stored_row {
    wallet_id wallet = no_wallet;
    unsigned phase = 0;
    journal_entry entry;
  };

  static stored_row read_movement(sql::ResultSet& rs) {
    stored_row row;
    row.wallet = rs.getUInt64(1);
    row.entry.sequence = rs.getUInt64(2);
    row.entry.txn = rs.getUInt64(3);
    row.phase = rs.getUInt(4);
    // Phases 3 (one step, seeding) and 4 (a try and its confirm, when not split) have no
    // tcc_phase name: they travel as their stored number (docs/protocol.md, Movement).
    row.entry.phase = static_cast<tcc_phase>(row.phase);
    row.entry.delta = {rs.getInt64(5), rs.getInt64(6), rs.getInt64(7)};
    row.entry.after = {rs.getInt64(8), rs.getInt64(9), rs.getInt64(10)};
    row.entry.at_ms = rs.getInt64(11);
    return row;
  }

  //! A stored row as the journal entries it stands for: a try-and-confirm row (phase 4) split
  //! by the wallet's leg in `legs`; kept whole (phase 4) when no leg explains it.
  static void expand(const stored_row& row, const std::vector<stored_leg>* legs, std::vector<journal_entry>& out) {
    if (row.phase == movement_phase_try_confirm && legs != nullptr) {
      if (const stored_leg* leg = leg_of_wallet(*legs, row.wallet)) {
        journal_entry tried, confirmed;
        if (split_try_confirm(row.entry, leg->type, leg->amount, tried, confirmed)) {
          out.push_back(tried);
          out.push_back(confirmed);
          return;
        }
      }
      spdlog::warn("history: movement {}/{} of order {} (a try and its confirm) is not split: no leg explains it",
                   row.wallet, row.entry.sequence, row.entry.txn);
    }
    out.push_back(row.entry);
  }

  //! Runs `read` (MySQL statements), once more after a failure on a new connection; false when both failed.
  template <class F>
  bool with_retry(const char* what, F read) {
    for (int attempt = 1; attempt <= 2; ++attempt) {
      try {
        read();
        return true;
      } catch (const sql::SQLException& e) {
        conn.reset();
        spdlog::error("history: {} not read (attempt {}): {} ({})", what, attempt, e.what(), e.getErrorCode());
      }
    }
    return false;
  }

  order_history read_order_history(const order_history_request& request) {
    order_history out;
    std::vector<stored_leg> legs = request.legs;
    out.failed = !with_retry("order movements", [&] {
      out.movements.clear();
      if (!request.legs_known) {
        legs.clear();
        auto rs = connection().query("SELECT legs FROM " + layout.table_for("orders", request.home) +
                                     " WHERE id=" + std::to_string(request.order) +
                                     " AND tenant=" + std::to_string(request.tenant));
        // Not there (not committed yet): nothing to list.
        if (!rs->next() || !parse_legs_json(std::string(rs->getString(1)), legs)) return;
      }
      // One statement per shard table of the wallets: pointers by primary key, legs without
      // them by wallet and order (that wallet's journal). Only wallets of the order's tenant.
      std::map<std::pair<uint32_t, uint32_t>, std::string> where;
      for (const auto& lookup : movement_lookups(legs)) {
        std::string& w = where[{layout.database_of(lookup.wallet), layout.table_of(lookup.wallet)}];
        if (!w.empty()) w += " OR ";
        w += "(m.wallet_id=" + std::to_string(lookup.wallet);
        if (!lookup.by_order) {
          w += " AND m.seq IN (";
          for (size_t i = 0; i < lookup.sequences.size(); ++i)
            w += (i ? "," : "") + std::to_string(lookup.sequences[i]);
          w += ")";
        }
        w += ")";
      }
      for (const auto& [shard, condition] : where) {
        auto rs = connection().query(
            std::string("SELECT ") + movement_columns + " FROM " +
            layout.table_at("fund_movements", shard.first, shard.second) + " m JOIN " +
            layout.table_at("wallets", shard.first, shard.second) + " w ON w.id=m.wallet_id WHERE w.tenant=" +
            std::to_string(request.tenant) + " AND m.order_id=" + std::to_string(request.order) + " AND (" + condition +
            ") ORDER BY m.wallet_id,m.seq LIMIT " + std::to_string(history_order_rows_max));
        while (rs->next()) {
          stored_row row = read_movement(*rs);
          std::vector<journal_entry> entries;
          expand(row, &legs, entries);
          for (auto& e : entries) out.movements.push_back({row.wallet, e});
        }
      }
    });
    if (out.failed) out.movements.clear();
    return out;
  }

  //! Rows an order's history reads at most (an order makes at most two per wallet leg).
  static constexpr size_t history_order_rows_max = 64;

  history_page read_history_page(const history_page_request& request) {
    history_page out;
    out.failed = !with_retry("wallet movements", [&] {
      out.entries.clear();
      std::vector<stored_row> rows;
      auto rs = connection().query(std::string("SELECT ") + movement_columns + " FROM " +
                                   layout.table_for("fund_movements", request.wallet) +
                                   " m WHERE m.wallet_id=" + std::to_string(request.wallet) +
                                   " AND m.seq>=" + std::to_string(request.from_sequence) +
                                   " AND m.seq<=" + std::to_string(request.last_sequence) + " ORDER BY m.seq LIMIT " +
                                   std::to_string(request.limit));
      std::string orders;  // of rows to split: their legs say how
      while (rs->next()) {
        rows.push_back(read_movement(*rs));
        if (rows.back().phase == movement_phase_try_confirm) {
          if (!orders.empty()) orders += ',';
          orders += std::to_string(rows.back().entry.txn);
        }
      }
      std::unordered_map<order_id, std::vector<stored_leg>> legs;
      if (!orders.empty()) {
        auto found = connection().query(all_tables_union([&](const shard_tables& t) {
          return "SELECT id,legs FROM " + t.orders + " WHERE id IN (" + orders + ")";
        }));
        while (found->next()) parse_legs_json(std::string(found->getString(2)), legs[found->getUInt64(1)]);
      }
      for (const auto& row : rows) {
        auto of = legs.find(row.entry.txn);
        expand(row, of == legs.end() ? nullptr : &of->second, out.entries);
      }
    });
    if (out.failed) out.entries.clear();
    return out;
  }

  void read_originals(const std::string& list, const std::unordered_map<order_id, size_t>& at,
                      std::vector<loaded_original>& out) {
    for (const auto& [id, index] : at) {
      out[index] = loaded_original();
      out[index].id = id;
    }
    auto rs = connection().query(all_tables_union([&](const shard_tables& t) {
      return "SELECT " + std::string(order_columns) + " FROM " + t.orders + " WHERE id IN (" + list + ")";
    }));
    while (rs->next()) {
      auto found = at.find(rs->getUInt64(1));
      if (found == at.end()) continue;
      loaded_original& o = out[found->second];
      std::string error;
      if (!read_command(*rs, o.command, error) || !read_state(rs->getUInt(5), o.state)) {
        spdlog::error("refund originals: order {} is not readable ({})", o.id, error);
        continue;  // not found: refunds of it are refused
      }
      o.found = true;
      o.reason = static_cast<result_code>(rs->getUInt(6));
      o.posted_amount = rs->getInt64(9);
      o.created_ms = rs->getInt64(18);
      o.final_ms = rs->getInt64(20);
      if (!parse_legs_json(std::string(rs->getString(16)), o.legs, &error))
        spdlog::error("order {}: legs not readable ({}): its movements are not listed", o.id, error);
    }
    // Every refund of them (refunds_{t}, in each refund's own table index, beside its order row).
    auto refunds = connection().query(all_tables_union([&](const shard_tables& t) {
      return "SELECT r.original_order,o.id,o.state,o.amount,o.legs FROM " + t.refunds + " r JOIN " + t.orders +
             " o ON o.id=r.refund_id WHERE r.original_order IN (" + list + ")";
    }));
    while (refunds->next()) {
      auto found = at.find(refunds->getUInt64(1));
      if (found == at.end()) continue;
      stored_refund r;
      r.id = refunds->getUInt64(2);
      if (!read_state(refunds->getUInt(3), r.state)) continue;
      r.amount = refunds->getInt64(4);
      std::vector<stored_leg> legs;
      // Unreadable legs: counted as granted while it runs, the safe side (never refund more).
      r.granted = !parse_legs_json(std::string(refunds->getString(5)), legs) || legs.size() == 3;
      out[found->second].refunds.push_back(r);
    }
  }
};

using loader_stateful = loader_impl::stateful_pointer<loader_state>;

loader_impl::behavior_type loader_behavior(loader_stateful self, storage_link* link, order_loader_config config) {
  start_mysql_actor(self, link, [](loader_stateful self) { self->state.conn.reset(); });
  auto& st = self->state;
  st.config = config;
  for (uint32_t d = 0; d < st.layout.databases; ++d)
    for (uint32_t t : st.layout.tables_in(d))
      st.tables.push_back({st.layout.table_at("orders", d, t), st.layout.table_at("open_orders", d, t),
                           st.layout.table_at("refunds", d, t)});
  return {
      [=](recover_atom, std::vector<order_host_actor> hosts) {
        auto& s = self->state;
        s.hosts = std::move(hosts);
        s.running = true;
        s.started = std::chrono::steady_clock::now();
        if (s.link->orders_at_start == 0) return s.finish(self);  // a fresh database holds nothing to resume
        s.next_page(self);
      },
      [=](recover_atom, std::vector<uint32_t> partitions) {
        // A cluster node took these partitions over while serving: their non-final orders are its.
        auto& s = self->state;
        s.takeovers_queued.push_back(std::move(partitions));
        if (!s.hosts.empty()) s.start_queued_takeover(self);  // else after the run at start
      },
      [=](page_atom) { self->state.next_page(self); },
      [=](history_atom, const history_page_request& request) { return self->state.read_history_page(request); },
      [=](history_atom, const order_history_request& request) { return self->state.read_order_history(request); },
      [=](origin_atom, const std::vector<order_id>& ids) {
        // Only order hosts ask for originals.
        self->send(caf::actor_cast<order_host_actor>(self->current_sender()), origin_found_atom::value,
                   self->state.load_originals(ids));
      },
  };
}

}  // namespace

order_loader_actor spawn_order_loader(caf::actor_system& system, storage_link* link, order_loader_config config) {
  return system.spawn<caf::detached>(loader_behavior, link, config);
}

}  // namespace txengine::persistence
