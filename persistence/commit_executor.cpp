#include "persistence/commit_executor.hpp"

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <future>
#include <utility>

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "ports/clock.hpp"
#include "core/check.hpp"
#include "persistence/lease_store.hpp"
#include "persistence/split_commit.hpp"

namespace txengine::persistence {

namespace {
//! Thrown inside run_split when the fence refuses, to leave the wallet side's statements.
struct fence_refused {};
}  // namespace

commit_executor::commit_executor(storage_link* link, shard_layout layout, mysql_endpoint endpoint,
                                 std::function<void()> on_done)
    : link_(link),
      layout_(std::move(layout)),
      endpoint_(std::move(endpoint)),
      on_done_(std::move(on_done)),
      profile_(std::getenv("TXENGINE_WRITER_PROFILE") != nullptr) {}

commit_executor::~commit_executor() { stop(); }

void commit_executor::start(commit_job& job) {
  if (!thread_.joinable()) thread_ = std::thread([this] { main(); });
  {
    std::lock_guard<std::mutex> guard(mutex_);
    TX_CHECK(job_ == nullptr && job_done_);
    job_ = &job;
    job_done_ = false;
    job_committed_ = false;
  }
  cv_.notify_all();
}

bool commit_executor::finished(bool& committed) {
  std::lock_guard<std::mutex> guard(mutex_);
  committed = job_committed_;
  return job_done_;
}

void commit_executor::wait() {
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [this] { return job_done_; });
}

void commit_executor::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    quit_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void commit_executor::main() {
  mysql_thread_scope scope;
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    cv_.wait(lock, [this] { return quit_ || job_ != nullptr; });
    if (job_ == nullptr) break;
    commit_job* job = job_;
    lock.unlock();
    bool committed = execute(*job);
    lock.lock();
    job_committed_ = committed;
    job_done_ = true;
    job_ = nullptr;
    cv_.notify_all();
    on_done_();
  }
  conn_.reset();
  conn_b_.reset();
}

bool commit_executor::execute(commit_job& f) {
  int64_t backoff_ms = 5;
  for (uint32_t attempt = 1;; ++attempt) {
    if (link_->stopping.load()) return false;  // the engine is going away: as if it had crashed now
    if (link_->fenced()) return false;          // another node owns what this one held: nothing more commits
    try {
      if (!conn_) {
        conn_ = std::make_unique<bulk_connection>(endpoint_);
        prepare_connection(*conn_);
      }
      if (!unsettled_xid_.empty()) {
        // A branch from a failed attempt (or this batch's, its decision's commit unanswered).
        conn_b_.reset();  // a branch prepared by a live session cannot be settled by another
        branch_settlement settled = settle_branch(*conn_, layout_, unsettled_xid_);
        if (settled == branch_settlement::decided_busy || settled == branch_settlement::undecided_left) {
          // The server has not yet seen the branch's session end: settled at the next attempt.
          std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));  // own thread
          backoff_ms = std::min<int64_t>(backoff_ms * 2, 1000);
          continue;
        }
        bool this_batch = unsettled_is_current_;
        unsettled_xid_.clear();
        if (settled == branch_settlement::committed && this_batch) break;  // the decision was committed: so is the batch
      }
      if (!f.order_side.empty()) {
        if (!run_split(f, attempt)) return false;
      } else if (!f.wallet_side.empty() || !decisions_done_.empty()) {
        run_statements(*conn_, f.wallet_side, attempt);
        if (!fence_holds(f)) {
          conn_->rollback();
          return false;
        }
        delete_done_decisions();
        auto t0 = clock::now();
        conn_->commit();
        decisions_done_.clear();
        add_profile("(commit)", t0);
      }
      break;
    } catch (const sql::SQLException& e) {
      link_->commit_failures.fetch_add(1);
      if (!is_transient(e)) link_->storage_down.store(true);  // a deadlock is not an outage
      if (conn_) conn_->rollback();
      if (!is_transient(e)) conn_.reset();  // reconnect: the same batch is idempotent
      if (attempt == 1 || attempt % 20 == 0)
        spdlog::error("storage writer: batch of {} rows not committed (attempt {}): {} ({})", f.rows_received, attempt,
                      e.what(), e.getErrorCode());
      std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));  // own thread
      backoff_ms = std::min<int64_t>(backoff_ms * 2, 1000);
    }
  }
  link_->storage_down.store(false);
  return true;
}

void commit_executor::add_profile(const char* family, clock::time_point since, size_t rows) {
  if (!profile_) return;
  std::lock_guard<std::mutex> guard(profile_mutex_);
  profile_us_[family] += std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - since).count();
  profile_rows_[family] += static_cast<int64_t>(rows);
}

void commit_executor::log_profile(uint64_t batches) {
  std::lock_guard<std::mutex> guard(profile_mutex_);
  for (const auto& [family, us] : profile_us_) {
    int64_t rows = profile_rows_[family];
    spdlog::info("storage writer: {} statements: {:.1f} ms, {} rows ({:.1f} us/row) in {} batches", family, us / 1e3,
                 rows, rows > 0 ? static_cast<double>(us) / static_cast<double>(rows) : 0.0, batches);
  }
}

void commit_executor::run_statements(bulk_connection& c, const std::vector<table_statement>& list, uint32_t attempt) {
  for (const table_statement& statement : list) {
    auto t0 = clock::now();
    c.execute_bulk(statement.sql, statement.rows);
    add_profile(statement.family.c_str(), t0, attempt == 1 ? statement.rows.size() : 0);
  }
}

void commit_executor::delete_done_decisions() {
  if (decisions_done_.empty()) return;
  std::string list;
  for (const auto& xid : decisions_done_) list += (list.empty() ? "'" : ",'") + xid + "'";
  conn_->execute("DELETE FROM " + xa_decisions_table(layout_) + " WHERE xid IN (" + list + ")");
}

void commit_executor::prepare_connection(bulk_connection& c) {
  if (!link_->ownership) return;
  // A process paused inside a commit (SIGSTOP, a stall) would hold its lease rows' shared locks
  // for ever and block the takeover: the server cuts a transaction idle this long (below the
  // ttl, within the takeover's lock wait), and the paused commit fails when it wakes up.
  const int64_t ttl_ms = link_->ownership->lease_ttl_ms();
  c.execute("SET SESSION idle_transaction_timeout = " + std::to_string(std::max<int64_t>(1, ttl_ms / 2000)));
}

bool commit_executor::fence_holds(const commit_job& job) {
  partition_ownership* ownership = link_->ownership.get();
  if (ownership == nullptr || job.partitions.empty()) return true;
  auto t0 = clock::now();
  std::vector<std::pair<uint32_t, uint64_t>> pairs;
  pairs.reserve(job.partitions.size());
  for (uint32_t p : job.partitions) {
    uint64_t epoch = ownership->epoch(p);
    if (epoch == 0) {
      ownership->fence("the writer has rows of partition " + std::to_string(p) +
                       ", which this node does not hold (any more)");
      return false;
    }
    pairs.emplace_back(p, epoch);
  }
  size_t found = conn_->query_rows(lease_store::fence_sql(layout_, ownership->self(), pairs), pairs.size() + 1).size();
  add_profile("(fence)", t0, 0);
  if (found == pairs.size()) return true;
  ownership->fence("the fence refused a batch of " + std::to_string(job.rows_received) + " rows: " +
                   std::to_string(pairs.size() - found) + " of its " + std::to_string(pairs.size()) +
                   " partitions are no longer this node's at the epochs it held (another node took them)");
  return false;
}

bool commit_executor::run_split(commit_job& job, uint32_t attempt) {
  const std::vector<table_statement>& wallet_side = job.wallet_side;
  const std::vector<table_statement>& order_side = job.order_side;
  if (!conn_b_) {
    conn_b_ = std::make_unique<bulk_connection>(endpoint_);
    prepare_connection(*conn_b_);
  }
  if (branch_prefix_.empty()) {
    branch_prefix_ = xa_branch_prefix(link_->config.prefix, link_->config.xa_node);
    branch_nonce_ = (static_cast<uint64_t>(wall_clock_ms()) << 20) ^ static_cast<uint64_t>(::getpid());
  }
  const std::string xid = xa_branch_id(branch_prefix_, branch_nonce_, ++branch_seq_);
  bulk_connection& branch = *conn_b_;
  auto prepared = std::async(std::launch::async, [&] {
    branch.execute("XA START '" + xid + "'");
    run_statements(branch, order_side, attempt);
    branch.execute("XA END '" + xid + "'");
    branch.execute("XA PREPARE '" + xid + "'");
  });
  std::exception_ptr wallet_error;
  bool fenced = false;
  try {
    run_statements(*conn_, wallet_side, attempt);
    fenced = !fence_holds(job);
    if (fenced) throw fence_refused();
    conn_->execute("INSERT INTO " + xa_decisions_table(layout_) + " (xid, created_ms) VALUES ('" + xid + "'," +
                   std::to_string(wall_clock_ms()) + ")");
    delete_done_decisions();
  } catch (...) {
    wallet_error = std::current_exception();
  }
  try {
    prepared.get();
  } catch (...) {
    unsettled_xid_ = xid;  // maybe prepared: settled (rolled back, no decision) next attempt
    unsettled_is_current_ = false;
    conn_b_.reset();
    throw;
  }
  if (fenced) {
    // No decision: the prepared branch is rolled back here and now (nothing of the batch commits).
    // By its own session (another cannot while this one lives); else by the node that settles
    // this one's branches (at its restart, or the new owner of its partitions).
    conn_->rollback();
    try {
      branch.execute("XA ROLLBACK '" + xid + "'");
    } catch (const sql::SQLException& e) {
      spdlog::warn("storage writer: fenced: branch {} not rolled back now ({}): settled later", xid, e.what());
    }
    conn_b_.reset();
    return false;
  }
  if (wallet_error) {
    unsettled_xid_ = xid;  // prepared, no decision committed: rolled back next attempt
    unsettled_is_current_ = false;
    std::rethrow_exception(wallet_error);
  }
  unsettled_xid_ = xid;  // from here the decision may be committed even if the answer is lost
  unsettled_is_current_ = true;
  auto t0 = clock::now();
  conn_->commit();
  decisions_done_.clear();
  branch.execute("XA COMMIT '" + xid + "'");
  unsettled_xid_.clear();
  if (decisions_done_.size() < decisions_done_max) decisions_done_.push_back(xid);
  add_profile("(commit)", t0);
  return true;
}

}  // namespace txengine::persistence
