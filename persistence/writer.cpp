#include "persistence/writer.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <thread>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "actors/clock.hpp"
#include "actors/core/check.hpp"
#include "persistence/mysql_connection.hpp"
#include "persistence/outbox.hpp"
#include "persistence/schema.hpp"
#include "persistence/shard_layout.hpp"

namespace txengine::persistence {

namespace {

shard_layout layout_of(const storage_config& config) {
  shard_layout layout;
  layout.databases = config.databases;
  layout.tables = config.tables;
  layout.prefix = config.prefix;
  return layout;
}

mysql_endpoint endpoint_of(const storage_config& config) {
  mysql_endpoint endpoint;
  std::string error;
  if (!parse_mysql_uri(config.uri, endpoint, &error)) throw std::invalid_argument("bad MySQL URI: " + error);
  return endpoint;
}

wallet_id home_of(const order_command& c) { return order_home(c); }
uint64_t content_hash(const order_command& c) { return command_content_hash(c); }

std::string hex_literal(const std::string& bytes) {
  static const char* digits = "0123456789ABCDEF";
  std::string s = "X'";
  for (unsigned char c : bytes) {
    s += digits[c >> 4];
    s += digits[c & 15];
  }
  s += '\'';
  return s;
}

//! Multi-row statements, one per shard table: prefix + rows + suffix.
class statement_set {
 public:
  statement_set(std::string head, std::string tail) : head_(std::move(head)), tail_(std::move(tail)) {}
  std::string& row(const std::string& table) {
    std::string& values = by_table_[table];
    if (!values.empty()) values += ',';
    return values;
  }
  void emit(std::vector<std::string>& out) const {
    for (const auto& [table, values] : by_table_) {
      std::string sql = head_;
      auto at = sql.find("{table}");
      sql.replace(at, 7, table);
      sql += values;
      sql += tail_;
      out.push_back(std::move(sql));
    }
  }

 private:
  std::string head_;
  std::string tail_;
  std::map<std::string, std::string> by_table_;
};

template <class... Ts>
void append_values(std::string& out, Ts... values) {
  out += '(';
  bool first = true;
  ((out += (first ? "" : ","), out += values, first = false), ...);
  out += ')';
}

std::string n(int64_t v) { return std::to_string(v); }
std::string u(uint64_t v) { return std::to_string(v); }

struct tcc_key_hash {
  size_t operator()(const std::pair<wallet_id, order_id>& k) const { return k.first * 0x9E3779B97F4A7C15ull ^ k.second; }
};

//! The batch being gathered: rows deduplicated (a wallet's newest row, a record's newest
//! state, an order's newest row), plus who waits for it.
struct pending_batch {
  std::unordered_map<wallet_id, wallet_row> wallets;
  std::vector<movement_row> movements;
  std::unordered_map<std::pair<wallet_id, order_id>, tcc_row, tcc_key_hash> tcc;
  std::unordered_map<order_id, order_row> orders;
  std::vector<std::pair<caf::actor, uint64_t>> acks;
  std::vector<caf::response_promise> syncs;
  int64_t rows_received = 0;  //!< as counted into storage_link::rows_queued by the senders

  bool empty() const { return rows_received == 0 && acks.empty() && syncs.empty(); }

  void add(write_batch& b, const caf::actor& sender) {
    rows_received += static_cast<int64_t>(b.rows());
    for (auto& w : b.wallets) {
      auto [it, inserted] = wallets.emplace(w.info.id, w);
      if (!inserted && w.version >= it->second.version) it->second = std::move(w);
    }
    for (auto& m : b.movements) movements.push_back(m);
    for (auto& t : b.tcc) tcc[{t.wallet, t.order}] = t;
    for (auto& o : b.orders) {
      auto [it, inserted] = orders.emplace(o.id, o);
      if (!inserted) {
        bool intent = it->second.intent || o.intent;
        it->second = std::move(o);
        it->second.intent = intent;
      }
    }
    if (b.ack_seq != 0) acks.emplace_back(sender, b.ack_seq);
  }

  std::vector<std::string> statements(const shard_layout& layout) const {
    std::vector<std::string> out;
    statement_set wallet_set(
        "INSERT INTO {table} (id,tenant,currency,kind,status,overdraft_limit,available,frozen,incoming,version,"
        "created_ms,updated_ms) VALUES ",
        " ON DUPLICATE KEY UPDATE status=VALUES(status),overdraft_limit=VALUES(overdraft_limit),"
        "available=IF(VALUES(version)>=version,VALUES(available),available),"
        "frozen=IF(VALUES(version)>=version,VALUES(frozen),frozen),"
        "incoming=IF(VALUES(version)>=version,VALUES(incoming),incoming),"
        "updated_ms=VALUES(updated_ms),version=GREATEST(version,VALUES(version))");
    for (const auto& [id, w] : wallets) {
      const auto& i = w.info;
      append_values(wallet_set.row(layout.table_for("wallets", id)), u(id), u(i.tenant), "'" + i.cur.code() + "'",
                    u(static_cast<unsigned>(i.kind)), u(static_cast<unsigned>(i.status)), n(i.overdraft_limit),
                    n(w.current.available), n(w.current.frozen), n(w.current.incoming), u(w.version), n(w.updated_ms),
                    n(w.updated_ms));
    }
    wallet_set.emit(out);
    statement_set movement_set(
        "INSERT IGNORE INTO {table} (wallet_id,seq,order_id,phase,d_available,d_frozen,d_incoming,available_after,"
        "frozen_after,incoming_after,at_ms) VALUES ",
        "");
    for (const auto& m : movements) {
      const auto& e = m.entry;
      append_values(movement_set.row(layout.table_for("fund_movements", m.wallet)), u(m.wallet), u(e.sequence),
                    u(e.txn), u(static_cast<unsigned>(e.phase)), n(e.delta.available), n(e.delta.frozen),
                    n(e.delta.incoming), n(e.after.available), n(e.after.frozen), n(e.after.incoming), n(e.at_ms));
    }
    movement_set.emit(out);
    statement_set tcc_set(
        "INSERT INTO {table} (wallet_id,order_id,leg_type,state,try_result,tried_amount,confirmed_amount,"
        "try_deadline_ms,updated_ms) VALUES ",
        " ON DUPLICATE KEY UPDATE state=VALUES(state),try_result=VALUES(try_result),"
        "confirmed_amount=VALUES(confirmed_amount),updated_ms=VALUES(updated_ms)");
    for (const auto& [key, t] : tcc) {
      const auto& r = t.record;
      append_values(tcc_set.row(layout.table_for("tcc_records", t.wallet)), u(t.wallet), u(t.order),
                    u(static_cast<unsigned>(r.type)), u(static_cast<unsigned>(r.state)),
                    u(static_cast<unsigned>(r.try_result)), n(r.tried_amount), n(r.confirmed_amount), "0",
                    n(t.updated_ms));
    }
    tcc_set.emit(out);
    statement_set order_set(
        "INSERT INTO {table} (id,tenant,request_id,kind,state,is_final,result_code,currency,amount,confirmed_amount,"
        "source,destination,fee_wallet,fee_amount,original_order,channel,legs,attempts,try_deadline_ms,created_ms,"
        "updated_ms,final_ms) VALUES ",
        " ON DUPLICATE KEY UPDATE state=IF(is_final=1,state,VALUES(state)),"
        "result_code=IF(is_final=1,result_code,VALUES(result_code)),"
        "confirmed_amount=IF(is_final=1,confirmed_amount,VALUES(confirmed_amount)),"
        "legs=IF(is_final=1,legs,VALUES(legs)),attempts=IF(is_final=1,attempts,VALUES(attempts)),"
        "final_ms=IF(is_final=1,final_ms,VALUES(final_ms)),updated_ms=VALUES(updated_ms),"
        "is_final=GREATEST(is_final,VALUES(is_final))");
    statement_set request_set(
        "INSERT IGNORE INTO {table} (tenant,request_id,order_id,content_hash,created_ms) VALUES ", "");
    for (const auto& [id, o] : orders) {
      const auto& c = o.command;
      append_values(order_set.row(layout.table_for("orders", home_of(c))), u(id), u(c.tenant),
                    hex_literal(c.request_id), u(static_cast<unsigned>(c.kind)), u(static_cast<unsigned>(o.state)),
                    is_final(o.state) ? "1" : "0", u(static_cast<unsigned>(o.reason)), "'" + c.cur.code() + "'",
                    n(c.amount), n(o.posted_amount), u(c.source), u(c.destination), u(c.fee_wallet), n(c.fee_amount),
                    u(c.original_order), u(c.channel), "'" + o.legs_json + "'", u(o.attempts), n(o.try_deadline_ms),
                    n(o.created_ms), n(o.updated_ms), n(o.final_ms));
      if (o.intent)
        append_values(request_set.row(layout.table_for("request_ids", shard_layout::request_key(c.tenant, c.request_id))),
                      u(c.tenant), hex_literal(c.request_id), u(id), u(content_hash(c)), n(o.created_ms));
    }
    order_set.emit(out);
    request_set.emit(out);
    return out;
  }
};

struct writer_state {
  static inline const char* name = "storage_writer";
  storage_link* link = nullptr;
  shard_layout layout;
  mysql_endpoint endpoint;
  std::unique_ptr<mysql_thread_scope> thread_scope;
  std::unique_ptr<mysql_connection> conn;
  pending_batch batch;
  uint64_t batches = 0;
  //! TXENGINE_WRITER_PROFILE=1: time per table family, printed when the writer stops.
  bool profile_ = std::getenv("TXENGINE_WRITER_PROFILE") != nullptr;
  std::map<std::string, int64_t> profile_us_;

  //! Commits the batch; retries (reconnecting) until it commits or the engine stops.
  void commit(caf::event_based_actor* self) {
    if (batch.empty()) return;
    auto started = std::chrono::steady_clock::now();
    std::vector<std::string> sql = batch.statements(layout);
    size_t outbox_rows = append_outbox(sql);
    int64_t backoff_ms = 5;
    for (uint32_t attempt = 1;; ++attempt) {
      if (link->stopping.load()) return;  // the engine is going away: as if it had crashed now
      try {
        if (!conn) conn = std::make_unique<mysql_connection>(endpoint);
        if (!sql.empty()) {
          conn->begin();
          for (const auto& statement : sql) {
            if (profile_) {
              auto t0 = std::chrono::steady_clock::now();
              conn->execute(statement);
              auto at = statement.find("`.`");
              std::string family = statement.substr(at + 3, statement.find('_', at + 3) - at - 3);
              profile_us_[family] += std::chrono::duration_cast<std::chrono::microseconds>(
                                         std::chrono::steady_clock::now() - t0).count();
            } else {
              conn->execute(statement);
            }
          }
          conn->commit();
        }
        break;
      } catch (const sql::SQLException& e) {
        link->commit_failures.fetch_add(1);
        if (!is_transient(e)) link->storage_down.store(true);  // a deadlock is not an outage
        if (conn) conn->rollback();
        if (!is_transient(e)) conn.reset();  // reconnect: the same batch is idempotent
        if (attempt == 1 || attempt % 20 == 0)
          spdlog::error("storage writer: batch of {} rows not committed (attempt {}): {} ({})", batch.rows_received,
                        attempt, e.what(), e.getErrorCode());
        std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));  // own thread: detached actor
        backoff_ms = std::min<int64_t>(backoff_ms * 2, 1000);
      }
    }
    ++batches;
    link->storage_down.store(false);
    link->commit_us_total.fetch_add(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count()));
    link->rows_queued.fetch_sub(batch.rows_received);
    link->rows_committed.fetch_add(static_cast<uint64_t>(batch.rows_received));
    link->batches_committed.fetch_add(1);
    if (outbox_rows > 0) {
      link->outbox_committed(outbox_created_ms_, wall_clock_ms());
      link->outbox_unpublished.fetch_add(static_cast<int64_t>(outbox_rows));
      link->outbox_rows_written.fetch_add(outbox_rows);
    }
    for (const auto& [sender, seq] : batch.acks) self->send(sender, committed_atom::value, seq);
    for (auto& promise : batch.syncs) promise.deliver(true);
    batch = pending_batch();
  }

  //! Issue 5: the outbox rows of the batch's final orders join the batch's transaction.
  int64_t outbox_created_ms_ = 0;
  size_t append_outbox(std::vector<std::string>& sql) {
    const publication_config& kafka = link->config.kafka;
    if (!kafka.enabled()) return 0;
    std::vector<const order_row*> rows;
    rows.reserve(batch.orders.size());
    for (const auto& [id, o] : batch.orders) rows.push_back(&o);
    outbox_created_ms_ = wall_clock_ms();
    return append_outbox_statements(layout, kafka.topic, rows, outbox_created_ms_, sql);
  }

  void maybe_commit(caf::event_based_actor* self) {
    if (static_cast<size_t>(batch.rows_received) >= link->config.batch_rows_max || self->mailbox().empty())
      commit(self);
  }
};

using writer_actor = caf::stateful_actor<writer_state>;

caf::behavior writer_behavior(writer_actor* self, storage_link* link) {
  auto& st = self->state;
  st.link = link;
  st.layout = layout_of(link->config);
  st.endpoint = endpoint_of(link->config);
  st.thread_scope = std::make_unique<mysql_thread_scope>();
  self->set_exit_handler([=](const caf::exit_msg& msg) {
    if (!link->stopping.load()) self->state.commit(self);  // a clean stop: commit what came before
    for (const auto& [family, us] : self->state.profile_us_)
      spdlog::info("storage writer: {} statements: {:.1f} ms in {} batches", family, us / 1e3, self->state.batches);
    self->state.conn.reset();
    self->state.thread_scope.reset();
    self->quit(msg.reason);
  });
  return {
      [=](persist_atom, write_batch& b) {
        self->state.batch.add(b, caf::actor_cast<caf::actor>(self->current_sender()));
        self->state.maybe_commit(self);
      },
      [=](sync_atom) {
        self->state.batch.syncs.push_back(self->make_response_promise());
        self->state.maybe_commit(self);
      },
  };
}

// -- loader ----------------------------------------------------------------------------

struct loader_state {
  static inline const char* name = "wallet_loader";
  storage_link* link = nullptr;
  shard_layout layout;
  mysql_endpoint endpoint;
  std::unique_ptr<mysql_thread_scope> thread_scope;
  std::unique_ptr<mysql_connection> conn;

  loaded_wallet load(wallet_id id) {
    loaded_wallet result;
    for (int attempt = 0; attempt < 2; ++attempt) {
      try {
        if (!conn) conn = std::make_unique<mysql_connection>(endpoint);
        result = read(id);
        return result;
      } catch (const sql::SQLException& e) {
        conn.reset();
        spdlog::error("wallet loader: wallet {} not loaded: {} ({})", id, e.what(), e.getErrorCode());
      }
    }
    result = loaded_wallet();
    result.failed = true;
    return result;
  }

  std::vector<request_found> lookup(const std::vector<request_lookup>& keys) {
    std::vector<request_found> out;
    for (const auto& key : keys) {
      request_found f;
      f.tenant = key.tenant;
      f.request_id = key.request_id;
      try {
        if (!conn) conn = std::make_unique<mysql_connection>(endpoint);
        auto rs = conn->query("SELECT order_id, content_hash FROM " +
                              layout.table_for("request_ids", shard_layout::request_key(key.tenant, key.request_id)) +
                              " WHERE tenant=" + std::to_string(key.tenant) +
                              " AND request_id=" + hex_literal(key.request_id));
        if (rs->next()) {
          f.found = true;
          f.id = rs->getUInt64(1);
          f.content_hash = rs->getUInt64(2);
          auto order = conn->query("SELECT state, result_code, confirmed_amount, created_ms, final_ms FROM " +
                                   layout.table_for("orders", key.home) + " WHERE id=" + std::to_string(f.id));
          if (order->next()) {
            f.state = static_cast<order_state>(order->getUInt(1));
            f.reason = static_cast<result_code>(order->getUInt(2));
            f.posted_amount = order->getInt64(3);
            f.created_ms = order->getInt64(4);
            f.final_ms = order->getInt64(5);
          }
        }
      } catch (const sql::SQLException& e) {
        conn.reset();
        f.failed = true;
        spdlog::error("request lookup: {} ({})", e.what(), e.getErrorCode());
      }
      out.push_back(std::move(f));
    }
    return out;
  }

  loaded_wallet read(wallet_id id) {
    loaded_wallet result;
    auto rs = conn->query(
        "SELECT tenant,currency,kind,status,overdraft_limit,available,frozen,incoming,version,updated_ms FROM " +
        layout.table_for("wallets", id) + " WHERE id=" + std::to_string(id));
    if (!rs->next()) return result;
    result.found = true;
    wallet_row& w = result.row;
    w.info.id = id;
    w.info.tenant = static_cast<tenant_id>(rs->getUInt(1));
    w.info.cur = currency::parse(std::string(rs->getString(2))).value_or(currency{});
    w.info.kind = static_cast<wallet_kind>(rs->getUInt(3));
    w.info.status = static_cast<wallet_status>(rs->getUInt(4));
    w.info.overdraft_limit = rs->getInt64(5);
    w.current = {rs->getInt64(6), rs->getInt64(7), rs->getInt64(8)};
    w.version = rs->getUInt64(9);
    w.updated_ms = rs->getInt64(10);
    auto records = conn->query(
        "SELECT order_id,leg_type,state,try_result,tried_amount,confirmed_amount,updated_ms FROM " +
        layout.table_for("tcc_records", id) + " WHERE wallet_id=" + std::to_string(id));
    while (records->next()) {
      tcc_row t;
      t.wallet = id;
      t.order = records->getUInt64(1);
      t.record.type = static_cast<leg_type>(records->getUInt(2));
      t.record.state = static_cast<tcc_record_state>(records->getUInt(3));
      t.record.try_result = static_cast<result_code>(records->getUInt(4));
      t.record.tried_amount = records->getInt64(5);
      t.record.confirmed_amount = records->getInt64(6);
      t.updated_ms = records->getInt64(7);
      result.records.push_back(t);
    }
    return result;
  }
};

using loader_actor = caf::stateful_actor<loader_state>;

caf::behavior loader_behavior(loader_actor* self, storage_link* link) {
  auto& st = self->state;
  st.link = link;
  st.layout = layout_of(link->config);
  st.endpoint = endpoint_of(link->config);
  st.thread_scope = std::make_unique<mysql_thread_scope>();
  self->set_exit_handler([=](const caf::exit_msg& msg) {
    self->state.conn.reset();
    self->state.thread_scope.reset();
    self->quit(msg.reason);
  });
  return {
      [=](lookup_atom, const std::vector<request_lookup>& keys) {
        self->send(caf::actor_cast<caf::actor>(self->current_sender()), found_atom::value,
                   self->state.lookup(keys));
      },
      [=](load_atom, wallet_id id) {
        self->send(caf::actor_cast<caf::actor>(self->current_sender()), loaded_atom::value, id,
                   self->state.load(id));
      },
  };
}

}  // namespace

storage_start prepare_storage(const storage_config& config) {
  storage_start start;
  shard_layout layout = layout_of(config);
  std::string why;
  if (!layout.valid(&why)) {
    start.error = why;
    return start;
  }
  try {
    mysql_endpoint endpoint = endpoint_of(config);
    start.description = endpoint.describe() + " (" + std::to_string(config.databases) + " databases x " +
                        std::to_string(config.tables) + " tables, prefix " + config.prefix + ")";
    mysql_thread_scope scope;
    mysql_connection conn(endpoint);
    schema_report report = apply_schema(conn, layout);
    start.migrations_applied = report.migrations_applied;
    for (uint32_t d = 0; d < layout.databases; ++d)
      for (uint32_t t : layout.tables_in(d)) {
        std::string table = layout.table_at("wallets", d, t);
        start.orders += static_cast<uint64_t>(conn.query_int("SELECT COUNT(*) FROM " + layout.table_at("orders", d, t)));
        auto rs = conn.query("SELECT COUNT(*), COALESCE(MAX(id),0) FROM " + table);
        if (rs->next()) {
          start.wallets += rs->getUInt64(1);
          start.max_wallet_id = std::max<wallet_id>(start.max_wallet_id, rs->getUInt64(2));
        }
        auto systems = conn.query("SELECT tenant, currency, id FROM " + table + " WHERE kind=" +
                                  std::to_string(static_cast<unsigned>(wallet_kind::system)));
        while (systems->next()) {
          auto cur = currency::parse(std::string(systems->getString(2)));
          if (cur) start.system_wallets.emplace_back(systems->getUInt(1), cur->packed(), systems->getUInt64(3));
        }
      }
    start.ok = true;
  } catch (const sql::SQLException& e) {
    start.error = std::string("MySQL: ") + e.what() + " (" + std::to_string(e.getErrorCode()) + ")";
  } catch (const std::exception& e) {
    start.error = e.what();
  }
  return start;
}

caf::actor spawn_writer(caf::actor_system& system, storage_link* link) {
  return system.spawn<caf::detached>(writer_behavior, link);
}

caf::actor spawn_wallet_loader(caf::actor_system& system, storage_link* link) {
  return system.spawn<caf::detached>(loader_behavior, link);
}

}  // namespace txengine::persistence
