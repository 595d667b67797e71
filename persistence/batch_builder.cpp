#include "persistence/batch_builder.hpp"

#include <algorithm>
#include <iterator>
#include <string>

#include "core/check.hpp"

namespace txengine::persistence {

namespace {

constexpr column_kind I = column_kind::int64;
constexpr column_kind U = column_kind::uint64;
constexpr column_kind B = column_kind::bytes;

}  // namespace


std::vector<stored_movement> coalesce(const std::vector<movement_row>& movements) {
  std::vector<stored_movement> out;
  out.reserve(movements.size());
  std::unordered_map<std::pair<wallet_id, order_id>, size_t, tcc_key_hash> tries;  // index in out
  for (const auto& m : movements) {
    const journal_entry& e = m.entry;
    if (e.phase == tcc_phase::confirm) {
      auto found = tries.find({m.wallet, e.txn});
      if (found != tries.end()) {
        stored_movement& tried = out[found->second];
        tries.erase(found);
        if (tried.entry->sequence + 1 == e.sequence) {
          balances sum;
          TX_CHECK(!__builtin_add_overflow(tried.delta.available, e.delta.available, &sum.available));
          TX_CHECK(!__builtin_add_overflow(tried.delta.frozen, e.delta.frozen, &sum.frozen));
          TX_CHECK(!__builtin_add_overflow(tried.delta.incoming, e.delta.incoming, &sum.incoming));
          tried = stored_movement{m.wallet, &e, movement_phase_try_confirm, sum};
          continue;
        }
      }
    }
    if (e.phase == tcc_phase::try_) tries[{m.wallet, e.txn}] = out.size();
    out.push_back(stored_movement{m.wallet, &e, static_cast<unsigned>(e.phase), e.delta});
  }
  return out;
}

void batch_rows::add(write_batch& b) {
  for (auto& w : b.wallets) {
    auto [it, inserted] = wallets.emplace(w.info.id, w);
    if (!inserted && w.version >= it->second.version) {
      // A later row of a wallet created in this batch keeps its creation's request id.
      if (w.request_id.empty() && !it->second.request_id.empty()) {
        w.request_id = std::move(it->second.request_id);
        w.request_hash = it->second.request_hash;
      }
      it->second = std::move(w);
    }
  }
  movements.insert(movements.end(), std::make_move_iterator(b.movements.begin()),
                   std::make_move_iterator(b.movements.end()));
  for (auto& t : b.tcc) tcc[{t.wallet, t.order}] = t;
  for (auto& o : b.orders) {
    order_id id = o.id;
    auto [it, inserted] = orders.try_emplace(id, std::move(o));
    if (!inserted) {
      bool intent = it->second.intent || o.intent;
      bool awaited = it->second.awaited || o.awaited;
      it->second = std::move(o);
      it->second.intent = intent;
      it->second.awaited = awaited;
    }
  }
}

std::vector<order_row> batch_rows::take_carried_intents() {
  std::vector<order_row> carried;
  // The candidates are few (the orders that came last): they are looked up by every effect,
  // rather than every effect's order put in a set.
  std::unordered_set<order_id> candidates;
  for (const auto& [id, o] : orders) {
    order_kind kind = o.command.kind;
    if (o.intent && !o.awaited && !is_final(o.state) && kind != order_kind::top_up && kind != order_kind::withdraw)
      candidates.insert(id);
  }
  if (candidates.empty()) return carried;
  for (const auto& m : movements) candidates.erase(m.entry.txn);
  for (const auto& [key, t] : tcc) candidates.erase(t.order);
  for (auto it = orders.begin(); it != orders.end();) {
    if (candidates.count(it->first) != 0) {
      carried.push_back(std::move(it->second));
      it = orders.erase(it);
    } else {
      ++it;
    }
  }
  return carried;
}

void wallet_statements(const shard_layout& layout, const batch_rows& rows, std::vector<table_statement>& out,
                       built_rows& written) {
  table_statements wallet_set(
      "wallets",
      "INSERT INTO {table} (id,tenant,currency,kind,status,overdraft_limit,available,frozen,incoming,version,"
      "created_ms,updated_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
      " ON DUPLICATE KEY UPDATE status=VALUES(status),overdraft_limit=VALUES(overdraft_limit),"
      "available=IF(VALUES(version)>=version,VALUES(available),available),"
      "frozen=IF(VALUES(version)>=version,VALUES(frozen),frozen),"
      "incoming=IF(VALUES(version)>=version,VALUES(incoming),incoming),"
      "updated_ms=VALUES(updated_ms),version=GREATEST(version,VALUES(version))",
      {U, U, B, U, U, I, I, I, I, U, I, I});
  for (const auto& [id, w] : rows.wallets) {
    const auto& i = w.info;
    wallet_set.rows_for(layout, "wallets", id)
        .u(id)
        .u(i.tenant)
        .b(i.cur.code())
        .u(static_cast<unsigned>(i.kind))
        .u(static_cast<unsigned>(i.status))
        .i(i.overdraft_limit)
        .i(w.current.available)
        .i(w.current.frozen)
        .i(w.current.incoming)
        .u(w.version)
        .i(w.updated_ms)
        .i(w.updated_ms)
        .end_row();
  }
  written.rows += rows.wallets.size();
  wallet_set.emit(out);
}

void wallet_request_statements(const shard_layout& layout, const batch_rows& rows, std::vector<table_statement>& out,
                               built_rows& written) {
  table_statements wallet_request_set(
      "wallet_requests",
      "INSERT IGNORE INTO {table} (tenant,request_id,wallet_id,content_hash,created_ms) VALUES (?,?,?,?,?)",
      {U, B, U, U, I});
  for (const auto& [id, w] : rows.wallets) {
    if (w.request_id.empty()) continue;
    wallet_request_set.rows_for(layout, "wallet_requests", shard_layout::request_key(w.info.tenant, w.request_id))
        .u(w.info.tenant)
        .b(w.request_id)
        .u(id)
        .u(w.request_hash)
        .i(w.updated_ms)
        .end_row();
    ++written.rows;
  }
  wallet_request_set.emit(out);
}

void movement_statements(const shard_layout& layout, const batch_rows& rows, std::vector<table_statement>& out,
                         built_rows& written) {
  table_statements movement_set(
      "fund_movements",
      "INSERT IGNORE INTO {table} (wallet_id,seq,order_id,phase,d_available,d_frozen,d_incoming,available_after,"
      "frozen_after,incoming_after,at_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
      {U, U, U, U, I, I, I, I, I, I, I});
  std::vector<stored_movement> journal = coalesce(rows.movements);
  for (const auto& m : journal) {
    const auto& e = *m.entry;
    movement_set.rows_for(layout, "fund_movements", m.wallet)
        .u(m.wallet)
        .u(e.sequence)
        .u(e.txn)
        .u(m.phase)
        .i(m.delta.available)
        .i(m.delta.frozen)
        .i(m.delta.incoming)
        .i(e.after.available)
        .i(e.after.frozen)
        .i(e.after.incoming)
        .i(e.at_ms)
        .end_row();
  }
  written.rows += journal.size();
  movement_set.emit(out);
}

void tcc_statements(const shard_layout& layout, const batch_rows& rows, const std::unordered_set<order_id>& finals,
                    std::vector<table_statement>& out, built_rows& written) {
  table_statements tcc_set(
      "tcc_records",
      "INSERT INTO {table} (wallet_id,order_id,leg_type,state,try_result,tried_amount,confirmed_amount,"
      "try_deadline_ms,updated_ms) VALUES (?,?,?,?,?,?,?,?,?)"
      " ON DUPLICATE KEY UPDATE state=VALUES(state),try_result=VALUES(try_result),"
      "confirmed_amount=VALUES(confirmed_amount),updated_ms=VALUES(updated_ms)",
      {U, U, U, U, U, I, I, I, I});
  for (const auto& [key, t] : rows.tcc) {
    if (finals.count(t.order)) continue;
    written.tcc_kept.emplace_back(t.order, t.wallet);
    ++written.rows;
    const auto& r = t.record;
    tcc_set.rows_for(layout, "tcc_records", t.wallet)
        .u(t.wallet)
        .u(t.order)
        .u(static_cast<unsigned>(r.type))
        .u(static_cast<unsigned>(r.state))
        .u(static_cast<unsigned>(r.try_result))
        .i(r.tried_amount)
        .i(r.confirmed_amount)
        .i(0)
        .i(t.updated_ms)
        .end_row();
  }
  tcc_set.emit(out);
}

void tcc_delete_statements(const shard_layout& layout, const std::unordered_set<order_id>& finals,
                           const tcc_history& history, std::vector<table_statement>& out, built_rows& written) {
  table_statements tcc_delete("tcc_records delete", "DELETE FROM {table} WHERE order_id=?", {U});
  std::vector<order_id> unknown;
  for (order_id id : finals) {
    auto found = history.stored.find(id);
    if (history.every_table || history.fresh.count(id) == 0) {
      // Rows of wallets this writer never wrote may exist (an earlier process wrote them):
      // every table, even when this writer also stored some of the order's rows.
      unknown.push_back(id);
      if (found != history.stored.end()) written.tcc_deleted.push_back(id);
      continue;
    }
    if (found == history.stored.end()) continue;
    written.tcc_deleted.push_back(id);
    std::vector<std::string> tables;
    for (wallet_id w : found->second) {
      std::string table = layout.table_for("tcc_records", w);
      if (std::find(tables.begin(), tables.end(), table) == tables.end()) tables.push_back(std::move(table));
      ++written.rows;
    }
    for (const auto& table : tables) tcc_delete.rows_for(table).u(id).end_row();
  }
  if (!unknown.empty())
    for (uint32_t d = 0; d < layout.databases; ++d)
      for (uint32_t t : layout.tables_in(d)) {
        bulk_rows& rows = tcc_delete.rows_for(layout.table_at("tcc_records", d, t));
        for (order_id id : unknown) rows.u(id).end_row();
      }
  tcc_delete.emit(out);
}

void order_statements(const shard_layout& layout, const batch_rows& rows, std::vector<table_statement>& out,
                      built_rows& written) {
  table_statements order_set(
      "orders",
      "INSERT INTO {table} (id,tenant,request_id,kind,state,is_final,result_code,currency,amount,confirmed_amount,"
      "source,destination,fee_wallet,fee_amount,original_order,channel,legs,attempts,try_deadline_ms,created_ms,"
      "updated_ms,final_ms,home_wallet,route) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
      " ON DUPLICATE KEY UPDATE state=IF(is_final=1,state,VALUES(state)),"
      "result_code=IF(is_final=1,result_code,VALUES(result_code)),"
      "confirmed_amount=IF(is_final=1,confirmed_amount,VALUES(confirmed_amount)),"
      "legs=IF(is_final=1,legs,VALUES(legs)),attempts=IF(is_final=1,attempts,VALUES(attempts)),"
      "route=IF(is_final=1,route,VALUES(route)),"
      "final_ms=IF(is_final=1,final_ms,VALUES(final_ms)),updated_ms=VALUES(updated_ms),"
      "is_final=GREATEST(is_final,VALUES(is_final))",
      {U, U, B, U, U, U, U, B, I, I, U, U, U, I, U, U, B, U, I, I, I, I, U, B}, commit_side::order);
  table_statements request_set(
      "request_ids",
      "INSERT IGNORE INTO {table} (tenant,request_id,order_id,content_hash,created_ms) VALUES (?,?,?,?,?)",
      {U, B, U, U, I}, commit_side::order);
  for (const auto& [id, o] : rows.orders) {
    const auto& c = o.command;
    order_set.rows_for(layout, "orders", order_home(c))
        .u(id)
        .u(c.tenant)
        .b(c.request_id)
        .u(static_cast<unsigned>(c.kind))
        .u(static_cast<unsigned>(o.state))
        .u(is_final(o.state) ? 1 : 0)
        .u(static_cast<unsigned>(o.reason))
        .b(c.cur.code())
        .i(c.amount)
        .i(o.posted_amount)
        .u(c.source)
        .u(c.destination)
        .u(c.fee_wallet)
        .i(c.fee_amount)
        .u(c.original_order)
        .u(c.channel)
        .b(o.legs_json)
        .u(o.attempts)
        .i(o.try_deadline_ms)
        .i(o.created_ms)
        .i(o.updated_ms)
        .i(o.final_ms)
        .u(c.home)
        .b(o.route)
        .end_row();
    ++written.rows;
    if (o.intent) {
      ++written.rows;
      request_set.rows_for(layout, "request_ids", shard_layout::request_key(c.tenant, c.request_id))
          .u(c.tenant)
          .b(c.request_id)
          .u(id)
          .u(command_content_hash(c))
          .i(o.created_ms)
          .end_row();
    }
  }
  order_set.emit(out);
  request_set.emit(out);
}

void open_order_statements(const shard_layout& layout, const batch_rows& rows, std::vector<table_statement>& out,
                           built_rows& written) {
  table_statements open_set("open_orders", "INSERT IGNORE INTO {table} (id) VALUES (?)", {U}, commit_side::order);
  table_statements open_delete("open_orders delete", "DELETE FROM {table} WHERE id=?", {U}, commit_side::order);
  for (const auto& [id, o] : rows.orders) {
    const bool final_row = is_final(o.state);
    if (o.intent && !final_row) {
      open_set.rows_for(layout, "open_orders", order_home(o.command)).u(id).end_row();
      ++written.rows;
    } else if (!o.intent && final_row) {
      open_delete.rows_for(layout, "open_orders", order_home(o.command)).u(id).end_row();
      ++written.rows;
    }
  }
  open_set.emit(out);
  open_delete.emit(out);
}

void refund_statements(const shard_layout& layout, const batch_rows& rows, std::vector<table_statement>& out,
                       built_rows& written) {
  table_statements refund_set("refunds", "INSERT IGNORE INTO {table} (original_order,refund_id) VALUES (?,?)", {U, U},
                              commit_side::order);
  for (const auto& [id, o] : rows.orders) {
    const auto& c = o.command;
    if (o.intent && c.kind == order_kind::refund) {
      refund_set.rows_for(layout, "refunds", order_home(c)).u(c.original_order).u(id).end_row();
      ++written.rows;
    }
  }
  refund_set.emit(out);
}

size_t checkpoint_statements(const shard_layout& layout, const std::vector<wallet_checkpoint>& chosen,
                             std::vector<table_statement>& out) {
  table_statements update("wallets checkpoint",
                          "UPDATE {table} SET available=?,frozen=?,incoming=?,version=?,updated_ms=? "
                          "WHERE id=? AND version<?",
                          {I, I, I, U, I, U, U});
  for (const auto& c : chosen)
    update.rows_for(layout, "wallets", c.wallet)
        .i(c.current.available)
        .i(c.current.frozen)
        .i(c.current.incoming)
        .u(c.version)
        .i(c.updated_ms)
        .u(c.wallet)
        .u(c.version)
        .end_row();
  return update.emit(out);
}

std::vector<table_statement> batch_statements(const shard_layout& layout, const batch_rows& rows,
                                              const tcc_history& history, built_rows& written) {
  std::vector<table_statement> out;
  std::unordered_set<order_id> finals;
  for (const auto& [id, o] : rows.orders)
    if (is_final(o.state)) finals.insert(id);
  wallet_statements(layout, rows, out, written);
  wallet_request_statements(layout, rows, out, written);
  movement_statements(layout, rows, out, written);
  tcc_statements(layout, rows, finals, out, written);
  tcc_delete_statements(layout, finals, history, out, written);
  order_statements(layout, rows, out, written);
  open_order_statements(layout, rows, out, written);
  refund_statements(layout, rows, out, written);
  return out;
}

std::vector<uint32_t> partitions_of(const batch_rows& rows, const std::vector<wallet_checkpoint>& checkpoints,
                                    uint32_t partitions) {
  std::vector<bool> seen(partitions, false);
  auto mark = [&](wallet_id w) { seen[partition_of(w, partitions)] = true; };
  for (const auto& [id, w] : rows.wallets) mark(id);
  for (const auto& m : rows.movements) mark(m.wallet);
  for (const auto& [key, t] : rows.tcc) mark(t.wallet);
  for (const auto& [id, o] : rows.orders) mark(order_home(o.command));
  for (const auto& c : checkpoints) mark(c.wallet);
  std::vector<uint32_t> out;
  for (uint32_t p = 0; p < partitions; ++p)
    if (seen[p]) out.push_back(p);
  return out;
}

}  // namespace txengine::persistence
