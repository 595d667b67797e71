#include "protocol/replay_cache.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <unordered_map>

namespace txengine::wire {
namespace {

std::string sig(uint64_t n) {
  std::string s(32, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  s[31] = 'x';
  return s;
}

TEST(ReplayCache, a_signature_is_admitted_once_within_its_window) {
  replay_cache cache(100, 60'000, 42);
  EXPECT_EQ(cache.admit(sig(1), 1000), replay_cache::verdict::fresh);
  EXPECT_EQ(cache.admit(sig(1), 1000), replay_cache::verdict::replayed);
  EXPECT_EQ(cache.admit(sig(1), 60'999), replay_cache::verdict::replayed);
  EXPECT_EQ(cache.admit(sig(2), 1000), replay_cache::verdict::fresh);
  EXPECT_EQ(cache.size(), 2u);
  // Past its keep time the signature is forgotten (the timestamp check refuses such a frame).
  EXPECT_EQ(cache.admit(sig(3), 61'000), replay_cache::verdict::fresh);
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.admit(sig(1), 61'000), replay_cache::verdict::fresh);
}

TEST(ReplayCache, full_refuses_new_frames_but_still_knows_replays) {
  replay_cache cache(2, 1000, 7);
  EXPECT_EQ(cache.admit(sig(1), 0), replay_cache::verdict::fresh);
  EXPECT_EQ(cache.admit(sig(2), 10), replay_cache::verdict::fresh);
  EXPECT_EQ(cache.admit(sig(3), 20), replay_cache::verdict::full);
  EXPECT_EQ(cache.admit(sig(1), 20), replay_cache::verdict::replayed);
  EXPECT_EQ(cache.size(), 2u);
  // Room again once the oldest expired.
  EXPECT_EQ(cache.admit(sig(3), 1000), replay_cache::verdict::fresh);
  EXPECT_EQ(cache.admit(sig(2), 1000), replay_cache::verdict::replayed);
}

TEST(ReplayCache, short_signatures_are_not_admitted) {
  replay_cache cache(10, 1000, 1);
  EXPECT_EQ(cache.admit("", 0), replay_cache::verdict::replayed);
  EXPECT_EQ(cache.admit("1234567", 0), replay_cache::verdict::replayed);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(ReplayCache, a_clock_stepping_back_never_forgets_early) {
  replay_cache cache(10, 1000, 3);
  EXPECT_EQ(cache.admit(sig(1), 5000), replay_cache::verdict::fresh);
  EXPECT_EQ(cache.admit(sig(2), 4000), replay_cache::verdict::fresh);  // the clock stepped back
  EXPECT_EQ(cache.admit(sig(1), 5999), replay_cache::verdict::replayed);
  EXPECT_EQ(cache.admit(sig(2), 5999), replay_cache::verdict::replayed);
  EXPECT_EQ(cache.admit(sig(9), 6000), replay_cache::verdict::fresh);
  EXPECT_EQ(cache.size(), 1u);
}

TEST(ReplayCache, random_stream_against_a_model) {
  // Arrival times only move forward here; the model is a map of signature -> expiry.
  // Small and large bounds: the table stays at its first size, or grows several times; keys
  // come and go, so deletions shift probe runs back (and wrap around the table's end).
  for (size_t bound : {size_t{500}, size_t{6000}}) {
    std::mt19937_64 rng(11 + bound);
    replay_cache cache(bound, 300, rng());
    std::unordered_map<uint64_t, int64_t> model;
    int64_t now = 0;
    const uint64_t ids = bound * 4;
    for (int i = 0; i < 100'000; ++i) {
      // ~1 ms per step with the small bound (~300 remembered), ~0.1 ms with the large (~3,000).
      now += bound < 1000 ? static_cast<int64_t>(rng() % 3) : (i % 10 == 0 ? 1 : 0);
      for (auto it = model.begin(); it != model.end();) it = it->second <= now ? model.erase(it) : std::next(it);
      uint64_t n = rng() % ids;
      auto want = model.count(n) ? replay_cache::verdict::replayed
                  : model.size() >= bound ? replay_cache::verdict::full
                                          : replay_cache::verdict::fresh;
      if (want == replay_cache::verdict::fresh) model[n] = now + 300;
      ASSERT_EQ(cache.admit(sig(n), now), want) << "bound " << bound << " step " << i;
      ASSERT_EQ(cache.size(), model.size());
    }
  }
}

}  // namespace
}  // namespace txengine::wire
