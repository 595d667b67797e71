#include "persistence/mysql_connection.hpp"

#include <cstdlib>
#include <mutex>
#include <utility>

#include <mysql_driver.h>

namespace txengine::persistence {

namespace {

sql::mysql::MySQL_Driver* driver() {
  // get_driver_instance() is not safe to call for the first time from several threads.
  static std::once_flag once;
  static sql::mysql::MySQL_Driver* instance = nullptr;
  std::call_once(once, [] { instance = sql::mysql::get_mysql_driver_instance(); });
  return instance;
}

bool parse_port(std::string_view text, uint16_t& out) {
  if (text.empty() || text.size() > 5) return false;
  uint32_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (value == 0 || value > 65535) return false;
  out = static_cast<uint16_t>(value);
  return true;
}

bool fail(std::string* error, const std::string& why) {
  if (error) *error = why;
  return false;
}

constexpr std::pair<std::string_view, mysql_ssl_mode> ssl_mode_names[] = {
    {"DISABLED", mysql_ssl_mode::disabled},
    {"REQUIRED", mysql_ssl_mode::required},
    {"VERIFY_CA", mysql_ssl_mode::verify_ca},
    {"VERIFY_IDENTITY", mysql_ssl_mode::verify_identity},
};

std::string_view ssl_mode_name(mysql_ssl_mode mode) {
  for (const auto& [name, m] : ssl_mode_names)
    if (m == mode) return name;
  return "?";
}

}  // namespace

std::string mysql_endpoint::describe() const {
  std::string s = "mysql://" + user + "@";
  s += socket.empty() ? host + ":" + std::to_string(port) : "localhost";
  if (!database.empty()) s += "/" + database;
  std::string params;
  if (!socket.empty()) params += "&socket=" + socket;
  if (ssl_mode != mysql_ssl_mode::disabled) params += "&ssl-mode=" + std::string(ssl_mode_name(ssl_mode));
  if (!ssl_ca.empty()) params += "&ssl-ca=" + ssl_ca;
  if (!params.empty()) s += "?" + params.substr(1);
  return s;
}

bool parse_mysql_uri(std::string_view uri, mysql_endpoint& out, std::string* error) {
  constexpr std::string_view scheme = "mysql://";
  if (uri.substr(0, scheme.size()) != scheme) return fail(error, "a MySQL URI starts with mysql://");
  std::string_view rest = uri.substr(scheme.size());
  mysql_endpoint e = out;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    std::string_view params = rest.substr(q + 1);
    rest = rest.substr(0, q);
    bool seen_socket = false, seen_mode = false, seen_ca = false;
    while (!params.empty()) {
      auto amp = params.find('&');
      std::string_view kv = params.substr(0, amp);
      params = amp == std::string_view::npos ? std::string_view{} : params.substr(amp + 1);
      auto eq = kv.find('=');
      if (eq == std::string_view::npos || eq + 1 == kv.size())
        return fail(error, "the URI parameter '" + std::string(kv.substr(0, eq)) + "' needs a value");
      std::string_view name = kv.substr(0, eq), value = kv.substr(eq + 1);
      auto once = [&](bool& seen) {
        if (seen) return fail(error, "the URI parameter '" + std::string(name) + "' is given twice");
        return seen = true;
      };
      if (name == "socket") {
        if (!once(seen_socket)) return false;
        e.socket = std::string(value);
      } else if (name == "ssl-mode") {
        if (!once(seen_mode)) return false;
        bool known = false;
        for (const auto& [n, mode] : ssl_mode_names)
          if (value == n) e.ssl_mode = mode, known = true;
        if (!known)
          return fail(error, "unknown ssl-mode '" + std::string(value) +
                                 "' (known: DISABLED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY)");
      } else if (name == "ssl-ca") {
        if (!once(seen_ca)) return false;
        e.ssl_ca = std::string(value);
      } else {
        return fail(error, "unknown URI parameter '" + std::string(name) + "' (known: socket, ssl-mode, ssl-ca)");
      }
    }
    if ((e.ssl_mode == mysql_ssl_mode::verify_ca || e.ssl_mode == mysql_ssl_mode::verify_identity) &&
        e.ssl_ca.empty())
      return fail(error, "ssl-mode=" + std::string(ssl_mode_name(e.ssl_mode)) + " needs ssl-ca=FILE (the CA certificate)");
    if (!e.ssl_ca.empty() && e.ssl_mode == mysql_ssl_mode::disabled)
      return fail(error, "ssl-ca is given but ssl-mode is DISABLED (add ssl-mode=VERIFY_IDENTITY or another)");
  }
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    e.database = std::string(rest.substr(slash + 1));
    rest = rest.substr(0, slash);
  }
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view credentials = rest.substr(0, at);
    rest = rest.substr(at + 1);
    auto colon = credentials.find(':');
    e.user = std::string(credentials.substr(0, colon));
    if (colon != std::string_view::npos) e.password = std::string(credentials.substr(colon + 1));
    if (e.user.empty()) return fail(error, "empty user name");
  }
  if (!rest.empty()) {
    auto colon = rest.rfind(':');
    if (colon != std::string_view::npos) {
      if (!parse_port(rest.substr(colon + 1), e.port)) return fail(error, "the port must be 1..65535");
      rest = rest.substr(0, colon);
    }
    if (rest.empty()) return fail(error, "empty host");
    e.host = std::string(rest);
  }
  out = std::move(e);
  return true;
}

mysql_endpoint endpoint_from_environment() {
  mysql_endpoint e;
  if (const char* uri = std::getenv("TXENGINE_MYSQL_URI"); uri && *uri) parse_mysql_uri(uri, e);
  return e;
}

mysql_thread_scope::mysql_thread_scope() { driver()->threadInit(); }
mysql_thread_scope::~mysql_thread_scope() { driver()->threadEnd(); }

mysql_connection::mysql_connection(const mysql_endpoint& endpoint) {
  sql::ConnectOptionsMap options;
  if (endpoint.socket.empty()) {
    options["hostName"] = sql::SQLString("tcp://" + endpoint.host + ":" + std::to_string(endpoint.port));
  } else {
    options["hostName"] = sql::SQLString("unix://" + endpoint.socket);
  }
  options["userName"] = sql::SQLString(endpoint.user);
  options["password"] = sql::SQLString(endpoint.password);
  if (!endpoint.database.empty()) options["schema"] = sql::SQLString(endpoint.database);
  if (endpoint.ssl_mode != mysql_ssl_mode::disabled) {
    // TLS or no connection (MYSQL_OPT_SSL_ENFORCE); the verify modes check the server's
    // certificate against the CA file and its name (MYSQL_OPT_SSL_VERIFY_SERVER_CERT).
    options["sslEnforce"] = true;
    if (!endpoint.ssl_ca.empty()) options["sslCA"] = sql::SQLString(endpoint.ssl_ca);
    options["sslVerify"] = endpoint.ssl_mode != mysql_ssl_mode::required;
  }
  options["OPT_RECONNECT"] = false;
  options["OPT_CONNECT_TIMEOUT"] = 5;
  conn_.reset(driver()->connect(options));
  statement_.reset(conn_->createStatement());
  conn_->setAutoCommit(true);
}

mysql_connection::~mysql_connection() {
  if (in_transaction_) rollback();
  statement_.reset();
  try {
    if (conn_) conn_->close();
  } catch (const sql::SQLException&) {
  }
}

void mysql_connection::execute(const std::string& sql) { statement_->execute(sql); }

std::unique_ptr<sql::ResultSet> mysql_connection::query(const std::string& sql) {
  return std::unique_ptr<sql::ResultSet>(statement_->executeQuery(sql));
}

int64_t mysql_connection::query_int(const std::string& sql, int64_t fallback) {
  auto rs = query(sql);
  if (!rs->next() || rs->isNull(1)) return fallback;
  return rs->getInt64(1);
}

std::unique_ptr<sql::PreparedStatement> mysql_connection::prepare(const std::string& sql) {
  return std::unique_ptr<sql::PreparedStatement>(conn_->prepareStatement(sql));
}

void mysql_connection::use(const std::string& database) { conn_->setSchema(database); }

void mysql_connection::set_autocommit(bool on) {
  if (on == autocommit_) return;
  conn_->setAutoCommit(on);
  autocommit_ = on;
}

void mysql_connection::begin() {
  set_autocommit(false);
  in_transaction_ = true;
}

void mysql_connection::commit() {
  conn_->commit();
  in_transaction_ = false;
}

void mysql_connection::rollback() noexcept {
  in_transaction_ = false;
  try {
    conn_->rollback();
  } catch (const sql::SQLException&) {
    // The connection is gone; the server rolls back on its own.
  }
}

bool is_transient(const sql::SQLException& e) {
  return e.getErrorCode() == mysql_error::deadlock || e.getErrorCode() == mysql_error::lock_wait_timeout;
}

bool is_connection_error(const sql::SQLException& e) {
  int code = e.getErrorCode();
  return code == mysql_error::server_gone || code == mysql_error::server_lost || code == mysql_error::cannot_connect ||
         (code >= 2000 && code < 2100);
}

std::string quote_identifier(std::string_view name) {
  std::string s = "`";
  for (char c : name) {
    if (c == '`') s += '`';
    s += c;
  }
  s += '`';
  return s;
}

}  // namespace txengine::persistence
