#pragma once
// Every fixed bound of the engine in one place, each named once. Bounds an operator may tune
// are configuration keys whose default and range are here too (checked at start by
// node/engine.cpp's engine_config_problem and apps/config_file.cpp); the wire's own bounds
// (frame size, signature window) are in protocol/wire.hpp, the server's connection bounds in
// protocol/server.hpp. Past a limit the engine refuses with a clear, retryable error;
// nothing grows without bound.
#include <cstddef>
#include <cstdint>

namespace txengine::limits {

//! Longest client request id accepted (bytes).
constexpr size_t request_id_length_max = 64;
//! Most commands in one submitted batch.
constexpr size_t batch_commands_max = 4096;
//! Most legs one order can have (pay with a fee: payer, merchant, fee wallet; a refund: the
//! allowance on the original payment, then merchant and payer). The order's inline leg list,
//! its checks and the stored `legs` JSON all use this one number.
constexpr size_t order_legs_max = 3;
//! Open (tried, not yet confirmed or cancelled) transactions one wallet holds at most.
constexpr size_t wallet_open_transactions_max = 1 << 20;
//! Finished TCC records kept per wallet for idempotent repeats, at most.
constexpr size_t wallet_finished_records_max = 1 << 21;
//! Journal entries kept in memory per wallet before the oldest are folded into a base (config
//! `[wallet] journal_entries_max`, up to wallet_journal_entries_limit). The memory of the journals
//! is this times the wallets: 256 entries of 80 bytes, 20 KiB a wallet (the FIFO's ring holds
//! the bound rounded up to a power of two). bench_soak at 4,096 reached 8.8 GB with 10,000 wallets in 2.5
//! minutes. With storage the whole journal is in MySQL (ListMovements reads older pages there);
//! in memory only the last ones can be shown.
constexpr size_t wallet_journal_entries_max = 256;
constexpr size_t wallet_journal_entries_limit = 1 << 20;
//! How long a wallet keeps a finished TCC record (and cancel tombstones) for idempotent repeats
//! (config `[wallet] finished_record_retention_ms`): it must exceed every order's try deadline
//! plus its retry horizon, so a late step still finds its record: 30 s is 3x the defaults' 10 s.
//! It sets the memory of the records: about 2.3 per order times the orders of that window
//! (bench_soak measured the plateau at half the size and a minute sooner than with 120 s).
constexpr int64_t wallet_finished_record_retention_ms = 30'000;
//! How long an order's try phase may take by default (config `[order] try_deadline_ms`); a try
//! arriving later is refused (`tcc_deadline_passed`), so no record needs to stop it after that.
constexpr int64_t order_try_deadline_ms_default = 5'000;
//! Orders in flight (not yet final) on one engine, at most.
constexpr size_t engine_orders_in_flight_max = 1 << 20;
//! Final orders an engine keeps in memory at most (config `[engine] orders_retained_max`);
//! past it the oldest leave memory (final_retention.hpp). New orders are refused
//! (`overloaded`) only while the oldest cannot leave yet (final rows not yet committed).
constexpr size_t engine_orders_retained_max = 1 << 25;
//! How long a final order stays in memory by default (config `[order] final_retention_ms`):
//! the idempotency window without storage.
constexpr int64_t order_final_retention_ms_default = 10 * 60 * 1000;
//! Bounds of that setting: at least a second (a repeat right after the answer must find the
//! order), at most a week.
constexpr int64_t order_final_retention_ms_min = 1000;
constexpr int64_t order_final_retention_ms_max = 7 * 24 * 3600 * 1000ll;
//! A query or administration call (wallet get, movements, order get, stats) not answered by
//! then gets `unavailable` (retryable) instead of holding its caller.
constexpr int64_t query_deadline_ms = 10'000;
//! With storage, create_wallet request ids remembered in memory at most (the newest); older
//! ones are looked up in MySQL (wallet_requests) again.
constexpr size_t wallet_requests_cached_max = 1 << 20;
//! ListMovements pages being read from MySQL per wallet shard (older than the journal in
//! memory), at most; past it a page request gets `unavailable` (retryable).
constexpr size_t wallet_history_reads_pending_max = 64;
//! GetOrder with movements being gathered per order host (from MySQL, or from the wallet
//! shards without storage), at most; past it `unavailable` (retryable).
constexpr size_t order_history_pending_max = 64;
//! Requests one simulated channel holds queued, at most (past it a submit is refused unseen,
//! as a provider's full queue), and orders it remembers for queries.
constexpr size_t channel_queue_max = 1 << 18;
constexpr size_t channel_known_orders_max = 1 << 21;
//! How long a simulated channel remembers an order's outcome after the last request about it
//! (its submit or a query). An order waiting for its outcome queries at least every
//! order_config::channel_query_max_interval_ms (10 s), so only orders nobody asks about any more
//! are forgotten; twice the wallets' finished-record retention. Without it the provider's memory
//! grows for as long as it takes to see channel_known_orders_max orders (2^21: 5 minutes of the
//! durable soak, about 130 MiB; docs/benchmarks.md).
constexpr int64_t channel_known_order_ms = 60'000;
//! Per order host: refunds' original payments being read from MySQL, and steps waiting for
//! one of them, at most; past either the step is answered busy (the refund resends it).
constexpr size_t refund_originals_loading_max = 4096;
constexpr size_t refund_steps_per_original_max = 1024;
//! Per order host of a cluster node: originals whose home refunds wait to learn, at most; past it
//! the refund gets `unavailable` (retryable). docs/cluster.md, "Refunds in a cluster".
constexpr size_t refund_homes_resolving_max = 4096;
//! A refund of an order id no node knows is refused retryably (`unavailable`) while the id is
//! younger than this (its payment, acknowledged from memory, may not be committed yet), then
//! with the allowance's `unknown_order`.
constexpr int64_t refund_original_unseen_ms = 60'000;
//! Per order host: orders being read from MySQL for GetOrder, and queries waiting for one
//! order, at most; past either the query gets `unavailable` (retryable).
constexpr size_t order_queries_loading_max = 4096;
constexpr size_t order_queries_per_order_max = 256;
//! Per order host: request ids being looked up in MySQL (a repeat of an order no longer in
//! memory), and repeats waiting for recovery, at most; past it `unavailable` (retryable).
constexpr size_t request_lookups_pending_max = 1 << 16;

//! A cluster node, per order host: submits forwarded to the node that holds their home wallet
//! and not answered yet, at most; past it new ones get `overloaded` (retryable).
constexpr size_t forwarded_orders_max = 1 << 16;
//! How often a cluster node's host with orders in flight or forwarded submits not answered yet
//! looks whether routes changed (an owner, or a link): its waiting steps and submits are sent
//! again at once, to the node that holds them now.
constexpr int64_t routes_check_ms = 250;
//! A forwarded submit not answered within this long is sent again (then after twice as long, up
//! to forward_resend_max_ms): a message lost on a link is never answered, and the owner answers
//! the second send as a repeat of its request id.
constexpr int64_t forward_resend_ms = 1'000;
constexpr int64_t forward_resend_max_ms = 8'000;

static_assert(order_legs_max >= 3, "pay with a fee split needs three legs");
static_assert(batch_commands_max <= engine_orders_in_flight_max);

}  // namespace txengine::limits
