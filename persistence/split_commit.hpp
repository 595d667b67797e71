#pragma once
// Two connections, one decision (docs/durability-design.md): the storage writer runs a batch's
// wallet-side rows (journal, TCC records, wallet rows, checkpoints) on its main connection and
// its order-side rows (orders, request ids, outbox) as an XA branch on a second connection, in
// parallel: MariaDB runs one connection's statements on one thread, so one connection cannot use
// both cores. The branch is prepared first; the main transaction then commits together with a
// decision row naming the branch, and only then is the branch committed. A crash at any point
// leaves either no decision (the branch is rolled back: nothing of the batch is committed) or
// the decision (the branch is committed: all of it is), settled here at the next start.
#include <cstdint>
#include <string>

#include "persistence/bulk_connection.hpp"
#include "persistence/shard_layout.hpp"

namespace txengine::persistence {

//! Branch ids of one storage prefix start with this ("txw-" and a hash of the prefix): a server
//! shared by several prefixes settles only its own branches. At most 21 characters.
std::string xa_branch_prefix(const std::string& storage_prefix);
//! The branch prefix of cluster node `node` of a storage prefix (node 0: not in a cluster, the
//! prefix's own).
std::string xa_branch_prefix(const std::string& storage_prefix, uint32_t node);

//! A process's branch ids: the prefix, a per-process nonce and the batch number (< 64 bytes).
std::string xa_branch_id(const std::string& branch_prefix, uint64_t nonce, uint64_t batch);

//! `db0`.`xa_decisions` of the layout.
std::string xa_decisions_table(const shard_layout& layout);

//! What settle_branch did with a branch.
enum class branch_settlement : uint8_t {
  committed,       //!< its decision exists: committed now (or already, by another session)
  rolled_back,     //!< no decision: rolled back now (or it was not prepared)
  decided_busy,    //!< decided, but still held by a live session (a paused process): left as it is
  undecided_left,  //!< no decision, still prepared: held by a live session, or rolling back not allowed
};

//! Settles one branch: commits it when its decision row exists, else rolls it back (only when
//! `may_roll_back`: see settle_prepared_branches). A branch that is not prepared (never was, or
//! already settled) is left alone. A branch another live session still holds cannot be settled
//! (MariaDB answers it as unknown, yet XA RECOVER lists it): left as it is, its decision row
//! kept. `conn` must have no transaction open.
branch_settlement settle_branch(bulk_connection& conn, const shard_layout& layout, const std::string& xid,
                                bool may_roll_back = true);

struct settle_report {
  uint32_t committed = 0;
  uint32_t rolled_back = 0;
  uint32_t decided_busy = 0;    //!< decided, still held by a live session: committed by it or a later settle
  uint32_t undecided_left = 0;  //!< undecided, still prepared (never committed once its writer is fenced)
  //! No branch with a decision is still prepared: every batch of the prefix that committed is
  //! wholly visible now.
  bool decided_all_committed() const { return decided_busy == 0; }
};

//! Prepared branches of `branch_prefix` on the server (after a crash, until the next start).
uint64_t prepared_branches(bulk_connection& conn, const std::string& branch_prefix);

//! Every prepared branch of `branch_prefix` on the server (XA RECOVER) is settled, then the
//! prefix's spent decision rows (their branches no longer prepared) are deleted. Rolling back
//! an undecided branch is safe only once its writer can decide nothing more: at a start of its
//! node (no other writer of the prefix runs), or when its node holds no partition any more
//! (the fence refuses its decisions). Otherwise `may_roll_back` false: only decided branches
//! are committed (always safe: the decision is final).
settle_report settle_prepared_branches(bulk_connection& conn, const shard_layout& layout,
                                       const std::string& branch_prefix, bool may_roll_back = true);

}  // namespace txengine::persistence
