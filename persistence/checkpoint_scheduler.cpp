#include "persistence/checkpoint_scheduler.hpp"

namespace txengine::persistence {

std::vector<wallet_checkpoint> checkpoint_scheduler::choose(const std::vector<movement_row>& movements,
                                                            const std::unordered_map<wallet_id, wallet_row>& wallets,
                                                            bool flush_all, clock::time_point now) {
  std::vector<wallet_checkpoint> chosen;
  for (const auto& m : movements) {
    const journal_entry& e = m.entry;
    auto [pending, inserted] = pending_.try_emplace(m.wallet);
    if (inserted) {
      pending->second.since = now;
      queue_.emplace_back(now, m.wallet);
    }
    if (e.sequence > pending->second.version)
      pending->second = pending_checkpoint{e.sequence, e.after, e.at_ms, pending->second.since};
  }
  for (const auto& [id, row] : wallets) {
    auto pending = pending_.find(id);
    if (pending != pending_.end() && pending->second.version <= row.version) pending_.erase(pending);
  }
  while (!queue_.empty() && (flush_all || chosen.size() < rows_per_batch_max_)) {
    auto [since, id] = queue_.front();
    bool over_bound = pending_.size() > pending_max_ || queue_.size() > 2 * pending_max_;
    if (!flush_all && !over_bound && now - since < interval_) break;
    queue_.pop_front();
    auto found = pending_.find(id);
    if (found == pending_.end() || found->second.since != since) continue;  // written since
    const pending_checkpoint& c = found->second;
    chosen.push_back(wallet_checkpoint{id, c.version, c.current, c.updated_ms});
    pending_.erase(found);
  }
  return chosen;
}

}  // namespace txengine::persistence
