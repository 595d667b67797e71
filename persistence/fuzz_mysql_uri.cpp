// libFuzzer target: the MySQL URI parser (persistence/mysql_connection.hpp parse_mysql_uri), fed
// by flags, config files and TXENGINE_MYSQL_URI. Checks beyond "no crash": a refused URI changes
// nothing and says why; an accepted one describes itself (without the password) as a URI that
// parses back to the same endpoint.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "persistence/mysql_connection.hpp"

using namespace txengine::persistence;

namespace {

bool same(const mysql_endpoint& a, const mysql_endpoint& b) {
  return a.host == b.host && a.port == b.port && a.socket == b.socket && a.user == b.user && a.database == b.database &&
         a.ssl_mode == b.ssl_mode && a.ssl_ca == b.ssl_ca;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view uri(reinterpret_cast<const char*>(data), size);
  mysql_endpoint e;
  e.host = "unchanged";
  const mysql_endpoint before = e;
  std::string why;
  if (!parse_mysql_uri(uri, e, &why)) {
    if (!same(e, before) || e.password != before.password) __builtin_trap();  // a refusal changed it
    if (why.empty()) __builtin_trap();
    return 0;
  }
  std::string text = e.describe();
  // describe() is for logs; where its parts contain no URI separators it must parse back.
  auto plain = [](const std::string& s) { return s.find_first_of("?&=/@:") == std::string::npos; };
  if (plain(e.user) && plain(e.host) && plain(e.database) && e.socket.empty() && plain(e.ssl_ca) && !e.user.empty()) {
    mysql_endpoint back;
    back.password = e.password;
    std::string why_back;
    if (!parse_mysql_uri(text, back, &why_back)) __builtin_trap();
    if (!same(back, e)) __builtin_trap();
  }
  return 0;
}
