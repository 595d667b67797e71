#pragma once
// The business rules of one order: its legs, its TCC phases, its state machine, retries,
// deadlines and channel outcomes. Plain C++: events in, actions out; time is passed in.
// The order host actor turns actions into messages and timers.
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/channel_decision.hpp"
#include "core/channel_routing.hpp"
#include "core/inline_vector.hpp"
#include "core/limits.hpp"
#include "core/order_command.hpp"
#include "core/result_code.hpp"
#include "core/types.hpp"

namespace txengine {

struct order_config {
  //! A try phase not complete by then is compensated with cancels.
  int64_t try_deadline_ms = limits::order_try_deadline_ms_default;
  //! First resend of an unanswered step; doubles each time up to the maximum.
  int64_t retry_initial_ms = 250;
  int64_t retry_max_ms = 5'000;
  //! Confirm or cancel attempts of one leg past which an alert is raised (retries go on).
  uint32_t alert_attempts = 8;
  //! The order never queries a channel earlier than this after submitting (seed 002:
  //! a query too early answers "not found").
  int64_t channel_query_min_delay_ms = 200;
  int64_t channel_query_max_interval_ms = 10'000;
  //! No answer to a submit within this time: outcome unknown, go on with queries.
  int64_t channel_submit_timeout_ms = 2'000;
  //! "Not found" this long after the (last) submit is acted on (core/channel_decision.hpp): a
  //! payout is submitted again under the same order id, money coming in is closed at the
  //! provider. Before, it is only asked again. Never a failure by itself.
  int64_t channel_not_found_final_ms = 30'000;
  //! Money coming in (a top-up: a payment, a QR code) still unpaid this long after its first
  //! submit is closed at the provider (core/channel_decision.hpp): closed -> failed, paid ->
  //! succeeded, no answer -> asked again and closed again a window later.
  int64_t payment_deadline_ms = 15 * 60'000;
  //! An order still processing this long raises an alert (it keeps going).
  int64_t processing_alert_ms = 60'000;
  //! Not the order's own rule but its host's: how long a final order stays in memory for
  //! idempotent repeats and queries (the idempotency window without storage; with storage a
  //! later repeat or query is answered from MySQL). See final_retention.hpp.
  int64_t final_retention_ms = limits::order_final_retention_ms_default;
};

enum class alert_kind : uint8_t {
  retries_exceeded = 0,       //!< a confirm or cancel needs many attempts
  step_refused = 1,           //!< a confirm or cancel was refused: needs a human
  processing_too_long = 2,    //!< a channel outcome is long overdue
  conflicting_outcome = 3,    //!< a channel changed its definitive answer
  //! No longer raised (issue 11): a transition outside the whitelist is a TX_CHECK failure
  //! (order_core::move_to). The number stays so the kinds after it keep theirs.
  invalid_transition = 4,
  settled_more_than_asked = 5,
};

std::string_view to_string(alert_kind k);

enum class participant_kind : uint8_t { wallet = 0, original_order = 1 };

struct order_leg {
  participant_kind participant = participant_kind::wallet;
  uint64_t target = 0;  //!< wallet id, or the original order id for a refund's allowance
  leg_type type = leg_type::debit_hold;
  int64_t amount = 0;
  uint16_t wallet_kinds_allowed = 0;  //!< bit (1 << wallet_kind) per kind this leg accepts
  // Progress.
  tcc_phase phase = tcc_phase::try_;
  bool awaiting = false;     //!< a step was sent and not yet answered
  bool tried = false;        //!< the try succeeded
  bool done = false;         //!< the current phase's step is acknowledged
  uint32_t attempts = 0;
  int64_t resend_at_ms = 0;
  //! The wallet's balances in its latest accepted answer, when that wallet is of the order's
  //! tenant (balances_tenant); a refusal, an unknown wallet or another tenant's shows nothing.
  balances last_balances;
  tenant_id balances_tenant = 0;  //!< the tenant of the wallet last_balances are of; 0: none seen
  //! The wallet's journal entries this leg made (fund_movements_{t} (wallet_id, seq)): its try's
  //! and its confirm's or cancel's; 0 when it made none, or when the step was answered again
  //! after a restart (the wallet no longer knows which entry it was).
  uint64_t try_sequence = 0;
  uint64_t step_sequence = 0;
};

//! What the host must do for an order. `persist`: rewrite the order's stored row now (stored()),
//! before the steps and channel requests that follow it, because recovery needs what changed
//! (docs/durability-design.md, "Recovery"); the host writes the intent and the final row itself.
enum class order_action_kind : uint8_t {
  send_step,
  channel_submit,
  channel_query,
  finished,
  alert,
  persist,
  channel_resubmit,  //!< the same order id submitted again (core/channel_decision.hpp)
  channel_close,     //!< ask the provider to close the order (money coming in, not found)
  //! A first submit to the order's next provider (re-routed after a refusal that moved nothing):
  //! sent only once the row naming that provider (the persist before it) is committed, or a
  //! restart would ask the earlier provider, take its "no" and give the money back while the
  //! next one pays.
  channel_reroute,
};

struct order_action {
  order_action_kind kind;
  uint16_t leg = 0;  //!< send_step: index into legs()
  alert_kind alert = alert_kind::retries_exceeded;
};

//! The refund's original payment, as its owner answered an allowance try.
struct refund_origin {
  wallet_id payer = no_wallet;
  wallet_id merchant = no_wallet;
};

//! One leg as the order's stored row keeps it (the `legs` JSON of orders_{t}).
struct stored_leg {
  participant_kind participant = participant_kind::wallet;
  uint64_t target = 0;
  leg_type type = leg_type::debit_hold;
  int64_t amount = 0;
  int64_t confirmed = 0;  //!< the amount its confirm carries (confirm phase), else 0
  tcc_phase phase = tcc_phase::try_;
  bool done = false;
  //! Where the leg's fund movements are, so an order's journal is found by primary key (the
  //! journal has no index by order): "tseq" and "seq" in the JSON, left out when 0.
  uint64_t try_sequence = 0;
  uint64_t step_sequence = 0;
  friend bool operator==(const stored_leg& a, const stored_leg& b) {
    return a.participant == b.participant && a.target == b.target && a.type == b.type && a.amount == b.amount &&
           a.confirmed == b.confirmed && a.phase == b.phase && a.done == b.done &&
           a.try_sequence == b.try_sequence && a.step_sequence == b.step_sequence;
  }
};

//! What an order's stored row holds besides its command: enough to resume it after a restart.
struct stored_order {
  order_state state = order_state::trying;
  result_code reason = result_code::ok;
  int64_t posted_amount = 0;  //!< the confirmed amount (channel kinds: the settlement)
  int64_t created_ms = 0;
  int64_t try_deadline_ms = 0;
  int64_t updated_ms = 0;  //!< when the row was written (a `processing` row: the channel submit)
  std::vector<stored_leg> legs;
  //! Channel orders: the providers it was sent to, the last its provider now (empty: the
  //! command's channel; rows written before routing).
  route_trail route;
};

//! The `legs` JSON: [{"p":participant,"w":target,"type":leg_type,"amount":x,"confirmed":y,"step":phase,"done":0|1},...]
std::string format_legs_json(const std::vector<stored_leg>& legs);
//! Parses format_legs_json's output (unknown keys are skipped); false with `error` on bad input.
bool parse_legs_json(std::string_view json, std::vector<stored_leg>& legs, std::string* error = nullptr);

class order_core {
 public:
  //! `system_wallet`: the tenant's system wallet for the currency (top_up, withdraw).
  order_core(order_id id, order_command command, wallet_id system_wallet, const order_config& config,
             int64_t now_ms);

  void start(int64_t now_ms, std::vector<order_action>& out);
  //! Before start: the legs in `mask` (bit i: leg i) are tried only once every other leg's try
  //! succeeded. A cluster node defers its own legs of an order that also has legs on other
  //! nodes: their tries, the order's decision and their confirms then land in one batch of its
  //! writer, as a local order's do (docs/cluster.md, "Cross-node legs"). Legs past 32 are not
  //! deferred; a failed try cancels every leg, deferred or not (empty rollbacks).
  void defer_tries(uint32_t mask);
  //! `wallet_tenant`: the tenant of the wallet that answered (0: no wallet did, e.g. an unknown
  //! id or a refund's allowance); the order keeps `after` only from an accepted step of a wallet
  //! of its own tenant. `journal_sequence`: the wallet's journal entry the step made (0: none,
  //! or not known).
  void on_step_reply(uint16_t leg, tcc_phase phase, result_code code, tenant_id wallet_tenant, const balances& after,
                     int64_t now_ms, std::vector<order_action>& out, uint64_t journal_sequence = 0);
  //! The refund's allowance try succeeded: adds the wallet legs and tries them.
  void on_refund_origin(const refund_origin& origin, int64_t now_ms, std::vector<order_action>& out);
  //! `decline_reason`: the failure reason a definitive decline records (channel_busy when
  //! the provider's queue refused the submit, so the provider never saw it).
  //! `reroute_to`: the provider to try next when this answer is a refusal that moved nothing
  //! (a decline code the provider declared, or the adapter's busy refusal); 0: none. Taken only
  //! for a definitive decline of the current provider, never for a resubmit's busy refusal.
  void on_channel(channel_outcome outcome, int64_t settled_amount, int64_t now_ms, std::vector<order_action>& out,
                  result_code decline_reason = result_code::channel_declined, channel_id reroute_to = 0);
  //! An answer from a provider the order left (re-routed after its refusal): a success there
  //! contradicts the refusal (money moved at a provider that said nothing would): an alert;
  //! anything else is the refusal again. Nothing changes.
  void on_earlier_channel(channel_outcome outcome, std::vector<order_action>& out);
  //! Before start: the provider an order that names none (command channel 0) goes to first.
  void route_to(channel_id channel);
  //! The order's provider now (0: none yet, or not a channel order).
  channel_id channel() const { return route_.empty() ? 0 : route_[route_.size() - 1]; }
  //! Every provider the order was sent to, in order.
  const route_trail& route() const { return route_; }
  void on_timer(int64_t now_ms, std::vector<order_action>& out);
  //! Where steps go changed (a cluster node: a wallet's owner, or a link to one): every step
  //! still waiting for its answer is sent again now rather than after its backoff, so the new
  //! owner answers it before the try deadline. Steps are idempotent.
  void resend_waiting_steps(int64_t now_ms, std::vector<order_action>& out);

  //! What the order's row holds now; `updated_ms` is the time of writing.
  stored_order stored(int64_t updated_ms) const;
  //! format_legs_json(stored(t).legs), without building the stored legs.
  std::string legs_json() const;
  //! Rebuilds a non-final order from its stored row (recovery after a restart): the legs must
  //! be the ones `command` makes (a refund's wallet legs, once its allowance was granted), the
  //! state one of trying, processing, confirming, cancelling. std::nullopt and `error` otherwise.
  //! The state is reached through the whitelist. Call resume() next.
  static std::optional<order_core> restore(order_id id, order_command command, const stored_order& row,
                                           const order_config& config, std::string* error = nullptr);
  //! Re-sends what the restored phase needs: every leg's try (trying), a channel query
  //! (processing), the confirms or cancels not yet done. Every step is idempotent against the
  //! wallets' TCC records; a resumed try phase is decided by the wallets' answers, never by its
  //! own deadline timer (see the .cpp).
  void resume(int64_t now_ms, std::vector<order_action>& out);
  //! True for an order rebuilt by restore().
  bool restored() const { return restored_; }

  //! Earliest instant at which on_timer has something to do; INT64_MAX when none.
  int64_t next_wakeup_ms() const;

  order_id id() const { return id_; }
  const order_command& command() const { return command_; }
  order_state state() const { return state_; }
  //! ok for a success; the first refusal (or the channel's decline) for a failure.
  result_code reason() const { return reason_; }
  //! At most 4: a pay's payer, merchant and fee wallet; a refund's original and its two wallets.
  using leg_list = inline_vector<order_leg, limits::order_legs_max>;
  const leg_list& legs() const { return legs_; }
  int64_t created_ms() const { return created_ms_; }
  int64_t finished_ms() const { return finished_ms_; }
  int64_t try_deadline_ms() const { return try_deadline_ms_; }
  //! The amount that moved: the full amount, or a channel's partial settlement.
  int64_t posted_amount() const { return posted_amount_; }
  //! The amount a step of `leg` carries now (tried amount, or the confirmed amount).
  int64_t step_amount(uint16_t leg) const;

 private:
  void move_to(order_state next);
  void add_leg(participant_kind participant, uint64_t target, leg_type type, int64_t amount, uint16_t kinds);
  void send(uint16_t leg, tcc_phase phase, int64_t now_ms, std::vector<order_action>& out);
  void begin_phase(tcc_phase phase, int64_t now_ms, std::vector<order_action>& out);
  //! Whether leg `i` is in a defer_tries mask (legs past 32 never are).
  static bool deferred(uint16_t i, uint32_t mask) { return i < 32 && (mask & (1u << i)) != 0; }
  //! Sends the deferred tries once every other leg's try succeeded.
  void try_deferred(int64_t now_ms, std::vector<order_action>& out);
  void fail_try_phase(result_code reason, int64_t now_ms, std::vector<order_action>& out);
  void after_tries(int64_t now_ms, std::vector<order_action>& out);
  void finish_if_done(int64_t now_ms, std::vector<order_action>& out);
  //! A confirm answered tcc_not_tried on a leg whose try succeeded: the wallet confirmed it and
  //! forgot the finished record (see the .cpp).
  bool confirmed_and_forgotten(const order_leg& l, tcc_phase phase, result_code code) const;
  int64_t backoff_ms(uint32_t attempts) const;
  bool uses_channel() const;
  //! The first submit to the order's provider now (`submit`: channel_submit, or channel_reroute
  //! after a refusal), after the row that names it (persist); asked about once the submit had its
  //! time to answer.
  void first_submit(order_action_kind submit, int64_t now_ms, std::vector<order_action>& out);

  order_id id_;
  order_command command_;
  wallet_id system_wallet_;
  order_config config_;
  order_state state_ = order_state::received;
  result_code reason_ = result_code::ok;
  leg_list legs_;
  int64_t created_ms_;
  int64_t try_deadline_ms_;
  int64_t finished_ms_ = 0;
  //! Rebuilt after a restart: its try phase waits for the wallets' answers past its deadline.
  bool restored_ = false;
  int64_t posted_amount_ = 0;
  // Channel progress.
  bool channel_awaiting_ = false;
  int64_t channel_submitted_ms_ = 0;  //!< the last submit (or resubmit, or close request)
  int64_t processing_since_ms_ = 0;   //!< the first submit (the processing alert counts from it)
  uint32_t channel_submits_ = 0;      //!< submits sent (a busy refusal of a later one is not a decline)
  int64_t channel_next_query_ms_ = std::numeric_limits<int64_t>::max();
  int64_t channel_query_interval_ms_ = 0;
  uint32_t deferred_tries_ = 0;  //!< legs whose try waits for the others' (defer_tries)
  bool processing_alerted_ = false;
  bool channel_definitive_ = false;
  channel_outcome channel_final_ = channel_outcome::unknown;
  int64_t channel_settled_ = 0;
  route_trail route_;
};

constexpr uint16_t kinds_mask(std::initializer_list<wallet_kind> kinds) {
  uint16_t mask = 0;
  for (auto k : kinds) mask |= uint16_t(1u << static_cast<unsigned>(k));
  return mask;
}

}  // namespace txengine
