#pragma once
// The wallet loader (docs/durability-design.md): a detached actor with its own MySQL
// connection that reads wallets the shards do not hold (their effective state and their TCC
// records) and looks request ids up after a restart, batching what its mailbox holds.
//
// Messages: wallet_loader_actor (ports/actor_interfaces.hpp)
//   (load_atom, wallet_id)       -> sender gets (loaded_atom, wallet_id, loaded_wallet)
//   (lookup_atom, std::vector<request_lookup>) -> sender gets (found_atom, std::vector<request_found>)
//   (wallet_lookup_atom, tenant, request_id) -> wallet_request_found
#include <caf/all.hpp>

#include "ports/actor_interfaces.hpp"
#include "ports/storage_link.hpp"

namespace txengine::persistence {

wallet_loader_actor spawn_wallet_loader(caf::actor_system& system, storage_link* link);

}  // namespace txengine::persistence
