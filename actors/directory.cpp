#include "actors/directory.hpp"

#include <algorithm>

#include "ports/clock.hpp"
#include "core/check.hpp"
#include "core/limits.hpp"
#include "actors/wallet_actor.hpp"

namespace txengine {

wallet_directory::wallet_directory(caf::actor_system& system, wallet_actor_config config, uint32_t default_shards,
                                   storage_link* storage)
    : system_(system), config_(config), storage_(storage) {
  uint32_t count = config_.shards != 0 ? config_.shards : std::max<uint32_t>(1, default_shards);
  shard_count_ = count;
  for (uint32_t i = 0; i < count; ++i) shards_.push_back(spawn_wallet_shard(system_, this, config_));
}

wallet_directory::~wallet_directory() {
  for (const auto& shard : shards_) caf::anon_send_exit(shard, caf::exit_reason::user_shutdown);
}

namespace {

std::string request_map_key(tenant_id tenant, const std::string& request_id) {
  std::string key(reinterpret_cast<const char*>(&tenant), sizeof tenant);
  key += request_id;
  return key;
}

}  // namespace

result_code wallet_directory::validate(tenant_id tenant, currency cur, wallet_kind kind, int64_t overdraft_limit) {
  if (tenant == 0) return result_code::invalid_argument;
  if (!cur.valid()) return result_code::invalid_currency;
  if (static_cast<uint8_t>(kind) > static_cast<uint8_t>(wallet_kind::fee)) return result_code::invalid_argument;
  if (overdraft_limit < 0) return result_code::invalid_limit;
  if (kind == wallet_kind::system && overdraft_limit != 0) return result_code::invalid_limit;
  return result_code::ok;
}

uint64_t wallet_directory::request_hash(currency cur, wallet_kind kind, int64_t overdraft_limit) {
  uint64_t h = 14695981039346656037ull;
  for (uint64_t v : {uint64_t{cur.packed()}, uint64_t{static_cast<uint8_t>(kind)}, static_cast<uint64_t>(overdraft_limit)})
    for (int i = 0; i < 8; ++i) {
      h ^= (v >> (8 * i)) & 0xFF;
      h *= 1099511628211ull;
    }
  return h & 0x7FFFFFFFFFFFFFFFull;
}

wallet_directory::wallet_request wallet_directory::claim_request(tenant_id tenant, const std::string& request_id) {
  std::lock_guard<std::mutex> guard(requests_mutex_);
  auto [it, inserted] = requests_.try_emplace(request_map_key(tenant, request_id));
  if (inserted) {
    it->second.st = wallet_request::state::pending;
    return wallet_request{};  // claimed by the caller
  }
  return it->second;
}

void wallet_directory::settle_request(tenant_id tenant, const std::string& request_id, wallet_id id, uint64_t hash) {
  std::lock_guard<std::mutex> guard(requests_mutex_);
  std::string key = request_map_key(tenant, request_id);
  auto& entry = requests_[key];
  entry = wallet_request{wallet_request::state::known, id, hash};
  if (storage_ == nullptr) return;
  requests_order_.push_back(std::move(key));
  while (requests_order_.size() > limits::wallet_requests_cached_max) {
    auto old = requests_.find(requests_order_.front());
    if (old != requests_.end() && old->second.st == wallet_request::state::known) requests_.erase(old);
    requests_order_.pop_front();
  }
}

void wallet_directory::release_request(tenant_id tenant, const std::string& request_id) {
  std::lock_guard<std::mutex> guard(requests_mutex_);
  auto found = requests_.find(request_map_key(tenant, request_id));
  if (found != requests_.end() && found->second.st == wallet_request::state::pending) requests_.erase(found);
}

wallet_id wallet_directory::create(tenant_id tenant, currency cur, wallet_kind kind, int64_t overdraft_limit,
                                   result_code& code, const std::string& request_id, uint64_t request_hash) {
  code = validate(tenant, cur, kind, overdraft_limit);
  if (code != result_code::ok) return no_wallet;
  wallet_info info;
  info.id = next_id_.fetch_add(1);
  if (routes_.ownership != nullptr) {
    // A cluster node creates wallets only in partitions it holds, so two nodes never hand out
    // the same id (docs/cluster.md); at most one id per partition is skipped to find one.
    uint32_t tries = routes_.ownership->partitions();
    while (!holds(info.id) && tries-- > 0) info.id = next_id_.fetch_add(1);
    if (!holds(info.id)) {
      code = result_code::unavailable;  // this node holds no partition now (retryable)
      return no_wallet;
    }
  }
  info.tenant = tenant;
  info.cur = cur;
  info.kind = kind;
  info.overdraft_limit = overdraft_limit;
  if (storage_ != nullptr) {
    // Handed to the writer before the id is returned, so it precedes every effect on the
    // wallet in the writer's mailbox (and so in what is committed).
    write_batch batch;
    batch.wallets.push_back(wallet_row{info, balances{}, 0, clock_or_wall(config_.clock).now_ms(), request_id, request_hash});
    storage_->rows_queued.fetch_add(1);
    caf::anon_send(storage_->writer, persist_atom::value, std::move(batch));
  }
  {
    auto& s = stripe_of(info.id);
    std::lock_guard<std::mutex> guard(s.mutex);
    s.entries[info.id].dormant.emplace(info, config_.core);
    wallet_count_.fetch_add(1);
  }
  count_for_tenant(tenant);
  return info.id;
}

void wallet_directory::count_for_tenant(tenant_id tenant) {
  std::lock_guard<std::mutex> guard(tenant_counts_mutex_);
  ++wallets_by_tenant_[tenant];
}

size_t wallet_directory::wallets_of(tenant_id tenant) const {
  std::lock_guard<std::mutex> guard(tenant_counts_mutex_);
  auto found = wallets_by_tenant_.find(tenant);
  return found == wallets_by_tenant_.end() ? 0 : found->second;
}

wallet_id wallet_directory::system_wallet(tenant_id tenant, currency cur) {
  if (tenant == 0 || !cur.valid()) return no_wallet;
  std::lock_guard<std::mutex> guard(system_wallets_mutex_);
  // One of the known ones this node may act on: outside a cluster the first; in one, one in a
  // partition this node holds (another node's would make every top-up and withdrawal of this
  // node a cross-node order), else a new one in a partition it holds (docs/cluster.md).
  auto& known = system_wallets_[std::make_pair(tenant, cur.packed())];
  for (wallet_id id : known)
    if (holds(id)) return id;
  result_code code;
  wallet_id id = create(tenant, cur, wallet_kind::system, 0, code);
  if (code != result_code::ok) return no_wallet;  // a cluster node that holds no partition now
  known.push_back(id);
  return id;
}

void wallet_directory::restore_ids(wallet_id max_id,
                                   const std::vector<std::tuple<tenant_id, uint32_t, wallet_id>>& system_wallets) {
  wallet_id next = next_id_.load();
  while (max_id + 1 > next && !next_id_.compare_exchange_weak(next, max_id + 1)) {
  }
  std::lock_guard<std::mutex> guard(system_wallets_mutex_);
  for (const auto& [tenant, cur, id] : system_wallets) {
    auto& known = system_wallets_[std::make_pair(tenant, cur)];
    if (std::find(known.begin(), known.end(), id) == known.end()) known.push_back(id);
  }
}

void wallet_directory::adopt(wallet_id id, tenant_id tenant) {
  {
    auto& s = stripe_of(id);
    std::lock_guard<std::mutex> guard(s.mutex);
    auto [it, inserted] = s.entries.try_emplace(id);
    TX_CHECK(inserted || (!it->second.active && !it->second.dormant));
    it->second.active = true;
    wallet_count_.fetch_add(1);
    active_count_.fetch_add(1);
  }
  count_for_tenant(tenant);
}

std::optional<wallet_shard_actor> wallet_directory::resolve(wallet_id id) {
  // A cluster node answers only for the wallets it holds (another node's may be ahead in its memory).
  if (!holds(id)) return std::nullopt;
  // With storage, a wallet not in memory may be in MySQL: its shard loads it or answers unknown.
  if (storage_ != nullptr)
    return id == no_wallet ? std::nullopt : std::optional<wallet_shard_actor>(shards_[shard_index(id)]);
  auto& s = stripe_of(id);
  std::lock_guard<std::mutex> guard(s.mutex);
  if (s.entries.count(id) == 0) return std::nullopt;
  return shards_[shard_index(id)];
}

std::optional<wallet_core> wallet_directory::activate(wallet_id id) {
  auto& s = stripe_of(id);
  std::lock_guard<std::mutex> guard(s.mutex);
  auto found = s.entries.find(id);
  if (found == s.entries.end()) return std::nullopt;
  entry& e = found->second;
  // Only the owning shard activates, and it asks only for wallets it does not hold.
  TX_CHECK(!e.active && e.dormant.has_value());
  std::optional<wallet_core> core = std::move(e.dormant);
  e.dormant.reset();
  e.active = true;
  active_count_.fetch_add(1);
  return core;
}

void wallet_directory::passivate(wallet_id id, wallet_core core) {
  // The shard is the only holder of an active wallet and every message for the wallet goes
  // to the shard, so nothing can be lost in between: a later step simply activates it again.
  auto& s = stripe_of(id);
  std::lock_guard<std::mutex> guard(s.mutex);
  auto found = s.entries.find(id);
  TX_CHECK(found != s.entries.end() && found->second.active);
  found->second.dormant.emplace(std::move(core));
  found->second.active = false;
  active_count_.fetch_sub(1);
}

std::vector<wallet_id> wallet_directory::all_ids() const {
  std::vector<wallet_id> ids;
  for (const auto& s : stripes_) {
    std::lock_guard<std::mutex> guard(s.mutex);
    for (const auto& [id, e] : s.entries) ids.push_back(id);
  }
  return ids;
}

std::optional<wallet_core> wallet_directory::dormant(wallet_id id) const {
  const auto& s = stripe_of(id);
  std::lock_guard<std::mutex> guard(s.mutex);
  auto found = s.entries.find(id);
  if (found == s.entries.end() || !found->second.dormant) return std::nullopt;
  return found->second.dormant;
}

}  // namespace txengine
