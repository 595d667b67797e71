#pragma once
// The outbox (issue 5, docs/protocol.md "Events"): one row per final order, written by the
// writer in the same transaction as the order's final row, published to Kafka later by the
// publisher (publication/publisher.hpp). Kept apart from the writer: it only calls
// append_outbox_statements() for the rows of its batch.
#include <cstdint>
#include <string>
#include <vector>

#include "ports/storage_rows.hpp"
#include "persistence/bulk_connection.hpp"
#include "persistence/shard_layout.hpp"

namespace txengine::persistence {

//! The Kafka key of an order's events: its id in ASCII decimal ("1234567").
std::string order_event_key(order_id id);

//! The serialized txengine.events.OrderFinalized of a final order row (event id = order id).
std::string order_finalized_payload(const order_row& row);

//! Adds one array-bound `INSERT IGNORE INTO outbox_t ...` per outbox table for the final rows among
//! `orders` (rows not final are skipped) and returns how many rows it added. INSERT IGNORE:
//! a batch committed again after a lost answer leaves the first row (and its published_ms) alone.
size_t append_outbox_statements(const shard_layout& layout, const std::string& topic,
                                const std::vector<const order_row*>& orders, int64_t created_ms,
                                std::vector<table_statement>& out);

}  // namespace txengine::persistence
