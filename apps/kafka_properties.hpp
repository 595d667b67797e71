#pragma once
// The [kafka.properties] table of txengine's config file (config/txengine.example.toml): further
// librdkafka properties, name = "value" (TLS: security.protocol, ssl.ca.location, ...). The
// publisher (serve --config) and the consumers (--config) read the same table, and the file
// the same way.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <toml++/toml.h>

namespace txengine {

using kafka_property_list = std::vector<std::pair<std::string, std::string>>;

//! Appends the table's properties to `out`; false with `why` when it is not a table of strings.
inline bool kafka_properties_from(const toml::node& node, kafka_property_list& out, std::string& why) {
  const toml::table* t = node.as_table();
  if (!t) {
    why = "expects a table of librdkafka properties (name = \"value\")";
    return false;
  }
  for (const auto& [name, value] : *t) {
    auto v = value.value_exact<std::string>();
    if (!v) {
      why = "." + std::string(name.str()) + " expects a string";
      return false;
    }
    out.emplace_back(std::string(name.str()), *v);
  }
  return true;
}

//! The bytes the TOML library (toml++ 3.3.0, Debian 12) must not see: a non-ASCII byte outside
//! strings and comments reaches undefined behaviour in it (is_non_ascii_horizontal_whitespace),
//! and a control character after `[` an assertion; both found by fuzz_config_file. Where a string
//! or comment starts is the library's own judgement (a lexer of ours missed cases the fuzzer
//! found at once), so the whole file must be ASCII, without control characters other than tab
//! and line ends, until a fixed toml++ is available. "" when the text may be parsed.
inline std::string config_text_problem(const std::string& text) {
  size_t line = 1, line_start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      ++line;
      line_start = i + 1;
      continue;
    }
    bool control = (c < 0x20 && c != '\t' && c != '\r') || c == 0x7F;
    if (c < 0x80 && !control) continue;
    char byte[8];
    std::snprintf(byte, sizeof byte, "0x%02X", c);
    return "line " + std::to_string(line) + ", column " + std::to_string(i - line_start + 1) + ": byte " + byte +
           (control ? " is a control character" : " is not ASCII") +
           " (the configuration file is ASCII: tab and line ends are its only control characters)";
  }
  return {};
}

//! The text of a config file (at most 1 MiB); false with `error` ("FILE: reason") otherwise.
inline bool read_config_text(const std::string& path, std::string& text, std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = path + ": cannot read the file";
    return false;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (buffer.str().size() > (1u << 20)) {
    error = path + ": larger than 1 MiB, not a configuration file";
    return false;
  }
  text = buffer.str();
  if (std::string problem = config_text_problem(text); !problem.empty()) {
    error = path + ": " + problem;
    return false;
  }
  return true;
}

//! The [kafka.properties] of the file at `path` (its other keys are serve's and checked by
//! serve); false with `error` ("FILE: reason") when the file cannot be read or parsed.
inline bool kafka_properties_of_file(const std::string& path, kafka_property_list& out, std::string& error) {
  std::string text;
  if (!read_config_text(path, text, error)) return false;
  try {
    toml::table root = toml::parse(text, path);
    const toml::node* node = root.at_path("kafka.properties").node();
    if (!node) return true;
    std::string why;
    if (!kafka_properties_from(*node, out, why)) {
      error = path + ": kafka.properties " + why;
      return false;
    }
    return true;
  } catch (const toml::parse_error& e) {
    error = path + ": " + std::string(e.description());
    return false;
  }
}

}  // namespace txengine
