// libFuzzer target: the consumers' decoding of Kafka messages (apps/consumer_events.cpp) on
// arbitrary payloads, as anyone who can write to the topic can send, then the rules that decide
// on an event (consumer_core.hpp): well-formedness, eligibility, the commission arithmetic and
// the verification against the engine's order. Checks beyond "no crash": an eligible event is
// well formed with a settled amount in (0, amount]; its commission never exceeds it; an event
// is paid only when the engine's order agrees with it, field by field.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <google/protobuf/stubs/logging.h>

#include "apps/consumer_events.hpp"

using namespace txengine::consumers;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    google::protobuf::SetLogHandler(nullptr);
    return true;
  }();
  (void)quiet;
  std::vector<kafka_message> batch(1);
  batch[0].topic = "fuzz";
  batch[0].payload.assign(reinterpret_cast<const char*>(data), size);
  // The same payload twice, as a redelivery would.
  batch.push_back(batch[0]);
  batch[1].offset = 1;
  decoded_batch d = decode_batch("fuzz", batch);
  if (d.events.size() != 2 || d.eligible.size() + d.skipped + d.malformed != 2) __builtin_trap();
  for (size_t i : d.eligible) {
    const finalized_event& e = d.events[i];
    if (!is_well_formed(e) || !is_succeeded_payment(e)) __builtin_trap();
    int64_t settled = settled_amount(e);
    if (settled <= 0 || settled > e.amount) __builtin_trap();
    for (uint32_t bps : {0u, 1u, 150u, 9'999u, max_basis_points}) {
      auto c = commission_amount(settled, bps);
      if (!c || *c < 0 || *c > settled) __builtin_trap();
    }
    // The engine agrees with itself: paid; any field off: set aside.
    engine_order o;
    o.kind = e.kind, o.state = e.state, o.amount = e.amount, o.posted_amount = e.confirmed_amount;
    o.currency = e.currency, o.destination = e.merchant;
    if (verify_event(e, code_ok, &o).decision != verdict::pay) __builtin_trap();
    o.amount = e.amount - 1;
    if (verify_event(e, code_ok, &o).decision != verdict::set_aside) __builtin_trap();
    if (verify_event(e, code_unknown_order, nullptr).decision != verdict::set_aside) __builtin_trap();
  }
  return 0;
}
