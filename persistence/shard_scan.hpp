#pragma once
// Work over every shard table of a layout, several shards at once: the audit and txaudit read
// tens of millions of rows, and one connection reading the shards one after another leaves the
// server's other cores idle. No CAF here: this runs on threads of its own, never on the actor
// scheduler.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "persistence/bulk_connection.hpp"
#include "persistence/mysql_connection.hpp"
#include "persistence/shard_layout.hpp"

namespace txengine::persistence {

//! (database, table) of every shard table, in layout order.
std::vector<std::pair<uint32_t, uint32_t>> shard_tables(const shard_layout& layout);

//! Connections to use for `units` pieces of work when `requested` were asked for (0: one per
//! core, at least 2); never more than there are units, at least 1.
size_t connections_for(size_t requested, size_t units);

//! Runs `fn(connection, unit)` once for each unit in [0, units) on connections_for(connections,
//! units) connections at once, each on a thread of its own with autocommit on. The first
//! exception stops the units not yet started and is rethrown once every thread has ended.
void for_each_unit(const mysql_endpoint& endpoint, size_t connections, size_t units,
                   const std::function<void(bulk_connection&, size_t unit)>& fn);

//! for_each_unit over the shard tables: `fn(connection, d, t, index)`, `index` into shard_tables().
void for_each_shard(const mysql_endpoint& endpoint, const shard_layout& layout, size_t connections,
                    const std::function<void(bulk_connection&, uint32_t d, uint32_t t, size_t index)>& fn);

}  // namespace txengine::persistence
