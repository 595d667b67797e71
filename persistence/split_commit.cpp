#include "persistence/split_commit.hpp"

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

bool settle_branch(bulk_connection& conn, const shard_layout& layout, const std::string& xid) {
  TX_CHECK(is_branch_id(xid));  // quoted as a literal below
  conn.commit();
  conn.set_autocommit(true);  // XA COMMIT / ROLLBACK of a detached branch: no transaction around
  bool decided = conn.query_int("SELECT COUNT(*) FROM " + xa_decisions_table(layout) + " WHERE xid='" + xid + "'") > 0;
  try {
    conn.execute((decided ? "XA COMMIT '" : "XA ROLLBACK '") + xid + "'");
  } catch (const sql::SQLException& e) {
    if (e.getErrorCode() != xa_unknown_xid) throw;
  }
  if (decided) conn.execute("DELETE FROM " + xa_decisions_table(layout) + " WHERE xid='" + xid + "'");
  conn.set_autocommit(false);
  return decided;
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

}  // namespace

uint64_t prepared_branches(bulk_connection& conn, const std::string& branch_prefix) {
  return prepared_ids(conn, branch_prefix).size();
}

settle_report settle_prepared_branches(bulk_connection& conn, const shard_layout& layout,
                                       const std::string& branch_prefix) {
  settle_report report;
  for (const std::string& xid : prepared_ids(conn, branch_prefix)) {
    if (settle_branch(conn, layout, xid)) {
      ++report.committed;
    } else {
      ++report.rolled_back;
    }
  }
  // No branch of this prefix is prepared any more, so every decision left is spent (a crash
  // between a branch's commit and the next batch, which deletes its decision, leaves one).
  conn.execute("DELETE FROM " + xa_decisions_table(layout));
  conn.commit();
  return report;
}

}  // namespace txengine::persistence
