-- 0002: refunds of an order, found by their original (the refund allowance of a payment made
-- before a restart is rebuilt from its refunds: docs/durability-design.md, "Recovery").
-- Applied once per shard database, once per table index {t}; safe to re-run.
CREATE INDEX IF NOT EXISTS by_original ON orders_{t} (original_order, id);
