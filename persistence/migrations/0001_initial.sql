-- 0001 initial schema. Applied once per shard database, once per table index {t} in 0..T-1.
-- Wallet-keyed tables live in database (wallet id mod D), table (wallet id mod T); orders and
-- the outbox follow the order's home wallet (its source), request ids follow a hash of
-- (tenant, request id). Amounts are int64 minor units. Times are unix milliseconds.
-- Rules: statements must be safe to re-run (IF NOT EXISTS), a released file never changes.

-- One row per wallet: balances, limits, status; version = sequence of its last fund movement.
CREATE TABLE IF NOT EXISTS wallets_{t} (
  id               BIGINT UNSIGNED  NOT NULL,
  tenant           INT UNSIGNED     NOT NULL,
  currency         CHAR(3)          NOT NULL,
  kind             TINYINT UNSIGNED NOT NULL,  -- wallet_kind: 0 user, 1 merchant, 2 system, 3 fee
  status           TINYINT UNSIGNED NOT NULL,  -- wallet_status: 0 active, 1 frozen, 2 closed
  overdraft_limit  BIGINT           NOT NULL DEFAULT 0,
  available        BIGINT           NOT NULL DEFAULT 0,
  frozen           BIGINT           NOT NULL DEFAULT 0,
  incoming         BIGINT           NOT NULL DEFAULT 0,
  version          BIGINT UNSIGNED  NOT NULL DEFAULT 0,
  created_ms       BIGINT           NOT NULL,
  updated_ms       BIGINT           NOT NULL,
  PRIMARY KEY (id),
  KEY by_tenant (tenant, id)
) ENGINE=InnoDB;

-- The journal: one row per sub-balance change of one wallet, with the resulting balances.
-- (wallet_id, seq) is the wallet's version after the change, so a replayed write is a duplicate key.
CREATE TABLE IF NOT EXISTS fund_movements_{t} (
  wallet_id        BIGINT UNSIGNED  NOT NULL,
  seq              BIGINT UNSIGNED  NOT NULL,
  order_id         BIGINT UNSIGNED  NOT NULL,
  phase            TINYINT UNSIGNED NOT NULL,  -- tcc_phase: 0 try, 1 confirm, 2 cancel; 3 direct (one-step, baseline and seeding)
  d_available      BIGINT           NOT NULL,
  d_frozen         BIGINT           NOT NULL,
  d_incoming       BIGINT           NOT NULL,
  available_after  BIGINT           NOT NULL,
  frozen_after     BIGINT           NOT NULL,
  incoming_after   BIGINT           NOT NULL,
  at_ms            BIGINT           NOT NULL,
  PRIMARY KEY (wallet_id, seq),
  KEY by_order (order_id)
) ENGINE=InnoDB;

-- Orders, in the shard of their home wallet (the source wallet; top-ups: the user).
-- legs: JSON array, one object per leg: {"w":wallet,"type":leg_type,"amount":x,"confirmed":y,"step":tcc_phase,"done":0|1}.
CREATE TABLE IF NOT EXISTS orders_{t} (
  id               BIGINT UNSIGNED  NOT NULL,
  tenant           INT UNSIGNED     NOT NULL,
  request_id       VARBINARY(128)   NOT NULL,
  kind             TINYINT UNSIGNED NOT NULL,  -- order_kind
  state            TINYINT UNSIGNED NOT NULL,  -- order_state: 5 succeeded and 6 failed are final
  is_final         TINYINT UNSIGNED NOT NULL,
  result_code      SMALLINT UNSIGNED NOT NULL DEFAULT 0,
  currency         CHAR(3)          NOT NULL,
  amount           BIGINT           NOT NULL,
  confirmed_amount BIGINT           NOT NULL DEFAULT 0,
  source           BIGINT UNSIGNED  NOT NULL DEFAULT 0,
  destination      BIGINT UNSIGNED  NOT NULL DEFAULT 0,
  fee_wallet       BIGINT UNSIGNED  NOT NULL DEFAULT 0,
  fee_amount       BIGINT           NOT NULL DEFAULT 0,
  original_order   BIGINT UNSIGNED  NOT NULL DEFAULT 0,
  channel          INT UNSIGNED     NOT NULL DEFAULT 0,
  legs             TEXT             NOT NULL,
  attempts         INT UNSIGNED     NOT NULL DEFAULT 0,
  try_deadline_ms  BIGINT           NOT NULL DEFAULT 0,
  next_attempt_ms  BIGINT           NOT NULL DEFAULT 0,
  created_ms       BIGINT           NOT NULL,
  updated_ms       BIGINT           NOT NULL,
  final_ms         BIGINT           NOT NULL DEFAULT 0,
  PRIMARY KEY (id),
  KEY open_orders (is_final, id),
  KEY by_source (source, id)
) ENGINE=InnoDB;

-- Idempotency: one row per (tenant, request id); content_hash tells "same order" from "conflict".
CREATE TABLE IF NOT EXISTS request_ids_{t} (
  tenant           INT UNSIGNED     NOT NULL,
  request_id       VARBINARY(128)   NOT NULL,
  order_id         BIGINT UNSIGNED  NOT NULL,
  content_hash     BIGINT UNSIGNED  NOT NULL,
  created_ms       BIGINT           NOT NULL,
  PRIMARY KEY (tenant, request_id)
) ENGINE=InnoDB;

-- TCC participant records not yet final (and cancel tombstones until their retention ends),
-- in the shard of the wallet. A row is deleted once its leg is confirmed or cancelled and retained long enough.
CREATE TABLE IF NOT EXISTS tcc_records_{t} (
  wallet_id        BIGINT UNSIGNED  NOT NULL,
  order_id         BIGINT UNSIGNED  NOT NULL,
  leg_type         TINYINT UNSIGNED NOT NULL,  -- leg_type
  state            TINYINT UNSIGNED NOT NULL,  -- tcc_record_state: 0 tried, 1 try_rejected, 2 confirmed, 3 cancelled
  try_result       SMALLINT UNSIGNED NOT NULL DEFAULT 0,
  tried_amount     BIGINT           NOT NULL DEFAULT 0,
  confirmed_amount BIGINT           NOT NULL DEFAULT 0,
  try_deadline_ms  BIGINT           NOT NULL DEFAULT 0,
  updated_ms       BIGINT           NOT NULL,
  PRIMARY KEY (wallet_id, order_id),
  KEY by_order (order_id)
) ENGINE=InnoDB;

-- Events to publish (Kafka issue), written in the same transaction as the order's final state.
CREATE TABLE IF NOT EXISTS outbox_{t} (
  event_id         BIGINT UNSIGNED  NOT NULL,
  order_id         BIGINT UNSIGNED  NOT NULL,
  topic            VARCHAR(128)     NOT NULL,
  event_key        VARBINARY(128)   NOT NULL,
  payload          BLOB             NOT NULL,
  created_ms       BIGINT           NOT NULL,
  published_ms     BIGINT           NOT NULL DEFAULT 0,  -- 0: not yet published
  PRIMARY KEY (event_id),
  KEY unpublished (published_ms, event_id)
) ENGINE=InnoDB;
