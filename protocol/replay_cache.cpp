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
    : entries_max_(entries_max), keep_ms_(keep_ms), salt_(salt), slots_(1024, 0) {}

bool replay_cache::contains(uint64_t key) const {
  const size_t mask = slots_.size() - 1;
  for (size_t i = key & mask;; i = (i + 1) & mask) {
    if (slots_[i] == key) return true;
    if (slots_[i] == 0) return false;
  }
}

void replay_cache::insert(uint64_t key) {
  const size_t mask = slots_.size() - 1;
  size_t i = key & mask;
  while (slots_[i] != 0) i = (i + 1) & mask;
  slots_[i] = key;
}

void replay_cache::erase(uint64_t key) {
  // Linear probing's deletion without tombstones: later keys of the run move back into the
  // hole when their home slot is not between the hole and them.
  const size_t mask = slots_.size() - 1;
  size_t hole = key & mask;
  while (slots_[hole] != key) {
    if (slots_[hole] == 0) return;
    hole = (hole + 1) & mask;
  }
  for (size_t next = (hole + 1) & mask; slots_[next] != 0; next = (next + 1) & mask) {
    size_t home = slots_[next] & mask;
    bool stays = hole <= next ? (hole < home && home <= next) : (hole < home || home <= next);
    if (stays) continue;
    slots_[hole] = slots_[next];
    hole = next;
  }
  slots_[hole] = 0;
}

void replay_cache::grow() {
  std::vector<uint64_t> old(slots_.size() * 2, 0);
  old.swap(slots_);
  for (uint64_t key : old)
    if (key != 0) insert(key);
}

void replay_cache::expire(int64_t now_ms) {
  while (!order_.empty() && order_.front().expires_ms <= now_ms) {
    erase(order_.front().key);
    order_.pop_front();
  }
}

replay_cache::verdict replay_cache::admit(std::string_view signature, int64_t now_ms) {
  if (signature.size() < 8) return verdict::replayed;
  uint64_t bits = 0;
  std::memcpy(&bits, signature.data(), 8);
  uint64_t k = mix(bits ^ salt_);
  if (k == 0) k = 1;
  expire(now_ms);
  if (contains(k)) return verdict::replayed;
  if (order_.size() >= entries_max_) return verdict::full;
  if ((order_.size() + 1) * 2 > slots_.size()) grow();
  insert(k);
  // Expiry stays monotonic in arrival order, so the oldest entry is always at the front; after
  // the clock stepped back a newer entry is kept as long as the older (longer is the safe side).
  int64_t expires = now_ms + keep_ms_;
  if (!order_.empty() && expires < order_.back().expires_ms) expires = order_.back().expires_ms;
  order_.push_back({expires, k});
  return verdict::fresh;
}

}  // namespace txengine::wire
