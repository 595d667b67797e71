#include "persistence/split_commit.hpp"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "core/check.hpp"

namespace txengine::persistence {

namespace {

constexpr int xa_unknown_xid = 1397;  // XAER_NOTA: no such prepared branch

std::string hex16(uint64_t v) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(v));
  return text;
}

//! FNV-1a: stable across builds and platforms (std::hash is not).
uint64_t stable_hash(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

bool is_branch_id(const std::string& s) {
  if (s.empty() || s.size() >= 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-')) return false;
  return true;
}

}  // namespace

std::string xa_branch_prefix(const std::string& storage_prefix) { return "txw-" + hex16(stable_hash(storage_prefix)) + "-"; }

std::string xa_branch_prefix(const std::string& storage_prefix, uint32_t node) {
  return node == 0 ? xa_branch_prefix(storage_prefix) : xa_branch_prefix(storage_prefix + "/node" + std::to_string(node));
}

std::string xa_branch_id(const std::string& branch_prefix, uint64_t nonce, uint64_t batch) {
  std::string id = branch_prefix + hex16(nonce) + "-" + std::to_string(batch);
  TX_CHECK(is_branch_id(id));
  return id;
}

std::string xa_decisions_table(const shard_layout& layout) {
  return quote_identifier(layout.database_name(0)) + ".`xa_decisions`";
}

namespace {

std::vector<std::string> prepared_ids(bulk_connection& conn, const std::string& branch_prefix) {
  std::vector<std::string> ids;
  // formatID, gtrid_length, bqual_length, data (gtrid followed by bqual; ours have no bqual).
  for (const auto& row : conn.query_rows("XA RECOVER", 1'000'000)) {
    if (row.size() < 4) continue;
    const std::string& xid = row[3];
    if (xid.compare(0, branch_prefix.size(), branch_prefix) == 0 && is_branch_id(xid)) ids.push_back(xid);
  }
  return ids;
}

bool is_prepared(bulk_connection& conn, const std::string& xid) {
  for (const std::string& id : prepared_ids(conn, xid))
    if (id == xid) return true;
  return false;
}

}  // namespace

branch_settlement settle_branch(bulk_connection& conn, const shard_layout& layout, const std::string& xid,
                                bool may_roll_back) {
  TX_CHECK(is_branch_id(xid));  // quoted as a literal below
  conn.commit();
  conn.set_autocommit(true);  // XA COMMIT / ROLLBACK of a detached branch: no transaction around
  const bool decided =
      conn.query_int("SELECT COUNT(*) FROM " + xa_decisions_table(layout) + " WHERE xid='" + xid + "'") > 0;
  branch_settlement result = decided ? branch_settlement::committed : branch_settlement::rolled_back;
  if (!decided && !may_roll_back) {
    if (is_prepared(conn, xid)) result = branch_settlement::undecided_left;
  } else {
    try {
      conn.execute((decided ? "XA COMMIT '" : "XA ROLLBACK '") + xid + "'");
    } catch (const sql::SQLException& e) {
      if (e.getErrorCode() != xa_unknown_xid) throw;
      // Unknown to this session: settled already, or still attached to a live session (which
      // XA RECOVER lists): that one commits or rolls it back itself.
      if (is_prepared(conn, xid))
        result = decided ? branch_settlement::decided_busy : branch_settlement::undecided_left;
    }
    if (result == branch_settlement::committed)
      conn.execute("DELETE FROM " + xa_decisions_table(layout) + " WHERE xid='" + xid + "'");
  }
  conn.set_autocommit(false);
  return result;
}

uint64_t prepared_branches(bulk_connection& conn, const std::string& branch_prefix) {
  return prepared_ids(conn, branch_prefix).size();
}

settle_report settle_prepared_branches(bulk_connection& conn, const shard_layout& layout,
                                       const std::string& branch_prefix, bool may_roll_back) {
  TX_CHECK(is_branch_id(branch_prefix));  // in a LIKE pattern below: letters, digits and '-' only
  settle_report report;
  conn.commit();
  // The prefix's decisions read before the branches are: a decision is committed only after its
  // branch was prepared, so one whose branch is not prepared afterwards is spent.
  std::vector<std::string> decisions;
  for (const auto& row : conn.query_rows("SELECT xid FROM " + xa_decisions_table(layout) + " WHERE xid LIKE '" +
                                             branch_prefix + "%'",
                                         1'000'000))
    if (!row.empty() && is_branch_id(row[0])) decisions.push_back(row[0]);  // quoted below
  for (const std::string& xid : prepared_ids(conn, branch_prefix)) {
    switch (settle_branch(conn, layout, xid, may_roll_back)) {
      case branch_settlement::committed: ++report.committed; break;
      case branch_settlement::rolled_back: ++report.rolled_back; break;
      case branch_settlement::decided_busy: ++report.decided_busy; break;
      case branch_settlement::undecided_left: ++report.undecided_left; break;
    }
  }
  // A crash between a branch's commit and the next batch (which deletes its decision) leaves a
  // spent decision; another node's decisions are never touched.
  std::vector<std::string> still = prepared_ids(conn, branch_prefix);
  std::string spent;
  for (const std::string& xid : decisions)
    if (std::find(still.begin(), still.end(), xid) == still.end()) spent += (spent.empty() ? "'" : ",'") + xid + "'";
  if (!spent.empty()) conn.execute("DELETE FROM " + xa_decisions_table(layout) + " WHERE xid IN (" + spent + ")");
  conn.commit();
  return report;
}

}  // namespace txengine::persistence
