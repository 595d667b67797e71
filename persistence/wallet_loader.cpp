#include "persistence/wallet_loader.hpp"

#include <algorithm>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "ports/storage_messages.hpp"
#include "persistence/mysql_actor.hpp"
#include "persistence/mysql_connection.hpp"
#include "persistence/wallet_state.hpp"

namespace txengine::persistence {

namespace {

using loader_pointer = wallet_loader_actor::pointer;

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

struct loader_state : mysql_actor_state {
  static inline const char* name = "wallet_loader";
  std::unique_ptr<mysql_connection> conn;

  //! Wallets asked for and not yet read, with who asked: read together (one query per table
  //! and family for up to `load_batch_max` wallets) when the mailbox is empty or the batch is full.
  std::vector<std::pair<wallet_shard_actor, wallet_id>> load_queue;
  static constexpr size_t load_batch_max = 1000;
  //! Request-id lookups asked for and not yet answered, by who asked: looked up together when
  //! the mailbox is empty or `lookup_batch_max` keys wait.
  std::vector<std::pair<order_host_actor, std::vector<request_lookup>>> lookup_queue;
  size_t lookup_queued_keys = 0;
  static constexpr size_t lookup_batch_max = 4000;

  void lookup_queued(loader_pointer self) {
    if (lookup_queue.empty()) return;
    std::vector<request_lookup> keys;
    keys.reserve(lookup_queued_keys);
    for (const auto& [sender, list] : lookup_queue) keys.insert(keys.end(), list.begin(), list.end());
    std::vector<request_found> found = lookup(keys);
    size_t next = 0;
    for (auto& [sender, list] : lookup_queue) {
      std::vector<request_found> answers(std::make_move_iterator(found.begin() + static_cast<std::ptrdiff_t>(next)),
                                         std::make_move_iterator(found.begin() + static_cast<std::ptrdiff_t>(next + list.size())));
      next += list.size();
      self->send(sender, found_atom::value, std::move(answers));
    }
    lookup_queue.clear();
    lookup_queued_keys = 0;
  }

  void load_queued(loader_pointer self) {
    if (load_queue.empty()) return;
    std::vector<wallet_id> ids;
    ids.reserve(load_queue.size());
    for (const auto& [sender, id] : load_queue) ids.push_back(id);
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    std::unordered_map<wallet_id, loaded_wallet> found;
    bool failed = true;
    for (int attempt = 0; attempt < 2 && failed; ++attempt) {
      try {
        if (!conn) conn = std::make_unique<mysql_connection>(endpoint);
        found = read(ids);
        failed = false;
      } catch (const sql::SQLException& e) {
        conn.reset();
        spdlog::error("wallet loader: {} wallets not loaded: {} ({})", ids.size(), e.what(), e.getErrorCode());
      }
    }
    for (const auto& [sender, id] : load_queue) {
      loaded_wallet result;
      if (failed) {
        result.failed = true;
      } else if (auto it = found.find(id); it != found.end()) {
        result = it->second;
      }
      self->send(sender, loaded_atom::value, id, std::move(result));
    }
    load_queue.clear();
  }

  //! The wallet a create_wallet request id made, if MySQL holds one.
  wallet_request_found lookup_wallet_request(tenant_id tenant, const std::string& request_id) {
    wallet_request_found f;
    try {
      if (!conn) conn = std::make_unique<mysql_connection>(endpoint);
      auto rs = conn->query("SELECT wallet_id, content_hash FROM " +
                            layout.table_for("wallet_requests", shard_layout::request_key(tenant, request_id)) +
                            " WHERE tenant=" + std::to_string(tenant) + " AND request_id=" + hex_literal(request_id));
      if (rs->next()) {
        f.found = true;
        f.id = rs->getUInt64(1);
        f.content_hash = rs->getUInt64(2);
      }
    } catch (const sql::SQLException& e) {
      conn.reset();
      f.failed = true;
      spdlog::error("wallet request lookup: {} ({})", e.what(), e.getErrorCode());
    }
    return f;
  }

  //! Request ids per statement, at most.
  static constexpr size_t lookup_statement_keys_max = 500;

  //! Looks request ids up in batches: one statement per request-id table for up to 500 keys,
  //! then one per orders table for the orders found (instead of a round trip per key).
  std::vector<request_found> lookup(const std::vector<request_lookup>& keys) {
    std::vector<request_found> out(keys.size());
    std::map<std::pair<tenant_id, std::string>, std::vector<size_t>> by_key;
    std::map<std::string, std::vector<size_t>> by_table;
    for (size_t i = 0; i < keys.size(); ++i) {
      out[i].tenant = keys[i].tenant;
      out[i].request_id = keys[i].request_id;
      auto& same = by_key[{keys[i].tenant, keys[i].request_id}];
      if (same.empty())
        by_table[layout.table_for("request_ids", shard_layout::request_key(keys[i].tenant, keys[i].request_id))]
            .push_back(i);
      same.push_back(i);
    }
    try {
      if (!conn) conn = std::make_unique<mysql_connection>(endpoint);
      std::map<std::string, std::vector<size_t>> orders_by_table;
      for (const auto& [table, indices] : by_table)
        for (size_t from = 0; from < indices.size(); from += lookup_statement_keys_max) {
          std::string list;
          for (size_t j = from; j < std::min(indices.size(), from + lookup_statement_keys_max); ++j) {
            const auto& key = keys[indices[j]];
            list += (list.empty() ? "(" : ",(") + std::to_string(key.tenant) + "," + hex_literal(key.request_id) + ")";
          }
          auto rs = conn->query("SELECT tenant, request_id, order_id, content_hash FROM " + table +
                                " WHERE (tenant, request_id) IN (" + list + ")");
          while (rs->next()) {
            auto same = by_key.find({static_cast<tenant_id>(rs->getUInt(1)), std::string(rs->getString(2))});
            if (same == by_key.end()) continue;
            for (size_t i : same->second) {
              out[i].found = true;
              out[i].id = rs->getUInt64(3);
              out[i].content_hash = rs->getUInt64(4);
            }
            orders_by_table[layout.table_for("orders", keys[same->second.front()].home)].push_back(same->second.front());
          }
        }
      std::vector<bool> row_read(keys.size(), false);
      auto read_order_rows = [&](const std::string& table, const std::vector<size_t>& indices) {
        for (size_t from = 0; from < indices.size(); from += lookup_statement_keys_max) {
          std::unordered_map<order_id, std::vector<size_t>> by_id;
          std::string list;
          for (size_t j = from; j < std::min(indices.size(), from + lookup_statement_keys_max); ++j) {
            const request_found& f = out[indices[j]];
            auto& same = by_id[f.id];
            if (same.empty()) list += (list.empty() ? "" : ",") + std::to_string(f.id);
            for (size_t i : by_key[{f.tenant, f.request_id}]) same.push_back(i);
          }
          auto rs = conn->query("SELECT id, state, result_code, confirmed_amount, created_ms, final_ms FROM " + table +
                                " WHERE id IN (" + list + ")");
          while (rs->next()) {
            auto same = by_id.find(rs->getUInt64(1));
            if (same == by_id.end()) continue;
            for (size_t i : same->second) {
              out[i].state = static_cast<order_state>(rs->getUInt(2));
              out[i].reason = static_cast<result_code>(rs->getUInt(3));
              out[i].posted_amount = rs->getInt64(4);
              out[i].created_ms = rs->getInt64(5);
              out[i].final_ms = rs->getInt64(6);
              row_read[i] = true;
            }
          }
        }
      };
      for (const auto& [table, indices] : orders_by_table) read_order_rows(table, indices);
      // A refund stored before it had a home (migration 0010, docs/cluster.md "Refunds in a
      // cluster") is in the table of wallet 0, not in its original's home's: looked up there.
      std::vector<size_t> homeless;
      for (const auto& [table, indices] : orders_by_table)
        for (size_t i : indices)
          if (!row_read[i] && keys[i].home != no_wallet) homeless.push_back(i);
      if (!homeless.empty()) read_order_rows(layout.table_for("orders", no_wallet), homeless);
    } catch (const sql::SQLException& e) {
      conn.reset();
      for (auto& f : out) f = request_found{f.tenant, f.request_id, false, true};
      spdlog::error("request lookup: {} ({})", e.what(), e.getErrorCode());
    }
    return out;
  }

  //! The wallets among `ids` that MySQL holds, in their effective state (the wallet row is a
  //! checkpoint, the newest fund movement may be newer: persistence/wallet_state.hpp), with their
  //! TCC records.
  std::unordered_map<wallet_id, loaded_wallet> read(const std::vector<wallet_id>& ids) {
    std::unordered_map<wallet_id, loaded_wallet> result;
    // "id,id,..." by shard (database, table index), for the wallets and the TCC records alike.
    std::map<std::pair<uint32_t, uint32_t>, std::string> lists;
    for (wallet_id id : ids) {
      std::string& list = lists[{layout.database_of(id), layout.table_of(id)}];
      if (!list.empty()) list += ',';
      list += std::to_string(id);
    }
    for (const auto& [shard, list] : lists) {
      auto rs = conn->query(effective_wallets_sql(layout, shard.first, shard.second, list));
      namespace c = effective_column;
      while (rs->next()) {
        wallet_id id = rs->getUInt64(c::id);
        loaded_wallet& loaded = result[id];
        loaded.found = true;
        wallet_row& w = loaded.row;
        w.info.id = id;
        w.info.tenant = static_cast<tenant_id>(rs->getUInt(c::tenant));
        w.info.cur = currency::parse(std::string(rs->getString(c::currency))).value_or(currency{});
        w.info.kind = static_cast<wallet_kind>(rs->getUInt(c::kind));
        w.info.status = static_cast<wallet_status>(rs->getUInt(c::status));
        w.info.overdraft_limit = rs->getInt64(c::overdraft_limit);
        w.current = {rs->getInt64(c::available), rs->getInt64(c::frozen), rs->getInt64(c::incoming)};
        w.version = rs->getUInt64(c::version);
        w.updated_ms = rs->getInt64(c::updated_ms);
      }
    }
    for (const auto& [shard, list] : lists) {
      auto records = conn->query(
          "SELECT wallet_id,order_id,leg_type,state,try_result,tried_amount,confirmed_amount,updated_ms FROM " +
          layout.table_at("tcc_records", shard.first, shard.second) + " WHERE wallet_id IN (" + list + ")");
      while (records->next()) {
        tcc_row t;
        t.wallet = records->getUInt64(1);
        t.order = records->getUInt64(2);
        t.record.type = static_cast<leg_type>(records->getUInt(3));
        t.record.state = static_cast<tcc_record_state>(records->getUInt(4));
        t.record.try_result = static_cast<result_code>(records->getUInt(5));
        t.record.tried_amount = records->getInt64(6);
        t.record.confirmed_amount = records->getInt64(7);
        t.updated_ms = records->getInt64(8);
        auto owner = result.find(t.wallet);
        if (owner != result.end()) owner->second.records.push_back(t);  // a record without its wallet: ignored
      }
    }
    return result;
  }
};

using loader_stateful = wallet_loader_actor::stateful_pointer<loader_state>;

wallet_loader_actor::behavior_type loader_behavior(loader_stateful self, storage_link* link) {
  start_mysql_actor(self, link, [](loader_stateful self) { self->state.conn.reset(); });
  return {
      [=](lookup_atom, const std::vector<request_lookup>& keys) {
        auto& st = self->state;
        // Only order hosts look request ids up.
        st.lookup_queue.emplace_back(caf::actor_cast<order_host_actor>(self->current_sender()), keys);
        st.lookup_queued_keys += keys.size();
        if (st.lookup_queued_keys >= loader_state::lookup_batch_max || self->mailbox().empty()) st.lookup_queued(self);
        if (self->mailbox().empty()) st.load_queued(self);  // loads queued before this message
      },
      [=](wallet_lookup_atom, tenant_id tenant, const std::string& request_id) {
        auto found = self->state.lookup_wallet_request(tenant, request_id);
        if (self->mailbox().empty()) {  // what was queued before this message
          self->state.lookup_queued(self);
          self->state.load_queued(self);
        }
        return found;
      },
      [=](load_atom, wallet_id id) {
        auto& st = self->state;
        // Only wallet shards load wallets.
        st.load_queue.emplace_back(caf::actor_cast<wallet_shard_actor>(self->current_sender()), id);
        if (st.load_queue.size() >= loader_state::load_batch_max || self->mailbox().empty()) st.load_queued(self);
        if (self->mailbox().empty()) st.lookup_queued(self);  // lookups queued before this message
      },
  };
}

}  // namespace

wallet_loader_actor spawn_wallet_loader(caf::actor_system& system, storage_link* link) {
  return system.spawn<caf::detached>(loader_behavior, link);
}

}  // namespace txengine::persistence
