// Issue 13: TLS in the MySQL URI (persistence/mysql_connection.hpp): ssl-mode and ssl-ca are
// parsed, named in describe(), and every bad parameter is refused with a clear reason.
#include <gtest/gtest.h>

#include <string>

#include "persistence/mysql_connection.hpp"

using namespace txengine::persistence;

TEST(MysqlUriTls, ModesAndCaFile) {
  mysql_endpoint e;
  ASSERT_TRUE(parse_mysql_uri("mysql://u:p@db:3306/app?ssl-mode=REQUIRED", e));
  EXPECT_EQ(e.ssl_mode, mysql_ssl_mode::required);
  EXPECT_EQ(e.ssl_ca, "");
  EXPECT_EQ(e.describe(), "mysql://u@db:3306/app?ssl-mode=REQUIRED");

  mysql_endpoint v;
  ASSERT_TRUE(parse_mysql_uri("mysql://u:p@db:3306?ssl-mode=VERIFY_IDENTITY&ssl-ca=/etc/ca.pem", v));
  EXPECT_EQ(v.ssl_mode, mysql_ssl_mode::verify_identity);
  EXPECT_EQ(v.ssl_ca, "/etc/ca.pem");
  EXPECT_EQ(v.describe(), "mysql://u@db:3306?ssl-mode=VERIFY_IDENTITY&ssl-ca=/etc/ca.pem");

  mysql_endpoint c;
  ASSERT_TRUE(parse_mysql_uri("mysql://u:p@db?ssl-ca=/etc/ca.pem&ssl-mode=VERIFY_CA", c));
  EXPECT_EQ(c.ssl_mode, mysql_ssl_mode::verify_ca);

  mysql_endpoint d;
  ASSERT_TRUE(parse_mysql_uri("mysql://u:p@db?ssl-mode=DISABLED", d));
  EXPECT_EQ(d.ssl_mode, mysql_ssl_mode::disabled);
  mysql_endpoint none;
  ASSERT_TRUE(parse_mysql_uri("mysql://u:p@db", none));
  EXPECT_EQ(none.ssl_mode, mysql_ssl_mode::disabled);
}

TEST(MysqlUriTls, BadParametersAreRefusedAndChangeNothing) {
  struct bad {
    const char* uri;
    const char* reason;
  };
  const bad cases[] = {
      {"mysql://u@h?ssl-mode=required", "unknown ssl-mode 'required'"},
      {"mysql://u@h?ssl-mode=PREFERRED", "unknown ssl-mode 'PREFERRED'"},
      {"mysql://u@h?ssl-mode=", "the URI parameter 'ssl-mode' needs a value"},
      {"mysql://u@h?ssl-mode", "the URI parameter 'ssl-mode' needs a value"},
      {"mysql://u@h?ssl-mode=VERIFY_CA", "ssl-mode=VERIFY_CA needs ssl-ca=FILE"},
      {"mysql://u@h?ssl-mode=VERIFY_IDENTITY", "ssl-mode=VERIFY_IDENTITY needs ssl-ca=FILE"},
      {"mysql://u@h?ssl-ca=/ca.pem", "ssl-ca is given but ssl-mode is DISABLED"},
      {"mysql://u@h?ssl-mode=REQUIRED&ssl-mode=DISABLED", "'ssl-mode' is given twice"},
      {"mysql://u@h?ssl-mode=REQUIRED&ssl-ca=/a&ssl-ca=/b", "'ssl-ca' is given twice"},
      {"mysql://u@h?sslmode=REQUIRED", "unknown URI parameter 'sslmode' (known: socket, ssl-mode, ssl-ca)"},
      {"mysql://u@h?ssl-key=/k.pem", "unknown URI parameter 'ssl-key'"},
  };
  for (const auto& c : cases) {
    mysql_endpoint e;
    e.host = "unchanged";
    std::string why;
    EXPECT_FALSE(parse_mysql_uri(c.uri, e, &why)) << c.uri;
    EXPECT_NE(why.find(c.reason), std::string::npos) << c.uri << ": " << why;
    EXPECT_EQ(e.host, "unchanged") << c.uri;
    EXPECT_EQ(e.ssl_mode, mysql_ssl_mode::disabled) << c.uri;
  }
}
