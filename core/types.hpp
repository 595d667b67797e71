#pragma once
// Plain domain types shared by the business cores, the actors and the wire protocol.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/money.hpp"

namespace txengine {

using wallet_id = uint64_t;
using order_id = uint64_t;
using tenant_id = uint32_t;
using channel_id = uint32_t;

constexpr wallet_id no_wallet = 0;

enum class wallet_kind : uint8_t { user = 0, merchant = 1, system = 2, fee = 3 };
enum class wallet_status : uint8_t { active = 0, frozen = 1, closed = 2 };

//! The three sub-balances of a wallet (seed 000: individual, outgoing, incoming).
struct balances {
  int64_t available = 0;
  int64_t frozen = 0;
  int64_t incoming = 0;
  friend bool operator==(const balances& a, const balances& b) {
    return a.available == b.available && a.frozen == b.frozen && a.incoming == b.incoming;
  }
  friend bool operator!=(const balances& a, const balances& b) { return !(a == b); }
};

//! A wallet and its balances after an order's accepted step (what an order's reply shows).
struct wallet_balance {
  wallet_id wallet = no_wallet;
  balances after;
};

enum class order_kind : uint8_t { top_up = 0, pay = 1, withdraw = 2, transfer = 3, refund = 4, commission = 5 };

//! Order states; the allowed moves between them are the table in order_state.cpp.
enum class order_state : uint8_t {
  received = 0,    //!< accepted, not yet started
  trying = 1,      //!< try legs in flight
  processing = 2,  //!< waiting for an external channel's definitive outcome
  confirming = 3,  //!< confirm legs in flight, retried until done
  cancelling = 4,  //!< cancel legs in flight, retried until done
  succeeded = 5,   //!< final
  failed = 6,      //!< final
};

constexpr bool is_final(order_state s) { return s == order_state::succeeded || s == order_state::failed; }

//! How one leg moves one wallet's sub-balances (DESIGN.md, "Transaction kinds and their legs").
enum class leg_type : uint8_t {
  debit_hold = 0,         //!< try: available -x, frozen +x; confirm y: frozen -x, available +(x-y)
  debit_direct = 1,       //!< try: available -x; confirm y: available +(x-y) (system wallet of a top-up)
  credit_incoming = 2,    //!< try: incoming +x; confirm y: incoming -x, available +y
  credit_on_confirm = 3,  //!< try: checks only; confirm y: available +y
};

constexpr bool is_debit(leg_type t) { return t == leg_type::debit_hold || t == leg_type::debit_direct; }

enum class tcc_phase : uint8_t { try_ = 0, confirm = 1, cancel = 2 };

std::string_view to_string(wallet_kind k);
std::string_view to_string(wallet_status s);
std::string_view to_string(order_kind k);
std::string_view to_string(order_state s);
std::string_view to_string(leg_type t);
std::string_view to_string(tcc_phase p);

bool parse_wallet_kind(std::string_view text, wallet_kind& out);
bool parse_order_kind(std::string_view text, order_kind& out);

}  // namespace txengine
