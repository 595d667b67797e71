#pragma once
// Where a storage configuration points: its shard layout and its MySQL endpoint. One place for
// the writer, the loaders and the outbox publisher (each opens its own connection from these).
#include <stdexcept>
#include <string>

#include "ports/storage_config.hpp"
#include "persistence/mysql_connection.hpp"
#include "persistence/shard_layout.hpp"

namespace txengine::persistence {

inline shard_layout layout_of(const storage_config& config) {
  shard_layout layout;
  layout.databases = config.databases;
  layout.tables = config.tables;
  layout.prefix = config.prefix;
  return layout;
}

//! Throws std::invalid_argument when the URI is not a mysql:// URI (checked at engine start).
inline mysql_endpoint endpoint_of(const storage_config& config) {
  mysql_endpoint endpoint;
  endpoint.password.clear();  // no built-in password: the URI's, or the configured one
  std::string error;
  if (!parse_mysql_uri(config.uri, endpoint, &error)) throw std::invalid_argument("bad MySQL URI: " + error);
  if (!config.password.empty()) endpoint.password = config.password;
  return endpoint;
}

}  // namespace txengine::persistence
