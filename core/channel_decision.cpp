#include "core/channel_decision.hpp"

namespace txengine {

std::string_view to_string(channel_outcome outcome) {
  switch (outcome) {
    case channel_outcome::succeeded: return "succeeded";
    case channel_outcome::declined: return "declined";
    case channel_outcome::unknown: return "unknown";
    case channel_outcome::not_found: return "not_found";
    case channel_outcome::closed: return "closed";
  }
  return "?";
}

std::string_view to_string(channel_step step) {
  switch (step) {
    case channel_step::wait: return "wait";
    case channel_step::resubmit: return "resubmit";
    case channel_step::close: return "close";
    case channel_step::succeed: return "succeed";
    case channel_step::fail: return "fail";
  }
  return "?";
}

channel_step decide_channel(order_kind kind, channel_outcome answer, bool overdue, bool payment_expired) {
  switch (answer) {
    case channel_outcome::succeeded: return channel_step::succeed;
    case channel_outcome::declined:
    case channel_outcome::closed: return channel_step::fail;
    case channel_outcome::unknown:
      // Money coming in, unpaid past its deadline: closed at the provider (a payer who pays
      // meanwhile makes the close answer "succeeded"). Once a window, not at every answer.
      if (kind == order_kind::top_up && payment_expired && overdue) return channel_step::close;
      return channel_step::wait;
    case channel_outcome::not_found:
      if (!overdue) return channel_step::wait;  // the provider may not know it yet
      // Money going out is asked for again (the provider takes one order per id); money coming
      // in is closed, so that a payment arriving later cannot be lost.
      return kind == order_kind::withdraw ? channel_step::resubmit : channel_step::close;
  }
  return channel_step::wait;  // an answer this build does not know says nothing definitive
}

}  // namespace txengine
