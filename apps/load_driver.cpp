#include "apps/load_driver.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <future>
#include <unordered_map>

namespace txengine {

namespace {

using steady = std::chrono::steady_clock;

struct outstanding {
  steady::time_point sent;
  order_command command;
  uint32_t retries = 0;
};

using resend_atom = caf::atom_constant<caf::atom("resend")>;

struct driver_state {
  engine* eng = nullptr;
  workload* load = nullptr;
  load_options options;
  std::promise<load_result>* done = nullptr;
  uint64_t sent = 0;
  uint64_t completed = 0;
  std::unordered_map<uint64_t, outstanding> in_flight;
  std::unordered_map<const order_host_actor*, std::vector<submit_item>> outbox;
  std::vector<uint32_t> latencies_us;
  load_result result;
  steady::time_point started;
  double cpu_started = 0;
  steady::time_point last_progress;
  static inline const char* name = "load_driver";
};

using driver_actor = caf::stateful_actor<driver_state>;

void send_more(driver_actor* self) {
  auto& st = self->state;
  bool stopping = st.options.stop && st.options.stop->load(std::memory_order_relaxed);
  while (!stopping && st.sent < st.options.orders && st.in_flight.size() < st.options.concurrency) {
    uint64_t tag = ++st.sent;
    order_command command = st.load->next(tag);
    const order_host_actor& host = st.eng->host_for(command.tenant, command.request_id);
    st.outbox[&host].push_back(submit_item{tag, command});
    st.in_flight.emplace(tag, outstanding{steady::now(), std::move(command)});
  }
  for (auto& [host, items] : st.outbox)
    if (!items.empty()) self->send(*host, submit_atom::value, std::move(items));
  st.outbox.clear();
}

double process_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double percentile(std::vector<uint32_t>& values, double p) {
  if (values.empty()) return 0;
  size_t index = std::min(values.size() - 1, static_cast<size_t>(p * static_cast<double>(values.size())));
  std::nth_element(values.begin(), values.begin() + static_cast<long>(index), values.end());
  return values[index];
}

void finish(driver_actor* self) {
  auto& st = self->state;
  auto& r = st.result;
  r.orders = st.completed;
  r.elapsed_s = std::chrono::duration<double>(steady::now() - st.started).count();
  r.cpu_s = process_cpu_s() - st.cpu_started;
  r.ops_per_s = r.elapsed_s > 0 ? static_cast<double>(r.orders) / r.elapsed_s : 0;
  r.p50_us = percentile(st.latencies_us, 0.50);
  r.p99_us = percentile(st.latencies_us, 0.99);
  r.max_us = st.latencies_us.empty() ? 0 : *std::max_element(st.latencies_us.begin(), st.latencies_us.end());
  st.done->set_value(r);
  self->quit();
}

caf::behavior driver_behavior(driver_actor* self, engine* eng, workload* load, load_options options,
                              std::promise<load_result>* done) {
  auto& st = self->state;
  st.eng = eng;
  st.load = load;
  st.options = options;
  st.done = done;
  st.latencies_us.reserve(options.latency_samples_max ? std::min<uint64_t>(options.orders, options.latency_samples_max)
                                                      : options.orders);
  st.started = st.last_progress = steady::now();
  st.cpu_started = process_cpu_s();
  if (options.orders == 0) {
    finish(self);
    return {};
  }
  send_more(self);
  return {
      [=](replies_atom, std::vector<order_reply>& replies) {
        auto& st = self->state;
        auto now = steady::now();
        for (auto& reply : replies) {
          auto found = st.in_flight.find(reply.client_tag);
          if (found == st.in_flight.end()) continue;
          if (reply.id == 0 && is_retryable(reply.code) && found->second.retries < st.options.retries_max) {
            // Nothing changed: the same command (same request id) again after a pause.
            ++found->second.retries;
            ++st.result.retried;
            st.load->on_retry(found->second.command, reply);
            self->delayed_send(self, std::chrono::milliseconds(st.options.retry_delay_ms), resend_atom::value,
                               reply.client_tag);
            continue;
          }
          auto latency = std::chrono::duration_cast<std::chrono::microseconds>(now - found->second.sent).count();
          auto sample = static_cast<uint32_t>(std::min<int64_t>(latency, UINT32_MAX));
          if (st.options.latency_samples_max == 0 || st.latencies_us.size() < st.options.latency_samples_max)
            st.latencies_us.push_back(sample);
          else
            st.latencies_us[st.completed % st.options.latency_samples_max] = sample;
          if (reply.id == 0) ++st.result.refused;
          else if (reply.state == order_state::succeeded) ++st.result.succeeded;
          else if (reply.state == order_state::failed) ++st.result.failed;
          if (reply.state == order_state::failed) ++st.result.failed_by_code[std::string(to_string(reply.code))];
          st.load->on_reply(found->second.command, reply);
          st.in_flight.erase(found);
          ++st.completed;
        }
        if (st.options.progress && now - st.last_progress >= std::chrono::seconds(1)) {
          st.last_progress = now;
          st.options.progress(st.completed, st.options.orders);
        }
        if (st.completed == st.options.orders) return finish(self);
        if (st.in_flight.empty() && st.options.stop && st.options.stop->load(std::memory_order_relaxed))
          return finish(self);
        send_more(self);
      },
      [=](resend_atom, uint64_t tag) {
        auto& st = self->state;
        auto found = st.in_flight.find(tag);
        if (found == st.in_flight.end()) return;
        const order_host_actor& host = st.eng->host_for(found->second.command.tenant, found->second.command.request_id);
        self->send(host, submit_atom::value, std::vector<submit_item>{submit_item{tag, found->second.command}});
      },
  };
}

}  // namespace

load_result run_load(engine& eng, workload& load, const load_options& options) {
  std::promise<load_result> done;
  auto future = done.get_future();
  eng.system().spawn(driver_behavior, &eng, &load, options, &done);
  return future.get();
}

}  // namespace txengine
