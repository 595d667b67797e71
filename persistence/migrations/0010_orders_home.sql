-- 0010: each order row names its home wallet when it is not its source or destination (issue 14,
-- docs/cluster.md, "Refunds in a cluster"). A refund names no wallet; a cluster node gives it
-- its original payment's home, so that the refund's rows are stored, fenced and resumed in the
-- partition where the original's refund allowance lives. Rows written before, and every order
-- of another kind, say 0 (a refund's home then is partition 0's owner, as before). Applied once
-- per shard database, once per table index {t}; safe to re-run.
ALTER TABLE orders_{t} ADD COLUMN IF NOT EXISTS home_wallet BIGINT UNSIGNED NOT NULL DEFAULT 0;
