#pragma once
// An order's and a wallet's fund movements as history (issue 12, items 3 and 4): which journal
// entries an order's stored legs name, how a stored row that stands for a try and its confirm
// becomes the two entries it stands for, and how a page of older entries (read from storage)
// joins the entries still in memory. Plain C++: no CAF, no MySQL.
#include <cstdint>
#include <vector>

#include "core/fifo_vector.hpp"
#include "core/order_core.hpp"
#include "core/wallet_core.hpp"

namespace txengine {

//! One journal entry of one wallet, as an order's history lists it.
struct order_movement {
  wallet_id wallet = no_wallet;
  journal_entry entry;
  friend bool operator==(const order_movement& a, const order_movement& b) {
    return a.wallet == b.wallet && a.entry.sequence == b.entry.sequence;
  }
};

//! Where the movements of one wallet leg of an order are: by its pointers (`sequences`, the
//! journal entries its steps made), or, when a pointer is missing (a step answered again after
//! a restart), every entry of the wallet for the order (`by_order`).
struct movement_lookup {
  wallet_id wallet = no_wallet;
  std::vector<uint64_t> sequences;
  bool by_order = false;
};

//! The lookups of an order's wallet legs (refund allowance legs name no wallet: none).
std::vector<movement_lookup> movement_lookups(const std::vector<stored_leg>& legs);

//! The stored leg of `wallet` among `legs`, or nullptr.
const stored_leg* leg_of_wallet(const std::vector<stored_leg>& legs, wallet_id wallet);

//! A stored row of phase 4 (a try and its confirm committed together; `combined` carries the
//! confirm's sequence, time and resulting balances and the summed deltas) as the two entries it
//! stands for: the try (sequence - 1, its delta from the leg type and the tried amount, the
//! confirm's time) and the confirm. False (nothing written) when they do not add up.
bool split_try_confirm(const journal_entry& combined, leg_type type, int64_t tried, journal_entry& try_entry,
                       journal_entry& confirm_entry);

//! A page of a wallet's journal from `from_sequence`, at most `limit` entries, oldest first:
//! `older` (entries read from storage, below the first entry in memory, oldest first) then the
//! entries in `memory` from `from_sequence` on.
std::vector<journal_entry> join_page(std::vector<journal_entry> older, const fifo_vector<journal_entry>& memory,
                                     uint64_t from_sequence, uint32_t limit);

//! The first sequence `memory` holds for a wallet at `journal_sequence`: entries below it are
//! only in storage (folded into the base, or made before the wallet was loaded).
//! An order's wallets' balances after its steps, as memory answers GetOrder (one per wallet leg
//! in `leg_wallets` order, from that wallet's newest movement of the order; a leg without a
//! movement, refused or never tried, has none): for an order read back from MySQL.
std::vector<wallet_balance> balances_after(const std::vector<wallet_id>& leg_wallets,
                                           const std::vector<order_movement>& movements);

inline uint64_t first_in_memory(const fifo_vector<journal_entry>& memory, uint64_t journal_sequence) {
  return memory.empty() ? journal_sequence + 1 : memory.front().sequence;
}

}  // namespace txengine
