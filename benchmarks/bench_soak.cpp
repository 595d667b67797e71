// bench_soak: a long run of the mixed workload in one process, to show that an engine keeps
// flat memory and steady throughput while final orders leave memory (issue 12, item 7).
//
// An in-process engine (in memory, or on MySQL with --mysql) takes the mixed workload
// (transfers, payments half with a fee, top-ups and withdrawals through a well-behaved
// simulated channel, refunds of recent payments, commissions, ~1% repeated request ids)
// from the closed-loop load driver. Every --interval-s it prints orders so far, orders/s in
// the interval, RSS, orders in flight, final orders retained and evicted, and the writer's
// backlog. At the end it prints its verdict:
//   - RSS: every sample after the first minute within ±10% of the RSS at one minute;
//   - throughput: every full minute after the first within ±20% of the first minute's;
//     (both "not applicable" for runs shorter than 2 minutes);
//   - retention: with orders ≥ 20 × --retained-max, final orders left memory and the
//     retained count never passed the maximum ("not applicable" below 20×);
//   - no command refused `overloaded` (retried ones included);
//   - money conserved: the engine's wallet audit sums to zero per currency; with --mysql
//     also the committed data (persistence/audit.hpp) after the writer caught up.
// `ok` is true when every applicable criterion holds; the exit status is 1 otherwise.
//
// Usage: bench_soak [--orders N] [--wallets W] [--merchants M] [--concurrency C] [--hosts H]
//                   [--retained-max R] [--journal-max J] [--record-retention-ms MS]
//                   [--interval-s S] [--duration-s S] [--repeat-ppm P]
//                   [--mysql URI [--ack durable|memory] [--prefix NAME]] [--json] [--csv FILE]
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <csignal>
#include <cstring>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "node/engine.hpp"
#include "apps/cli.hpp"
#include "apps/funding.hpp"
#include "apps/load_driver.hpp"
#include "apps/order_mix.hpp"
#ifdef TXENGINE_WITH_MYSQL
#include "persistence/audit.hpp"
#include "persistence/mysql_connection.hpp"
#include "persistence/schema.hpp"
#endif

using namespace txengine;

namespace {

constexpr tenant_id soak_tenant = 1;
constexpr channel_id soak_channel = 1;
constexpr channel_id funding_channel = 9;
constexpr int64_t user_funding = 1'000'000'000;
//! Bytes of one journal_entry (core/wallet_core.hpp), for the printed memory bound.
constexpr size_t journal_entry_bytes = sizeof(journal_entry);

struct options {
  uint64_t orders = 1'000'000;
  size_t wallets = 10'000;
  size_t merchants = 100;
  uint32_t concurrency = 2'000;
  uint32_t hosts = 2;
  size_t retained_max = 100'000;
  size_t journal_max = limits::wallet_journal_entries_max;            //!< the engine's default
  int64_t record_retention_ms = limits::wallet_finished_record_retention_ms;  //!< the engine's default
  double interval_s = 10;
  double duration_s = 0;  //!< 0: until --orders are done
  uint32_t repeat_ppm = 10'000;
  std::string mysql;
  std::string ack = "durable";
  std::string prefix = "txbench_soak";
  bool json = false;
  std::string csv;
};

//! Set by SIGINT/SIGTERM or when --duration-s passed: no new orders, the run ends once those
//! outstanding are answered and is judged as usual (lock-free, so a signal handler may set it).
std::atomic<bool> stop_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void on_stop_signal(int) { stop_requested.store(true); }

// ---------------------------------------------------------------------------------------------
// The workload

//! Counters read by the monitor thread while the driver's actor writes them.
struct soak_counters {
  std::atomic<uint64_t> completed{0};
  std::atomic<uint64_t> overloaded{0};  //!< every `overloaded` answer, resent ones included
  std::atomic<uint64_t> unavailable{0};  //!< every `unavailable` answer (writer high water), resent ones included
  std::atomic<uint64_t> refused{0};     //!< final answers without an order
  std::atomic<uint64_t> duplicates{0};  //!< repeats answered with their original order
  std::atomic<uint64_t> repeats_sent{0};
  std::atomic<uint64_t> succeeded{0};
  std::atomic<uint64_t> failed{0};
};

//! The mixed workload with bounded memory: recent commands (for repeats) and recent payments
//! (for refunds) are rings, so the generator itself stays flat over any number of orders.
class soak_load : public workload {
 public:
  soak_load(const std::vector<wallet_id>& users, const std::vector<wallet_id>& merchants, wallet_id fee_wallet,
            uint32_t repeat_ppm, soak_counters& counters)
      : mix_{users, merchants, fee_wallet, soak_channel}, repeat_ppm_(repeat_ppm), counters_(counters) {}

  order_command next(uint64_t sequence) override {
    if (recent_.size() == recent_max && rng_() % 1'000'000 < repeat_ppm_) {
      counters_.repeats_sent.fetch_add(1, std::memory_order_relaxed);
      return recent_[rng_() % recent_.size()];
    }
    order_command c = fresh(sequence);
    if (recent_.size() < recent_max) recent_.push_back(c);
    else recent_[sequence % recent_max] = c;
    return c;
  }

  void on_retry(const order_command&, const order_reply& reply) override { count_refusal(reply.code); }

  void on_reply(const order_command& command, const order_reply& reply) override {
    counters_.completed.fetch_add(1, std::memory_order_relaxed);
    if (reply.id == 0) {
      count_refusal(reply.code);
      counters_.refused.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (reply.duplicate) counters_.duplicates.fetch_add(1, std::memory_order_relaxed);
    if (reply.state == order_state::failed) counters_.failed.fetch_add(1, std::memory_order_relaxed);
    if (reply.state != order_state::succeeded) return;
    counters_.succeeded.fetch_add(1, std::memory_order_relaxed);
    if (command.kind == order_kind::pay && !reply.duplicate) {
      refundable_payment p{reply.id, command.amount, 0};
      if (paid_.size() < paid_max) paid_.push_back(p);
      else paid_[paid_next_++ % paid_max] = p;
    }
  }

 private:
  static constexpr size_t recent_max = 512;
  static constexpr size_t paid_max = 4096;

  void count_refusal(result_code code) {
    if (code == result_code::overloaded) counters_.overloaded.fetch_add(1, std::memory_order_relaxed);
    if (code == result_code::unavailable) counters_.unavailable.fetch_add(1, std::memory_order_relaxed);
  }

  order_command fresh(uint64_t sequence) {
    order_command c;
    c.tenant = soak_tenant;
    c.request_id = "s" + std::to_string(sequence);
    c.cur = *currency::parse("USD");
    c.amount = 100 + static_cast<int64_t>(rng_() % 20'000);
    pick_mixed_order(rng_, mix_, paid_, c);
    return c;
  }

  order_mix mix_;
  uint32_t repeat_ppm_;
  soak_counters& counters_;
  std::mt19937_64 rng_{2026};
  std::vector<order_command> recent_;
  std::vector<refundable_payment> paid_;
  size_t paid_next_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Samples and the verdict

double process_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double rss_mib() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long long size = 0, resident = 0;
  int n = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  if (n != 2) return 0;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

//! tcmalloc's C interface (gperftools/malloc_extension_c.h), declared weak: null when the
//! process runs on another allocator (TXENGINE_TCMALLOC off, sanitizers).
extern "C" int MallocExtension_GetNumericProperty(const char* property, size_t* value) __attribute__((weak));

//! What the allocator holds, to tell live data from memory kept after it was freed.
struct heap_use {
  double live_mib = 0;  //!< bytes the program allocated and has not freed
  double free_mib = 0;  //!< bytes the allocator holds mapped but unused (page heap, central and thread caches)
};

heap_use heap_mib() {
  heap_use use;
  if (MallocExtension_GetNumericProperty == nullptr) return use;
  size_t allocated = 0, heap = 0, unmapped = 0;
  if (!MallocExtension_GetNumericProperty("generic.current_allocated_bytes", &allocated) ||
      !MallocExtension_GetNumericProperty("generic.heap_size", &heap) ||
      !MallocExtension_GetNumericProperty("tcmalloc.pageheap_unmapped_bytes", &unmapped))
    return use;
  constexpr double mib = 1024.0 * 1024.0;
  use.live_mib = static_cast<double>(allocated) / mib;
  use.free_mib = static_cast<double>(heap - unmapped - std::min(allocated, heap - unmapped)) / mib;
  return use;
}

struct sample {
  double t_s = 0;
  uint64_t orders = 0;
  double ops_per_s = 0;  //!< in the interval before this sample
  double rss_mib = 0;
  heap_use heap;
  double cpu_s = 0;             //!< process CPU time so far (all threads)
  double cpu_us_per_order = 0;  //!< in the interval before this sample
  uint64_t in_flight = 0;
  uint64_t final_retained = 0;
  uint64_t evicted = 0;
  int64_t rows_queued = 0;
  uint64_t overloaded = 0;
  uint64_t unavailable = 0;
};

//! A criterion's outcome: applicable or not, and if so whether it held, with a reason.
struct criterion {
  std::optional<bool> held;  //!< empty: not applicable
  std::string detail;
  const char* word() const { return !held ? "n/a" : *held ? "PASS" : "FAIL"; }
  std::string json() const { return !held ? "null" : *held ? "true" : "false"; }
};

struct verdict {
  criterion rss, throughput, retention, overloaded, money;
  criterion plateau;  //!< information only: from when on RSS stayed within ±10% of its value then
  double rss_flat_from_s = -1;
  criterion cpu;  //!< information only (not part of ok): CPU per order, steadier than orders/s on a shared machine
  double rss_reference_mib = 0, rss_max_mib = 0, rss_min_after_mib = 0, rss_max_after_mib = 0;
  double first_minute_ops_per_s = 0, minute_ops_min = 0, minute_ops_max = 0;
  size_t minutes = 0;
  bool ok() const {
    for (const criterion* c : {&rss, &throughput, &retention, &overloaded, &money})
      if (c->held && !*c->held) return false;
    return true;
  }
};

//! A counter of the samples (orders done, CPU seconds) at time t, interpolated linearly
//! between samples (samples are in time order).
template <class Get>
double value_at(const std::vector<sample>& samples, double t, Get get) {
  if (samples.empty()) return 0;
  if (t <= samples.front().t_s) return get(samples.front());
  for (size_t i = 1; i < samples.size(); ++i) {
    const sample& a = samples[i - 1];
    const sample& b = samples[i];
    if (t <= b.t_s) {
      double f = b.t_s > a.t_s ? (t - a.t_s) / (b.t_s - a.t_s) : 1;
      return get(a) + f * (get(b) - get(a));
    }
  }
  return get(samples.back());
}

double orders_at(const std::vector<sample>& samples, double t) {
  return value_at(samples, t, [](const sample& s) { return static_cast<double>(s.orders); });
}

double cpu_at(const std::vector<sample>& samples, double t) {
  return value_at(samples, t, [](const sample& s) { return s.cpu_s; });
}

std::string format(const char* fmt, double a, double b = 0, double c = 0, double d = 0) {
  char text[512];
  std::snprintf(text, sizeof text, fmt, a, b, c, d);
  return text;
}

//! The earliest sample from which on every later RSS stays within ±10% of that sample's: one
//! pass from the end with the minimum and maximum of what follows.
void find_plateau(const std::vector<sample>& samples, verdict& v) {
  if (samples.size() < 2) return;
  double low = samples.back().rss_mib, high = low;
  for (size_t i = samples.size(); i-- > 0;) {
    low = std::min(low, samples[i].rss_mib);
    high = std::max(high, samples[i].rss_mib);
    if (low >= 0.9 * samples[i].rss_mib && high <= 1.1 * samples[i].rss_mib) v.rss_flat_from_s = samples[i].t_s;
    // an earlier sample may qualify again after one that did not: keep looking to the start
  }
  if (v.rss_flat_from_s >= 0) {
    auto from = std::find_if(samples.begin(), samples.end(), [&](const sample& s) { return s.t_s == v.rss_flat_from_s; });
    v.plateau.detail = format("RSS within 10%% of %.0f MiB from %.0f s (%.1f min) on, to the end at %.0f s", from->rss_mib,
                              v.rss_flat_from_s, v.rss_flat_from_s / 60, samples.back().t_s);
  }
}

void judge_steadiness(const std::vector<sample>& samples, verdict& v) {
  constexpr double minute_s = 60;
  double end = samples.empty() ? 0 : samples.back().t_s;
  for (const sample& s : samples) v.rss_max_mib = std::max(v.rss_max_mib, s.rss_mib);
  find_plateau(samples, v);
  if (end < 2 * minute_s) {
    v.rss.detail = v.throughput.detail = "not applicable: shorter than 2 minutes";
    return;
  }
  auto reference = std::find_if(samples.begin(), samples.end(), [](const sample& s) { return s.t_s >= minute_s; });
  v.rss_reference_mib = reference->rss_mib;
  v.rss_min_after_mib = v.rss_max_after_mib = reference->rss_mib;
  for (auto it = reference; it != samples.end(); ++it) {
    v.rss_min_after_mib = std::min(v.rss_min_after_mib, it->rss_mib);
    v.rss_max_after_mib = std::max(v.rss_max_after_mib, it->rss_mib);
  }
  v.rss.held = v.rss_min_after_mib >= 0.9 * v.rss_reference_mib && v.rss_max_after_mib <= 1.1 * v.rss_reference_mib;
  v.rss.detail = format("after the first minute %.0f..%.0f MiB against %.0f MiB at one minute", v.rss_min_after_mib,
                        v.rss_max_after_mib, v.rss_reference_mib) +
                 format(" (%+.1f%% / %+.1f%%)", 100 * (v.rss_min_after_mib / v.rss_reference_mib - 1),
                        100 * (v.rss_max_after_mib / v.rss_reference_mib - 1));
  v.first_minute_ops_per_s = orders_at(samples, minute_s) / minute_s;
  v.minutes = static_cast<size_t>(end / minute_s);
  v.minute_ops_min = v.minute_ops_max = -1;
  auto cpu_us_per_order = [&](double from, double to) {
    double orders = orders_at(samples, to) - orders_at(samples, from);
    return orders > 0 ? (cpu_at(samples, to) - cpu_at(samples, from)) * 1e6 / orders : 0;
  };
  double cpu_first = cpu_us_per_order(0, minute_s), cpu_min = -1, cpu_max = -1;
  for (size_t m = 1; m < v.minutes; ++m) {
    double from = static_cast<double>(m) * minute_s, to = from + minute_s;
    double rate = (orders_at(samples, to) - orders_at(samples, from)) / minute_s;
    v.minute_ops_min = v.minute_ops_min < 0 ? rate : std::min(v.minute_ops_min, rate);
    v.minute_ops_max = std::max(v.minute_ops_max, rate);
    double cpu = cpu_us_per_order(from, to);
    cpu_min = cpu_min < 0 ? cpu : std::min(cpu_min, cpu);
    cpu_max = std::max(cpu_max, cpu);
  }
  v.cpu.detail = format("CPU per order in minutes 2..%.0f: %.1f..%.1f us against %.1f us in the first minute",
                        static_cast<double>(v.minutes), cpu_min, cpu_max, cpu_first) +
                 " (information: other processes on the machine change orders/s, less so this)";
  double ref = v.first_minute_ops_per_s;
  v.throughput.held = ref > 0 && v.minute_ops_min >= 0.8 * ref && v.minute_ops_max <= 1.2 * ref;
  v.throughput.detail = format("minutes 2..%.0f: %.0f..%.0f orders/s against %.0f in the first minute",
                               static_cast<double>(v.minutes), v.minute_ops_min, v.minute_ops_max, ref) +
                        format(" (%+.1f%% / %+.1f%%)", 100 * (v.minute_ops_min / ref - 1), 100 * (v.minute_ops_max / ref - 1));
}

void judge_retention(const std::vector<sample>& samples, const options& opt, uint64_t orders, verdict& v) {
  uint64_t retained_peak = 0;
  for (const sample& s : samples) retained_peak = std::max(retained_peak, s.final_retained);
  uint64_t evicted = samples.empty() ? 0 : samples.back().evicted;
  // With storage a final order leaves memory only once its row is committed (docs/engine.md):
  // those waiting for their commit may pass the maximum, at most the orders outstanding with
  // durable acks, at most the writer's backlog (below its high water, 400,000 rows) with
  // memory acks.
  uint64_t bound = opt.retained_max;
  if (!opt.mysql.empty()) bound += opt.ack == "durable" ? opt.concurrency : 400'000;
  std::string seen = "; final orders retained at most " + std::to_string(retained_peak) + " (maximum " +
                     std::to_string(opt.retained_max) +
                     (bound > opt.retained_max ? ", plus " + std::to_string(bound - opt.retained_max) +
                                                     " waiting for their commit"
                                               : std::string()) +
                     "), " + std::to_string(evicted) + " evicted";
  if (orders < 20 * static_cast<uint64_t>(opt.retained_max)) {
    v.retention.detail = "not applicable: fewer than 20x --retained-max orders" + seen;
    return;
  }
  v.retention.held = evicted > 0 && retained_peak <= bound;
  v.retention.detail = std::to_string(orders / opt.retained_max) + "x the maximum" + seen;
}

// ---------------------------------------------------------------------------------------------
// The run

engine_config make_config(const options& opt) {
  engine_config config;
  config.order_hosts = opt.hosts;
  config.orders_retained_max = opt.retained_max;
  config.wallet.core.journal_entries_max = opt.journal_max;
  config.wallet.core.finished_record_retention_ms = opt.record_retention_ms;
  channel_config clean;  // a provider that behaves: the soak is about the engine
  clean.latency_ms = 1;
  clean.decline_ppm = clean.reply_lost_ppm = clean.reply_unknown_ppm = clean.submit_lost_ppm = clean.partial_ppm = 0;
  config.channels = {{soak_channel, clean}, {funding_channel, clean}};
  if (!opt.mysql.empty()) {
    storage_config storage;
    storage.uri = opt.mysql;
    storage.prefix = opt.prefix;
    storage.ack = opt.ack == "memory" ? ack_mode::memory : ack_mode::durable;
    config.storage = storage;
  }
  return config;
}

#ifdef TXENGINE_WITH_MYSQL
bool drop_databases(const options& opt, std::string& error) {
  persistence::mysql_endpoint endpoint;
  if (!persistence::parse_mysql_uri(opt.mysql, endpoint, &error)) return false;
  persistence::mysql_thread_scope scope;
  persistence::mysql_connection conn(endpoint);
  persistence::shard_layout layout;
  layout.prefix = opt.prefix;
  persistence::drop_schema(conn, layout);  // each run starts from empty databases
  return true;
}

criterion audit_committed(const options& opt) {
  criterion c;
  persistence::mysql_endpoint endpoint;
  persistence::parse_mysql_uri(opt.mysql, endpoint);
  persistence::shard_layout layout;
  layout.prefix = opt.prefix;
  auto report = persistence::audit(endpoint, layout);
  uint64_t open = report.orders_not_final;
  c.held = report.ok && open == 0;
  c.detail = "MySQL: " + report.summary() + (open ? "; " + std::to_string(open) + " orders not final" : "");
  return c;
}
#endif

//! Samples the engine every interval on its own thread until stopped.
class monitor {
 public:
  monitor(engine& eng, const options& opt, soak_counters& counters, std::FILE* csv)
      : eng_(eng), opt_(opt), counters_(counters), csv_(csv) {}

  void start() {
    started_ = std::chrono::steady_clock::now();
    take(false);
    thread_ = std::thread([this] { loop(); });
  }
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
    take(true);
  }
  const std::vector<sample>& samples() const { return samples_; }

 private:
  void loop() {
    std::unique_lock<std::mutex> lock(mutex_);
    auto interval = std::chrono::microseconds(static_cast<int64_t>(opt_.interval_s * 1e6));
    auto next = started_ + interval;
    for (;;) {
      auto wake = std::min(next, std::chrono::steady_clock::now() + std::chrono::milliseconds(250));
      if (wake_.wait_until(lock, wake, [this] { return stopping_; })) return;
      if (opt_.duration_s > 0 &&
          std::chrono::steady_clock::now() - started_ >= std::chrono::duration<double>(opt_.duration_s))
        stop_requested.store(true);
      if (std::chrono::steady_clock::now() < next) continue;
      next += interval;
      lock.unlock();
      take(true);
      lock.lock();
    }
  }

  void take(bool print) {
    sample s;
    s.t_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    s.orders = counters_.completed.load(std::memory_order_relaxed);
    s.rss_mib = rss_mib();
    s.heap = heap_mib();
    s.cpu_s = process_cpu_s();
    engine_stats stats = eng_.stats();
    s.in_flight = stats.orders.in_flight;
    s.final_retained = stats.orders.final_retained;
    s.evicted = stats.orders.evicted;
    s.rows_queued = stats.storage_rows_queued;
    s.overloaded = counters_.overloaded.load(std::memory_order_relaxed);
    s.unavailable = counters_.unavailable.load(std::memory_order_relaxed);
    if (!samples_.empty()) {
      const sample& last = samples_.back();
      double dt = s.t_s - last.t_s;
      s.ops_per_s = dt > 0 ? static_cast<double>(s.orders - last.orders) / dt : 0;
      s.cpu_us_per_order = s.orders > last.orders ? (s.cpu_s - last.cpu_s) * 1e6 / static_cast<double>(s.orders - last.orders) : 0;
    }
    samples_.push_back(s);
    if (print && !opt_.json) {
      std::printf("%8.0f %12llu %10.0f %9.1f %9.0f %9.0f %9.0f %9llu %9llu %12llu %10lld %10llu\n", s.t_s,
                  (unsigned long long)s.orders, s.ops_per_s, s.cpu_us_per_order, s.rss_mib, s.heap.live_mib,
                  s.heap.free_mib, (unsigned long long)s.in_flight, (unsigned long long)s.final_retained,
                  (unsigned long long)s.evicted, (long long)s.rows_queued, (unsigned long long)s.overloaded);
      std::fflush(stdout);
    }
    if (csv_) {
      std::fprintf(csv_, "%.1f,%llu,%.0f,%.1f,%.2f,%llu,%llu,%llu,%lld,%llu,%llu,%.1f,%.1f\n", s.t_s,
                   (unsigned long long)s.orders, s.ops_per_s, s.rss_mib, s.cpu_us_per_order, (unsigned long long)s.in_flight,
                   (unsigned long long)s.final_retained, (unsigned long long)s.evicted, (long long)s.rows_queued,
                   (unsigned long long)s.overloaded, (unsigned long long)s.unavailable, s.heap.live_mib, s.heap.free_mib);
      std::fflush(csv_);
    }
  }

  engine& eng_;
  const options& opt_;
  soak_counters& counters_;
  std::FILE* csv_;
  std::chrono::steady_clock::time_point started_;
  std::vector<sample> samples_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
};

struct run_result {
  load_result load;
  std::vector<sample> samples;
  verdict v;
  double setup_s = 0;
  double drain_s = 0;
  engine_stats stats;
  uint64_t repeats_sent = 0, duplicates = 0;
  double audit_s = 0;  //!< the MySQL audit's time (--mysql)
};

criterion audit_engine(engine& eng) {
  criterion c;
  wallet_audit audit = eng.audit_wallets();
  bool zero = !audit.sum_by_currency.empty();
  std::string sums;
  for (const auto& [cur, sum] : audit.sum_by_currency) {
    zero = zero && sum == 0;
    sums += " " + cur + "=" + std::to_string(sum);
  }
  c.held = audit.ok && zero;
  c.detail = "engine: " + std::to_string(audit.wallets) + " wallets, sums" + sums + (audit.ok ? "" : "; " + audit.detail);
  return c;
}

void print_table(const options& opt, const run_result& r);

run_result run(const options& opt, std::FILE* csv) {
  run_result r;
  auto setup_started = std::chrono::steady_clock::now();
  engine eng(make_config(opt));
  currency usd = *currency::parse("USD");
  auto users = create_wallets(eng, soak_tenant, usd, wallet_kind::user, opt.wallets);
  auto merchants = create_wallets(eng, soak_tenant, usd, wallet_kind::merchant, opt.merchants);
  auto fee = create_wallets(eng, soak_tenant, usd, wallet_kind::fee, 1);
  auto funded = fund_wallets(eng, soak_tenant, usd, funding_channel, users, user_funding, 2'000, "fund-");
  if (funded.succeeded != users.size())
    throw std::runtime_error("funding incomplete: " + std::to_string(funded.succeeded) + " of " +
                             std::to_string(users.size()));
  if (!eng.wait_until_quiet(std::chrono::seconds(60))) throw std::runtime_error("funding orders still in flight");
  r.setup_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - setup_started).count();

  soak_counters counters;
  soak_load load(users, merchants, fee[0], opt.repeat_ppm, counters);
  load_options load_opt;
  load_opt.orders = opt.orders;
  load_opt.concurrency = opt.concurrency;
  load_opt.latency_samples_max = 1'000'000;
  load_opt.stop = &stop_requested;
  if (!opt.json)
    std::printf("%8s %12s %10s %9s %9s %9s %9s %9s %9s %12s %10s %10s\n", "t s", "orders", "orders/s", "cpu us/op", "RSS MiB",
                "heap MiB", "free MiB", "in flight", "retained", "evicted", "rows queued", "overloaded");
  monitor mon(eng, opt, counters, csv);
  mon.start();
  r.load = run_load(eng, load, load_opt);
  mon.stop();
  r.samples = mon.samples();

  auto drain_started = std::chrono::steady_clock::now();
  bool quiet = eng.wait_until_quiet(std::chrono::seconds(120));
  bool synced = eng.sync_storage(std::chrono::seconds(600));
  r.drain_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - drain_started).count();
  r.stats = eng.stats();
  r.v.money = audit_engine(eng);
  if (!quiet || !synced) {
    r.v.money.held = false;
    r.v.money.detail += quiet ? "; storage did not sync" : "; orders still in flight";
  }
  judge_steadiness(r.samples, r.v);
  judge_retention(r.samples, opt, r.load.orders, r.v);
  r.repeats_sent = counters.repeats_sent.load();
  r.duplicates = counters.duplicates.load();
  uint64_t overloaded = counters.overloaded.load();
  r.v.overloaded.held = overloaded == 0;
  r.v.overloaded.detail = std::to_string(overloaded) + " answers `overloaded` (resent ones included), " +
                          std::to_string(counters.unavailable.load()) + " `unavailable`, " +
                          std::to_string(counters.refused.load()) + " refused in the end";
#ifdef TXENGINE_WITH_MYSQL
  if (!opt.mysql.empty() && *r.v.money.held) {
    // The audit of a long run's data takes minutes: the verdict so far first, so that a run
    // stopped during the audit still says what it measured.
    if (!opt.json) {
      std::printf("\nbefore the MySQL audit:");
      print_table(opt, r);
      std::printf("MySQL audit of the committed data...\n");
      std::fflush(stdout);
    }
    auto audit_started = std::chrono::steady_clock::now();
    criterion committed = audit_committed(opt);
    r.audit_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - audit_started).count();
    r.v.money.held = committed.held;
    r.v.money.detail += "; " + committed.detail;
  }
#endif
  return r;
}

void print_table(const options& opt, const run_result& r) {
  const verdict& v = r.v;
  std::printf("\norders %llu in %.1f s: %.0f orders/s (p50 %.1f ms, p99 %.1f ms over the last 1M), %llu succeeded, "
              "%llu failed, %llu refused, %llu retried; setup %.1f s, drain %.1f s\n",
              (unsigned long long)r.load.orders, r.load.elapsed_s, r.load.ops_per_s, r.load.p50_us / 1e3,
              r.load.p99_us / 1e3, (unsigned long long)r.load.succeeded, (unsigned long long)r.load.failed,
              (unsigned long long)r.load.refused, (unsigned long long)r.load.retried, r.setup_s, r.drain_s);
  std::string failures;
  for (const auto& [code, n] : r.load.failed_by_code) failures += (failures.empty() ? "" : ", ") + code + " " + std::to_string(n);
  std::printf("failed by code: %s; repeats sent %llu, answered as duplicates %llu\n", failures.empty() ? "none" : failures.c_str(),
              (unsigned long long)r.repeats_sent, (unsigned long long)r.duplicates);
  std::printf("RSS start %.0f MiB, end %.0f MiB, max %.0f MiB; final orders evicted %llu, retained %llu at the end\n",
              r.samples.front().rss_mib, r.samples.back().rss_mib, v.rss_max_mib,
              (unsigned long long)r.stats.orders.evicted, (unsigned long long)r.stats.orders.final_retained);
  std::printf("%-12s %-5s %s\n", "criterion", "", "detail");
  std::printf("%-12s %-5s %s\n", "rss", v.rss.word(), v.rss.detail.c_str());
  std::printf("%-12s %-5s %s\n", "throughput", v.throughput.word(), v.throughput.detail.c_str());
  std::printf("%-12s %-5s %s\n", "retention", v.retention.word(), v.retention.detail.c_str());
  std::printf("%-12s %-5s %s\n", "overloaded", v.overloaded.word(), v.overloaded.detail.c_str());
  std::printf("%-12s %-5s %s\n", "money", v.money.word(), v.money.detail.c_str());
  if (!v.plateau.detail.empty()) std::printf("%-12s %-5s %s\n", "plateau", "info", v.plateau.detail.c_str());
  if (!v.cpu.detail.empty()) std::printf("%-12s %-5s %s\n", "cpu", "info", v.cpu.detail.c_str());
  if (r.audit_s > 0) std::printf("the MySQL audit took %.1f s\n", r.audit_s);
  std::printf("soak %s (%s)\n", v.ok() ? "PASSED" : "FAILED", opt.mysql.empty() ? "in memory" : "MySQL");
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

void print_json(const options& opt, const run_result& r) {
  const verdict& v = r.v;
  std::string s = "{\"orders\":" + std::to_string(r.load.orders);
  s += ",\"storage\":" + json_string(opt.mysql.empty() ? "memory" : "mysql, ack " + opt.ack);
  s += format(",\"elapsed_s\":%.1f,\"ops_per_s\":%.0f,\"p50_us\":%.0f,\"p99_us\":%.0f", r.load.elapsed_s,
              r.load.ops_per_s, r.load.p50_us, r.load.p99_us);
  s += format(",\"rss_start_mib\":%.1f,\"rss_end_mib\":%.1f,\"rss_max_mib\":%.1f,\"rss_one_minute_mib\":%.1f",
              r.samples.front().rss_mib, r.samples.back().rss_mib, v.rss_max_mib, v.rss_reference_mib);
  s += format(",\"rss_flat_from_s\":%.0f", v.rss_flat_from_s);
  s += format(",\"first_minute_ops_per_s\":%.0f,\"minute_ops_per_s_min\":%.0f,\"minute_ops_per_s_max\":%.0f",
              v.first_minute_ops_per_s, v.minute_ops_min, v.minute_ops_max);
  s += ",\"succeeded\":" + std::to_string(r.load.succeeded) + ",\"failed\":" + std::to_string(r.load.failed) +
       ",\"refused\":" + std::to_string(r.load.refused) + ",\"repeats_sent\":" + std::to_string(r.repeats_sent) +
       ",\"duplicates\":" + std::to_string(r.duplicates);
  s += format(",\"cpu_us_per_order\":%.2f", r.load.orders ? r.load.cpu_s * 1e6 / static_cast<double>(r.load.orders) : 0);
  s += ",\"evicted\":" + std::to_string(r.stats.orders.evicted) +
       ",\"final_retained\":" + std::to_string(r.stats.orders.final_retained) +
       ",\"retained_max\":" + std::to_string(opt.retained_max);
  uint64_t overloaded = r.samples.back().overloaded;
  s += ",\"overloaded\":" + std::to_string(overloaded) + ",\"unavailable\":" + std::to_string(r.samples.back().unavailable);
  s += ",\"rss_ok\":" + v.rss.json() + ",\"throughput_ok\":" + v.throughput.json() +
       ",\"retention_ok\":" + v.retention.json() + ",\"money_ok\":" + v.money.json();
  s += std::string(",\"ok\":") + (v.ok() ? "true" : "false") + "}";
  std::printf("%s\n", s.c_str());
}

// ---------------------------------------------------------------------------------------------
// Command line

//! The command line; -1 to go on, else the exit code.
int parse(int argc, char** argv, options& opt) {
  CLI::App app{"bench_soak: the mixed workload for as long as one likes; flat memory and steady throughput while "
               "final orders leave memory",
               "bench_soak"};
  cli::add_number(app, "--orders", opt.orders, "orders to run", 1, uint64_t{1} << 40);
  cli::add_number(app, "--wallets", opt.wallets, "user wallets", 2, 10'000'000);
  cli::add_number(app, "--merchants", opt.merchants, "merchant wallets", 1, 1'000'000);
  cli::add_number(app, "--concurrency", opt.concurrency, "orders outstanding", 1, 1'000'000);
  cli::add_number(app, "--hosts", opt.hosts, "order hosts", 1, 16);
  cli::add_number(app, "--retained-max", opt.retained_max, "[engine] orders_retained_max", 1,
                  limits::engine_orders_retained_max);
  cli::add_number(app, "--journal-max", opt.journal_max, "journal entries kept in memory per wallet", 1,
                  limits::wallet_journal_entries_limit);
  cli::add_number(app, "--record-retention-ms", opt.record_retention_ms,
                  "how long wallets keep finished TCC records (memory reaches its plateau after it)", 10'000,
                  3'600'000);
  uint64_t interval_s = static_cast<uint64_t>(opt.interval_s), duration_s = 0;
  cli::add_number(app, "--interval-s", interval_s, "seconds between samples", 1, 3600);
  cli::add_number(app, "--duration-s", duration_s,
                  "stop sending after this many seconds (or at --orders, or on SIGINT/SIGTERM); the orders "
                  "outstanding finish and the run is judged as usual",
                  1, 30 * 86'400);
  cli::add_number(app, "--repeat-ppm", opt.repeat_ppm, "share of repeated request ids in parts per million", 0,
                  1'000'000);
  auto* mysql = app.add_option("--mysql", opt.mysql, "the engine on MySQL storage (databases <prefix>_*, dropped first)")
                    ->type_name("URI");
  cli::add_choice(app, "--ack", opt.ack, "with --mysql: durable or memory acks", {"durable", "memory"});
  app.add_option("--prefix,--db-prefix", opt.prefix, "with --mysql: the databases' prefix")
      ->capture_default_str()
      ->type_name("NAME")
      ->check(cli::database_prefix());
  app.add_flag("--json", opt.json, "the result as one JSON object");
  app.add_option("--csv", opt.csv,
                 "one row per sample: t_s,orders,ops_per_s,rss_mib,cpu_us_per_order,in_flight,final_retained,evicted,"
                 "rows_queued,overloaded,unavailable,heap_mib,heap_free_mib (the allocator's live and free bytes, tcmalloc)")
      ->type_name("FILE");
  if (int code = cli::parse(app, argc, argv); code >= 0) return code;
  opt.interval_s = static_cast<double>(interval_s);
  opt.duration_s = static_cast<double>(duration_s);
#ifndef TXENGINE_WITH_MYSQL
  if (mysql->count()) {
    std::fprintf(stderr, "bench_soak: --mysql: this build has no MySQL storage\n");
    return cli::exit_usage;
  }
#else
  (void)mysql;
#endif
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  if (int code = parse(argc, argv, opt); code >= 0) return code;
  std::FILE* csv = nullptr;
  if (!opt.csv.empty()) {
    csv = std::fopen(opt.csv.c_str(), "w");
    if (!csv) {
      std::fprintf(stderr, "bench_soak: cannot write %s: %s\n", opt.csv.c_str(), std::strerror(errno));
      return 2;
    }
    std::fprintf(csv, "t_s,orders,ops_per_s,rss_mib,cpu_us_per_order,in_flight,final_retained,evicted,rows_queued,overloaded,unavailable,heap_mib,"
                 "heap_free_mib\n");
  }
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  try {
#ifdef TXENGINE_WITH_MYSQL
    std::string error;
    if (!opt.mysql.empty() && !drop_databases(opt, error)) {
      std::fprintf(stderr, "bench_soak: --mysql: %s\n", error.c_str());
      return 2;
    }
#endif
    if (!opt.json) {
      double journal_mib = static_cast<double>((opt.wallets + opt.merchants + 2) * opt.journal_max * journal_entry_bytes) /
                           (1024.0 * 1024.0);
      std::printf("bench_soak: %llu orders, %zu users, %zu merchants, concurrency %u, %s; orders_retained_max %zu; "
                  "journals at most %zu entries per wallet (%.0f MiB in all); finished TCC records kept %lld s\n",
                  (unsigned long long)opt.orders, opt.wallets, opt.merchants, opt.concurrency,
                  opt.mysql.empty() ? "in memory" : ("MySQL " + opt.prefix + ", ack " + opt.ack).c_str(),
                  opt.retained_max, opt.journal_max, journal_mib, (long long)(opt.record_retention_ms / 1000));
      std::fflush(stdout);
    }
    run_result r = run(opt, csv);
    if (csv) std::fclose(csv);
    if (opt.json) print_json(opt, r);
    else print_table(opt, r);
    return r.v.ok() ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_soak: %s\n", e.what());
    return 1;
  }
}
