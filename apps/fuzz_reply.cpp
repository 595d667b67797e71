// libFuzzer target: the client's reply path (protocol/client.cpp `reader`: the frame splitter
// with the client's 64 MiB bound, then decode_reply) on replies a hostile or broken server could
// send, and what commission-payer does with a GetOrder answer (consumer_core.hpp verify_event).
// The input's first byte picks the chunk size; the rest is a Reply's bytes, which the harness
// wraps in a well-formed envelope (so the fuzzer works on the Reply past the envelope), followed
// by the same bytes as a raw frame payload.
// Checks beyond "no crash": a Reply that parses on its own arrives whole with its correlation
// id; the verdict is `pay` only when every compared field agrees.
#include <cstddef>
#include <cstdint>
#include <string>

#include "apps/consumer_core.hpp"
#include "protocol/fuzz_support.hpp"

using namespace txengine;
using namespace txengine::wire;
namespace consumers = txengine::consumers;

namespace {

constexpr uint64_t fuzz_correlation = 0x1234'5678'9abcULL;
constexpr size_t client_frame_max = 64u << 20;  // client.cpp reader()

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void check_verdict(const Reply& reply) {
  consumers::finalized_event e;
  e.event_id = 1, e.order_id = 42, e.kind = consumers::order_kind_pay, e.state = consumers::order_state_succeeded;
  e.currency = "USD", e.amount = 1000, e.confirmed_amount = 1000, e.merchant = 7;
  consumers::engine_order o;
  if (reply.has_order()) {
    const auto& w = reply.order();
    o.kind = static_cast<int>(w.kind()), o.state = static_cast<int>(w.state()), o.amount = w.amount();
    o.posted_amount = w.posted_amount(), o.currency = w.currency(), o.destination = w.destination();
  }
  auto v = consumers::verify_event(e, static_cast<int>(reply.code()), reply.has_order() ? &o : nullptr);
  if (v.decision == consumers::verdict::pay &&
      (reply.code() != OK || o.kind != e.kind || o.state != e.state || o.amount != e.amount ||
       o.posted_amount != e.confirmed_amount || o.currency != e.currency || o.destination != e.merchant))
    __builtin_trap();  // paid what the engine did not say
  if (v.decision != consumers::verdict::pay && v.reason.empty()) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)fuzz_keys();  // quiet protobuf log
  if (size == 0) return 0;
  size_t chunk = (data[0] % 64) + 1;
  std::string_view reply_bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  Reply standalone;
  bool parses = standalone.ParseFromArray(reply_bytes.data(), static_cast<int>(reply_bytes.size()));

  Envelope head;
  head.set_correlation_id(fuzz_correlation);
  std::string envelope = head.SerializeAsString();
  envelope.push_back(static_cast<char>((6 << 3) | 2));  // field 6 (reply), length-delimited
  put_varint(envelope, reply_bytes.size());
  envelope.append(reply_bytes.data(), reply_bytes.size());
  std::string stream;
  append_frame(stream, envelope);
  append_frame(stream, reply_bytes);

  frame_splitter splitter(client_frame_max);
  int frames = 0;
  for (size_t at = 0; at < stream.size(); at += chunk) {
    splitter.feed(stream.data() + at, std::min(chunk, stream.size() - at));
    std::string_view payload;
    while (splitter.next(payload) == frame_splitter::status::frame) {
      uint64_t correlation = 0;
      Reply reply;
      bool decoded = decode_reply(payload, correlation, reply);
      if (frames++ == 0) {
        if (parses && !decoded) __builtin_trap();  // a valid reply was dropped
        if (decoded && correlation != fuzz_correlation) __builtin_trap();
      }
      if (decoded) check_verdict(reply);
    }
    if (splitter.failed()) break;
  }
  return 0;
}
