#pragma once
// The writer (docs/durability-design.md): group commit of what the hosts and the shards hand
// it. A detached actor: it gathers a batch (batch_builder.hpp) while the previous one commits
// on the executor's thread (commit_executor.hpp), and writes wallet checkpoints
// (checkpoint_scheduler.hpp). This header has no MySQL include, so the engine can use it.
// The wallet loader is wallet_loader.hpp, the databases' preparation storage_bootstrap.hpp.
//
// Messages: writer_actor (ports/actor_interfaces.hpp)
//   (persist_atom, write_batch)  rows to commit; ack_seq != 0 -> sender gets (committed_atom, ack_seq)
//   (sync_atom)                  -> true once everything received before it is committed
//   (sync_atom, checkpoint_all_atom) -> the same, every wallet's deferred checkpoint written too
#include <caf/all.hpp>

#include "ports/actor_interfaces.hpp"
#include "ports/storage_link.hpp"

namespace txengine::persistence {

writer_actor spawn_writer(caf::actor_system& system, storage_link* link);

}  // namespace txengine::persistence
