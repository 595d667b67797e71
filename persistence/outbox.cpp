#include "persistence/outbox.hpp"

#include <map>

#include "core/channel_routing.hpp"
#include "core/check.hpp"
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
  // The provider that settled it: the last of its route (a routed or re-routed order), else
  // the channel its command names.
  channel_id channel = c.channel;
  route_trail trail;
  if (!row.route.empty() && parse_route_trail(row.route, trail)) channel = trail[trail.size() - 1];
  e.set_channel(channel);
  e.set_created_ms(row.created_ms);
  e.set_final_ms(row.final_ms);
  std::string bytes;
  TX_CHECK(e.SerializeToString(&bytes));
  return bytes;
}

size_t append_outbox_statements(const shard_layout& layout, const std::string& topic,
                                const std::vector<const order_row*>& orders, int64_t created_ms,
                                std::vector<table_statement>& out) {
  table_statements outbox("outbox",
                          "INSERT IGNORE INTO {table} (event_id,order_id,topic,event_key,payload,created_ms,"
                          "home_wallet,published_ms) VALUES (?,?,?,?,?,?,?,0)",
                          {column_kind::uint64, column_kind::uint64, column_kind::bytes, column_kind::bytes,
                           column_kind::bytes, column_kind::int64, column_kind::uint64},
                          commit_side::order);  // with its order row
  for (const order_row* o : orders) {
    if (!is_final(o->state)) continue;
    outbox.rows_for(layout, "outbox", order_home(o->command))
        .u(o->id)
        .u(o->id)
        .b(topic)
        .b(order_event_key(o->id))
        .b(order_finalized_payload(*o))
        .i(created_ms)
        .u(order_home(o->command))  // which cluster node publishes it (docs/cluster.md)
        .end_row();
  }
  return outbox.emit(out);
}

}  // namespace txengine::persistence
