#include "persistence/shard_scan.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>

namespace txengine::persistence {

std::vector<std::pair<uint32_t, uint32_t>> shard_tables(const shard_layout& layout) {
  std::vector<std::pair<uint32_t, uint32_t>> out;
  for (uint32_t d = 0; d < layout.databases; ++d)
    for (uint32_t t : layout.tables_in(d)) out.emplace_back(d, t);
  return out;
}

size_t connections_for(size_t requested, size_t units) {
  if (requested == 0) requested = std::max<size_t>(2, std::thread::hardware_concurrency());
  return std::max<size_t>(1, std::min(requested, units));
}

void for_each_unit(const mysql_endpoint& endpoint, size_t connections, size_t units,
                   const std::function<void(bulk_connection&, size_t unit)>& fn) {
  if (units == 0) return;
  connections = connections_for(connections, units);
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex failure_mutex;
  std::exception_ptr failure;
  auto work = [&] {
    try {
      mysql_thread_scope scope;
      bulk_connection c(endpoint, bulk_connection::audit_io_timeout_s);
      c.set_autocommit(true);  // read-only work: no transaction held open across units
      for (size_t i = next++; i < units && !failed; i = next++) fn(c, i);
    } catch (...) {
      std::lock_guard lock(failure_mutex);
      if (!failure) failure = std::current_exception();
      failed = true;
    }
  };
  std::vector<std::thread> threads;
  for (size_t i = 1; i < connections; ++i) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  if (failure) std::rethrow_exception(failure);
}

void for_each_shard(const mysql_endpoint& endpoint, const shard_layout& layout, size_t connections,
                    const std::function<void(bulk_connection&, uint32_t d, uint32_t t, size_t index)>& fn) {
  const auto shards = shard_tables(layout);
  for_each_unit(endpoint, connections, shards.size(),
                [&](bulk_connection& c, size_t i) { fn(c, shards[i].first, shards[i].second, i); });
}

}  // namespace txengine::persistence
