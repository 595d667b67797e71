#include "apps/consumer_events.hpp"

#include <cstdio>

#include "events.pb.h"

namespace txengine::consumers {

bool decode_event(const std::string& payload, finalized_event& out) {
  txengine::events::OrderFinalized e;
  if (!e.ParseFromString(payload)) return false;
  out.event_id = e.event_id();
  out.tenant = e.tenant();
  out.order_id = e.order_id();
  out.kind = static_cast<int>(e.kind());
  out.state = static_cast<int>(e.state());
  out.currency = e.currency();
  out.amount = e.amount();
  out.confirmed_amount = e.confirmed_amount();
  out.payer = e.source();
  out.merchant = e.destination();
  out.final_ms = e.final_ms();
  return true;
}

decoded_batch decode_batch(const std::string& name, const std::vector<kafka_message>& batch) {
  decoded_batch d;
  d.events.resize(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!decode_event(batch[i].payload, d.events[i]) || !is_well_formed(d.events[i])) {
      // A poison message cannot become valid by retrying: count it, log it, move on.
      ++d.malformed;
      std::fprintf(stderr, "%s: malformed event at %s[%d]@%lld skipped\n", name.c_str(), batch[i].topic.c_str(),
                   batch[i].partition, static_cast<long long>(batch[i].offset));
    } else if (is_succeeded_payment(d.events[i])) {
      d.eligible.push_back(i);
    } else {
      ++d.skipped;
    }
  }
  return d;
}

}  // namespace txengine::consumers
