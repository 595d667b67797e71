#pragma once
// The schema as versioned SQL migrations (persistence/migrations/NNNN_name.sql, embedded at
// build time) and their idempotent application to every shard database.
//
// Rules: a migration file, once committed, never changes (its checksum is recorded and
// checked); a change is a new file with the next number. Every statement must be safe to run
// again (CREATE ... IF NOT EXISTS, ALTER ... ADD COLUMN IF NOT EXISTS), because MySQL commits
// each DDL statement on its own: a crash in the middle of a migration leaves it unrecorded and
// the next start runs it again. `{t}` in a statement is the table index; it runs once per
// table index the database holds.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "persistence/mysql_connection.hpp"
#include "persistence/shard_layout.hpp"

namespace txengine::persistence {

struct migration {
  uint32_t version = 0;
  std::string name;
  std::string sql;
  uint64_t checksum = 0;  //!< FNV-1a of the file
  //! The statements, comments removed, split at the `;` that ends a line.
  std::vector<std::string> statements() const;
};

//! Every embedded migration, by version.
const std::vector<migration>& migrations();
uint32_t latest_schema_version();

//! A database that does not match: created for another layout, or a recorded migration whose
//! checksum differs from the embedded file, or one newer than this build knows.
class schema_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct schema_report {
  uint32_t databases_created = 0;
  uint32_t migrations_applied = 0;  //!< (database, migration) pairs run now
  uint32_t tables = 0;              //!< shard tables the layout has (families x table indices)
  uint32_t version = 0;             //!< schema version of every database afterwards
};

//! Creates the databases of `layout` and applies the missing migrations, under a server-wide
//! named lock so concurrent starts do not race. Running it again changes nothing. Throws
//! schema_error or sql::SQLException. `up_to_version`: the migrations up to this one only (tests
//! of a migration against the schema before it).
schema_report apply_schema(mysql_connection& conn, const shard_layout& layout, uint32_t up_to_version = UINT32_MAX);

//! Drops every database of the layout (tests and benchmarks only).
void drop_schema(mysql_connection& conn, const shard_layout& layout);

//! Shard tables present on the server for the layout (information_schema).
uint32_t count_shard_tables(mysql_connection& conn, const shard_layout& layout);

}  // namespace txengine::persistence
