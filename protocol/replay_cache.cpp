#include "protocol/replay_cache.hpp"

#include <cstring>

namespace txengine::wire {

namespace {

uint64_t mix(uint64_t x) {  // splitmix64's finalizer: every input bit moves every output bit
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

}  // namespace

replay_cache::replay_cache(size_t entries_max, int64_t keep_ms, uint64_t salt)
    : entries_max_(entries_max), keep_ms_(keep_ms), salt_(salt) {}

void replay_cache::expire(int64_t now_ms) {
  while (!order_.empty() && order_.front().expires_ms <= now_ms) {
    seen_.erase(order_.front().key);
    order_.pop_front();
  }
}

replay_cache::verdict replay_cache::admit(std::string_view signature, int64_t now_ms) {
  if (signature.size() < 8) return verdict::replayed;
  uint64_t bits = 0;
  std::memcpy(&bits, signature.data(), 8);
  const uint64_t k = mix(bits ^ salt_);
  expire(now_ms);
  if (seen_.count(k) != 0) return verdict::replayed;
  if (seen_.size() >= entries_max_) return verdict::full;
  seen_.insert(k);
  // Expiry stays monotonic in arrival order, so the oldest entry is always at the front; after
  // the clock stepped back a newer entry is kept as long as the older (longer is the safe side).
  int64_t expires = now_ms + keep_ms_;
  if (!order_.empty() && expires < order_.back().expires_ms) expires = order_.back().expires_ms;
  order_.push_back({expires, k});
  return verdict::fresh;
}

}  // namespace txengine::wire
