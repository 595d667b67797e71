#include "core/order_core.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "core/check.hpp"
#include "core/order_state.hpp"

namespace txengine {

std::string_view to_string(alert_kind k) {
  switch (k) {
    case alert_kind::retries_exceeded: return "retries_exceeded";
    case alert_kind::step_refused: return "step_refused";
    case alert_kind::processing_too_long: return "processing_too_long";
    case alert_kind::conflicting_outcome: return "conflicting_outcome";
    case alert_kind::invalid_transition: return "invalid_transition";
    case alert_kind::settled_more_than_asked: return "settled_more_than_asked";
  }
  return "invalid";
}

namespace {

constexpr int64_t never = std::numeric_limits<int64_t>::max();
constexpr uint16_t payers = kinds_mask({wallet_kind::user, wallet_kind::merchant});
constexpr uint16_t merchants = kinds_mask({wallet_kind::merchant});
constexpr uint16_t fee_wallets = kinds_mask({wallet_kind::fee});
constexpr uint16_t system_wallets = kinds_mask({wallet_kind::system});

}  // namespace

order_core::order_core(order_id id, order_command command, wallet_id system_wallet, const order_config& config,
                       int64_t now_ms)
    : id_(id),
      command_(std::move(command)),
      system_wallet_(system_wallet),
      config_(config),
      created_ms_(now_ms),
      try_deadline_ms_(now_ms + config.try_deadline_ms) {
  const auto& c = command_;
  if (c.channel != 0 && (c.kind == order_kind::top_up || c.kind == order_kind::withdraw)) route_.push_back(c.channel);
  switch (c.kind) {
    case order_kind::top_up:
      add_leg(participant_kind::wallet, system_wallet_, leg_type::debit_direct, c.amount, system_wallets);
      add_leg(participant_kind::wallet, c.destination, leg_type::credit_incoming, c.amount, payers);
      break;
    case order_kind::pay:
      add_leg(participant_kind::wallet, c.source, leg_type::debit_hold, c.amount, payers);
      add_leg(participant_kind::wallet, c.destination, leg_type::credit_on_confirm, c.amount - c.fee_amount,
              merchants);
      if (c.fee_amount > 0)
        add_leg(participant_kind::wallet, c.fee_wallet, leg_type::credit_on_confirm, c.fee_amount, fee_wallets);
      break;
    case order_kind::withdraw:
      add_leg(participant_kind::wallet, c.source, leg_type::debit_hold, c.amount, payers);
      add_leg(participant_kind::wallet, system_wallet_, leg_type::credit_on_confirm, c.amount, system_wallets);
      break;
    case order_kind::transfer:
      add_leg(participant_kind::wallet, c.source, leg_type::debit_hold, c.amount, payers);
      add_leg(participant_kind::wallet, c.destination, leg_type::credit_on_confirm, c.amount, payers);
      break;
    case order_kind::commission:
      add_leg(participant_kind::wallet, c.source, leg_type::debit_hold, c.amount, fee_wallets);
      add_leg(participant_kind::wallet, c.destination, leg_type::credit_on_confirm, c.amount, merchants);
      break;
    case order_kind::refund:
      // The original payment is a TCC participant of its own: its refundable amount is
      // reserved first, so concurrent refunds can never exceed it.
      add_leg(participant_kind::original_order, c.original_order, leg_type::debit_hold, c.amount, 0);
      break;
  }
}

void order_core::add_leg(participant_kind participant, uint64_t target, leg_type type, int64_t amount,
                         uint16_t kinds) {
  TX_CHECK(legs_.size() < limits::order_legs_max);
  order_leg leg;
  leg.participant = participant;
  leg.target = target;
  leg.type = type;
  leg.amount = amount;
  leg.wallet_kinds_allowed = kinds;
  legs_.push_back(leg);
}

bool order_core::uses_channel() const {
  return command_.kind == order_kind::top_up || command_.kind == order_kind::withdraw;
}

int64_t order_core::step_amount(uint16_t leg) const {
  TX_CHECK(leg < legs_.size());
  const order_leg& l = legs_[leg];
  if (l.phase == tcc_phase::confirm && uses_channel()) return posted_amount_;
  return l.amount;
}

void order_core::move_to(order_state next) {
  // A transition outside the whitelist means the rules above are wrong: the order's state can
  // no longer be trusted, so the process stops (a refused transition is a bug, not a log line).
  TX_CHECK(transition_allowed(state_, next));
  state_ = next;
}

int64_t order_core::backoff_ms(uint32_t attempts) const {
  int64_t delay = config_.retry_initial_ms;
  for (uint32_t i = 1; i < attempts && delay < config_.retry_max_ms; ++i) delay *= 2;
  return std::min(delay, config_.retry_max_ms);
}

void order_core::send(uint16_t leg, tcc_phase phase, int64_t now_ms, std::vector<order_action>& out) {
  order_leg& l = legs_[leg];
  l.phase = phase;
  l.awaiting = true;
  l.done = false;
  l.attempts = 1;
  l.resend_at_ms = now_ms + backoff_ms(1);
  out.push_back({order_action_kind::send_step, leg, alert_kind::retries_exceeded});
}

void order_core::begin_phase(tcc_phase phase, int64_t now_ms, std::vector<order_action>& out) {
  for (uint16_t i = 0; i < legs_.size(); ++i)
    if (phase != tcc_phase::try_ || !deferred(i, deferred_tries_)) send(i, phase, now_ms, out);
}

void order_core::defer_tries(uint32_t mask) {
  TX_CHECK(state_ == order_state::received);
  uint32_t legs_mask = legs_.size() >= 32 ? ~0u : (1u << legs_.size()) - 1;
  deferred_tries_ = mask & legs_mask;
  if (deferred_tries_ == legs_mask) deferred_tries_ = 0;  // nothing would go first
}

void order_core::try_deferred(int64_t now_ms, std::vector<order_action>& out) {
  for (uint16_t i = 0; i < legs_.size(); ++i)
    if (!deferred(i, deferred_tries_) && !legs_[i].tried) return;
  uint32_t waiting = deferred_tries_;
  deferred_tries_ = 0;
  for (uint16_t i = 0; i < legs_.size(); ++i)
    if (deferred(i, waiting)) send(i, tcc_phase::try_, now_ms, out);
}

void order_core::start(int64_t now_ms, std::vector<order_action>& out) {
  TX_CHECK(state_ == order_state::received);
  result_code code = validate(command_);
  if (code == result_code::ok && uses_channel() && system_wallet_ == no_wallet) code = result_code::unknown_wallet;
  // The system wallet is the counterparty of a top-up or withdrawal, never its user side
  // (both legs on one wallet would also share one transaction record).
  wallet_id user_side = command_.kind == order_kind::top_up ? command_.destination : command_.source;
  if (code == result_code::ok && uses_channel() && user_side == system_wallet_)
    code = result_code::wallet_kind_not_allowed;
  if (code != result_code::ok) {
    reason_ = code;
    move_to(order_state::failed);
    finished_ms_ = now_ms;
    out.push_back({order_action_kind::finished, 0, alert_kind::retries_exceeded});
    return;
  }
  move_to(order_state::trying);
  begin_phase(tcc_phase::try_, now_ms, out);
}

void order_core::on_refund_origin(const refund_origin& origin, int64_t now_ms, std::vector<order_action>& out) {
  if (state_ != order_state::trying || legs_.empty() || !legs_[0].awaiting) return;  // stale repeat
  if (legs_.size() == 3) {
    // Restored with its wallet legs (the allowance was granted before a restart): the repeated
    // allowance try confirms the reservation; the origin cannot have changed.
    if (legs_[1].target != origin.merchant || legs_[2].target != origin.payer) {
      fail_try_phase(result_code::tcc_conflict, now_ms, out);
      return;
    }
    legs_[0].awaiting = false;
    legs_[0].tried = true;
    after_tries(now_ms, out);
    return;
  }
  if (legs_.size() != 1) return;
  legs_[0].awaiting = false;
  legs_[0].tried = true;
  add_leg(participant_kind::wallet, origin.merchant, leg_type::debit_hold, command_.amount, merchants);
  add_leg(participant_kind::wallet, origin.payer, leg_type::credit_on_confirm, command_.amount, payers);
  // Recovery must know the allowance was granted (its reservation is rebuilt from this row)
  // and the wallet legs: the row precedes the wallet tries.
  out.push_back({order_action_kind::persist, 0, alert_kind::retries_exceeded});
  send(1, tcc_phase::try_, now_ms, out);
  send(2, tcc_phase::try_, now_ms, out);
}

void order_core::on_step_reply(uint16_t leg, tcc_phase phase, result_code code, tenant_id wallet_tenant,
                               const balances& after, int64_t now_ms, std::vector<order_action>& out,
                               uint64_t journal_sequence) {
  if (leg >= legs_.size()) return;
  order_leg& l = legs_[leg];
  if (l.phase != phase || !l.awaiting) return;  // a late answer to an earlier step
  // A refund's accepted allowance carries the origin: the host calls on_refund_origin.
  if (l.participant == participant_kind::original_order && phase == tcc_phase::try_ && code == result_code::ok)
    return;
  // Balances only from a step the order may see: accepted by a wallet of its own tenant. A
  // refusal shows nothing, whatever it carries (it may come from another tenant's wallet).
  if (l.participant == participant_kind::wallet && code == result_code::ok && wallet_tenant == command_.tenant &&
      wallet_tenant != 0) {
    l.last_balances = after;
    l.balances_tenant = wallet_tenant;
  }
  if (code == result_code::ok && journal_sequence != 0)
    (phase == tcc_phase::try_ ? l.try_sequence : l.step_sequence) = journal_sequence;
  if (phase == tcc_phase::try_) {
    if (code == result_code::ok) {
      l.awaiting = false;
      l.tried = true;
      if (deferred_tries_ != 0 && state_ == order_state::trying) return try_deferred(now_ms, out);
      after_tries(now_ms, out);
    } else if (is_retryable(code)) {
      // `attempts` counts sends (on_timer counts the resend): counting the answer too would
      // double the backoff and skip the alert thresholds.
      l.resend_at_ms = now_ms + backoff_ms(l.attempts);  // until the try deadline
    } else {
      fail_try_phase(code, now_ms, out);
    }
    return;
  }
  if (code == result_code::ok || confirmed_and_forgotten(l, phase, code)) {
    l.awaiting = false;
    l.done = true;
    finish_if_done(now_ms, out);
    return;
  }
  // A refused confirm or cancel means the participants disagree with this order: it never
  // happens while the rules hold. Keep retrying (never give up on money) and call a human.
  if (!is_retryable(code)) out.push_back({order_action_kind::alert, leg, alert_kind::step_refused});
  l.resend_at_ms = now_ms + backoff_ms(l.attempts);
}

// A wallet forgets a finished TCC record some time after it finished (finished_record_retention_ms,
// or earlier past finished_records_max); a confirm repeated after that (its answer was lost, then
// a pause, or a resumed order) finds no record and is answered tcc_not_tried. For a leg whose try
// this order saw accepted (or, restored in `confirming`, whose try was committed before the
// decision) that answer can only mean "confirmed, then forgotten": a tried record is never
// forgotten, a rejected try was never accepted, and a confirming order never sent a cancel. So
// it counts as the confirm's acknowledgement instead of a refusal retried for ever.
bool order_core::confirmed_and_forgotten(const order_leg& l, tcc_phase phase, result_code code) const {
  return phase == tcc_phase::confirm && code == result_code::tcc_not_tried && l.tried &&
         l.participant == participant_kind::wallet && state_ == order_state::confirming;
}

void order_core::fail_try_phase(result_code reason, int64_t now_ms, std::vector<order_action>& out) {
  if (state_ != order_state::trying && state_ != order_state::processing) return;
  const bool after_provider = state_ == order_state::processing;
  reason_ = reason;
  deferred_tries_ = 0;
  move_to(order_state::cancelling);
  // A provider's definitive "no" is written before any cancel, as the decision to confirm is:
  // resumed from its `processing` row instead, the order would ask the provider again, and a
  // payout not found there is submitted again (core/channel_decision.hpp) and may succeed
  // while its holds were already given back (a busy refusal of the first submit, a provider
  // that answers differently the second time): confirms refused for ever, money out twice.
  if (after_provider) out.push_back({order_action_kind::persist, 0, alert_kind::retries_exceeded});
  // Cancel every leg, answered or not: a cancel of a never-tried leg is an empty rollback
  // whose tombstone also stops a try still on its way (no hanging).
  begin_phase(tcc_phase::cancel, now_ms, out);
}

void order_core::after_tries(int64_t now_ms, std::vector<order_action>& out) {
  if (state_ != order_state::trying) return;
  for (const auto& l : legs_)
    if (!l.tried) return;
  if (command_.kind == order_kind::refund && legs_.size() == 1) return;  // origin not known yet
  if (uses_channel()) {
    move_to(order_state::processing);
    processing_since_ms_ = now_ms;
    // Recovery of a processing order queries the channel instead of submitting again.
    first_submit(order_action_kind::channel_submit, now_ms, out);
    return;
  }
  posted_amount_ = command_.amount;
  move_to(order_state::confirming);
  // The decision is written before any confirm can take effect (the host's flush sends this
  // row ahead of the confirms, and the writer commits in mailbox order): an order with a
  // committed confirm is always resumed as `confirming`, never as `trying`, which could
  // otherwise cancel its other legs once a wallet forgot the confirmed record
  // (docs/durability-design.md, "What the order row holds").
  out.push_back({order_action_kind::persist, 0, alert_kind::retries_exceeded});
  begin_phase(tcc_phase::confirm, now_ms, out);
}

void order_core::route_to(channel_id channel) {
  TX_CHECK(state_ == order_state::received && route_.empty() && channel != 0);
  route_.push_back(channel);
}

void order_core::on_earlier_channel(channel_outcome outcome, std::vector<order_action>& out) {
  if (outcome == channel_outcome::succeeded)
    out.push_back({order_action_kind::alert, 0, alert_kind::conflicting_outcome});
}

void order_core::first_submit(order_action_kind submit, int64_t now_ms, std::vector<order_action>& out) {
  channel_awaiting_ = true;
  channel_submitted_ms_ = now_ms;
  channel_submits_ = 1;
  channel_query_interval_ms_ = config_.channel_query_min_delay_ms;
  channel_next_query_ms_ = now_ms + std::max(config_.channel_submit_timeout_ms, config_.channel_query_min_delay_ms);
  out.push_back({order_action_kind::persist, 0, alert_kind::retries_exceeded});
  out.push_back({submit, 0, alert_kind::retries_exceeded});
}

void order_core::on_channel(channel_outcome outcome, int64_t settled_amount, int64_t now_ms,
                            std::vector<order_action>& out, result_code decline_reason, channel_id reroute_to) {
  if (outcome == channel_outcome::succeeded && settled_amount < 0) outcome = channel_outcome::unknown;
  // A provider too busy to take a request refuses it unseen: for the order's first submit that
  // means the provider never had it (declined, nothing moved); once it was submitted before (a
  // resubmit, or a submit before a restart) the order may be there all the same: unknown.
  if (outcome == channel_outcome::declined && decline_reason == result_code::channel_busy && channel_submits_ > 1)
    outcome = channel_outcome::unknown;
  const bool overdue = now_ms - channel_submitted_ms_ >= config_.channel_not_found_final_ms;
  const bool payment_expired = now_ms - processing_since_ms_ >= config_.payment_deadline_ms;
  const channel_step step = decide_channel(command_.kind, outcome, overdue, payment_expired);
  const bool definitive = step == channel_step::succeed || step == channel_step::fail;
  if (channel_definitive_) {
    // The first definitive answer wins; a different later one is an incident (seed 002).
    // (Declined and closed are the same answer: nothing moved.)
    const bool was_success = channel_final_ == channel_outcome::succeeded;
    if (definitive && (was_success != (step == channel_step::succeed) ||
                       (was_success && settled_amount != channel_settled_)))
      out.push_back({order_action_kind::alert, 0, alert_kind::conflicting_outcome});
    return;
  }
  if (state_ != order_state::processing) return;
  channel_awaiting_ = false;
  if (step == channel_step::resubmit || step == channel_step::close) {
    // Not found long after the submit (core/channel_decision.hpp): the same order id submitted
    // again (a payout), or the order closed at the provider (money coming in); either is asked
    // about again like a new submit, and acted on again only a whole window later.
    channel_submitted_ms_ = now_ms;
    if (step == channel_step::resubmit) ++channel_submits_;
    channel_query_interval_ms_ = config_.channel_query_min_delay_ms;
    channel_next_query_ms_ = now_ms + std::max(config_.channel_submit_timeout_ms, config_.channel_query_min_delay_ms);
    out.push_back({step == channel_step::resubmit ? order_action_kind::channel_resubmit : order_action_kind::channel_close,
                   0, alert_kind::retries_exceeded});
    return;
  }
  if (!definitive) {
    // Unknown is never failure: keep the money where it is and ask again later.
    channel_query_interval_ms_ = std::min(channel_query_interval_ms_ * 2, config_.channel_query_max_interval_ms);
    channel_next_query_ms_ =
        std::max(now_ms + channel_query_interval_ms_, channel_submitted_ms_ + config_.channel_query_min_delay_ms);
    return;
  }
  if (step == channel_step::fail && outcome == channel_outcome::declined && reroute_to != 0 &&
      route_.size() < route_.capacity()) {
    // Refused with nothing moved: the next provider, as a new first submit. Written first (the
    // host sends it only once the row naming the provider is committed), so a restart asks the
    // provider the order is at now.
    bool tried = false;
    for (channel_id c : route_) tried = tried || c == reroute_to;
    TX_CHECK(!tried);
    route_.push_back(reroute_to);
    first_submit(order_action_kind::channel_reroute, now_ms, out);
    return;
  }
  channel_definitive_ = true;
  channel_final_ = outcome;
  channel_settled_ = settled_amount;
  channel_next_query_ms_ = never;
  if (step == channel_step::fail) {
    fail_try_phase(decline_reason, now_ms, out);
    return;
  }
  if (settled_amount > command_.amount) {
    out.push_back({order_action_kind::alert, 0, alert_kind::settled_more_than_asked});
    settled_amount = command_.amount;
  }
  posted_amount_ = settled_amount;
  move_to(order_state::confirming);
  // The settled amount is known only here and the channel may forget it: recovery confirms
  // with the stored one. The host writes the row before the confirms go out.
  out.push_back({order_action_kind::persist, 0, alert_kind::retries_exceeded});
  begin_phase(tcc_phase::confirm, now_ms, out);
}

void order_core::on_timer(int64_t now_ms, std::vector<order_action>& out) {
  if (is_final(state_)) return;
  if (state_ == order_state::trying && !restored_ && now_ms >= try_deadline_ms()) {
    fail_try_phase(result_code::try_deadline_exceeded, now_ms, out);
    return;
  }
  for (uint16_t i = 0; i < legs_.size(); ++i) {
    order_leg& l = legs_[i];
    if (!l.awaiting || l.resend_at_ms > now_ms) continue;
    ++l.attempts;
    l.resend_at_ms = now_ms + backoff_ms(l.attempts);
    out.push_back({order_action_kind::send_step, i, alert_kind::retries_exceeded});
    if (l.phase != tcc_phase::try_ &&
        (l.attempts == config_.alert_attempts ||  // at the threshold, then at each power of two
         (l.attempts > config_.alert_attempts && (l.attempts & (l.attempts - 1)) == 0)))
      out.push_back({order_action_kind::alert, i, alert_kind::retries_exceeded});
  }
  if (state_ == order_state::processing) {
    if (now_ms >= channel_next_query_ms_) {
      channel_next_query_ms_ = now_ms + channel_query_interval_ms_;
      out.push_back({order_action_kind::channel_query, 0, alert_kind::retries_exceeded});
    }
    if (!processing_alerted_ && now_ms - processing_since_ms_ >= config_.processing_alert_ms) {
      processing_alerted_ = true;
      out.push_back({order_action_kind::alert, 0, alert_kind::processing_too_long});
    }
  }
}

void order_core::resend_waiting_steps(int64_t now_ms, std::vector<order_action>& out) {
  if (is_final(state_)) return;
  for (uint16_t i = 0; i < legs_.size(); ++i) {
    order_leg& l = legs_[i];
    if (!l.awaiting) continue;
    ++l.attempts;
    l.resend_at_ms = now_ms + backoff_ms(l.attempts);
    out.push_back({order_action_kind::send_step, i, alert_kind::retries_exceeded});
  }
}

void order_core::finish_if_done(int64_t now_ms, std::vector<order_action>& out) {
  if (state_ != order_state::confirming && state_ != order_state::cancelling) return;
  for (const auto& l : legs_)
    if (!l.done) return;
  move_to(state_ == order_state::confirming ? order_state::succeeded : order_state::failed);
  finished_ms_ = now_ms;
  out.push_back({order_action_kind::finished, 0, alert_kind::retries_exceeded});
}

stored_order order_core::stored(int64_t updated_ms) const {
  stored_order row;
  row.state = state_ == order_state::received ? order_state::trying : state_;
  row.reason = reason_;
  row.posted_amount = posted_amount_;
  row.created_ms = created_ms_;
  row.try_deadline_ms = try_deadline_ms_;
  row.updated_ms = updated_ms;
  row.route = route_;
  row.legs.reserve(legs_.size());
  for (uint16_t i = 0; i < legs_.size(); ++i) {
    const order_leg& l = legs_[i];
    int64_t confirmed = l.phase == tcc_phase::confirm ? step_amount(i) : 0;
    row.legs.push_back(
        {l.participant, l.target, l.type, l.amount, confirmed, l.phase, l.done, l.try_sequence, l.step_sequence});
  }
  return row;
}

namespace {

bool resumable(order_state s) {
  return s == order_state::trying || s == order_state::processing || s == order_state::confirming ||
         s == order_state::cancelling;
}

}  // namespace

std::optional<order_core> order_core::restore(order_id id, order_command command, const stored_order& row,
                                              const order_config& config, std::string* error) {
  auto fail = [&](const std::string& why) -> std::optional<order_core> {
    if (error != nullptr) *error = "order " + std::to_string(id) + ": " + why;
    return std::nullopt;
  };
  if (result_code code = validate(command); code != result_code::ok)
    return fail("its command is not valid (" + std::string(to_string(code)) + ")");
  if (!resumable(row.state)) return fail("state " + std::string(to_string(row.state)) + " cannot be resumed");
  const order_kind kind = command.kind;
  const bool channel = kind == order_kind::top_up || kind == order_kind::withdraw;
  wallet_id system = no_wallet;
  if (channel) {
    // The system wallet is the counterparty leg: the first of a top-up, the second of a withdrawal.
    size_t at = kind == order_kind::top_up ? 0 : 1;
    if (row.legs.size() > at) system = row.legs[at].target;
    if (system == no_wallet) return fail("no system wallet leg");
  }
  order_core core(id, std::move(command), system, config, row.created_ms);
  if (row.try_deadline_ms > 0) core.try_deadline_ms_ = row.try_deadline_ms;
  if (channel && !row.route.empty()) {
    // The stored trail names the provider the order is at (re-routed, or routed by the engine).
    if (core.command_.channel != 0 && row.route[0] != core.command_.channel)
      return fail("its route does not start at the channel its command names");
    core.route_ = row.route;
  } else if (!row.route.empty()) {
    return fail("a route, but no channel order");
  }
  if (channel && core.route_.empty()) return fail("no provider: its command names none and its row has no route");
  if (kind == order_kind::refund && row.legs.size() == 3) {
    // The allowance was granted before the stop: the wallet legs it brought.
    core.add_leg(participant_kind::wallet, row.legs[1].target, leg_type::debit_hold, core.command_.amount, merchants);
    core.add_leg(participant_kind::wallet, row.legs[2].target, leg_type::credit_on_confirm, core.command_.amount,
                 payers);
  }
  if (row.legs.size() != core.legs_.size())
    return fail(std::to_string(row.legs.size()) + " stored legs, the command has " +
                std::to_string(core.legs_.size()));
  for (size_t i = 0; i < row.legs.size(); ++i) {
    const stored_leg& s = row.legs[i];
    const order_leg& l = core.legs_[i];
    if (s.participant != l.participant || s.target != l.target || s.type != l.type || s.amount != l.amount)
      return fail("stored leg " + std::to_string(i) + " is not the command's");
  }
  if (row.state == order_state::processing && !channel) return fail("processing, but no channel order");
  if (row.state == order_state::confirming && kind == order_kind::refund && core.legs_.size() != 3)
    return fail("a refund confirming without its wallet legs");
  if (row.state == order_state::confirming && channel &&
      (row.posted_amount < 0 || row.posted_amount > core.command_.amount))
    return fail("settled amount " + std::to_string(row.posted_amount) + " outside 0.." +
                std::to_string(core.command_.amount));
  // The stored state is reached through the whitelist, as the order reached it; a stored row
  // that could not have been reached is refused as unreadable (not a crash: it is input).
  if (!transition_allowed(core.state_, order_state::trying) ||
      (row.state != order_state::trying && !transition_allowed(order_state::trying, row.state)))
    return fail("state " + std::string(to_string(row.state)) + " is not reachable");
  core.move_to(order_state::trying);
  if (row.state != order_state::trying) core.move_to(row.state);
  core.restored_ = true;
  core.reason_ = row.reason;
  const tcc_phase phase = row.state == order_state::confirming   ? tcc_phase::confirm
                          : row.state == order_state::cancelling ? tcc_phase::cancel
                                                                 : tcc_phase::try_;
  for (size_t i = 0; i < core.legs_.size(); ++i) {
    order_leg& l = core.legs_[i];
    l.phase = phase;
    // Past the try phase every leg was tried (a cancel does not care either way).
    l.tried = row.state != order_state::trying;
    l.done = phase != tcc_phase::try_ && row.legs[i].phase == phase && row.legs[i].done;
    l.try_sequence = row.legs[i].try_sequence;
    if (row.legs[i].phase == phase && phase != tcc_phase::try_) l.step_sequence = row.legs[i].step_sequence;
  }
  if (row.state == order_state::processing) {
    core.channel_submitted_ms_ = row.updated_ms;
    core.processing_since_ms_ = row.updated_ms;
    core.channel_submits_ = 1;  // submitted before the restart
    core.channel_query_interval_ms_ = config.channel_query_min_delay_ms;
  }
  if (row.state == order_state::confirming) {
    core.posted_amount_ = channel ? row.posted_amount : core.command_.amount;
    core.channel_definitive_ = channel;
    core.channel_final_ = channel_outcome::succeeded;
    core.channel_settled_ = core.posted_amount_;
  }
  return core;
}

// Why a restored try phase ignores its deadline: rows written before every order wrote its
// `confirming` row (only channel orders and refunds wrote phase rows then) say `trying` until the
// order is final, so a restored "trying" order of such a row may in truth have been confirming,
// with some confirms committed. Cancelling it on a timer would then be refused forever
// (tcc_confirmed). Rows written now say `confirming` before any confirm can commit, so a
// restored "trying" order has no confirm anywhere; the rule stays for the older rows, and
// costs nothing (the wallets answer at once). Instead the wallets decide: past the deadline a
// wallet answers a try from its TCC record (ok when tried or confirmed, the refusal when
// rejected, tcc_cancelled after a cancel) and refuses a try it never saw (tcc_deadline_passed).
// Every leg answered ok means every try succeeded before the deadline: confirming is what the
// order did or could have done. Any refusal means no leg was confirmed (a confirm needs every
// try to have succeeded, and a cancel or a missing try excludes that): cancelling is safe.
void order_core::resume(int64_t now_ms, std::vector<order_action>& out) {
  TX_CHECK(restored_);
  switch (state_) {
    case order_state::trying: begin_phase(tcc_phase::try_, now_ms, out); break;
    case order_state::processing:
      // The provider is asked, never sent the order again: it may have it already.
      channel_awaiting_ = true;
      channel_next_query_ms_ = now_ms + channel_query_interval_ms_;
      out.push_back({order_action_kind::channel_query, 0, alert_kind::retries_exceeded});
      break;
    case order_state::confirming:
    case order_state::cancelling: {
      tcc_phase phase = state_ == order_state::confirming ? tcc_phase::confirm : tcc_phase::cancel;
      for (uint16_t i = 0; i < legs_.size(); ++i)
        if (!legs_[i].done) send(i, phase, now_ms, out);
      finish_if_done(now_ms, out);
      break;
    }
    default: break;
  }
}

int64_t order_core::next_wakeup_ms() const {
  if (is_final(state_)) return never;
  int64_t wakeup = never;
  for (const auto& l : legs_)
    if (l.awaiting) wakeup = std::min(wakeup, l.resend_at_ms);
  if (state_ == order_state::trying && !restored_) wakeup = std::min(wakeup, try_deadline_ms());
  if (state_ == order_state::processing) {
    wakeup = std::min(wakeup, channel_next_query_ms_);
    if (!processing_alerted_) wakeup = std::min(wakeup, processing_since_ms_ + config_.processing_alert_ms);
  }
  return wakeup;
}

namespace {

// The legs JSON is written for every order row (twice per order), so it is built in place:
// one allocation, std::to_chars instead of a temporary string per number.
// 62 characters of names and punctuation, 3 numbers of at most 20, 3 small ones; the journal
// pointers ",\"tseq\":" and ",\"seq\":" with a number of at most 20 each.
constexpr size_t leg_json_max = 160 + 28 + 27;

//! A literal: its length is known at compile time, so the copy is a few moves.
template <size_t N>
char* append_text(char* at, const char (&text)[N]) {
  std::memcpy(at, text, N - 1);
  return at + (N - 1);
}

template <class Integer>
char* append_number(char* at, Integer value) {
  return std::to_chars(at, at + 20, value).ptr;  // 20 characters hold every 64-bit integer
}

//! An enum's value: one digit for every value the enums here have.
char* append_small(char* at, unsigned value) {
  if (value < 10) {
    *at = static_cast<char>('0' + value);
    return at + 1;
  }
  return append_number(at, value);
}

char* append_leg_json(char* at, participant_kind participant, uint64_t target, leg_type type, int64_t amount,
                      int64_t confirmed, tcc_phase phase, bool done, uint64_t try_sequence, uint64_t step_sequence) {
  at = append_text(at, "{\"p\":");
  at = append_small(at, static_cast<unsigned>(participant));
  at = append_text(at, ",\"w\":");
  at = append_number(at, target);
  at = append_text(at, ",\"type\":");
  at = append_small(at, static_cast<unsigned>(type));
  at = append_text(at, ",\"amount\":");
  at = append_number(at, amount);
  at = append_text(at, ",\"confirmed\":");
  at = append_number(at, confirmed);
  at = append_text(at, ",\"step\":");
  at = append_small(at, static_cast<unsigned>(phase));
  at = append_text(at, done ? ",\"done\":1" : ",\"done\":0");
  if (try_sequence != 0) {
    at = append_text(at, ",\"tseq\":");
    at = append_number(at, try_sequence);
  }
  if (step_sequence != 0) {
    at = append_text(at, ",\"seq\":");
    at = append_number(at, step_sequence);
  }
  *at++ = '}';
  return at;
}

//! Writes "[" + `count` legs (each by `leg(i, at)`) + "]" into one string: on the stack first
//! for an order's few legs, so the string is allocated once at its final size.
template <class WriteLeg>
std::string legs_json_of(size_t count, WriteLeg&& leg) {
  constexpr size_t stack_legs = limits::order_legs_max;
  char stack[2 + stack_legs * (leg_json_max + 1)];
  std::string heap;
  if (count > stack_legs) heap.resize(2 + count * (leg_json_max + 1));
  char* const start = count > stack_legs ? heap.data() : stack;
  char* at = start;
  *at++ = '[';
  for (size_t i = 0; i < count; ++i) {
    if (i > 0) *at++ = ',';
    at = leg(i, at);
  }
  *at++ = ']';
  size_t length = static_cast<size_t>(at - start);
  if (count > stack_legs) {
    heap.resize(length);
    return heap;
  }
  return std::string(stack, length);
}

}  // namespace

std::string format_legs_json(const std::vector<stored_leg>& legs) {
  return legs_json_of(legs.size(), [&legs](size_t i, char* at) {
    const stored_leg& l = legs[i];
    return append_leg_json(at, l.participant, l.target, l.type, l.amount, l.confirmed, l.phase, l.done,
                           l.try_sequence, l.step_sequence);
  });
}

std::string order_core::legs_json() const {
  return legs_json_of(legs_.size(), [this](size_t i, char* at) {
    const order_leg& l = legs_[i];
    int64_t confirmed = l.phase == tcc_phase::confirm ? step_amount(static_cast<uint16_t>(i)) : 0;
    return append_leg_json(at, l.participant, l.target, l.type, l.amount, confirmed, l.phase, l.done, l.try_sequence,
                           l.step_sequence);
  });
}

namespace {

//! A reader of the flat JSON format_legs_json writes: objects of integer members in an array.
class legs_reader {
 public:
  explicit legs_reader(std::string_view text) : text_(text) {}

  bool read(std::vector<stored_leg>& legs, std::string& error) {
    legs.clear();
    if (!take('[')) return fail(error, "expected '['");
    if (take(']')) return end(error);
    do {
      if (legs.size() >= legs_max) return fail(error, "too many legs");
      stored_leg leg;
      if (!read_leg(leg, error)) return false;
      legs.push_back(leg);
    } while (take(','));
    if (!take(']')) return fail(error, "expected ',' or ']'");
    return end(error);
  }

 private:
  static constexpr size_t legs_max = limits::order_legs_max;

  bool read_leg(stored_leg& leg, std::string& error) {
    if (!take('{')) return fail(error, "expected '{'");
    unsigned seen = 0;  // bit per required member: w, type, amount, step, done
    if (!take('}')) {
      do {
        std::string_view key;
        int64_t value = 0;
        if (!read_key(key)) return fail(error, "expected a member name");
        if (!take(':') || !read_integer(value)) return fail(error, "expected an integer for \"" + std::string(key) + "\"");
        if (key == "p") {
          if (value < 0 || value > 1) return fail(error, "bad participant");
          leg.participant = static_cast<participant_kind>(value);
        } else if (key == "w") {
          if (value < 0) return fail(error, "bad target");
          leg.target = static_cast<uint64_t>(value);
          seen |= 1;
        } else if (key == "type") {
          if (value < 0 || value > 3) return fail(error, "bad leg type");
          leg.type = static_cast<leg_type>(value);
          seen |= 2;
        } else if (key == "amount") {
          leg.amount = value;
          seen |= 4;
        } else if (key == "confirmed") {
          leg.confirmed = value;
        } else if (key == "step") {
          if (value < 0 || value > 2) return fail(error, "bad step");
          leg.phase = static_cast<tcc_phase>(value);
          seen |= 8;
        } else if (key == "done") {
          if (value < 0 || value > 1) return fail(error, "bad done");
          leg.done = value == 1;
          seen |= 16;
        } else if (key == "tseq" || key == "seq") {
          if (value < 0) return fail(error, "bad journal sequence");
          (key == "tseq" ? leg.try_sequence : leg.step_sequence) = static_cast<uint64_t>(value);
        }  // other members: written by a newer build, not needed here
      } while (take(','));
      if (!take('}')) return fail(error, "expected ',' or '}'");
    }
    if (seen != 31) return fail(error, "a leg lacks w, type, amount, step or done");
    return true;
  }

  bool read_key(std::string_view& key) {
    if (!take('"')) return false;
    size_t close = text_.find('"', at_);
    if (close == std::string_view::npos || close - at_ > 32) return false;
    key = text_.substr(at_, close - at_);
    at_ = close + 1;
    return true;
  }

  bool read_integer(int64_t& value) {
    skip_space();
    bool negative = at_ < text_.size() && text_[at_] == '-';
    if (negative) ++at_;
    size_t digits = 0;
    uint64_t magnitude = 0;
    while (at_ < text_.size() && text_[at_] >= '0' && text_[at_] <= '9') {
      if (++digits > 19) return false;
      magnitude = magnitude * 10 + static_cast<uint64_t>(text_[at_++] - '0');
    }
    if (digits == 0) return false;
    // Targets are unsigned 64-bit ids that fit 63 bits (wallet ids and order ids both do).
    if (magnitude > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    value = negative ? -static_cast<int64_t>(magnitude) : static_cast<int64_t>(magnitude);
    return true;
  }

  bool take(char c) {
    skip_space();
    if (at_ < text_.size() && text_[at_] == c) {
      ++at_;
      return true;
    }
    return false;
  }

  void skip_space() {
    while (at_ < text_.size() && (text_[at_] == ' ' || text_[at_] == '\n' || text_[at_] == '\t' || text_[at_] == '\r'))
      ++at_;
  }

  bool end(std::string& error) {
    skip_space();
    return at_ == text_.size() || fail(error, "text after the array");
  }

  bool fail(std::string& error, const std::string& why) const {
    error = "legs JSON at " + std::to_string(at_) + ": " + why;
    return false;
  }

  std::string_view text_;
  size_t at_ = 0;
};

}  // namespace

bool parse_legs_json(std::string_view json, std::vector<stored_leg>& legs, std::string* error) {
  std::string why;
  legs_reader reader(json);
  if (reader.read(legs, why)) return true;
  legs.clear();
  if (error != nullptr) *error = why;
  return false;
}

}  // namespace txengine
