#pragma once
// The payment provider that txprovider-sim plays (issue 15, item 1): its book of orders and
// the rules it follows, with no HTTP, file or thread in it. Deterministic: time is passed in,
// and what happens to an order is drawn from the run's seed and the order id (the same order
// id in the same run always has the same fate, whatever the order requests arrive in).
//
// The provider's side of the contract in docs/channels.md:
//  - one order per order id: a submit of an id it has is answered with that order's state,
//    never processed again (a different amount, currency or kind is a conflict);
//  - close on request: an id it never received is closed for good (a later submit of it is
//    answered `closed`, never paid); a payment (money coming in) not yet paid is closed; a
//    payout already sent cannot be closed (answered with its state);
//  - queries answer the order's state, or "not found".
// The misbehaviour of the transport (latency, 5xx, hangs, 429, callbacks lost, late,
// duplicated or out of order) is the server's (providersim/sim_server.hpp); the fate of an
// order (declined, partial, paid late, processing for ever) is drawn here.
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "providersim/profile.hpp"

namespace txprovider {

constexpr int64_t never = std::numeric_limits<int64_t>::max();

//! payout: money out of the merchant to a payee; payment: money in (a top-up, a QR payment),
//! paid by a payer at some point after it is created, or never.
enum class order_kind : uint8_t { payout, payment };
enum class order_status : uint8_t { processing, succeeded, declined, closed };

const char* to_string(order_kind kind);
const char* to_string(order_status status);
std::optional<order_kind> kind_from_string(const std::string& text);

//! One order of the book, with its fate drawn at receipt.
struct provider_order {
  std::string id;
  order_kind kind = order_kind::payout;
  int64_t amount = 0;
  std::string currency;
  int64_t received_ms = 0;
  //! What happens to it if nobody closes it first: succeeded or declined at settles_ms, or
  //! processing (for ever: a payout stuck at a bank, a payer who never pays).
  order_status fate = order_status::processing;
  int64_t settles_ms = never;
  int64_t settled_amount = 0;  //!< of a success: at most amount (less: partial)
  std::string code;            //!< of a decline: why
  //! A close that took effect at this instant (never: not closed). A close of an id the
  //! provider never received makes a tombstone: amount 0, closed at once.
  int64_t closed_ms = never;
  bool tombstone = false;
};

//! An order as the provider shows it at some instant.
struct order_view {
  std::string id;
  order_kind kind = order_kind::payout;
  int64_t amount = 0;
  std::string currency;
  order_status status = order_status::processing;
  int64_t settled_amount = 0;
  std::string code;
  int64_t finished_ms = never;  //!< when it became final; never while processing
};

order_view view_at(const provider_order& order, int64_t now_ms);

struct submit_request {
  std::string id;
  order_kind kind = order_kind::payout;
  int64_t amount = 0;
  std::string currency;
};

enum class submit_outcome : uint8_t {
  accepted,  //!< new: recorded (the order to journal is `recorded`)
  existing,  //!< the id was known: its state, nothing recorded
  conflict,  //!< the id was known with a different kind, amount or currency: nothing recorded
  full,      //!< the book holds orders_max orders: refused, retryable, nothing recorded
};

struct submit_result {
  submit_outcome outcome = submit_outcome::accepted;
  order_view view;
  std::optional<provider_order> recorded;
};

struct close_result {
  order_view view;
  //! The order as it is after a close that changed it (to journal); none when the close
  //! changed nothing (already final, or a payout on its way).
  std::optional<provider_order> recorded;
};

//! A valid order id: 1 to 64 characters of [A-Za-z0-9_-].
bool valid_order_id(const std::string& id);
//! A currency: three upper-case letters.
bool valid_currency(const std::string& currency);

class provider_book {
 public:
  explicit provider_book(profile settings) : profile_(std::move(settings)) {}

  //! Takes a submit (the caller validated its fields): a new order gets its fate drawn.
  submit_result submit(const submit_request& request, int64_t now_ms);
  std::optional<order_view> query(const std::string& id, int64_t now_ms) const;
  close_result close(const std::string& id, int64_t now_ms);

  //! Orders that became final by `now_ms` and were not reported yet (each once, in the order
  //! they became final): the server's callbacks. Orders closed report at close.
  std::vector<order_view> newly_final(int64_t now_ms);
  //! Earliest instant newly_final has something, or never.
  int64_t next_final_ms() const;

  //! Every order final at `now_ms` whose final instant is in [from_ms, to_ms): a statement.
  std::vector<order_view> finished_between(int64_t from_ms, int64_t to_ms, int64_t now_ms) const;

  //! Replays a journaled order (its latest version replaces the one before). Orders whose
  //! fate falls at or after `report_from_ms` are reported by newly_final when due; earlier ones
  //! were reported before the restart.
  void restore(const provider_order& order, int64_t report_from_ms);

  size_t size() const { return orders_.size(); }
  const profile& settings() const { return profile_; }
  //! Every order, for compaction.
  template <class F>
  void for_each(F&& f) const {
    for (const auto& [id, order] : orders_) f(order);
  }
  //! Forgets an order (compaction of orders final long ago).
  void forget(const std::string& id);

 private:
  provider_order draw_fate(const submit_request& request, int64_t now_ms) const;
  void schedule_report(const provider_order& order);

  profile profile_;
  std::unordered_map<std::string, provider_order> orders_;
  //! Orders whose fate falls at a known instant, by that instant, not reported yet.
  std::multimap<int64_t, std::string> pending_reports_;
  std::vector<order_view> closed_reports_;
};

//! A number drawn from the run's seed, an order id and what it is for (`salt`): the same three
//! give the same number.
uint64_t draw(uint64_t seed, const std::string& id, uint64_t salt);
//! True with probability ppm / 1e6 for this (seed, id, salt).
bool draw_ppm(uint64_t seed, const std::string& id, uint64_t salt, uint32_t ppm);

}  // namespace txprovider
