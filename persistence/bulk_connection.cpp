#include "persistence/bulk_connection.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>

#include <mariadb/mysql.h>

#include "core/check.hpp"

namespace txengine::persistence {

// -- bulk_rows ---------------------------------------------------------------------------

bulk_rows::bulk_rows(std::vector<column_kind> kinds)
    : kinds_(std::move(kinds)), integers_(kinds_.size()), strings_(kinds_.size()) {
  TX_CHECK(!kinds_.empty());
}

void bulk_rows::next(column_kind kind) {
  TX_CHECK(column_ < kinds_.size());
  TX_CHECK(kinds_[column_] == kind);
}

bulk_rows& bulk_rows::i(int64_t v) {
  next(column_kind::int64);
  integers_[column_++].push_back(static_cast<uint64_t>(v));
  return *this;
}

bulk_rows& bulk_rows::u(uint64_t v) {
  next(column_kind::uint64);
  integers_[column_++].push_back(v);
  return *this;
}

bulk_rows& bulk_rows::b(std::string v) {
  next(column_kind::bytes);
  strings_[column_++].push_back(std::move(v));
  return *this;
}

void bulk_rows::end_row() {
  TX_CHECK(column_ == kinds_.size());
  column_ = 0;
  ++rows_;
}

size_t bulk_rows::bytes_between(size_t from, size_t to) const {
  size_t bytes = 0;
  for (size_t c = 0; c < kinds_.size(); ++c)
    if (kinds_[c] == column_kind::bytes)
      for (size_t r = from; r < to; ++r) bytes += strings_[c][r].size();
  return bytes;
}

// -- table_statements ------------------------------------------------------------------

table_statements::table_statements(std::string family, std::string sql, std::vector<column_kind> kinds,
                                   commit_side side)
    : family_(std::move(family)), sql_(std::move(sql)), kinds_(std::move(kinds)), side_(side) {
  TX_CHECK(sql_.find("{table}") != std::string::npos);
}

bulk_rows& table_statements::rows_for(const std::string& table) {
  for (auto& [name, rows] : by_table_)
    if (name == table) return rows;
  by_table_.emplace_back(table, bulk_rows(kinds_));
  return by_table_.back().second;
}

bulk_rows& table_statements::rows_for(const shard_layout& layout, std::string_view base, uint64_t key) {
  uint32_t d = layout.database_of(key);
  uint32_t t = layout.table_of(key);
  auto [slot, inserted] = by_shard_.try_emplace((static_cast<uint64_t>(d) << 32) | t, by_table_.size());
  if (inserted) {
    std::string table = layout.table_at(base, d, t);
    for (size_t i = 0; i < by_table_.size(); ++i)
      if (by_table_[i].first == table) slot->second = i;  // named by rows_for(table) before
    if (slot->second == by_table_.size()) by_table_.emplace_back(std::move(table), bulk_rows(kinds_));
  }
  return by_table_[slot->second].second;
}

size_t table_statements::emit(std::vector<table_statement>& out) {
  size_t total = 0;
  for (auto& [table, rows] : by_table_) {
    if (rows.empty()) continue;
    std::string sql = sql_;
    sql.replace(sql.find("{table}"), 7, table);
    total += rows.size();
    out.push_back(table_statement{family_, std::move(sql), std::move(rows), side_});
  }
  by_table_.clear();
  by_shard_.clear();
  return total;
}

// -- bulk_connection ---------------------------------------------------------------------

namespace {

// Connector/C reports its own errors (CR_*, 2000-2999) and the server's (ER_*) the same way.
sql::SQLException error_of(unsigned int code, const char* sqlstate, const char* message, const char* what) {
  return sql::SQLException(std::string(what) + ": " + message, sqlstate != nullptr ? sqlstate : "HY000",
                           static_cast<int>(code));
}

}  // namespace

bulk_connection::bulk_connection(const mysql_endpoint& endpoint, unsigned int io_timeout_seconds) {
  mysql_ = mysql_init(nullptr);
  if (mysql_ == nullptr) throw sql::SQLException("mysql_init: out of memory", "HY001", 2008);
  unsigned int connect_timeout_s = 5;
  // A server that stops answering mid-batch (not only one that closes the connection) must
  // turn into an error the writer retries, not a writer blocked forever.
  mysql_options(mysql_, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout_s);
  mysql_options(mysql_, MYSQL_OPT_READ_TIMEOUT, &io_timeout_seconds);
  mysql_options(mysql_, MYSQL_OPT_WRITE_TIMEOUT, &io_timeout_seconds);
  mysql_options(mysql_, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  const char* database = endpoint.database.empty() ? nullptr : endpoint.database.c_str();
  MYSQL* connected =
      endpoint.socket.empty()
          ? mysql_real_connect(mysql_, endpoint.host.c_str(), endpoint.user.c_str(), endpoint.password.c_str(),
                               database, endpoint.port, nullptr, 0)
          : mysql_real_connect(mysql_, nullptr, endpoint.user.c_str(), endpoint.password.c_str(), database, 0,
                               endpoint.socket.c_str(), 0);
  if (connected == nullptr) fail_connection("connect");
  if (mysql_autocommit(mysql_, 0) != 0) fail_connection("autocommit off");
  unsigned long server_flags = 0, extended_flags = 0;
  mariadb_get_infov(mysql_, MARIADB_CONNECTION_SERVER_CAPABILITIES, &server_flags);
  mariadb_get_infov(mysql_, MARIADB_CONNECTION_EXTENDED_SERVER_CAPABILITIES, &extended_flags);
  // As MARIADB_STMT_BULK_SUPPORTED does: a MariaDB server (no CLIENT_MYSQL flag) with bulk operations.
  bulk_supported_ = (server_flags & CLIENT_MYSQL) == 0 && (extended_flags & (MARIADB_CLIENT_STMT_BULK_OPERATIONS >> 32)) != 0;
}

bulk_connection::~bulk_connection() {
  drop_statements();
  if (mysql_ != nullptr) mysql_close(mysql_);
}

void bulk_connection::fail_connection(const char* what) {
  if (mysql_errno(mysql_) == 0) throw sql::SQLException(std::string(what) + ": failed", "HY000", 2000);
  throw error_of(mysql_errno(mysql_), mysql_sqlstate(mysql_), ::mysql_error(mysql_), what);
}

void bulk_connection::fail_statement(MYSQL_STMT* stmt, const char* what) {
  throw error_of(mysql_stmt_errno(stmt), mysql_stmt_sqlstate(stmt), mysql_stmt_error(stmt), what);
}

void bulk_connection::drop_statements() noexcept {
  for (auto& [sql, stmt] : statements_) mysql_stmt_close(stmt);
  statements_.clear();
}

void bulk_connection::execute(const std::string& sql) {
  if (mysql_real_query(mysql_, sql.data(), sql.size()) != 0) fail_connection("query");
  // Statements that return rows are not for this connection; drain one if it came.
  if (MYSQL_RES* result = mysql_store_result(mysql_)) mysql_free_result(result);
}

std::vector<std::vector<std::string>> bulk_connection::query_rows(const std::string& sql, size_t rows_max) {
  if (mysql_real_query(mysql_, sql.data(), sql.size()) != 0) fail_connection("query");
  std::vector<std::vector<std::string>> rows;
  MYSQL_RES* result = mysql_store_result(mysql_);
  if (result == nullptr) {
    if (mysql_errno(mysql_) != 0) fail_connection("query result");
    return rows;
  }
  unsigned int columns = mysql_num_fields(result);
  while (MYSQL_ROW row = mysql_fetch_row(result)) {
    if (rows.size() >= rows_max) break;
    unsigned long* lengths = mysql_fetch_lengths(result);
    std::vector<std::string>& out = rows.emplace_back();
    for (unsigned int c = 0; c < columns; ++c) out.emplace_back(row[c] != nullptr ? std::string(row[c], lengths[c]) : "");
  }
  mysql_free_result(result);
  return rows;
}

namespace {

template <class T>
T parse_column(const char* value, unsigned long length) {
  T out = 0;
  if (value == nullptr) return out;
  auto [end, ec] = std::from_chars(value, value + length, out);
  if (ec != std::errc() || end != value + length)
    throw sql::SQLException("not an integer column value: " + std::string(value, std::min<unsigned long>(length, 40)),
                            "22018", 1366);
  return out;
}

}  // namespace

int64_t row_view::i(unsigned int c) const { return parse_column<int64_t>(values_[c], lengths_[c]); }
uint64_t row_view::u(unsigned int c) const { return parse_column<uint64_t>(values_[c], lengths_[c]); }

uint64_t bulk_connection::stream_rows(const std::string& sql, const std::function<void(const row_view&)>& on_row) {
  if (mysql_real_query(mysql_, sql.data(), sql.size()) != 0) fail_connection("query");
  MYSQL_RES* result = mysql_use_result(mysql_);
  if (result == nullptr) {
    if (mysql_errno(mysql_) != 0) fail_connection("query result");
    return 0;
  }
  // The result must be read to its end (or freed) before the connection can be used again,
  // also when on_row throws.
  struct release {
    MYSQL_RES* r;
    ~release() { mysql_free_result(r); }
  } guard{result};
  unsigned int columns = mysql_num_fields(result);
  uint64_t rows = 0;
  while (MYSQL_ROW row = mysql_fetch_row(result)) {
    on_row(row_view(row, mysql_fetch_lengths(result), columns));
    ++rows;
  }
  if (mysql_errno(mysql_) != 0) fail_connection("query result");  // the stream broke off
  return rows;
}

uint64_t bulk_connection::execute_affected(const std::string& sql) {
  if (mysql_real_query(mysql_, sql.data(), sql.size()) != 0) fail_connection("statement");
  if (MYSQL_RES* result = mysql_store_result(mysql_)) mysql_free_result(result);
  my_ulonglong n = mysql_affected_rows(mysql_);
  return n == static_cast<my_ulonglong>(-1) ? 0 : static_cast<uint64_t>(n);
}

int64_t bulk_connection::query_int(const std::string& sql, int64_t fallback) {
  if (mysql_real_query(mysql_, sql.data(), sql.size()) != 0) fail_connection("query");
  MYSQL_RES* result = mysql_store_result(mysql_);
  if (result == nullptr) {
    if (mysql_errno(mysql_) != 0) fail_connection("query result");
    return fallback;
  }
  int64_t value = fallback;
  MYSQL_ROW row = mysql_fetch_row(result);
  if (row != nullptr && row[0] != nullptr) value = std::strtoll(row[0], nullptr, 10);
  mysql_free_result(result);
  return value;
}

void bulk_connection::commit() {
  if (mysql_commit(mysql_) != 0) fail_connection("commit");
}

void bulk_connection::set_autocommit(bool on) {
  if (mysql_autocommit(mysql_, on ? 1 : 0) != 0) fail_connection(on ? "autocommit on" : "autocommit off");
}

void bulk_connection::rollback() noexcept {
  // On a lost connection this fails; the server rolls the transaction back on its own.
  (void)mysql_rollback(mysql_);
}

MYSQL_STMT* bulk_connection::prepared(const std::string& sql) {
  if (auto found = statements_.find(sql); found != statements_.end()) return found->second;
  if (statements_.size() >= prepared_statements_max) drop_statements();
  MYSQL_STMT* stmt = mysql_stmt_init(mysql_);
  if (stmt == nullptr) fail_connection("statement");
  if (mysql_stmt_prepare(stmt, sql.data(), sql.size()) != 0) {
    sql::SQLException e = error_of(mysql_stmt_errno(stmt), mysql_stmt_sqlstate(stmt), mysql_stmt_error(stmt), "prepare");
    mysql_stmt_close(stmt);
    throw e;
  }
  statements_.emplace(sql, stmt);
  return stmt;
}

uint64_t bulk_connection::execute_bulk(const std::string& sql, const bulk_rows& rows) {
  if (rows.empty()) return 0;
  MYSQL_STMT* stmt = prepared(sql);
  const auto& kinds = rows.kinds();
  TX_CHECK(mysql_stmt_param_count(stmt) == kinds.size());
  std::vector<MYSQL_BIND> bind(kinds.size());
  std::vector<std::vector<char*>> pointers(kinds.size());
  std::vector<std::vector<unsigned long>> lengths(kinds.size());
  uint64_t affected = 0;
  // Chunks of at most rows_per_execution_max rows and bytes_per_execution_max string bytes
  // (one row always fits: request sizes are bounded far below it).
  size_t from = 0;
  while (from < rows.size()) {
    size_t to = from;
    size_t bytes = 0;
    while (to < rows.size() && to - from < (bulk_supported_ ? rows_per_execution_max : 1)) {
      size_t row_bytes = rows.bytes_between(to, to + 1);
      if (to > from && bytes + row_bytes > bytes_per_execution_max) break;
      bytes += row_bytes;
      ++to;
    }
    std::memset(bind.data(), 0, sizeof(MYSQL_BIND) * bind.size());
    for (size_t c = 0; c < kinds.size(); ++c) {
      MYSQL_BIND& b = bind[c];
      if (kinds[c] == column_kind::bytes) {
        const auto& values = rows.strings(c);
        pointers[c].clear();
        lengths[c].clear();
        for (size_t r = from; r < to; ++r) {
          pointers[c].push_back(const_cast<char*>(values[r].data()));
          lengths[c].push_back(static_cast<unsigned long>(values[r].size()));
        }
        b.buffer_type = MYSQL_TYPE_BLOB;  // binary: no character set conversion of request ids or payloads
        // Array execution: an array of pointers; one row: the value itself.
        b.buffer = bulk_supported_ ? static_cast<void*>(pointers[c].data()) : static_cast<void*>(pointers[c][0]);
        b.buffer_length = bulk_supported_ ? 0 : lengths[c][0];
        b.length = lengths[c].data();
      } else {
        b.buffer_type = MYSQL_TYPE_LONGLONG;
        b.buffer = const_cast<uint64_t*>(rows.integers(c).data() + from);
        b.is_unsigned = kinds[c] == column_kind::uint64;
      }
    }
    unsigned int array_size = bulk_supported_ ? static_cast<unsigned int>(to - from) : 0;
    if (mysql_stmt_attr_set(stmt, STMT_ATTR_ARRAY_SIZE, &array_size) != 0) fail_statement(stmt, "array size");
    if (mysql_stmt_bind_param(stmt, bind.data()) != 0) fail_statement(stmt, "bind");
    if (mysql_stmt_execute(stmt) != 0) fail_statement(stmt, "execute");
    my_ulonglong n = mysql_stmt_affected_rows(stmt);
    if (n != static_cast<my_ulonglong>(-1)) affected += n;
    from = to;
  }
  return affected;
}

}  // namespace txengine::persistence
