-- 0003: orders lose the index by_source (source, id). Nothing queries it, and a wallet's orders
-- are already found through its journal (fund_movements: PRIMARY KEY (wallet_id, seq) -> order_id).
-- Measured: with 100k source wallets each order row cost the server ~2x the CPU with it (a
-- random insert into a secondary index per order), the largest single cost of a durable order.
-- Applied once per shard database, once per table index {t}; safe to re-run.
DROP INDEX IF EXISTS by_source ON orders_{t};
