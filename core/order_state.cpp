#include "core/order_state.hpp"

namespace txengine {

namespace {

using s = order_state;

struct transition {
  order_state from;
  order_state to;
};

// The whole table. Reading it top to bottom is reading the order life cycle:
constexpr transition allowed_transitions[] = {
    {s::received, s::trying},       // validated, legs sent
    {s::received, s::failed},       // refused before any leg was tried
    {s::trying, s::confirming},     // every try succeeded (internal kinds)
    {s::trying, s::processing},     // every try succeeded; an external channel decides
    {s::trying, s::cancelling},     // a try was refused or the try deadline passed
    {s::processing, s::confirming}, // the channel definitively succeeded
    {s::processing, s::cancelling}, // the channel definitively declined
    {s::confirming, s::succeeded},  // every confirm acknowledged
    {s::cancelling, s::failed},     // every cancel acknowledged
};

}  // namespace

bool transition_allowed(order_state from, order_state to) {
  for (const auto& t : allowed_transitions)
    if (t.from == from && t.to == to) return true;
  return false;
}

}  // namespace txengine
