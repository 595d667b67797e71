#pragma once
// Preparing the databases at engine start (docs/durability-design.md): connects, settles the
// XA branches a crash left prepared, applies the migrations, and reads what the engine needs
// before its actors start. Blocking; no CAF here.
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "core/types.hpp"
#include "ports/storage_config.hpp"
#include "persistence/split_commit.hpp"

namespace txengine::persistence {

//! What the engine needs to know about the databases before it starts.
struct storage_start {
  bool ok = false;
  std::string error;
  std::string description;   //!< the URI without password, and the layout
  uint32_t migrations_applied = 0;
  wallet_id max_wallet_id = 0;
  uint64_t wallets = 0;
  uint64_t orders = 0;
  //! Prepared order-side branches found at start (split_commit.hpp): committed (their decision
  //! was) and rolled back (it was not).
  uint32_t branches_committed = 0;
  uint32_t branches_rolled_back = 0;
  //! (tenant, packed currency, wallet id) of every system wallet.
  std::vector<std::tuple<tenant_id, uint32_t, wallet_id>> system_wallets;
};

//! Connects, creates the databases and applies the migrations, reads the highest wallet id
//! and the system wallets. Blocking: call it before the actors start.
storage_start prepare_storage(const storage_config& config);

//! The highest wallet id stored (a cluster node that takes over a dead node's partitions
//! continues its ids past the ones that node created). Blocking; throws on MySQL errors.
wallet_id read_max_wallet_id(const storage_config& config);

//! The prepared XA branches of cluster node `node` settled (persistence/split_commit.hpp:
//! committed when their decision was; rolled back when not and `may_roll_back`, that is once the
//! node can decide nothing more). Branches a live session holds (a paused process) are left and
//! counted. Blocking; throws when MySQL fails.
settle_report settle_branches_of_node(const storage_config& config, uint32_t node, bool may_roll_back);

}  // namespace txengine::persistence
