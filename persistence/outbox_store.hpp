#pragma once
// The outbox port (ports/outbox.hpp) over MySQL: the outbox_t tables of every shard database,
// read and marked by the publisher, each thread with its own connection.
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "ports/outbox.hpp"
#include "ports/storage_config.hpp"

namespace txengine::persistence {

//! A cluster node's share of the outbox (docs/cluster.md, "Publication in a cluster"): the rows
//! whose home wallet is in a partition it holds now. `held` is called at every read.
struct outbox_share {
  uint32_t partitions = 0;  //!< the deployment's partition count; 0: every row (one node)
  std::function<std::vector<uint32_t>()> held;
};

//! The outbox tables of `config`'s layout on its MySQL server (of them, `share`'s rows). Throws
//! std::invalid_argument (a bad URI) or std::runtime_error (an invalid layout); connects only on
//! connect().
std::shared_ptr<const outbox_connector> mysql_outbox(const storage_config& config, outbox_share share = {});

}  // namespace txengine::persistence
