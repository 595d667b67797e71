// Issue 13: TLS to MySQL through the URI (ssl-mode, ssl-ca) against a real server. Run by
// tests/persistence/mysql_tls.sh, which starts a private MariaDB with a certificate generated at
// test time and sets TXENGINE_TLS_TEST_* (skipped without them).
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "persistence/mysql_connection.hpp"

using namespace txengine::persistence;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

mysql_endpoint endpoint(const std::string& uri) {
  mysql_endpoint e;
  std::string why;
  EXPECT_TRUE(parse_mysql_uri(uri, e, &why)) << uri << ": " << why;
  return e;
}

std::string cipher(mysql_connection& c) {
  auto rs = c.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'");
  return rs->next() ? std::string(rs->getString(2)) : "";
}

}  // namespace

TEST(MysqlTls, VerifiedConnectionsAreEncryptedAndAWrongCaIsRefused) {
  const std::string base = env("TXENGINE_TLS_TEST_URI");  // mysql://tlsuser:pw@127.0.0.1:PORT (REQUIRE SSL)
  const std::string ca = env("TXENGINE_TLS_TEST_CA"), other_ca = env("TXENGINE_TLS_TEST_OTHER_CA");
  if (base.empty()) GTEST_SKIP() << "run by tests/persistence/mysql_tls.sh";
  mysql_thread_scope scope;
  for (const char* mode : {"REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY"}) {
    std::string uri = base + "?ssl-mode=" + mode + (std::string(mode) == "REQUIRED" ? "" : "&ssl-ca=" + ca);
    mysql_connection c(endpoint(uri));
    EXPECT_NE(cipher(c), "") << uri;
  }
  // A server certificate from another CA: refused, nothing sent in clear instead.
  EXPECT_THROW(mysql_connection(endpoint(base + "?ssl-mode=VERIFY_IDENTITY&ssl-ca=" + other_ca)), sql::SQLException);
  // Without ssl-mode the client does not offer TLS, and the account requires it.
  EXPECT_THROW(mysql_connection(endpoint(base)), sql::SQLException);
}
