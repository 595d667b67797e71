#include "core/partition_leases.hpp"

#include <algorithm>
#include <map>

namespace txengine {

std::string lease_rules_problem(const lease_rules& rules) {
  if (rules.partitions < cluster_partitions_min || rules.partitions > cluster_partitions_max)
    return "partitions must be " + std::to_string(cluster_partitions_min) + ".." +
           std::to_string(cluster_partitions_max) + ", not " + std::to_string(rules.partitions);
  if (rules.ttl_ms < 100 || rules.ttl_ms > 600'000)
    return "lease ttl_ms must be 100..600000, not " + std::to_string(rules.ttl_ms);
  if (rules.release_per_round == 0) return "release_per_round must be at least 1";
  return {};
}

uint32_t fair_share(uint32_t partitions, size_t live) {
  if (live == 0) return partitions;
  return static_cast<uint32_t>((partitions + live - 1) / live);
}

lease_plan plan_lease_round(const std::vector<partition_lease>& leases, const std::vector<cluster_node>& live,
                            cluster_node self, int64_t now_ms, const lease_rules& rules) {
  std::vector<cluster_node> nodes = live;
  nodes.push_back(self);
  std::sort(nodes.begin(), nodes.end());
  nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
  nodes.erase(std::remove(nodes.begin(), nodes.end(), no_node), nodes.end());
  const uint32_t share = fair_share(rules.partitions, nodes.size());
  const uint32_t floor = rules.partitions / static_cast<uint32_t>(nodes.size());

  // Partition order from an offset of this node's own: racing nodes start in different places.
  std::vector<partition_lease> ordered = leases;
  const uint32_t offset = static_cast<uint32_t>((uint64_t{self} * 2654435761u) % rules.partitions);
  auto rank = [&](uint32_t p) { return (p + rules.partitions - offset) % rules.partitions; };
  std::sort(ordered.begin(), ordered.end(),
            [&](const partition_lease& a, const partition_lease& b) { return rank(a.partition) < rank(b.partition); });

  std::map<cluster_node, uint32_t> owned;  // unexpired leases per live node
  for (const auto& l : ordered)
    if (l.owner != no_node && l.owner != self && l.expires_ms >= now_ms) ++owned[l.owner];

  lease_plan plan;
  // What this node holds: renewed even if it just expired (nobody else took it: the epoch is
  // unchanged, so nobody else can have committed for it; the store's renewal checks the epoch).
  for (const auto& l : ordered)
    if (l.owner == self) plan.renew.push_back(l);
  uint32_t count = static_cast<uint32_t>(plan.renew.size());

  for (const auto& l : ordered) {
    if (l.owner == self) continue;
    bool free = l.owner == no_node || l.expires_ms < now_ms;
    if (free && count < share) {
      plan.acquire.push_back(l);
      ++count;
    }
  }

  // Rebalancing: above the share while another live node is below the floor (it came back):
  // give back a few per round, the last ones in this node's order.
  bool someone_short = false;
  for (cluster_node n : nodes)
    if (n != self && owned[n] < floor) someone_short = true;
  if (someone_short && count > share && plan.acquire.empty()) {
    uint32_t give = std::min(count - share, rules.release_per_round);
    for (auto it = plan.renew.rbegin(); it != plan.renew.rend() && give > 0; ++it, --give) plan.release.push_back(*it);
    plan.renew.resize(plan.renew.size() - plan.release.size());
  }
  return plan;
}

}  // namespace txengine
