#pragma once
// The server's query threads: blocking engine calls (queries, wallet administration) run here,
// off the broker's thread, from one bounded queue.
#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace txengine::wire {

//! Runs blocking engine calls off the broker's thread; at most `queue_max` wait.
class query_pool {
 public:
  query_pool(size_t threads, size_t queue_max) : queue_max_(std::max<size_t>(1, queue_max)) {
    for (size_t i = 0; i < std::max<size_t>(1, threads); ++i) threads_.emplace_back([this] { run(); });
  }
  ~query_pool() { stop(); }
  //! False (the job is not taken) when `queue_max` jobs already wait, or when stopping.
  bool post(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> guard(mutex_);
      if (stopping_ || jobs_.size() >= queue_max_) return false;
      jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
    return true;
  }
  void stop() {
    {
      std::lock_guard<std::mutex> guard(mutex_);
      if (stopping_ && threads_.empty()) return;
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

 private:
  void run() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  size_t queue_max_;
  bool stopping_ = false;
};

}  // namespace txengine::wire
