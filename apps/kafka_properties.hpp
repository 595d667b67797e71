#pragma once
// The [kafka.properties] table of txengine's config file (config/txengine.example.toml): further
// librdkafka properties, name = "value" (TLS: security.protocol, ssl.ca.location, ...). The
// publisher (serve --config) and the consumers (--config) read the same table, and the file
// the same way.
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
