#include "core/channel_routing.hpp"

#include <charconv>

namespace txengine {

std::string channel_router::problem(const std::vector<route_rule>& rules, const std::vector<channel_id>& channels) {
  if (rules.size() > limits::route_rules_max)
    return "at most " + std::to_string(limits::route_rules_max) + " routes";
  for (size_t i = 0; i < rules.size(); ++i) {
    const route_rule& r = rules[i];
    const std::string at = "route " + std::to_string(i + 1) + ": ";
    if (!r.top_up && !r.withdraw) return at + "kinds matches no order (top_up, withdraw)";
    if (r.min_amount < 1 || r.max_amount < r.min_amount) return at + "the amount range must be 1 <= min <= max";
    if (r.tenants.size() > limits::route_tenants_max)
      return at + "at most " + std::to_string(limits::route_tenants_max) + " tenants";
    if (r.providers.empty() || r.providers.size() > limits::route_providers_max)
      return at + "providers must name 1 .. " + std::to_string(limits::route_providers_max) + " channels";
    uint64_t weights = 0;
    for (size_t p = 0; p < r.providers.size(); ++p) {
      channel_id c = r.providers[p].channel;
      bool known = false;
      for (channel_id k : channels) known = known || k == c;
      if (!known) return at + "provider " + std::to_string(c) + " is not a configured channel";
      for (size_t q = 0; q < p; ++q)
        if (r.providers[q].channel == c) return at + "provider " + std::to_string(c) + " named twice";
      if (r.providers[p].weight > 1'000'000) return at + "weights are 0 .. 1000000";
      weights += r.providers[p].weight;
    }
    if (weights == 0) return at + "at least one provider needs a weight above 0";
  }
  return {};
}

const route_rule* channel_router::match(const route_facts& facts) const {
  for (const auto& r : rules_) {
    if (facts.kind == order_kind::top_up ? !r.top_up : facts.kind == order_kind::withdraw ? !r.withdraw : true)
      continue;
    if (r.cur.valid() && r.cur != facts.cur) continue;
    if (facts.amount < r.min_amount || facts.amount > r.max_amount) continue;
    if (!r.tenants.empty()) {
      bool listed = false;
      for (tenant_id t : r.tenants) listed = listed || t == facts.tenant;
      if (!listed) continue;
    }
    return &r;
  }
  return nullptr;
}

std::string describe_route(const route_rule& r) {
  std::string out = r.top_up && r.withdraw ? "top_up+withdraw" : r.top_up ? "top_up" : "withdraw";
  out += " " + (r.cur.valid() ? r.cur.code() : std::string("any currency"));
  out += " " + std::to_string(r.min_amount) + ".." +
         (r.max_amount == INT64_MAX ? std::string("any") : std::to_string(r.max_amount));
  if (r.tenants.empty()) {
    out += " any tenant";
  } else {
    out += " tenants ";
    for (size_t i = 0; i < r.tenants.size(); ++i) out += (i ? "," : "") + std::to_string(r.tenants[i]);
  }
  out += " ->";
  for (size_t i = 0; i < r.providers.size(); ++i) {
    const route_target& p = r.providers[i];
    out += (i ? ", " : " ") + std::to_string(p.channel) +
           (p.weight == 0 ? " (fallback)" : " (weight " + std::to_string(p.weight) + ")");
  }
  return out;
}

uint64_t route_draw(order_id id) {
  // splitmix64's finalizer: consecutive ids spread evenly over the weights.
  uint64_t z = id + 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

bool declared_no_money_moved(std::string_view code, const std::vector<std::string>& declared) {
  if (code.empty()) return false;
  for (const auto& d : declared)
    if (d == code) return true;
  return false;
}

std::string format_route_trail(const route_trail& trail) {
  std::string out;
  for (channel_id c : trail) {
    if (!out.empty()) out += ',';
    out += std::to_string(c);
  }
  return out;
}

bool parse_route_trail(std::string_view text, route_trail& out) {
  route_trail trail;
  size_t at = 0;
  while (true) {
    size_t end = text.find(',', at);
    std::string_view part = text.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at);
    channel_id c = 0;
    auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), c);
    if (part.empty() || ec != std::errc() || ptr != part.data() + part.size() || c == 0 ||
        trail.size() == limits::route_providers_max)
      return false;
    trail.push_back(c);
    if (end == std::string_view::npos) break;
    at = end + 1;
  }
  out = trail;
  return true;
}

}  // namespace txengine
