-- Tables of the Kafka consumers (delivery-notifier, commission-payer), in their own database
-- (default `txconsumers`, flag --database), created at start when missing. Embedded into the
-- consumers at build time; statements are separated by ';' at the end of a line.
-- docs/kafka.md: each batch's effects and its processed_events rows commit in ONE transaction,
-- and Kafka offsets are committed only after it: a redelivered event finds its row and is skipped.

-- One row per (consumer, event) processed: the de-duplication record.
CREATE TABLE IF NOT EXISTS processed_events (
  consumer VARCHAR(64) NOT NULL,
  event_id BIGINT UNSIGNED NOT NULL,
  topic VARCHAR(249) NOT NULL,
  kafka_partition INT NOT NULL,
  kafka_offset BIGINT NOT NULL,
  processed_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (consumer, event_id)
) ENGINE=InnoDB;

-- delivery-notifier: one delivery request per succeeded payment.
CREATE TABLE IF NOT EXISTS delivery_requests (
  event_id BIGINT UNSIGNED NOT NULL,
  tenant INT UNSIGNED NOT NULL,
  order_id BIGINT UNSIGNED NOT NULL,
  payer BIGINT UNSIGNED NOT NULL,
  merchant BIGINT UNSIGNED NOT NULL,
  amount BIGINT NOT NULL,
  currency CHAR(3) NOT NULL,
  paid_at_ms BIGINT NOT NULL,
  created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (event_id),
  KEY by_merchant (merchant)
) ENGINE=InnoDB;

-- commission-payer: the engine's final answer to the commission of one succeeded payment.
CREATE TABLE IF NOT EXISTS commission_payments (
  event_id BIGINT UNSIGNED NOT NULL,
  tenant INT UNSIGNED NOT NULL,
  payment_order_id BIGINT UNSIGNED NOT NULL,
  merchant BIGINT UNSIGNED NOT NULL,
  platform_wallet BIGINT UNSIGNED NOT NULL,
  payment_amount BIGINT NOT NULL,
  commission_amount BIGINT NOT NULL,
  currency CHAR(3) NOT NULL,
  request_id VARCHAR(64) NOT NULL,
  commission_order_id BIGINT UNSIGNED NOT NULL,
  result_code INT NOT NULL,
  duplicate_answer TINYINT NOT NULL,
  created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (event_id),
  KEY by_merchant (merchant)
) ENGINE=InnoDB;

-- commission-payer: events the engine contradicted or did not know (forged or altered: kind,
-- state, amount, currency or merchant differ from the engine's order, or no such order). Nothing
-- was paid for them; an operator looks here (docs/security.md). Keyed by the Kafka coordinates,
-- not the event id: a forged message may carry the id of a real event, which must still pay.
CREATE TABLE IF NOT EXISTS set_aside_events (
  consumer VARCHAR(64) NOT NULL,
  topic VARCHAR(249) NOT NULL,
  kafka_partition INT NOT NULL,
  kafka_offset BIGINT NOT NULL,
  event_id BIGINT UNSIGNED NOT NULL,
  tenant INT UNSIGNED NOT NULL,
  order_id BIGINT UNSIGNED NOT NULL,
  claimed_amount BIGINT NOT NULL,
  claimed_currency VARCHAR(8) NOT NULL,
  claimed_merchant BIGINT UNSIGNED NOT NULL,
  reason VARCHAR(255) NOT NULL,
  created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (consumer, topic, kafka_partition, kafka_offset),
  KEY by_event (event_id)
) ENGINE=InnoDB;

-- Retention of the de-duplication record (--processed-retention-hours): the oldest rows of a
-- consumer, found without reading the rest.
CREATE INDEX IF NOT EXISTS by_age ON processed_events (consumer, processed_at);
