#pragma once
// A thin helper over MySQL Connector/C++ 1.1 (libmysqlcppconn, the JDBC-style `sql::` API):
// where to connect (a URI), one connection with the few calls the schema, the audit and the
// baseline need, and the classification of errors. No CAF here: blocking I/O never runs on
// the actor scheduler's threads.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <cppconn/connection.h>
#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>

namespace txengine::persistence {

//! TLS to the server (URI parameter `ssl-mode`, MySQL's names). MariaDB Connector/C verifies the
//! certificate chain and the host name together (MYSQL_OPT_SSL_VERIFY_SERVER_CERT), so
//! verify_ca checks the host name as verify_identity does.
enum class mysql_ssl_mode { disabled, required, verify_ca, verify_identity };

//! Where a MySQL/MariaDB server is. The default is the private server of scripts/mariadb.sh.
struct mysql_endpoint {
  std::string host = "127.0.0.1";
  uint16_t port = 3407;
  std::string socket;  //!< a unix socket path; when set, host and port are not used
  std::string user = "txengine";
  std::string password = "txengine";
  std::string database;  //!< default schema, may be empty
  mysql_ssl_mode ssl_mode = mysql_ssl_mode::disabled;
  std::string ssl_ca;    //!< CA certificate file (PEM); required by the verify modes
  //! The URI without the password, for logs.
  std::string describe() const;
};

//! Parses `mysql://user:password@host:port[/database][?PARAM=VALUE&...]` with the parameters
//! `socket=/path/to.sock`, `ssl-mode=DISABLED|REQUIRED|VERIFY_CA|VERIFY_IDENTITY` and
//! `ssl-ca=FILE` (needed by the VERIFY modes). Missing parts keep the defaults of mysql_endpoint.
//! False (and a reason) when the text is not such a URI: an unknown or repeated parameter, an
//! unknown ssl-mode, a verify mode without ssl-ca.
bool parse_mysql_uri(std::string_view uri, mysql_endpoint& out, std::string* error = nullptr);

//! TXENGINE_MYSQL_URI when set and valid, else the defaults (127.0.0.1:3407, txengine/txengine).
mysql_endpoint endpoint_from_environment();

//! Call once per thread that uses connections (the client library's per-thread state);
//! the destructor releases it. Cheap and idempotent.
class mysql_thread_scope {
 public:
  mysql_thread_scope();
  ~mysql_thread_scope();
  mysql_thread_scope(const mysql_thread_scope&) = delete;
  mysql_thread_scope& operator=(const mysql_thread_scope&) = delete;
};

//! One connection. Every call throws sql::SQLException on failure.
class mysql_connection {
 public:
  explicit mysql_connection(const mysql_endpoint& endpoint);
  ~mysql_connection();
  mysql_connection(const mysql_connection&) = delete;
  mysql_connection& operator=(const mysql_connection&) = delete;

  sql::Connection& raw() { return *conn_; }
  void execute(const std::string& sql);
  std::unique_ptr<sql::ResultSet> query(const std::string& sql);
  //! First column of the first row as an integer; `fallback` when there is no row or it is NULL.
  int64_t query_int(const std::string& sql, int64_t fallback = 0);
  std::unique_ptr<sql::PreparedStatement> prepare(const std::string& sql);
  void use(const std::string& database);

  //! Explicit transactions: begin() turns autocommit off (it stays off after commit() and
  //! rollback(), saving a round trip per transaction; set_autocommit(true) turns it back on).
  void set_autocommit(bool on);
  void begin();
  void commit();
  void rollback() noexcept;

 private:
  std::unique_ptr<sql::Connection> conn_;
  std::unique_ptr<sql::Statement> statement_;
  bool in_transaction_ = false;
  bool autocommit_ = true;
};

//! Server error codes the callers act on.
namespace mysql_error {
constexpr int lock_wait_timeout = 1205;
constexpr int deadlock = 1213;
constexpr int duplicate_key = 1062;
constexpr int server_gone = 2006;
constexpr int server_lost = 2013;
constexpr int cannot_connect = 2003;
}  // namespace mysql_error

//! True for errors where the same transaction may succeed when run again (deadlock, lock wait
//! timeout); false for everything else, including a lost connection (reconnect first).
bool is_transient(const sql::SQLException& e);
//! True when the connection is unusable (the server went away, could not connect).
bool is_connection_error(const sql::SQLException& e);

//! Backquotes an identifier (database or table name).
std::string quote_identifier(std::string_view name);

}  // namespace txengine::persistence
