-- 0004: the decisions of the writer's two-connection commits (docs/durability-design.md,
-- "Two connections, one decision"). A batch's order rows are an XA branch prepared on a second
-- connection; the row here, committed in the same transaction as the batch's wallet rows, is
-- the decision to commit that branch. At start, a prepared branch with its decision row is
-- committed, one without is rolled back. Used in database 0 only; deleted once the branch is
-- committed. Created in every database (statements run once per database and table index).
CREATE TABLE IF NOT EXISTS xa_decisions (
  xid              VARBINARY(64)    NOT NULL,
  created_ms       BIGINT           NOT NULL,
  PRIMARY KEY (xid)
) ENGINE=InnoDB;
