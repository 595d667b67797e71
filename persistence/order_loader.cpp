#include "persistence/order_loader.hpp"

#include <chrono>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "actors/order_host.hpp"
#include "persistence/mysql_connection.hpp"
#include "persistence/shard_layout.hpp"
#include "persistence/storage_target.hpp"

namespace txengine::persistence {

namespace {

using page_atom = caf::atom_constant<caf::atom("recpage")>;

//! The columns a resumable order and a refund's original are read with, in this order.
constexpr const char* order_columns =
    "id,tenant,request_id,kind,state,result_code,currency,amount,confirmed_amount,source,destination,fee_wallet,"
    "fee_amount,original_order,channel,legs,try_deadline_ms,created_ms,updated_ms,final_ms";

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
  return true;
}

bool read_state(unsigned value, order_state& state) {
  if (value > static_cast<unsigned>(order_state::failed)) return false;
  state = static_cast<order_state>(value);
  return true;
}

struct loader_state {
  static inline const char* name = "order_loader";
  storage_link* link = nullptr;
  order_loader_config config;
  shard_layout layout;
  mysql_endpoint endpoint;
  std::unique_ptr<mysql_thread_scope> thread_scope;
  std::unique_ptr<mysql_connection> conn;
  // Recovery.
  std::vector<caf::actor> hosts;
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
      constexpr int open_id_column = 21, is_final_column = 22;
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

  void finish(caf::event_based_actor* self) {
    report.done = true;
    report.unreadable = report.orders - std::min(report.orders, report.resumed);
    report.elapsed_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
    {
      std::lock_guard<std::mutex> lock(link->recovery_mutex);
      link->recovery = report;
    }
    if (report.error.empty()) spdlog::info("recovery: {}", report.summary());
    else spdlog::error("recovery: {}", report.summary());
    for (const auto& host : hosts) self->send(host, recovered_atom::value);
    hosts.clear();
  }

  //! Reads the next page and hands it to the hosts; moves to the next table at the end of one.
  void next_page(caf::event_based_actor* self) {
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

using loader_actor = caf::stateful_actor<loader_state>;

caf::behavior loader_behavior(loader_actor* self, storage_link* link, order_loader_config config) {
  auto& st = self->state;
  st.link = link;
  st.config = config;
  st.layout = layout_of(link->config);
  st.endpoint = endpoint_of(link->config);
  for (uint32_t d = 0; d < st.layout.databases; ++d)
    for (uint32_t t : st.layout.tables_in(d))
      st.tables.push_back({st.layout.table_at("orders", d, t), st.layout.table_at("open_orders", d, t),
                           st.layout.table_at("refunds", d, t)});
  st.thread_scope = std::make_unique<mysql_thread_scope>();
  self->set_exit_handler([=](const caf::exit_msg& msg) {
    self->state.conn.reset();
    self->state.thread_scope.reset();
    self->quit(msg.reason);
  });
  return {
      [=](recover_atom, std::vector<caf::actor> hosts) {
        auto& s = self->state;
        s.hosts = std::move(hosts);
        s.started = std::chrono::steady_clock::now();
        if (s.link->orders_at_start == 0) return s.finish(self);  // a fresh database holds nothing to resume
        s.next_page(self);
      },
      [=](page_atom) { self->state.next_page(self); },
      [=](origin_atom, const std::vector<order_id>& ids) {
        self->send(caf::actor_cast<caf::actor>(self->current_sender()), origin_found_atom::value,
                   self->state.load_originals(ids));
      },
  };
}

}  // namespace

caf::actor spawn_order_loader(caf::actor_system& system, storage_link* link, order_loader_config config) {
  return system.spawn<caf::detached>(loader_behavior, link, config);
}

}  // namespace txengine::persistence
