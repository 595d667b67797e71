// libFuzzer target: the frame splitter, the envelope decoder and the authenticator on
// arbitrary bytes, fed in arbitrary chunks. Must never crash, hang or grow without bound.
#include <cstddef>
#include <cstdint>

#include "protocol/fuzz_support.hpp"

using namespace txengine;
using namespace txengine::wire;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const key_table& keys = fuzz_keys();
  if (size == 0) return 0;
  // The first byte picks the chunk size, so partial reads are explored too.
  size_t chunk = (data[0] % 64) + 1;
  frame_splitter splitter(4096);
  for (size_t at = 1; at < size; at += chunk) {
    splitter.feed(data + at, std::min(chunk, size - at));
    std::string_view payload;
    frame_splitter::status st;
    while ((st = splitter.next(payload)) == frame_splitter::status::frame) {
      decoded_request req;
      if (decode_request(payload, req) == result_code::ok) {
        tenant_id tenant = 0;
        (void)authenticate(keys, req, req.timestamp_ms, tenant);
      }
      uint64_t correlation = 0;
      Reply reply;
      (void)decode_reply(payload, correlation, reply);
    }
    if (splitter.failed()) break;
    if (splitter.buffered() > 4096 + frame_header_size) __builtin_trap();  // bounded buffering
  }
  // The whole input as one payload, too.
  decoded_request req;
  (void)decode_request(std::string_view(reinterpret_cast<const char*>(data), size), req);
  return 0;
}
