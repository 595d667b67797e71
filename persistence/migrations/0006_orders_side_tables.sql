-- 0006: orders lose their two secondary indexes, open_orders (is_final, id) and by_original
-- (original_order, id). Each cost a random insert per order row (and open_orders an update of
-- its entry at the final row) although recovery and the refund lookup after a restart are
-- their only readers. Side tables, in the same database and table index as the order row and
-- written in the same transaction, take their place; an order written once, final at once (most
-- of them), writes none of them (docs/durability-design.md, "Recovery").
-- Applied once per shard database, once per table index {t}; safe to re-run (a half-applied run
-- is completed: the backfill ignores rows already there).

-- The id of every order whose row is not final: inserted with an intent committed before its
-- final row, deleted with the final row. Recovery reads it (keyset on the id).
CREATE TABLE IF NOT EXISTS open_orders_{t} (
  id               BIGINT UNSIGNED  NOT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB;

-- Every refund order: its original payment and its id (the refund's own orders table). The
-- refund allowance of a payment made before a restart is rebuilt from these.
CREATE TABLE IF NOT EXISTS refunds_{t} (
  original_order   BIGINT UNSIGNED  NOT NULL,
  refund_id        BIGINT UNSIGNED  NOT NULL,
  PRIMARY KEY (original_order, refund_id)
) ENGINE=InnoDB;

-- The rows written before this migration (kind 4 is a refund).
INSERT IGNORE INTO open_orders_{t} (id) SELECT id FROM orders_{t} WHERE is_final = 0;
INSERT IGNORE INTO refunds_{t} (original_order, refund_id)
  SELECT original_order, id FROM orders_{t} WHERE kind = 4 AND original_order <> 0;

DROP INDEX IF EXISTS open_orders ON orders_{t};
DROP INDEX IF EXISTS by_original ON orders_{t};
