// The server's query pool: a bounded queue of blocking engine calls (issue 12: "the query queue
// is bounded"). Deterministic: the one thread is held on a promise while the queue fills.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>

#include "protocol/query_pool.hpp"

using namespace txengine::wire;

TEST(QueryPool, PastItsBoundAJobIsRefusedAndTheOthersStillRun) {
  query_pool pool(1, 3);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> started;
  std::atomic<int> ran{0};
  ASSERT_TRUE(pool.post([&] {
    started.set_value();
    released.wait();
    ++ran;
  }));
  // The one thread holds the first job: the queue itself takes three more, then refuses.
  ASSERT_EQ(started.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(pool.post([&] { ++ran; })) << i;
  EXPECT_FALSE(pool.post([&] { ++ran; }));
  release.set_value();
  pool.stop();  // runs what was queued, then joins
  EXPECT_EQ(ran.load(), 4);
  EXPECT_FALSE(pool.post([&] { ++ran; }));  // stopped: refused
}
