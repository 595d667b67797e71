#include "persistence/outbox.hpp"

#include <map>

#include "actors/core/check.hpp"
#include "events.pb.h"

namespace txengine::persistence {

std::string order_event_key(order_id id) { return std::to_string(id); }

std::string order_finalized_payload(const order_row& row) {
  TX_CHECK(is_final(row.state));
  const order_command& c = row.command;
  txengine::events::OrderFinalized e;
  e.set_event_id(row.id);
  e.set_tenant(c.tenant);
  e.set_order_id(row.id);
  e.set_request_id(c.request_id);
  e.set_kind(static_cast<txengine::wire::OrderKind>(c.kind));
  e.set_state(static_cast<txengine::wire::OrderState>(row.state));
  e.set_result(static_cast<txengine::wire::ResultCode>(row.reason));
  e.set_currency(c.cur.code());
  e.set_amount(c.amount);
  e.set_confirmed_amount(row.posted_amount);
  e.set_source(c.source);
  e.set_destination(c.destination);
  e.set_fee_wallet(c.fee_wallet);
  e.set_fee_amount(c.fee_amount);
  e.set_original_order(c.original_order);
  e.set_channel(c.channel);
  e.set_created_ms(row.created_ms);
  e.set_final_ms(row.final_ms);
  std::string bytes;
  TX_CHECK(e.SerializeToString(&bytes));
  return bytes;
}

namespace {

void append_hex(std::string& out, const std::string& bytes) {
  static const char* digits = "0123456789ABCDEF";
  out += "X'";
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  out += '\'';
}

}  // namespace

size_t append_outbox_statements(const shard_layout& layout, const std::string& topic,
                                const std::vector<const order_row*>& orders, int64_t created_ms,
                                std::vector<std::string>& out) {
  std::map<std::string, std::string> values_by_table;
  size_t rows = 0;
  for (const order_row* o : orders) {
    if (!is_final(o->state)) continue;
    std::string& values = values_by_table[layout.table_for("outbox", order_home(o->command))];
    if (!values.empty()) values += ',';
    values += '(' + std::to_string(o->id) + ',' + std::to_string(o->id) + ',';
    append_hex(values, topic);
    values += ',';
    append_hex(values, order_event_key(o->id));
    values += ',';
    append_hex(values, order_finalized_payload(*o));
    values += ',' + std::to_string(created_ms) + ",0)";
    ++rows;
  }
  for (auto& [table, values] : values_by_table)
    out.push_back("INSERT IGNORE INTO " + table +
                  " (event_id,order_id,topic,event_key,payload,created_ms,published_ms) VALUES " + values);
  return rows;
}

}  // namespace txengine::persistence
