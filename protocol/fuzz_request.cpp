// libFuzzer target: a request past authentication. The input is the Request's bytes (any bytes);
// the harness signs them with a known key, so the fuzzer explores what an authenticated client
// can send: the signed-frame decoder, the authenticator, the replay check, the key's
// authorization, the conversion to an engine command and the engine's validation ladder. Must
// never crash, hang, or accept a command the validation refuses.
#include <cstddef>
#include <cstdint>

#include "core/order_command.hpp"
#include "protocol/convert.hpp"
#include "protocol/replay_cache.hpp"
#include "protocol/fuzz_support.hpp"

using namespace txengine;
using namespace txengine::wire;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const key_table& keys = fuzz_keys();
  static replay_cache replays(1 << 12, 1000, 1);  // one input a millisecond: at most 1,000 remembered
  static int64_t now = 1'700'000'000'000;
  ++now;
  if (size == 0) return 0;
  // The first byte picks the key; the rest is the request as the client serialized it.
  const bool scoped = (data[0] & 1) != 0;
  Envelope envelope;
  envelope.set_correlation_id(static_cast<uint64_t>(now));
  envelope.set_request(std::string(reinterpret_cast<const char*>(data + 1), size - 1));
  sign(envelope, scoped ? fuzz_scoped_key_id : dev_key_id, scoped ? fuzz_scoped_secret : dev_secret, now);
  std::string frame;
  append_envelope_frame(frame, envelope);
  frame_splitter splitter;
  splitter.feed(frame.data(), frame.size());
  std::string_view payload;
  if (splitter.next(payload) != frame_splitter::status::frame) __builtin_trap();  // our own frame
  decoded_request req;
  if (decode_request(payload, req) != result_code::ok) return 0;  // not a Request: refused, fine
  tenant_id tenant = 0;
  const client_key* key = nullptr;
  if (authenticate(keys, req, now, tenant, timestamp_window_ms, &key) != result_code::ok) __builtin_trap();
  if (replays.admit(req.signature, now) != replay_cache::verdict::fresh) __builtin_trap();  // each input once
  if (authorize(*key, req.request) != result_code::ok) return 0;
  order_command command;
  if (!to_command(req.request, tenant, command)) return 0;  // a query or administration
  if (command.tenant != tenant) __builtin_trap();  // the tenant comes from the key, never the payload
  if (validate(command) == result_code::ok) {
    // What the ladder lets through is a well-formed order: a positive amount, at most the key's bound.
    if (command.amount <= 0 || (scoped && command.amount > fuzz_scoped_amount_max)) __builtin_trap();
  }
  return 0;
}
