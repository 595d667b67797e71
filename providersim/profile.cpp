#include "providersim/profile.hpp"

#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <variant>

#include <toml++/toml.h>

namespace txprovider {

namespace {

// A key of the profile: where it goes and what it may hold.
struct int_field {
  int64_t profile::*field;
  int64_t lo, hi;
};
struct ppm_field {
  uint32_t profile::*field;
};
struct count_field {
  uint64_t profile::*field;
  uint64_t lo, hi;
};
struct text_field {
  std::string profile::*field;
};
struct retries_field {};
struct codes_field {};
struct secret_file_field {};
using field = std::variant<int_field, ppm_field, count_field, text_field, retries_field, codes_field, secret_file_field>;

constexpr int64_t hour_ms = 3'600'000;

const std::map<std::string, std::map<std::string, field>>& keys() {
  static const std::map<std::string, std::map<std::string, field>> table = {
      {"", {{"seed", count_field{&profile::seed, 0, std::numeric_limits<uint64_t>::max()}}}},
      {"latency",
       {{"min_ms", int_field{&profile::latency_min_ms, 0, hour_ms}},
        {"max_ms", int_field{&profile::latency_max_ms, 0, hour_ms}},
        {"slow_ppm", ppm_field{&profile::slow_ppm}},
        {"slow_ms", int_field{&profile::slow_ms, 0, hour_ms}}}},
      {"outcome",
       {{"settle_min_ms", int_field{&profile::settle_min_ms, 0, 24 * hour_ms}},
        {"settle_max_ms", int_field{&profile::settle_max_ms, 0, 24 * hour_ms}},
        {"decline_ppm", ppm_field{&profile::decline_ppm}},
        {"decline_codes", codes_field{}},
        {"partial_ppm", ppm_field{&profile::partial_ppm}},
        {"processing_forever_ppm", ppm_field{&profile::processing_forever_ppm}},
        {"payer_pays_ppm", ppm_field{&profile::payer_pays_ppm}}}},
      {"transport",
       {{"error_before_ppm", ppm_field{&profile::error_before_ppm}},
        {"error_after_ppm", ppm_field{&profile::error_after_ppm}},
        {"drop_ppm", ppm_field{&profile::drop_ppm}},
        {"hang_ppm", ppm_field{&profile::hang_ppm}},
        {"hang_ms", int_field{&profile::hang_ms, 0, hour_ms}},
        {"qps_limit", ppm_field{&profile::qps_limit}}}},
      {"callbacks",
       {{"url", text_field{&profile::callback_url}},
        {"lost_ppm", ppm_field{&profile::callback_lost_ppm}},
        {"duplicate_ppm", ppm_field{&profile::callback_duplicate_ppm}},
        {"stale_ppm", ppm_field{&profile::callback_stale_ppm}},
        {"delay_min_ms", int_field{&profile::callback_delay_min_ms, 0, 24 * hour_ms}},
        {"delay_max_ms", int_field{&profile::callback_delay_max_ms, 0, 24 * hour_ms}},
        {"retries", retries_field{}}}},
      {"auth",
       {{"api_key", text_field{&profile::api_key}},
        {"secret", text_field{&profile::secret}},
        {"secret_file", secret_file_field{}},
        {"max_clock_skew_ms", int_field{&profile::max_clock_skew_ms, 1'000, 24 * hour_ms}}}},
      {"limits",
       {{"orders_max", count_field{&profile::orders_max, 1, 1'000'000'000}},
        {"retention_ms", int_field{&profile::retention_ms, hour_ms, 3650 * 24 * hour_ms}}}},
  };
  return table;
}

bool read_int(const toml::node& node, int64_t lo, int64_t hi, int64_t& out, std::string& why) {
  auto v = node.value_exact<int64_t>();
  if (!v) {
    why = "expects an integer";
    return false;
  }
  if (*v < lo || *v > hi) {
    why = "expects " + std::to_string(lo) + " .. " + std::to_string(hi) + ", got " + std::to_string(*v);
    return false;
  }
  out = *v;
  return true;
}

bool apply(const field& f, const toml::node& node, profile& p, std::string& why) {
  int64_t v = 0;
  if (auto* i = std::get_if<int_field>(&f)) {
    if (!read_int(node, i->lo, i->hi, v, why)) return false;
    p.*(i->field) = v;
  } else if (auto* r = std::get_if<ppm_field>(&f)) {
    if (!read_int(node, 0, 1'000'000, v, why)) return false;
    p.*(r->field) = static_cast<uint32_t>(v);
  } else if (auto* c = std::get_if<count_field>(&f)) {
    if (!read_int(node, static_cast<int64_t>(c->lo),
                  static_cast<int64_t>(std::min<uint64_t>(c->hi, std::numeric_limits<int64_t>::max())), v, why))
      return false;
    p.*(c->field) = static_cast<uint64_t>(v);
  } else if (auto* t = std::get_if<text_field>(&f)) {
    auto s = node.value_exact<std::string>();
    if (!s || s->size() > 4096) {
      why = "expects a string (at most 4096 bytes)";
      return false;
    }
    p.*(t->field) = *s;
  } else if (std::holds_alternative<retries_field>(f)) {
    if (!read_int(node, 0, 100, v, why)) return false;
    p.callback_retries = static_cast<uint32_t>(v);
  } else if (std::holds_alternative<codes_field>(f)) {
    const auto* list = node.as_array();
    std::vector<std::string> codes;
    for (size_t i = 0; list && i < list->size(); ++i) {
      auto s = list->get(i)->value_exact<std::string>();
      if (!s || s->empty() || s->size() > 64) {
        list = nullptr;
        break;
      }
      codes.push_back(*s);
    }
    if (!list || codes.empty()) {
      why = "expects a non-empty list of codes (strings of 1..64 bytes)";
      return false;
    }
    p.decline_codes = std::move(codes);
  } else {
    auto path = node.value_exact<std::string>();
    std::ifstream in(path ? *path : std::string());
    std::string secret;
    if (!path || !in || !std::getline(in, secret) || secret.empty()) {
      why = "expects the path of a readable file whose first line is the secret";
      return false;
    }
    p.secret = secret;
  }
  return true;
}

//! toml++ 3.3.0 (Debian 12) must not see a non-ASCII byte outside strings and comments (undefined
//! behaviour in the library) nor a control character after `[` (an assertion): the engine's
//! config file found both (docs/security.md, "Fuzzing"), so a profile is ASCII, with tab and line
//! ends its only control characters. "" when the text may be parsed.
std::string unsafe_byte(const std::string& text) {
  size_t line = 1;
  for (unsigned char c : text) {
    if (c == '\n') {
      ++line;
      continue;
    }
    if (c >= 0x20 && c < 0x7F) continue;
    if (c == '\t' || c == '\r') continue;
    return "line " + std::to_string(line) + ": byte " + std::to_string(c) +
           " (a profile is ASCII; tab and line ends are its only control characters)";
  }
  return {};
}

bool check(const profile& p, std::string& error) {
  if (p.latency_min_ms > p.latency_max_ms) error = "[latency] min_ms is above max_ms";
  else if (p.settle_min_ms > p.settle_max_ms) error = "[outcome] settle_min_ms is above settle_max_ms";
  else if (p.callback_delay_min_ms > p.callback_delay_max_ms) error = "[callbacks] delay_min_ms is above delay_max_ms";
  else if (p.api_key.empty() || p.secret.empty()) error = "[auth] api_key and secret must not be empty";
  else if (!p.callback_url.empty() && p.callback_url.rfind("http://", 0) != 0)
    error = "[callbacks] url must start with http://";
  return error.empty();
}

}  // namespace

bool parse_profile(const std::string& text, profile& out, std::string& error) {
  profile p;
  if (text.size() > (1u << 20)) {
    error = "larger than 1 MiB, not a profile";
    return false;
  }
  if (std::string why = unsafe_byte(text); !why.empty()) {
    error = why;
    return false;
  }
  toml::table root;
  try {
    root = toml::parse(text);
  } catch (const toml::parse_error& e) {
    std::ostringstream why;
    why << "line " << e.source().begin.line << ": " << e.description();
    error = why.str();
    return false;
  }
  for (const auto& [name, node] : root) {
    std::string section(name.str());
    const auto* table = node.as_table();
    const auto& known = keys();
    if (!table) {  // a top-level key
      auto key = known.at("").find(section);
      std::string why;
      if (key == known.at("").end()) {
        error = "unknown key '" + section + "'";
        return false;
      }
      if (!apply(key->second, node, p, why)) {
        error = section + ": " + why;
        return false;
      }
      continue;
    }
    auto keys_of = known.find(section);
    if (section.empty() || keys_of == known.end()) {
      error = "unknown section [" + section + "]";
      return false;
    }
    for (const auto& [key_name, value] : *table) {
      std::string key(key_name.str()), why;
      auto f = keys_of->second.find(key);
      if (f == keys_of->second.end()) {
        error = "[" + section + "] unknown key '" + key + "'";
        return false;
      }
      if (!apply(f->second, value, p, why)) {
        error = "[" + section + "] " + key + ": " + why;
        return false;
      }
    }
  }
  if (!check(p, error)) return false;
  out = std::move(p);
  return true;
}

bool load_profile(const std::string& path, profile& out, std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = "cannot read " + path;
    return false;
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (!parse_profile(text.str(), out, error)) {
    error = path + ": " + error;
    return false;
  }
  return true;
}

}  // namespace txprovider
