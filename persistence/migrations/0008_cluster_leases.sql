-- 0008: cluster ownership (issue 14, docs/cluster.md). Every partition of the wallets has one
-- lease row: its owner node, an epoch that grows at every change of owner, and an expiry on the
-- server's clock. Every commit of a partition's rows checks owner and epoch in its own
-- transaction (a shared lock on the lease row), so a node that lost a lease can never commit
-- for it again. cluster_nodes: the live nodes (heartbeats on the server's clock; an id used by a
-- live process is refused to another). cluster_settings: the partition count, fixed for a
-- deployment. Used in database 0 only; created in every database (statements run once per
-- database and table index).
CREATE TABLE IF NOT EXISTS cluster_leases (
  partition_id     INT UNSIGNED     NOT NULL,
  owner            INT UNSIGNED     NOT NULL DEFAULT 0,
  epoch            BIGINT UNSIGNED  NOT NULL DEFAULT 0,
  expires_ms       BIGINT           NOT NULL DEFAULT 0,
  PRIMARY KEY (partition_id)
) ENGINE=InnoDB;
CREATE TABLE IF NOT EXISTS cluster_nodes (
  node_id          INT UNSIGNED     NOT NULL,
  incarnation      BIGINT UNSIGNED  NOT NULL,
  endpoint         VARBINARY(255)   NOT NULL,
  expires_ms       BIGINT           NOT NULL,
  PRIMARY KEY (node_id)
) ENGINE=InnoDB;
CREATE TABLE IF NOT EXISTS cluster_settings (
  name             VARBINARY(64)    NOT NULL,
  value            BIGINT           NOT NULL,
  PRIMARY KEY (name)
) ENGINE=InnoDB;
