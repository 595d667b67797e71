#pragma once
// The outbox port (ports/outbox.hpp) over MySQL: the outbox_t tables of every shard database,
// read and marked by the publisher, each thread with its own connection.
#include <memory>

#include "ports/outbox.hpp"
#include "ports/storage_config.hpp"

namespace txengine::persistence {

//! The outbox tables of `config`'s layout on its MySQL server. Throws std::invalid_argument
//! (a bad URI) or std::runtime_error (an invalid layout); connects only on connect().
std::shared_ptr<const outbox_connector> mysql_outbox(const storage_config& config);

}  // namespace txengine::persistence
