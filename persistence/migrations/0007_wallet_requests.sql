-- 0007: idempotent wallet creation (issue 12). A create_wallet that carries a request id leaves
-- one row here, in the same transaction as the wallet's first row (the wallet side of the
-- commit): a repeat of the request id, even after a restart, finds its wallet; other content
-- (currency, kind, overdraft limit at creation: content_hash) is a conflict. Sharded like
-- request_ids: database and table index by a hash of (tenant, request_id).
-- Applied once per shard database, once per table index {t}; safe to re-run.
CREATE TABLE IF NOT EXISTS wallet_requests_{t} (
  tenant           INT UNSIGNED     NOT NULL,
  request_id       VARBINARY(64)    NOT NULL,
  wallet_id        BIGINT UNSIGNED  NOT NULL,
  content_hash     BIGINT UNSIGNED  NOT NULL,
  created_ms       BIGINT           NOT NULL,
  PRIMARY KEY (tenant, request_id)
) ENGINE=InnoDB;
