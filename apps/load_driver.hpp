#pragma once
// A closed-loop load driver: keeps a fixed number of orders outstanding against an engine's
// order hosts, batching submits per host, and measures each order's latency from submit
// to final reply. Used by the demo, the benchmark and the randomized actor tests.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "node/engine.hpp"

namespace txengine {

//! Generates a workload's commands; called on the driver's actor thread only.
class workload {
 public:
  virtual ~workload() = default;
  //! The next command to submit (its request id must be unique unless a repeat is meant).
  virtual order_command next(uint64_t sequence) = 0;
  //! Every reply, with the command it answers.
  virtual void on_reply(const order_command& command, const order_reply& reply) {
    (void)command;
    (void)reply;
  }
  //! A retryable refusal the driver is about to resend (on_reply sees only the last answer).
  virtual void on_retry(const order_command& command, const order_reply& reply) {
    (void)command;
    (void)reply;
  }
};

struct load_options {
  uint64_t orders = 100'000;
  uint32_t concurrency = 1'000;
  //! A command refused with a retryable code (unavailable, overloaded, wallet busy: nothing
  //! changed) is resent with the same request id after `retry_delay_ms`, at most
  //! `retries_max` times; past that its refusal counts as the reply.
  uint32_t retries_max = 500;
  uint32_t retry_delay_ms = 20;
  //! Latencies kept for the percentiles: 0 keeps every one (memory grows with `orders`);
  //! otherwise the newest this many (a ring), so a long run keeps flat memory.
  size_t latency_samples_max = 0;
  //! When set and true, no further command is sent; the run ends once those outstanding are
  //! answered (orders counts only those). For runs stopped by a signal or a duration.
  const std::atomic<bool>* stop = nullptr;
  //! Called about once a second with (done, total) while the load runs.
  std::function<void(uint64_t, uint64_t)> progress;
};

struct load_result {
  uint64_t orders = 0;
  uint64_t succeeded = 0;
  uint64_t failed = 0;
  uint64_t refused = 0;
  uint64_t retried = 0;  //!< resends after a retryable refusal
  std::map<std::string, uint64_t> failed_by_code;
  double elapsed_s = 0;
  double ops_per_s = 0;
  double p50_us = 0;
  double p99_us = 0;
  double max_us = 0;
  //! CPU time the whole process used during the run (all threads): with other load on the
  //! machine, cpu_s / orders is a steadier measure of cost than ops_per_s.
  double cpu_s = 0;
};

//! Runs `orders` commands of `load` through `eng`, `concurrency` at a time; blocks until done.
load_result run_load(engine& eng, workload& load, const load_options& options);

}  // namespace txengine
