#pragma once
// The wallet actor: a thin shell around wallet_core that serializes every mutation of one
// wallet (no locks), answers steps in batches, and passivates itself when idle.
#include <caf/all.hpp>

#include "actors/core/wallet_core.hpp"
#include "actors/directory.hpp"

namespace txengine {

caf::actor spawn_wallet_actor(caf::actor_system& system, wallet_core core, wallet_directory* directory,
                              const wallet_actor_config& config);

//! What a wallet actor answers to get_wallet for `tenant` (also used for dormant wallets).
struct wallet_view;
wallet_view view_of(const wallet_core& core, tenant_id tenant);

}  // namespace txengine
