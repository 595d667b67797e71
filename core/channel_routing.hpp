#pragma once
// Which payment provider (channel) a top-up or payout goes to, and where it goes after a
// provider's definitive refusal (issue 15, item 5; docs/channels.md, "Routing"). Plain C++:
// the rules come from the config, the circuit states and the draw are passed in.
//
// A rule matches an order by kind, currency, amount range and tenant; the first rule that
// matches gives the order's providers, in fallback order, each with a weight. The first provider
// is drawn by weight (a deterministic draw from the order id) among those whose circuit is not
// open; a provider of weight 0 only takes orders others refused. After a refusal that guarantees
// nothing moved (a decline code the provider declared, or a submit the engine's own adapter
// refused unseen) the order goes to the next provider of the list it has not tried, whose circuit
// is not open; never after a timeout or any unknown answer (the money may be moving there).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/inline_vector.hpp"
#include "core/types.hpp"

namespace txengine {

namespace limits {
//! Providers one rule names, at most: also the most providers one order can be sent to.
constexpr size_t route_providers_max = 8;
//! Rules of one engine, at most.
constexpr size_t route_rules_max = 1'024;
//! Tenants one rule names, at most.
constexpr size_t route_tenants_max = 1'024;
}  // namespace limits

struct route_target {
  channel_id channel = 0;
  uint32_t weight = 1;  //!< share of first attempts; 0: fallback only
};

struct route_rule {
  bool top_up = true;    //!< matches top-ups (money in)
  bool withdraw = true;  //!< matches payouts
  currency cur;  //!< currency{} (none): any
  int64_t min_amount = 1;
  int64_t max_amount = INT64_MAX;
  std::vector<tenant_id> tenants;  //!< empty: any
  std::vector<route_target> providers;
};

struct route_facts {
  order_kind kind = order_kind::top_up;
  tenant_id tenant = 0;
  currency cur;
  int64_t amount = 0;
};

//! The providers an order was sent to, in order; the last is its provider now.
using route_trail = inline_vector<channel_id, limits::route_providers_max>;

class channel_router {
 public:
  channel_router() = default;
  explicit channel_router(std::vector<route_rule> rules) : rules_(std::move(rules)) {}

  //! Why `rules` cannot be used with these channels (empty when they can): a rule without
  //! providers or with more than route_providers_max, a provider named twice or not configured,
  //! no weight above 0, an empty or inverted amount range, a rule matching no kind, too many rules or tenants.
  static std::string problem(const std::vector<route_rule>& rules, const std::vector<channel_id>& channels);

  bool empty() const { return rules_.empty(); }
  const std::vector<route_rule>& rules() const { return rules_; }

  //! The first rule matching the order; nullptr when none does.
  const route_rule* match(const route_facts& facts) const;

  //! The provider for a new order: drawn by weight (`draw`, e.g. a hash of the order id) among
  //! the rule's providers of weight > 0 whose circuit is not open; when all of those are open,
  //! the first of the list whose circuit is not open; 0 when every one is open or no rule matches.
  template <class IsOpen>
  channel_id first(const route_facts& facts, uint64_t draw, IsOpen&& is_open) const {
    const route_rule* rule = match(facts);
    if (rule == nullptr) return 0;
    uint64_t total = 0;
    for (const auto& p : rule->providers)
      if (p.weight > 0 && !is_open(p.channel)) total += p.weight;
    if (total > 0) {
      uint64_t at = draw % total;
      for (const auto& p : rule->providers) {
        if (p.weight == 0 || is_open(p.channel)) continue;
        if (at < p.weight) return p.channel;
        at -= p.weight;
      }
    }
    for (const auto& p : rule->providers)
      if (!is_open(p.channel)) return p.channel;
    return 0;
  }

  //! Where an order refused by its provider (nothing moved) goes next: the first provider of its
  //! rule, in list order, not in `tried` and whose circuit is not open; 0 when none is left.
  template <class IsOpen>
  channel_id next(const route_facts& facts, const route_trail& tried, IsOpen&& is_open) const {
    const route_rule* rule = match(facts);
    if (rule == nullptr || tried.size() >= limits::route_providers_max) return 0;
    for (const auto& p : rule->providers) {
      bool seen = false;
      for (channel_id t : tried) seen = seen || t == p.channel;
      if (!seen && !is_open(p.channel)) return p.channel;
    }
    return 0;
  }

 private:
  std::vector<route_rule> rules_;
};

//! One line for an operator: "withdraw USD 1..5000 tenants 1,2 -> 7 (weight 3), 8 (fallback)".
std::string describe_route(const route_rule& rule);

//! The draw for an order's first provider: a mix of its id (the same order always draws the same).
uint64_t route_draw(order_id id);

//! Whether a provider's decline `code` is one it declared as "nothing moved, nothing will"
//! (`declared`: its config's `reroute_codes`): only such a decline may send the order elsewhere.
bool declared_no_money_moved(std::string_view code, const std::vector<std::string>& declared);

//! The trail as the order row stores it: channel ids joined by ',' ("7,9"); parse_route_trail
//! reads it back (false on anything else: empty, a zero, non-digits, more than route_providers_max).
std::string format_route_trail(const route_trail& trail);
bool parse_route_trail(std::string_view text, route_trail& out);

}  // namespace txengine
