#pragma once
// The engine's side of MySQL (docs/durability-design.md): preparing the databases at start,
// the writer (group commit of what the hosts and the shards hand it) and the wallet loader.
// Both are detached actors: their blocking I/O runs on their own threads, never on CAF's
// workers. This header has no MySQL include, so the actors can use it.
//
// Writer messages:
//   (persist_atom, write_batch)  rows to commit; ack_seq != 0 -> sender gets (committed_atom, ack_seq)
//   (sync_atom)                  -> true once everything received before it is committed
// Loader messages:
//   (load_atom, wallet_id)       -> sender gets (loaded_atom, wallet_id, loaded_wallet)
//   (lookup_atom, std::vector<request_lookup>) -> sender gets (found_atom, std::vector<request_found>)
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include <caf/all.hpp>

#include "ports/storage_config.hpp"
#include "ports/storage_link.hpp"

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

caf::actor spawn_writer(caf::actor_system& system, storage_link* link);
caf::actor spawn_wallet_loader(caf::actor_system& system, storage_link* link);

}  // namespace txengine::persistence
