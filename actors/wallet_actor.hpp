#pragma once
// The wallet shard: one actor that owns many wallets (those whose id % shards is its index)
// and serializes every mutation of each (no locks). It answers each batch of steps with one
// batch of results, activates a dormant wallet on its first message and passivates wallets
// that stay idle.
//
// Messages (wallet_shard_actor, ports/actor_interfaces.hpp; every one names the wallet, since a
// shard holds many):
//   (steps_atom, std::vector<leg_step>)           -> sender gets (step_ack_atom, std::vector<leg_result>)
//   (get_wallet_atom, wallet_id, tenant_id)       -> wallet_view
//   (admin_atom, wallet_id, admin_op, tenant_id, int64_t argument) -> wallet_view
//   (movements_atom, wallet_id, tenant_id, uint64_t from_sequence, uint32_t limit)
//                                                 -> (result_code, std::vector<journal_entry>)
//       (storage: entries older than the journal in memory are read by the order loader)
//   (history_atom, wallet_id, tenant_id, order_id) -> std::vector<journal_entry> of the order
//                                                    in the wallet's journal in memory
//   (audit_atom)                                  -> std::vector<wallet_view> of its active wallets
#include <caf/all.hpp>

#include "core/wallet_core.hpp"
#include "actors/directory.hpp"
#include "ports/actor_interfaces.hpp"

namespace txengine {

wallet_shard_actor spawn_wallet_shard(caf::actor_system& system, wallet_directory* directory,
                                      const wallet_actor_config& config);

//! What a wallet answers to get_wallet for `tenant` (also used for dormant wallets).
struct wallet_view;
wallet_view view_of(const wallet_core& core, tenant_id tenant);

}  // namespace txengine
