#pragma once
// Every bound of the engine in one place. Past a limit the engine refuses with a clear,
// retryable error; nothing grows without bound.
#include <cstddef>
#include <cstdint>

namespace txengine::limits {

//! Longest client request id accepted (bytes).
constexpr size_t request_id_length_max = 64;
//! Most commands in one submitted batch.
constexpr size_t batch_commands_max = 4096;
//! Most legs one order can have (pay with fee: payer, merchant, fee wallet).
constexpr size_t order_legs_max = 3;
//! Open (tried, not yet confirmed or cancelled) transactions one wallet holds at most.
constexpr size_t wallet_open_transactions_max = 1 << 20;
//! Finished TCC records kept per wallet for idempotent repeats, at most.
constexpr size_t wallet_finished_records_max = 1 << 21;
//! Journal entries kept in memory per wallet before the oldest are folded into a base.
constexpr size_t wallet_journal_entries_max = 1 << 16;
//! Orders in flight (not yet final) on one engine, at most.
constexpr size_t engine_orders_in_flight_max = 1 << 20;
//! Orders an engine keeps in memory (final ones included) before refusing new ones.
constexpr size_t engine_orders_retained_max = 1 << 25;
//! Requests one simulated channel holds queued, at most.
constexpr size_t channel_queue_max = 1 << 18;

static_assert(order_legs_max >= 3, "pay with a fee split needs three legs");
static_assert(batch_commands_max <= engine_orders_in_flight_max);

}  // namespace txengine::limits
