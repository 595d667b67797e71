#include "persistence/shard_layout.hpp"

#include <numeric>

namespace txengine::persistence {

std::string shard_layout::table_at(std::string_view base, uint32_t d, uint32_t t) const {
  std::string s = "`" + database_name(d) + "`.`";
  s += base;
  s += "_" + std::to_string(t) + "`";
  return s;
}

std::vector<uint32_t> shard_layout::tables_in(uint32_t d) const {
  std::vector<uint32_t> out;
  uint32_t g = std::gcd(databases, tables);
  for (uint32_t t = 0; t < tables; ++t)
    if (t % g == d % g) out.push_back(t);
  return out;
}

uint64_t shard_layout::request_key(tenant_id tenant, std::string_view request_id) {
  uint64_t h = 14695981039346656037ull;
  auto mix = [&h](unsigned char c) {
    h ^= c;
    h *= 1099511628211ull;
  };
  for (int i = 0; i < 4; ++i) mix(static_cast<unsigned char>(tenant >> (8 * i)));
  for (char c : request_id) mix(static_cast<unsigned char>(c));
  return h;
}

bool shard_layout::valid(std::string* error) const {
  auto fail = [error](const char* why) {
    if (error) *error = why;
    return false;
  };
  if (databases < 1 || databases > 256) return fail("databases must be 1..256");
  if (tables < 1 || tables > 4096) return fail("tables must be 1..4096");
  if (prefix.empty() || prefix.size() > 48) return fail("the database prefix must have 1..48 characters");
  for (char c : prefix)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
      return fail("the database prefix may contain a-z, 0-9 and _ only");
  return true;
}

const std::vector<std::string>& table_families() {
  static const std::vector<std::string> families = {"wallets",     "fund_movements", "orders",     "request_ids",
                                                    "tcc_records", "outbox",         "open_orders", "refunds",
                                                    "wallet_requests"};
  return families;
}

}  // namespace txengine::persistence
