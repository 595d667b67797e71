#pragma once
// The writer's commit executor (docs/durability-design.md): runs one batch's statements at a
// time on a thread of its own, so the writer gathers the next batch meanwhile. It retries
// (reconnecting, with backoff) until the batch commits or the engine stops, and with
// storage_config::split_commit runs the order side as a prepared XA branch on a second
// connection beside the wallet side, atomic through a decision row (split_commit.hpp).
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ports/storage_link.hpp"
#include "persistence/bulk_connection.hpp"
#include "persistence/mysql_connection.hpp"
#include "persistence/shard_layout.hpp"

namespace txengine::persistence {

//! A batch's statements as the executor runs them (the writer keeps the job until it is done).
struct commit_job {
  std::vector<table_statement> wallet_side;
  std::vector<table_statement> order_side;  //!< empty without split_commit
  int64_t rows_received = 0;                //!< for the logs
  //! A cluster node's batch: the partitions its rows belong to (sorted, unique). The executor
  //! checks this node's epochs of them in the wallet side's transaction (the fence).
  std::vector<uint32_t> partitions;
};

class commit_executor {
 public:
  using clock = std::chrono::steady_clock;

  //! `on_done` runs on the executor's thread after each job (the writer sends itself a notice).
  commit_executor(storage_link* link, shard_layout layout, mysql_endpoint endpoint, std::function<void()> on_done);
  ~commit_executor();
  commit_executor(const commit_executor&) = delete;
  commit_executor& operator=(const commit_executor&) = delete;

  //! Hands a job to the thread (started on the first one); one at a time: the previous one
  //! must be done. The job must live until it is done.
  void start(commit_job& job);
  //! True once the job handed last is done; `committed` then says whether it committed (false:
  //! the engine stopped first, or the node was fenced).
  bool finished(bool& committed);
  //! Waits until the job handed last is done.
  void wait();
  //! Ends the thread (after the job it runs, if any) and closes the connections.
  void stop();

  //! TXENGINE_WRITER_PROFILE=1: time (and rows, counted once per batch) per statement family.
  bool profiling() const { return profile_; }
  void add_profile(const char* family, clock::time_point since, size_t rows = 0);
  //! The profile as log lines, at the writer's stop.
  void log_profile(uint64_t batches);

 private:
  void main();
  //! Runs a batch's statements; retries (reconnecting) until they commit (true) or the engine
  //! stops (false). On the executor's thread: touches only the connections and their XA state.
  bool execute(commit_job& job);
  void run_statements(bulk_connection& c, const std::vector<table_statement>& list, uint32_t attempt);
  void delete_done_decisions();
  //! The cluster fence (docs/cluster.md), in the wallet side's open transaction: true when this
  //! node holds every partition of the job at the epoch it knows, the lease rows then locked
  //! (shared) until the commit. False (the node fenced, the reason given to it): roll back.
  bool fence_holds(const commit_job& job);
  //! Per-connection settings of a cluster node's writer (the idle-transaction timeout).
  void prepare_connection(bulk_connection& c);
  //! The order side as a branch on `conn_b_` (its own thread) while the wallet side runs here;
  //! then the decision commits with the wallet side, then the branch. Throws on any failure,
  //! leaving `unsettled_xid_` for the next attempt to settle.
  //! False when the fence refused the batch (nothing of it is committed; the node is fenced).
  bool run_split(commit_job& job, uint32_t attempt);

  storage_link* link_;
  shard_layout layout_;
  mysql_endpoint endpoint_;
  std::function<void()> on_done_;

  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  commit_job* job_ = nullptr;   //!< guarded by mutex_: the job to run
  bool job_done_ = true;        //!< guarded by mutex_
  bool job_committed_ = false;  //!< guarded by mutex_
  bool quit_ = false;           //!< guarded by mutex_

  // -- the executor's thread only
  std::unique_ptr<bulk_connection> conn_;
  // Two connections, one decision (split_commit.hpp).
  std::unique_ptr<bulk_connection> conn_b_;  //!< the order side's XA branches
  std::string branch_prefix_;
  uint64_t branch_nonce_ = 0;
  uint64_t branch_seq_ = 0;
  //! A branch whose fate a failed attempt left open: settled (by its decision row) before the
  //! next attempt. `unsettled_is_current_`: it is this batch's, and its decision may be committed.
  std::string unsettled_xid_;
  bool unsettled_is_current_ = false;
  //! Decisions whose branches are committed: deleted in the next batch's transaction.
  std::vector<std::string> decisions_done_;
  static constexpr size_t decisions_done_max = 4096;

  bool profile_;
  std::mutex profile_mutex_;  //!< the order side's thread and the writer add to the profile too
  std::map<std::string, int64_t> profile_us_;
  std::map<std::string, int64_t> profile_rows_;
};

}  // namespace txengine::persistence
