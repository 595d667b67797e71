#pragma once
// The order loader (docs/durability-design.md, "Recovery"): a detached actor with its own
// MySQL connection, so its blocking reads never run on CAF's workers.
//
// Messages: order_loader_actor (ports/actor_interfaces.hpp)
//   (recover_atom, std::vector<order_host_actor> hosts)  at start: reads every non-final order of
//       every orders table, in pages (keyset on the id), and hands each page to the hosts
//       (request (recover_atom, std::vector<recovered_order>) -> uint64_t resumed), the next page
//       only once every host took the previous one; then (recovered_atom) to every host, the
//       report into storage_link::recovery and a log line.
//   (origin_atom, std::vector<order_id>)  -> sender gets (origin_found_atom,
//       std::vector<loaded_original>): refunds' originals and their refunds (after a restart),
//       with their stored legs.
//   (history_atom, order_history_request) -> order_history: an order's fund movements, by the
//       journal pointers of its legs (docs/persistence.md, "History").
//   (history_atom, history_page_request) -> history_page: a page of a wallet's journal older
//       than its entries in memory, try-and-confirm rows split in two.
#include <caf/all.hpp>

#include "ports/actor_interfaces.hpp"
#include "ports/storage_link.hpp"

namespace txengine::persistence {

struct order_loader_config {
  size_t page_rows = 512;  //!< non-final orders read per statement
  size_t originals_per_statement = 256;
  //! MySQL failures in a row past which recovery stops (reported in its error).
  uint32_t failures_max = 60;
};

order_loader_actor spawn_order_loader(caf::actor_system& system, storage_link* link, order_loader_config config = {});

}  // namespace txengine::persistence
