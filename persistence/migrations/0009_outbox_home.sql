-- 0009: each outbox row names its order's home wallet (issue 14, docs/cluster.md, "Publication
-- in a cluster"). A cluster node publishes only the rows of the partitions it holds (home wallet
-- mod the partition count), so a final order is produced by one node, and a node that takes a
-- dead node's partitions over publishes what that node left unpublished. Rows written before
-- say 0 (partition 0's owner publishes them). Applied once per shard database, once per table
-- index {t}; safe to re-run.
ALTER TABLE outbox_{t} ADD COLUMN IF NOT EXISTS home_wallet BIGINT UNSIGNED NOT NULL DEFAULT 0;
