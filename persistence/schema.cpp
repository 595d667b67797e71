#include "persistence/schema.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <utility>

namespace txengine::persistence {

namespace detail {
//! (file name, contents) of every persistence/migrations/*.sql, generated at build time.
const std::vector<std::pair<std::string, std::string>>& embedded_migrations();
}  // namespace detail

namespace {

constexpr const char* lock_name = "txengine_schema";
constexpr int lock_timeout_s = 120;

uint64_t fnv1a(const std::string& text) {
  uint64_t h = 14695981039346656037ull;
  for (char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

std::string hex(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
    s.replace(pos, from.size(), to);
  return s;
}

std::string sql_string(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'' || c == '\\') out += c;
    out += c;
  }
  return out + "'";
}

std::vector<migration> load() {
  std::vector<migration> out;
  for (const auto& [file, text] : detail::embedded_migrations()) {
    migration m;
    size_t digits = 0;
    while (digits < file.size() && file[digits] >= '0' && file[digits] <= '9') ++digits;
    if (digits == 0 || digits >= file.size() || file[digits] != '_')
      throw schema_error("migration file name must be NNNN_name.sql: " + file);
    m.version = static_cast<uint32_t>(std::stoul(file.substr(0, digits)));
    m.name = file.substr(digits + 1);
    if (m.name.size() > 4 && m.name.compare(m.name.size() - 4, 4, ".sql") == 0) m.name.resize(m.name.size() - 4);
    m.sql = text;
    m.checksum = fnv1a(text);
    out.push_back(std::move(m));
  }
  std::sort(out.begin(), out.end(), [](const migration& a, const migration& b) { return a.version < b.version; });
  for (size_t i = 0; i < out.size(); ++i)
    if (out[i].version != i + 1) throw schema_error("migration versions must be 1, 2, 3, ... without gaps");
  return out;
}

struct named_lock {
  mysql_connection& conn;
  explicit named_lock(mysql_connection& c) : conn(c) {
    if (conn.query_int(std::string("SELECT GET_LOCK('") + lock_name + "', " + std::to_string(lock_timeout_s) + ")") != 1)
      throw schema_error("could not take the schema lock within " + std::to_string(lock_timeout_s) + " s");
  }
  ~named_lock() {
    try {
      conn.query(std::string("SELECT RELEASE_LOCK('") + lock_name + "')");
    } catch (const sql::SQLException&) {
    }
  }
};

}  // namespace

std::vector<std::string> migration::statements() const {
  std::vector<std::string> out;
  std::string current;
  size_t pos = 0;
  while (pos < sql.size()) {
    size_t end = sql.find('\n', pos);
    if (end == std::string::npos) end = sql.size();
    std::string line = sql.substr(pos, end - pos);
    pos = end + 1;
    // Remove a `--` comment (the schema's statements hold no string literal with `--`).
    if (auto c = line.find("--"); c != std::string::npos) line.resize(c);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) line.pop_back();
    if (line.empty()) continue;
    bool ends = line.back() == ';';
    if (ends) line.pop_back();
    current += line;
    current += '\n';
    if (ends) {
      out.push_back(std::move(current));
      current.clear();
    }
  }
  if (current.find_first_not_of(" \t\n") != std::string::npos) out.push_back(std::move(current));
  return out;
}

const std::vector<migration>& migrations() {
  static const std::vector<migration> all = load();
  return all;
}

uint32_t latest_schema_version() { return migrations().empty() ? 0 : migrations().back().version; }

schema_report apply_schema(mysql_connection& conn, const shard_layout& layout, uint32_t up_to_version) {
  std::string why;
  if (!layout.valid(&why)) throw schema_error("invalid shard layout: " + why);
  schema_report report;
  report.version = std::min(latest_schema_version(), up_to_version);
  named_lock lock(conn);
  for (uint32_t d = 0; d < layout.databases; ++d) {
    const std::string db = quote_identifier(layout.database_name(d));
    const auto table_indices = layout.tables_in(d);
    report.tables += static_cast<uint32_t>(table_indices.size() * table_families().size());
    bool existed = conn.query_int("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = " +
                                  sql_string(layout.database_name(d))) > 0;
    conn.execute("CREATE DATABASE IF NOT EXISTS " + db + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin");
    if (!existed) ++report.databases_created;
    conn.execute("CREATE TABLE IF NOT EXISTS " + db +
                 ".shard_layout (id TINYINT UNSIGNED NOT NULL PRIMARY KEY, db_count INT UNSIGNED NOT NULL, "
                 "table_count INT UNSIGNED NOT NULL, database_index INT UNSIGNED NOT NULL) ENGINE=InnoDB");
    conn.execute("CREATE TABLE IF NOT EXISTS " + db +
                 ".schema_migrations (version INT UNSIGNED NOT NULL PRIMARY KEY, name VARCHAR(200) NOT NULL, "
                 "checksum CHAR(16) NOT NULL, applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP) ENGINE=InnoDB");
    conn.execute("INSERT IGNORE INTO " + db + ".shard_layout VALUES (1, " + std::to_string(layout.databases) + ", " +
                 std::to_string(layout.tables) + ", " + std::to_string(d) + ")");
    {
      auto rs = conn.query("SELECT db_count, table_count, database_index FROM " + db + ".shard_layout WHERE id = 1");
      if (!rs->next()) throw schema_error(db + ".shard_layout has no row");
      uint32_t dd = rs->getUInt(1), tt = rs->getUInt(2), index = rs->getUInt(3);
      if (dd != layout.databases || tt != layout.tables || index != d)
        throw schema_error("database " + db + " belongs to layout " + std::to_string(dd) + "x" + std::to_string(tt) +
                           " (index " + std::to_string(index) + "), not " + std::to_string(layout.databases) + "x" +
                           std::to_string(layout.tables) + " (index " + std::to_string(d) + ")");
    }
    std::map<uint32_t, std::string> applied;
    {
      auto rs = conn.query("SELECT version, checksum FROM " + db + ".schema_migrations");
      while (rs->next()) applied[rs->getUInt(1)] = std::string(rs->getString(2));
    }
    for (const auto& [version, checksum] : applied) {
      if (version > latest_schema_version())
        throw schema_error(db + " has schema version " + std::to_string(version) + ", newer than this build (" +
                           std::to_string(latest_schema_version()) + ")");
      if (checksum != hex(migrations()[version - 1].checksum))
        throw schema_error(db + ": migration " + std::to_string(version) +
                           " was applied from a different file (checksum); migrations must never change");
    }
    conn.use(layout.database_name(d));
    for (const migration& m : migrations()) {
      if (applied.count(m.version) || m.version > up_to_version) continue;
      for (uint32_t t : table_indices)
        for (const std::string& statement : m.statements())
          conn.execute(replace_all(statement, "{t}", std::to_string(t)));
      conn.execute("INSERT INTO " + db + ".schema_migrations (version, name, checksum) VALUES (" +
                   std::to_string(m.version) + ", " + sql_string(m.name) + ", '" + hex(m.checksum) + "')");
      ++report.migrations_applied;
    }
  }
  return report;
}

void drop_schema(mysql_connection& conn, const shard_layout& layout) {
  std::string why;
  if (!layout.valid(&why)) throw schema_error("invalid shard layout: " + why);
  for (uint32_t d = 0; d < layout.databases; ++d)
    conn.execute("DROP DATABASE IF EXISTS " + quote_identifier(layout.database_name(d)));
}

uint32_t count_shard_tables(mysql_connection& conn, const shard_layout& layout) {
  uint32_t n = 0;
  for (uint32_t d = 0; d < layout.databases; ++d)
    for (uint32_t t : layout.tables_in(d))
      for (const std::string& family : table_families())
        n += static_cast<uint32_t>(conn.query_int(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = " +
            sql_string(layout.database_name(d)) + " AND TABLE_NAME = " + sql_string(family + "_" + std::to_string(t))));
  return n;
}

}  // namespace txengine::persistence
