#pragma once
// What an HTTP provider's answer to one request says (issue 15, item 2): the exchange (did it
// connect, time out, what status and body came back) -> the outcome the order sees, whether the
// provider surely never processed the request (`unseen`: the adapter may send it again, or to
// another provider), whether it counts against the provider's health (the circuit breaker), and
// whether it is an anomaly an operator must see. One table, tested row by row
// (tests/core/provider_answer_test.cpp); the adapter only parses JSON into `http_exchange`.
//
// Its rule is the decision table's (core/channel_decision.hpp): only a definitive answer in a
// well-formed body moves money. A timeout, a reset, any 5xx, a body that cannot be read, or one
// that contradicts the request is `unknown`; the order asks again.
#include <cstdint>
#include <string_view>

#include "core/channel_decision.hpp"

namespace txengine {

enum class provider_request : uint8_t { submit, query, close };

struct http_exchange {
  enum class transport : uint8_t {
    answered,        //!< a status and a body came back
    connect_failed,  //!< no connection was made: the request was never sent
    timed_out,       //!< sent, no answer in time: it may have been processed
    broken,          //!< the connection broke mid-exchange: it may have been processed
  } result = transport::answered;
  int status = 0;  //!< the HTTP status, when answered
  //! The body parsed, names this order, and its fields have the right types.
  bool body_valid = false;
  std::string_view order_status;  //!< the body's "status"
  int64_t settled_amount = 0;
  int64_t amount = 0;             //!< the body's "amount"
  int64_t requested_amount = 0;   //!< what the engine asked (submit), 0 otherwise
};

enum class provider_anomaly : uint8_t {
  none,
  refused_credentials,  //!< 401/403: the engine's key or signature is refused (configuration)
  malformed_answer,     //!< a body that cannot be read, an unknown status, a settled amount outside 1..amount
  order_conflict,       //!< 409: the provider has this order id with other details
  bad_request,          //!< 400: the provider refused the request as malformed (an engine bug)
  unexpected_status,    //!< a status the contract does not have
};
std::string_view to_string(provider_anomaly anomaly);

struct provider_reading {
  channel_outcome outcome = channel_outcome::unknown;
  int64_t settled_amount = 0;
  bool unseen = false;          //!< surely not processed: safe to send again or elsewhere
  bool health_failure = false;  //!< counts against the provider's circuit breaker
  bool rate_limited = false;    //!< 429: slow down (not a failure of the provider)
  provider_anomaly anomaly = provider_anomaly::none;
};

provider_reading read_provider_answer(provider_request request, const http_exchange& exchange);

}  // namespace txengine
