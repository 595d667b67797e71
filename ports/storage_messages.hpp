#pragma once
// The messages between the engine's actors and the storage actors (the writer, the wallet
// and order loaders): their atoms, and the row types CAF may carry between local actors.
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "ports/storage_rows.hpp"

namespace txengine {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, wallet_request_found& x) {
  return f(caf::meta::type_name("wallet_request_found"), x.found, x.failed, x.id, x.content_hash);
}

using persist_atom = caf::atom_constant<caf::atom("persist")>;
using committed_atom = caf::atom_constant<caf::atom("committed")>;
using sync_atom = caf::atom_constant<caf::atom("sync")>;
//! (sync_atom, checkpoint_all_atom): a sync that also writes every wallet's deferred checkpoint.
using checkpoint_all_atom = caf::atom_constant<caf::atom("ckptall")>;
using load_atom = caf::atom_constant<caf::atom("load")>;
using loaded_atom = caf::atom_constant<caf::atom("loaded")>;
using lookup_atom = caf::atom_constant<caf::atom("lookup")>;
using found_atom = caf::atom_constant<caf::atom("found")>;
using recover_atom = caf::atom_constant<caf::atom("recover")>;
using recovered_atom = caf::atom_constant<caf::atom("recovered")>;
using origin_atom = caf::atom_constant<caf::atom("origin")>;
using origin_found_atom = caf::atom_constant<caf::atom("originfnd")>;
//! (wallet_lookup_atom, tenant, request_id) -> wallet_request_found, answered by the loader.
using wallet_lookup_atom = caf::atom_constant<caf::atom("wlookup")>;
//! (history_atom, history_page_request) -> history_page; (history_atom, order_history_request) -> order_history
using history_atom = caf::atom_constant<caf::atom("history")>;

}  // namespace txengine

// Local messages only (they never cross the network).
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(txengine::write_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(txengine::loaded_wallet)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<txengine::request_lookup>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<txengine::request_found>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<txengine::recovered_order>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<txengine::loaded_original>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(txengine::history_page_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(txengine::history_page)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(txengine::order_history_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(txengine::order_history)
