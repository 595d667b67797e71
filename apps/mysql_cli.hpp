#pragma once
// The --mysql URI flag of the executables that read MySQL themselves (txaudit, bench_durable,
// bench_recovery): checked by persistence::parse_mysql_uri, its error in the usage error.
#include <string>

#include "apps/cli.hpp"
#include "persistence/mysql_connection.hpp"

namespace txengine::cli {

inline CLI::Validator mysql_uri() {
  return CLI::Validator(
      [](std::string& uri) -> std::string {
        persistence::mysql_endpoint endpoint;
        std::string error;
        return persistence::parse_mysql_uri(uri, endpoint, &error) ? "" : error;
      },
      "", "URI");
}

//! --mysql URI into `endpoint` (left as it is without the flag).
inline CLI::Option* add_mysql_endpoint(CLI::App& app, persistence::mysql_endpoint& endpoint, const std::string& help) {
  return app
      .add_option_function<std::string>(
          "--mysql", [&endpoint](const std::string& uri) { persistence::parse_mysql_uri(uri, endpoint, nullptr); }, help)
      ->type_name("URI")
      ->check(mysql_uri());
}

}  // namespace txengine::cli
