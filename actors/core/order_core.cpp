#include "actors/core/order_core.hpp"

#include <algorithm>

#include "actors/core/check.hpp"
#include "actors/core/order_state.hpp"

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
    : id_(id), command_(std::move(command)), system_wallet_(system_wallet), config_(config), created_ms_(now_ms) {
  const auto& c = command_;
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
  TX_CHECK(legs_.size() < 3 + 1);
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

bool order_core::move_to(order_state next, std::vector<order_action>& out) {
  if (!transition_allowed(state_, next)) {
    out.push_back({order_action_kind::alert, 0, alert_kind::invalid_transition});
    return false;
  }
  state_ = next;
  return true;
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
  for (uint16_t i = 0; i < legs_.size(); ++i) send(i, phase, now_ms, out);
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
    move_to(order_state::failed, out);
    finished_ms_ = now_ms;
    out.push_back({order_action_kind::finished, 0, alert_kind::retries_exceeded});
    return;
  }
  move_to(order_state::trying, out);
  begin_phase(tcc_phase::try_, now_ms, out);
}

void order_core::on_refund_origin(const refund_origin& origin, int64_t now_ms, std::vector<order_action>& out) {
  if (state_ != order_state::trying || legs_.size() != 1 || !legs_[0].awaiting) return;  // stale repeat
  legs_[0].awaiting = false;
  legs_[0].tried = true;
  add_leg(participant_kind::wallet, origin.merchant, leg_type::debit_hold, command_.amount, merchants);
  add_leg(participant_kind::wallet, origin.payer, leg_type::credit_on_confirm, command_.amount, payers);
  send(1, tcc_phase::try_, now_ms, out);
  send(2, tcc_phase::try_, now_ms, out);
}

void order_core::on_step_reply(uint16_t leg, tcc_phase phase, result_code code, const balances& after,
                               int64_t now_ms, std::vector<order_action>& out) {
  if (leg >= legs_.size()) return;
  order_leg& l = legs_[leg];
  if (l.phase != phase || !l.awaiting) return;  // a late answer to an earlier step
  // A refund's accepted allowance carries the origin: the host calls on_refund_origin.
  if (l.participant == participant_kind::original_order && phase == tcc_phase::try_ && code == result_code::ok)
    return;
  if (l.participant == participant_kind::wallet) l.last_balances = after;
  if (phase == tcc_phase::try_) {
    if (code == result_code::ok) {
      l.awaiting = false;
      l.tried = true;
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
  if (code == result_code::ok) {
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

void order_core::fail_try_phase(result_code reason, int64_t now_ms, std::vector<order_action>& out) {
  if (state_ != order_state::trying && state_ != order_state::processing) return;
  reason_ = reason;
  if (!move_to(order_state::cancelling, out)) return;
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
    move_to(order_state::processing, out);
    channel_awaiting_ = true;
    channel_submitted_ms_ = now_ms;
    channel_query_interval_ms_ = config_.channel_query_min_delay_ms;
    channel_next_query_ms_ = now_ms + std::max(config_.channel_submit_timeout_ms, config_.channel_query_min_delay_ms);
    out.push_back({order_action_kind::channel_submit, 0, alert_kind::retries_exceeded});
    return;
  }
  posted_amount_ = command_.amount;
  move_to(order_state::confirming, out);
  begin_phase(tcc_phase::confirm, now_ms, out);
}

void order_core::on_channel(channel_outcome outcome, int64_t settled_amount, int64_t now_ms,
                            std::vector<order_action>& out, result_code decline_reason) {
  if (outcome == channel_outcome::not_found && now_ms - channel_submitted_ms_ >= config_.channel_not_found_final_ms)
    outcome = channel_outcome::declined;  // long enough after the submit: it never arrived
  bool definitive = outcome == channel_outcome::succeeded || outcome == channel_outcome::declined;
  if (channel_definitive_) {
    // The first definitive answer wins; a different later one is an incident (seed 002).
    if (definitive && (outcome != channel_final_ ||
                       (outcome == channel_outcome::succeeded && settled_amount != channel_settled_)))
      out.push_back({order_action_kind::alert, 0, alert_kind::conflicting_outcome});
    return;
  }
  if (state_ != order_state::processing) return;
  channel_awaiting_ = false;
  if (outcome == channel_outcome::succeeded && settled_amount < 0) outcome = channel_outcome::unknown;
  if (!definitive || outcome == channel_outcome::unknown) {
    // Unknown is never failure: keep the money where it is and ask again later.
    channel_query_interval_ms_ = std::min(channel_query_interval_ms_ * 2, config_.channel_query_max_interval_ms);
    channel_next_query_ms_ =
        std::max(now_ms + channel_query_interval_ms_, channel_submitted_ms_ + config_.channel_query_min_delay_ms);
    return;
  }
  channel_definitive_ = true;
  channel_final_ = outcome;
  channel_settled_ = settled_amount;
  channel_next_query_ms_ = never;
  if (outcome == channel_outcome::declined) {
    fail_try_phase(decline_reason, now_ms, out);
    return;
  }
  if (settled_amount > command_.amount) {
    out.push_back({order_action_kind::alert, 0, alert_kind::settled_more_than_asked});
    settled_amount = command_.amount;
  }
  posted_amount_ = settled_amount;
  move_to(order_state::confirming, out);
  begin_phase(tcc_phase::confirm, now_ms, out);
}

void order_core::on_timer(int64_t now_ms, std::vector<order_action>& out) {
  if (is_final(state_)) return;
  if (state_ == order_state::trying && now_ms >= try_deadline_ms()) {
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
    if (!processing_alerted_ && now_ms - channel_submitted_ms_ >= config_.processing_alert_ms) {
      processing_alerted_ = true;
      out.push_back({order_action_kind::alert, 0, alert_kind::processing_too_long});
    }
  }
}

void order_core::finish_if_done(int64_t now_ms, std::vector<order_action>& out) {
  if (state_ != order_state::confirming && state_ != order_state::cancelling) return;
  for (const auto& l : legs_)
    if (!l.done) return;
  if (!move_to(state_ == order_state::confirming ? order_state::succeeded : order_state::failed, out)) return;
  finished_ms_ = now_ms;
  out.push_back({order_action_kind::finished, 0, alert_kind::retries_exceeded});
}

int64_t order_core::next_wakeup_ms() const {
  if (is_final(state_)) return never;
  int64_t wakeup = never;
  for (const auto& l : legs_)
    if (l.awaiting) wakeup = std::min(wakeup, l.resend_at_ms);
  if (state_ == order_state::trying) wakeup = std::min(wakeup, try_deadline_ms());
  if (state_ == order_state::processing) {
    wakeup = std::min(wakeup, channel_next_query_ms_);
    if (!processing_alerted_) wakeup = std::min(wakeup, channel_submitted_ms_ + config_.processing_alert_ms);
  }
  return wakeup;
}

}  // namespace txengine
