#pragma once
// The outbox as the publisher sees it (issue 5, docs/kafka.md): the rows the writer commits
// with every final order, read back in event-id order, marked published once Kafka has them,
// and deleted after their retention. The publisher (publication/) uses this port only; the
// MySQL implementation is persistence/outbox_store.hpp, and node/ hands it over.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace txengine {

//! One unpublished outbox row.
struct outbox_event {
  uint64_t id = 0;  //!< the event id (= the order id)
  std::string topic;
  std::string key;
  std::string payload;
  int64_t created_ms = 0;  //!< when the writer built the final order's transaction
};

//! What every call of an outbox store throws when the store does not answer (connection lost,
//! server down, a statement refused): the caller drops the store and connects again later.
//! what() is the text for logs (it names the store), code() the store's own error code.
class outbox_error : public std::runtime_error {
 public:
  outbox_error(const std::string& text, int code) : std::runtime_error(text), code_(code) {}
  int code() const { return code_; }

 private:
  int code_ = 0;
};

//! One connection to the outbox, used by one thread. The outbox is split in tables (shards),
//! numbered 0..outbox_connector::tables()-1. Every call throws outbox_error on failure.
class outbox_store {
 public:
  virtual ~outbox_store() = default;

  //! Rows not yet published, in every table.
  virtual int64_t count_unpublished() = 0;
  //! Reads the first `known_count + rows` unpublished rows of `table` by event id and returns,
  //! in that order, at most `rows` of them whose id `known` does not claim (rows in flight are
  //! skipped, so one row is never produced twice at once).
  virtual std::vector<outbox_event> read_unpublished(uint32_t table, size_t known_count, size_t rows,
                                                     const std::function<bool(uint64_t)>& known) = 0;
  //! The oldest created_ms among the first `scan_rows` unpublished rows of each table (ids are
  //! time-ordered by order creation); 0 when there are none.
  virtual int64_t oldest_unpublished_created_ms(int64_t scan_rows) = 0;
  //! Marks these rows of `table` published at `now_ms` (those not already marked); returns how
  //! many it marked. Committed when it returns: marking again is harmless.
  virtual int64_t mark_published(uint32_t table, const std::vector<uint64_t>& ids, int64_t now_ms) = 0;
  //! Deletes published rows with published_ms < `cutoff_ms`, at most `rows_max` per table.
  virtual void delete_published_before(int64_t cutoff_ms, int64_t rows_max) = 0;
};

//! The client library's per-thread state, held by a thread for as long as it uses stores.
class outbox_thread_scope {
 public:
  virtual ~outbox_thread_scope() = default;
};

//! Where the outbox is: opens stores. Shared by the publisher's threads (const calls only).
class outbox_connector {
 public:
  virtual ~outbox_connector() = default;
  //! How many outbox tables there are.
  virtual uint32_t tables() const = 0;
  //! Enters the calling thread into the client library (before its first connect()).
  virtual std::unique_ptr<outbox_thread_scope> enter_thread() const = 0;
  //! A new connection; throws outbox_error when the store cannot be reached.
  virtual std::unique_ptr<outbox_store> connect() const = 0;
};

}  // namespace txengine
