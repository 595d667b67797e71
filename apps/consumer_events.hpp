#pragma once
// The consumers' decoding of Kafka messages into OrderFinalized events (protocol/events.proto):
// what arrives from the topic is untrusted bytes. No Kafka or MySQL here, so the libFuzzer
// target apps/fuzz_kafka_event.cpp builds it on its own.
#include <cstdint>
#include <string>
#include <vector>

#include "apps/consumer_core.hpp"

namespace txengine::consumers {

struct kafka_message {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string payload;
};

//! Decodes an OrderFinalized payload; false when it is not one (a poison message).
bool decode_event(const std::string& payload, finalized_event& out);

//! A batch decoded: `events[i]` for message i, the indexes of the succeeded payments, and how
//! many messages were other events or malformed (those are logged with their offsets).
struct decoded_batch {
  std::vector<finalized_event> events;
  std::vector<size_t> eligible;
  uint64_t skipped = 0, malformed = 0;
};
decoded_batch decode_batch(const std::string& name, const std::vector<kafka_message>& batch);

}  // namespace txengine::consumers
