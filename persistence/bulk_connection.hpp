#pragma once
// The storage writer's connection: MariaDB Connector/C (libmariadb) directly, for array-bound
// prepared statements. One execution sends a whole column array per parameter and the server
// inserts the rows without parsing SQL text per row (COM_STMT_BULK_EXECUTE). Measured on the
// 2-vCPU machine (docs/benchmarks.md): a fund-movement row costs the server about 7.5 us this
// way against about 12 us in a 1,000-row multi-row INSERT, and the writer half the CPU to
// build it. Connector/C++ 1.1 (mysql_connection.hpp) has no array binding. No CAF here.
//
// Errors throw sql::SQLException (the same type as mysql_connection), so callers classify
// them with is_transient() / is_connection_error().
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "persistence/mysql_connection.hpp"
#include "persistence/shard_layout.hpp"

struct st_mysql;
struct st_mysql_stmt;

namespace txengine::persistence {

//! The type of one statement parameter.
enum class column_kind : uint8_t { int64, uint64, bytes };

//! Rows for one array-bound statement, stored column by column (the layout the client library
//! sends). Rows are appended value by value in parameter order: `rows.u(id).i(amount).end_row()`.
class bulk_rows {
 public:
  explicit bulk_rows(std::vector<column_kind> kinds);
  bulk_rows& i(int64_t v);
  bulk_rows& u(uint64_t v);
  bulk_rows& b(std::string v);
  //! Checks that every parameter of the row was given.
  void end_row();
  size_t size() const { return rows_; }
  bool empty() const { return rows_ == 0; }
  const std::vector<column_kind>& kinds() const { return kinds_; }
  //! Column `c` as 64-bit integers (int64 and uint64 columns).
  const std::vector<uint64_t>& integers(size_t c) const { return integers_[c]; }
  //! Column `c` as byte strings (bytes columns).
  const std::vector<std::string>& strings(size_t c) const { return strings_[c]; }
  //! Bytes of the byte-string values of rows [from, to), for chunking under the packet limit.
  size_t bytes_between(size_t from, size_t to) const;

 private:
  void next(column_kind kind);
  std::vector<column_kind> kinds_;
  std::vector<std::vector<uint64_t>> integers_;
  std::vector<std::vector<std::string>> strings_;
  size_t column_ = 0;
  size_t rows_ = 0;
};

//! One array-bound statement for one shard table.
//! Which connection of a two-connection commit (persistence/split_commit.hpp) runs a statement.
enum class commit_side : uint8_t { wallet, order };

struct table_statement {
  std::string family;  //!< the table family ("fund_movements"), for profiles and logs
  std::string sql;
  bulk_rows rows;
  commit_side side = commit_side::wallet;
};

//! Statements of one shape, one per shard table they touch. `sql` names the table `{table}`
//! and has one `?` per column of `kinds`.
class table_statements {
 public:
  table_statements(std::string family, std::string sql, std::vector<column_kind> kinds,
                   commit_side side = commit_side::wallet);
  //! The rows of `table` (qualified name, as shard_layout gives it).
  bulk_rows& rows_for(const std::string& table);
  //! The rows of the table of family `base` that holds `key` (layout.table_for(base, key)),
  //! without building the table's name again for every row of a shard already seen.
  bulk_rows& rows_for(const shard_layout& layout, std::string_view base, uint64_t key);
  //! Moves the statements with rows to `out`; returns their row count.
  size_t emit(std::vector<table_statement>& out);

 private:
  std::string family_;
  std::string sql_;
  std::vector<column_kind> kinds_;
  commit_side side_;
  std::vector<std::pair<std::string, bulk_rows>> by_table_;  //!< few tables: a linear search
  std::unordered_map<uint64_t, size_t> by_shard_;             //!< (database, table index) -> by_table_
};

//! One row of a streamed result (bulk_connection::stream_rows), valid during the callback.
//! Columns count from 0. A value that is not the integer asked for throws sql::SQLException.
class row_view {
 public:
  row_view(char** values, const unsigned long* lengths, unsigned int columns)
      : values_(values), lengths_(lengths), columns_(columns) {}
  unsigned int columns() const { return columns_; }
  bool is_null(unsigned int c) const { return values_[c] == nullptr; }
  std::string_view text(unsigned int c) const {
    return values_[c] == nullptr ? std::string_view() : std::string_view(values_[c], lengths_[c]);
  }
  int64_t i(unsigned int c) const;   //!< NULL reads as 0
  uint64_t u(unsigned int c) const;  //!< NULL reads as 0

 private:
  char** values_;
  const unsigned long* lengths_;
  unsigned int columns_;
};

//! One connection with explicit transactions, text statements and array-bound statements.
class bulk_connection {
 public:
  //! Rows per execution at most, and bytes of string values per execution at most (well under
  //! the server's default max_allowed_packet of 16 MiB); larger row sets run in chunks.
  static constexpr size_t rows_per_execution_max = 4096;
  static constexpr size_t bytes_per_execution_max = size_t{4} << 20;
  //! Prepared statements kept per connection (one per table and statement shape); past it
  //! the cache is emptied (the server's max_prepared_stmt_count is a shared limit).
  static constexpr size_t prepared_statements_max = 1024;

  //! How long a statement's answer may take before the connection counts as lost: the engine's
  //! (a server that stops answering must become an error the writer retries), and the audit's
  //! (one statement over a whole shard table of a long run takes minutes on a busy machine).
  static constexpr unsigned int io_timeout_s = 60;
  static constexpr unsigned int audit_io_timeout_s = 3600;

  explicit bulk_connection(const mysql_endpoint& endpoint, unsigned int io_timeout_seconds = io_timeout_s);
  ~bulk_connection();
  bulk_connection(const bulk_connection&) = delete;
  bulk_connection& operator=(const bulk_connection&) = delete;

  void execute(const std::string& sql);
  //! Every row of a result, each column as text ("" for NULL); at most `rows_max` rows.
  std::vector<std::vector<std::string>> query_rows(const std::string& sql, size_t rows_max);
  //! First column of the first row as an integer (`fallback` when there is none or it is NULL).
  int64_t query_int(const std::string& sql, int64_t fallback = 0);
  //! Runs a statement that changes rows; returns how many it changed.
  uint64_t execute_affected(const std::string& sql);
  //! Runs `sql` and hands each row to `on_row` as it arrives from the server (the result is
  //! never held in memory, so a scan of tens of millions of rows costs no memory). `on_row`
  //! must not use this connection and should be quick: the server waits while it runs. Returns
  //! the number of rows.
  uint64_t stream_rows(const std::string& sql, const std::function<void(const row_view&)>& on_row);
  //! Runs `sql` (with one `?` per column of `rows`) once per row, as array executions.
  //! Returns the affected-row count the server reports.
  uint64_t execute_bulk(const std::string& sql, const bulk_rows& rows);
  //! Autocommit is off (unless set_autocommit(true)): every statement runs in a transaction that
  //! commit() or rollback() ends.
  void commit();
  void rollback() noexcept;
  //! On for statements that must run outside any transaction (MariaDB refuses XA COMMIT and
  //! XA ROLLBACK of another session's branch with XAER_OUTSIDE while autocommit is off).
  void set_autocommit(bool on);
  //! False when the server does not take array executions (not MariaDB 10.2+): execute_bulk()
  //! then executes row by row, correct and slow.
  bool bulk_supported() const { return bulk_supported_; }

 private:
  [[noreturn]] void fail_connection(const char* what);
  [[noreturn]] void fail_statement(st_mysql_stmt* stmt, const char* what);
  st_mysql_stmt* prepared(const std::string& sql);
  void drop_statements() noexcept;

  st_mysql* mysql_ = nullptr;
  bool bulk_supported_ = false;
  std::unordered_map<std::string, st_mysql_stmt*> statements_;
};

}  // namespace txengine::persistence
