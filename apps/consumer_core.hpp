#pragma once
// The rules of the Kafka consumers (delivery-notifier, commission-payer), plain C++: no Kafka,
// MySQL or network include, deterministic, unit-tested in tests/kafka/consumer_core_test.cpp.
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

namespace txengine::consumers {

// Numbers of the wire enums (protocol/txengine.proto), kept here so the rules need no
// generated header.
constexpr int order_kind_pay = 1;
constexpr int order_state_succeeded = 5;
// Result codes (protocol/txengine.proto) the verification tells apart.
constexpr int code_ok = 0;
constexpr int code_unknown_order = 61;

//! An OrderFinalized event reduced to what the consumers decide on.
struct finalized_event {
  uint64_t event_id = 0;
  uint32_t tenant = 0;
  uint64_t order_id = 0;
  int kind = -1;
  int state = -1;
  std::string currency;
  int64_t amount = 0;
  int64_t confirmed_amount = 0;
  uint64_t payer = 0;
  uint64_t merchant = 0;
  int64_t final_ms = 0;
};

//! Both consumers act only on payments that succeeded; every other final state is skipped.
inline bool is_succeeded_payment(const finalized_event& e) {
  return e.kind == order_kind_pay && e.state == order_state_succeeded;
}

//! An event the consumers can trust: ids set, a positive amount, a merchant, a currency.
inline bool is_well_formed(const finalized_event& e) {
  return e.event_id != 0 && e.order_id != 0 && e.amount > 0 && e.confirmed_amount >= 0 &&
         e.confirmed_amount <= e.amount && e.currency.size() == 3;
}

//! What the merchant actually received: the confirmed amount (a provider may settle less).
inline int64_t settled_amount(const finalized_event& e) {
  return e.confirmed_amount > 0 ? e.confirmed_amount : e.amount;
}

constexpr uint32_t max_basis_points = 10'000;

//! floor(amount * bps / 10000) without overflow (amount >= 0, bps <= 10000); nullopt on bad input.
inline std::optional<int64_t> commission_amount(int64_t amount, uint32_t bps) {
  if (amount < 0 || bps > max_basis_points) return std::nullopt;
  // Split so no intermediate exceeds amount: (q*10000 + r) * bps / 10000 = q*bps + r*bps/10000.
  int64_t q = amount / 10'000, r = amount % 10'000;
  return q * static_cast<int64_t>(bps) + r * static_cast<int64_t>(bps) / 10'000;
}

//! The engine's idempotency key of the commission for one payment: per order, not per event.
//! A redelivered event, a restart, a second instance, or a copy of a real event under another
//! event id (a forgery that passes verification, since its order is real) submits the same
//! request id, and the engine answers the repeat with the original order: paid once. The engine
//! publishes each order once with event_id == order_id (events.proto), so this is also
//! "commission-<event id>" for its events.
inline std::string commission_request_id(uint64_t order_id) { return "commission-" + std::to_string(order_id); }

//! Engine answers after which the same request may succeed later (nothing changed):
//! OVERLOADED 80, WALLET_BUSY 81, UNAVAILABLE 82, CHANNEL_BUSY 83, RATE_LIMITED 84 (docs/protocol.md).
inline bool is_retryable_code(int code) { return code >= 80 && code <= 84; }

//! What the engine says of an order (its GetOrder answer), reduced to what is compared.
struct engine_order {
  int kind = -1;
  int state = -1;
  int64_t amount = 0;
  int64_t posted_amount = 0;
  std::string currency;
  uint64_t destination = 0;
};

//! What a consumer that moves money does with an event after asking the engine about its order:
//! pay (the engine agrees), set it aside (the event is not what the engine says: forged or
//! altered; nothing is paid, an operator looks at it), or retry (no usable answer: the engine is
//! unavailable, or refused the query; unavailable is not forged, so the event is neither paid
//! nor set aside).
enum class verdict { pay, set_aside, retry };
struct verification {
  verdict decision = verdict::retry;
  std::string reason;  //!< set aside / retry: which field disagrees, or the engine's code
};

//! Compares an event with the engine's answer to GetOrder of its order id. `answer_code` is the
//! reply's result code, or -1 when no reply came; `order` is the reply's order (null without).
//! The code of an answer with an order is the order's own result (INSUFFICIENT_FUNDS for a
//! failed one, docs/protocol.md): its fields decide, and a failed order contradicts an event
//! that claims success. Paid only with code OK and every field equal. The event must claim a
//! succeeded payment (is_succeeded_payment) and come from the tenant of the key the question
//! was asked with: another tenant's order answers UNKNOWN_ORDER.
inline verification verify_event(const finalized_event& e, int answer_code, const engine_order* order) {
  auto aside = [](std::string why) { return verification{verdict::set_aside, std::move(why)}; };
  const verification retry{verdict::retry, answer_code < 0 ? "no answer" : "engine code " + std::to_string(answer_code)};
  if (answer_code == code_unknown_order) return aside("unknown_order");
  if (answer_code < 0 || is_retryable_code(answer_code) || order == nullptr) return retry;
  auto differs = [](const char* field, const auto& event, const auto& engine) {
    return std::string(field) + ": event " + std::to_string(event) + ", engine " + std::to_string(engine);
  };
  if (order->kind != e.kind) return aside(differs("kind", e.kind, order->kind));
  if (order->state != e.state) return aside(differs("state", e.state, order->state));
  if (order->amount != e.amount) return aside(differs("amount", e.amount, order->amount));
  if (order->posted_amount != e.confirmed_amount)
    return aside(differs("confirmed_amount", e.confirmed_amount, order->posted_amount));
  if (order->currency != e.currency) return aside("currency: event " + e.currency + ", engine " + order->currency);
  if (order->destination != e.merchant) return aside(differs("merchant", e.merchant, order->destination));
  if (answer_code != code_ok) return retry;  // an agreeing order under another code: never paid
  return {verdict::pay, {}};
}

//! Exponential backoff: base * 2^attempt, capped.
inline int64_t backoff_ms(int attempt, int64_t base_ms, int64_t cap_ms) {
  int64_t d = base_ms;
  for (int i = 0; i < attempt && d < cap_ms; ++i) d *= 2;
  return d < cap_ms ? d : cap_ms;
}

//! Indexes of the first occurrence of each event id among `ids` that is not in `done`
//! (a redelivered batch may hold the same event twice, and the store may know it already).
inline std::vector<size_t> new_events(const std::vector<uint64_t>& ids, const std::unordered_set<uint64_t>& done) {
  std::vector<size_t> out;
  std::unordered_set<uint64_t> seen;
  for (size_t i = 0; i < ids.size(); ++i)
    if (done.count(ids[i]) == 0 && seen.insert(ids[i]).second) out.push_back(i);
  return out;
}

}  // namespace txengine::consumers
