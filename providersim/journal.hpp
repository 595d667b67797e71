#pragma once
// txprovider-sim's state on disk: every change of an order is a line of JSON appended to
// STATE_DIR/journal.jsonl and made durable (fdatasync, many lines at a time: a group commit)
// before the request that made it is answered, so restarting the simulator forgets nothing it
// said. At start the journal is replayed into the book, then rewritten without the final orders
// older than the profile's retention_ms (compaction). A torn last line (a crash mid-write) is
// dropped; any other unreadable line stops the start.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "providersim/provider_book.hpp"

namespace txprovider {

std::string encode_order(const provider_order& order, int64_t at_ms);
//! false when `line` is not a journal record.
bool decode_order(const std::string& line, provider_order& order, int64_t& at_ms);

class journal {
 public:
  //! Replays STATE_DIR/journal.jsonl (created if missing) into `book`, compacts it, and opens
  //! it for appending. nullptr and `error` when it cannot.
  static std::unique_ptr<journal> open(const std::string& state_dir, provider_book& book, int64_t now_ms,
                                       std::string& error);
  ~journal();
  journal(const journal&) = delete;
  journal& operator=(const journal&) = delete;

  //! Queues a record; its sequence number for wait_durable.
  uint64_t append(const provider_order& order, int64_t at_ms);
  //! Blocks until record `seq` is on disk. False when the journal could not be written (the
  //! simulator then answers 500 and stops taking changes: it never says what it did not keep).
  bool wait_durable(uint64_t seq);
  //! After the first record of a group arrives, the flusher waits this long for more before it
  //! writes and syncs them together (0: at once). The simulator sets it to the least latency of
  //! half the least latency of its answers, which every answer waits anyway: bigger groups, fewer
  //! syncs, and the sync done before the answers are due.
  void set_gather_ms(int64_t ms) { gather_ms_.store(ms); }

  size_t restored() const { return restored_; }
  size_t torn_lines() const { return torn_; }

 private:
  journal() = default;
  void flush_loop();

  int fd_ = -1;
  size_t restored_ = 0;
  size_t torn_ = 0;
  std::mutex mutex_;
  std::condition_variable wake_flusher_;
  std::condition_variable durable_;
  std::string pending_;
  uint64_t appended_ = 0;
  uint64_t durable_seq_ = 0;
  bool failed_ = false;
  bool stopping_ = false;
  std::atomic<int64_t> gather_ms_{0};
  std::thread flusher_;
};

}  // namespace txprovider
