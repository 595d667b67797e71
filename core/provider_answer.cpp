#include "core/provider_answer.hpp"

namespace txengine {

std::string_view to_string(provider_anomaly anomaly) {
  switch (anomaly) {
    case provider_anomaly::none: return "none";
    case provider_anomaly::refused_credentials: return "refused_credentials";
    case provider_anomaly::malformed_answer: return "malformed_answer";
    case provider_anomaly::order_conflict: return "order_conflict";
    case provider_anomaly::bad_request: return "bad_request";
    case provider_anomaly::unexpected_status: return "unexpected_status";
  }
  return "none";
}

namespace {

//! A 200's body: the order's state.
provider_reading read_order(provider_request request, const http_exchange& x) {
  provider_reading r;
  if (!x.body_valid) {
    r.health_failure = true;
    r.anomaly = provider_anomaly::malformed_answer;
    return r;
  }
  const auto& s = x.order_status;
  if (s == "processing") return r;
  if (s == "declined") {
    r.outcome = channel_outcome::declined;
  } else if (s == "closed") {
    r.outcome = channel_outcome::closed;
  } else if (s == "succeeded") {
    // Partial is allowed (less than asked), never more, never nothing; and a submit's answer
    // is about the amount asked.
    bool amount_ok = x.requested_amount == 0 || x.amount == x.requested_amount;
    if (x.settled_amount < 1 || x.settled_amount > x.amount || !amount_ok) {
      r.anomaly = provider_anomaly::malformed_answer;
      return r;
    }
    r.outcome = channel_outcome::succeeded;
    r.settled_amount = x.settled_amount;
  } else {
    r.anomaly = provider_anomaly::malformed_answer;
  }
  (void)request;
  return r;
}

}  // namespace

provider_reading read_provider_answer(provider_request request, const http_exchange& x) {
  provider_reading r;
  switch (x.result) {
    case http_exchange::transport::connect_failed:
      r.unseen = true;
      r.health_failure = true;
      return r;
    case http_exchange::transport::timed_out:
    case http_exchange::transport::broken:
      r.health_failure = true;
      return r;
    case http_exchange::transport::answered: break;
  }
  switch (x.status) {
    case 200: return read_order(request, x);
    case 404:
      // "Not found" is an answer about the order only where the contract has it.
      if (request != provider_request::submit && x.body_valid && x.order_status == "not_found") {
        r.outcome = channel_outcome::not_found;
        return r;
      }
      r.anomaly = provider_anomaly::unexpected_status;
      r.health_failure = true;
      return r;
    case 429:
      r.unseen = true;
      r.rate_limited = true;
      return r;
    case 400:
      // Refused as malformed before anything was done: nothing moved, and sending it again
      // will not help (the adapter refuses a first submit as busy: declined, nothing moved).
      r.unseen = true;
      r.anomaly = provider_anomaly::bad_request;
      return r;
    case 401:
    case 403:
      r.unseen = true;
      r.health_failure = true;
      r.anomaly = provider_anomaly::refused_credentials;
      return r;
    case 409:
      r.anomaly = provider_anomaly::order_conflict;
      return r;
    default: break;
  }
  r.health_failure = x.status >= 500;
  if (x.status < 500) r.anomaly = provider_anomaly::unexpected_status;
  return r;
}

}  // namespace txengine
