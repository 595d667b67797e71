#include "persistence/audit.hpp"

#include <algorithm>
#include <limits>
#include <utility>

#include "core/types.hpp"
#include "persistence/bulk_connection.hpp"
#include "persistence/shard_scan.hpp"
#include "persistence/wallet_state.hpp"

namespace txengine::persistence {

namespace {

using wide = __int128;  // sums of many int64 balances or deltas cannot overflow it

std::string i128(wide v) {
  if (v >= std::numeric_limits<int64_t>::min() && v <= std::numeric_limits<int64_t>::max())
    return std::to_string(static_cast<int64_t>(v));
  bool negative = v < 0;
  std::string digits;
  unsigned __int128 u = negative ? -static_cast<unsigned __int128>(v) : static_cast<unsigned __int128>(v);
  while (u > 0) {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(u % 10)));
    u /= 10;
  }
  return (negative ? "-" : "") + digits;
}

std::string triple(wide a, wide f, wide i) { return i128(a) + "/" + i128(f) + "/" + i128(i); }

//! A piece of the work: the wallets of one shard table with ids in [low, high], and (`whole`
//! once per table) the checks of its order rows.
struct audit_unit {
  uint32_t d = 0, t = 0;
  size_t table = 0;  //!< index in shard_tables()
  uint64_t low = 0, high = std::numeric_limits<uint64_t>::max();
  bool whole = true;
};

//! What one unit contributes to the report.
struct shard_result {
  audit_report r;
  std::map<std::string, wide> sums;
  //! (order, sum of its movements in this shard), sorted by order, zero sums left out.
  std::vector<std::pair<uint64_t, int64_t>> order_partials;
};

void problem(audit_report& r, const audit_options& o, std::string text) {
  r.ok = false;
  ++r.problem_count;
  if (r.problems.size() < o.max_problems) r.problems.push_back(std::move(text));
}

struct wallet_row {
  uint64_t id;
  int64_t available, frozen, incoming;
  uint64_t version;
};

//! The movements of one wallet as they stream by, in seq order.
struct journal {
  uint64_t wallet = 0;
  wide available = 0, frozen = 0, incoming = 0;
  uint64_t last_seq = 0;
  uint64_t count = 0;                                //!< sequence numbers stood for (a phase-4 row: 2)
  uint64_t rows = 0;                                 //!< movement rows
  std::vector<std::pair<uint64_t, uint8_t>> phases;  //!< (order, phase), for the duplicate check
};

enum phase : uint8_t { try_phase = 0, confirm_phase = 1, cancel_phase = 2, direct_phase = 3, try_confirm_phase = 4 };

class shard_auditor {
 public:
  shard_auditor(bulk_connection& c, const shard_layout& layout, const audit_unit& unit, const audit_options& o,
                shard_result& out)
      : c_(c), layout_(layout), d_(unit.d), t_(unit.t), o_(o), out_(out), r_(out.r) {
    wallets_table_ = layout.table_at("wallets", d_, t_);
    movements_table_ = layout.table_at("fund_movements", d_, t_);
    where_ = layout.database_name(d_) + " table " + std::to_string(t_);
    range_ = " BETWEEN " + std::to_string(unit.low) + " AND " + std::to_string(unit.high);
    whole_ = unit.whole;
    table_ = unit.table;
  }

  void run() {
    read_effective_wallets();
    check_checkpoints();
    scan_movements();
    if (!whole_) return;
    check_side_tables();
  }

 private:
  // The wallet rows are checkpoints (persistence/wallet_state.hpp): sums and journal checks are
  // over the effective state, and the checkpoint itself is checked against its movement.
  void read_effective_wallets() {
    namespace col = effective_column;  // 1-based
    c_.stream_rows(effective_wallets_where_sql(wallets_table_, movements_table_, "c.id" + range_), [&](const row_view& row) {
      wallet_row w{row.u(col::id - 1), row.i(col::available - 1), row.i(col::frozen - 1), row.i(col::incoming - 1),
                   row.u(col::version - 1)};
      out_.sums[std::string(row.text(col::currency - 1))] += wide(w.available) + w.frozen + w.incoming;
      wallets_.push_back(w);
    });
    std::sort(wallets_.begin(), wallets_.end(), [](const wallet_row& a, const wallet_row& b) { return a.id < b.id; });
    r_.wallets += wallets_.size();
  }

  //! A row at version v > 0 holds the balances after movement v; at version 0, none. One index
  //! dive per wallet whose row disagrees (the server filters).
  void check_checkpoints() {
    c_.stream_rows(
        "SELECT w.id, w.version, w.available, w.frozen, w.incoming, c.seq IS NOT NULL, "
        "COALESCE(c.available_after, 0), COALESCE(c.frozen_after, 0), COALESCE(c.incoming_after, 0) FROM " +
            wallets_table_ + " w LEFT JOIN " + movements_table_ +
            " c ON c.wallet_id = w.id AND c.seq = w.version WHERE (w.version = 0 AND (w.available <> 0 OR w.frozen <> "
            "0 OR w.incoming <> 0)) OR (w.version > 0 AND (c.seq IS NULL OR c.available_after <> w.available OR "
            "c.frozen_after <> w.frozen OR c.incoming_after <> w.incoming)) AND w.id" + range_,
        [&](const row_view& row) {
          std::string text = where_ + ": wallet " + std::to_string(row.u(0)) + " row (checkpoint) at version " +
                             std::to_string(row.u(1)) + " holds " + triple(row.i(2), row.i(3), row.i(4));
          if (row.u(1) == 0)
            text += ", not 0/0/0";
          else if (row.i(5) == 0)
            text += ", but the wallet has no movement with that seq";
          else
            text += ", its movement says " + triple(row.i(6), row.i(7), row.i(8));
          problem(r_, o_, std::move(text));
        });
  }

  //! One pass over the shard's movements in primary-key order (wallet, seq).
  void scan_movements() {
    journal j;
    uint64_t shard_rows = c_.stream_rows(
        "SELECT wallet_id, seq, phase, d_available, d_frozen, d_incoming, available_after, frozen_after, "
        "incoming_after, order_id FROM " +
            movements_table_ + " WHERE wallet_id" + range_ + " ORDER BY wallet_id, seq",
        [&](const row_view& row) {
          uint64_t wallet = row.u(0);
          if (j.rows == 0 || wallet != j.wallet) {
            if (j.rows > 0) finish(j);
            j = journal{};
            j.wallet = wallet;
          }
          uint64_t seq = row.u(1);
          auto ph = static_cast<uint8_t>(row.u(2));
          int64_t da = row.i(3), df = row.i(4), di = row.i(5);
          j.available += da;
          j.frozen += df;
          j.incoming += di;
          if (row.i(6) != j.available || row.i(7) != j.frozen || row.i(8) != j.incoming)
            problem(r_, o_,
                    where_ + ": movement " + std::to_string(wallet) + "#" + std::to_string(seq) +
                        " resulting balances differ from the running sum");
          j.last_seq = seq;
          j.count += ph == try_confirm_phase ? 2 : 1;
          ++j.rows;
          uint64_t order = row.u(9);
          j.phases.emplace_back(order, ph);
          if (o_.orders_zero_sum) {
            wide sum = wide(da) + df + di;
            if (sum != 0) out_.order_partials.emplace_back(order, static_cast<int64_t>(sum));
          }
        });
    if (j.rows > 0) finish(j);
    // Wallets after the last one with movements.
    for (; next_wallet_ < wallets_.size(); ++next_wallet_) check_without_movements(wallets_[next_wallet_]);
    r_.movements += shard_rows;
    r_.orphan_movements += orphans_;
    if (orphans_ > 0) problem(r_, o_, where_ + ": " + std::to_string(orphans_) + " movements of no wallet");
    collapse_order_partials();
  }

  void finish(journal& j) {
    while (next_wallet_ < wallets_.size() && wallets_[next_wallet_].id < j.wallet)
      check_without_movements(wallets_[next_wallet_++]);
    if (next_wallet_ == wallets_.size() || wallets_[next_wallet_].id != j.wallet) {
      orphans_ += j.rows;
    } else {
      const wallet_row& w = wallets_[next_wallet_++];
      // The effective balances are the sum of the journal, the effective version its last seq,
      // and the seqs have no gap (last seq = count; a phase-4 row stands for two).
      if (w.available != j.available || w.frozen != j.frozen || w.incoming != j.incoming || w.version != j.last_seq ||
          j.last_seq != j.count)
        journal_problem(w, j.available, j.frozen, j.incoming, j.last_seq, j.count);
    }
    check_duplicates(j);
  }

  void check_without_movements(const wallet_row& w) {
    if (w.available != 0 || w.frozen != 0 || w.incoming != 0 || w.version != 0) journal_problem(w, 0, 0, 0, 0, 0);
  }

  void journal_problem(const wallet_row& w, wide a, wide f, wide i, uint64_t last_seq, uint64_t count) {
    problem(r_, o_,
            where_ + ": wallet " + std::to_string(w.id) + " balances " + triple(w.available, w.frozen, w.incoming) +
                " version " + std::to_string(w.version) + ", movements sum to " + triple(a, f, i) + " last seq " +
                std::to_string(last_seq) + " count " + std::to_string(count));
  }

  //! Per wallet and order at most one try, one confirm, one cancel, one one-step change; a
  //! phase-4 row counts as a try and as a confirm.
  void check_duplicates(journal& j) {
    if (j.phases.size() < 2) return;
    std::sort(j.phases.begin(), j.phases.end());
    for (size_t from = 0; from < j.phases.size();) {
      size_t to = from;
      unsigned tries = 0, confirms = 0, cancels = 0, directs = 0;
      for (; to < j.phases.size() && j.phases[to].first == j.phases[from].first; ++to) {
        uint8_t ph = j.phases[to].second;
        tries += ph == try_phase || ph == try_confirm_phase;
        confirms += ph == confirm_phase || ph == try_confirm_phase;
        cancels += ph == cancel_phase;
        directs += ph == direct_phase;
      }
      if (tries > 1 || confirms > 1 || cancels > 1 || directs > 1) {
        ++r_.duplicate_movements;
        problem(r_, o_,
                where_ + ": wallet " + std::to_string(j.wallet) + " has movements of order " +
                    std::to_string(j.phases[from].first) + " applied more than once (tries " + std::to_string(tries) +
                    ", confirms " + std::to_string(confirms) + ", cancels " + std::to_string(cancels) +
                    ", one-step " + std::to_string(directs) + ")");
      }
      from = to;
    }
  }

  //! Orders whose movements in this shard sum to zero need no more looking at.
  void collapse_order_partials() {
    auto& v = out_.order_partials;
    std::sort(v.begin(), v.end());
    size_t kept = 0;
    for (size_t from = 0; from < v.size();) {
      wide sum = 0;
      size_t to = from;
      for (; to < v.size() && v[to].first == v[from].first; ++to) sum += v[to].second;
      if (sum < std::numeric_limits<int64_t>::min() || sum > std::numeric_limits<int64_t>::max())
        problem(r_, o_, where_ + ": movements of order " + std::to_string(v[from].first) + " sum to " + i128(sum));
      else if (sum != 0)
        v[kept++] = {v[from].first, static_cast<int64_t>(sum)};
      from = to;
    }
    v.resize(kept);
    v.shrink_to_fit();
  }

  //! The side tables of the order rows (migration 0006) agree with them: recovery finds the
  //! non-final orders through open_orders, and a payment's refunds through refunds. One pass over
  //! the order rows (they are many and wide: each extra scan of them costs as much as the whole
  //! check), one index dive per row into open_orders and per refund into refunds; the other two
  //! directions read the small side tables.
  void check_side_tables() {
    const std::string orders = layout_.table_at("orders", d_, t_);
    const std::string open = layout_.table_at("open_orders", d_, t_);
    const std::string refunds = layout_.table_at("refunds", d_, t_);
    const std::string refund_kind = std::to_string(static_cast<unsigned>(order_kind::refund));
    //! The first few ids of a kind of problem, "(orders 1, 2, 3, 4, 5, ...)".
    struct examples {
      std::string ids;
      size_t n = 0;
      void add(uint64_t id) {
        if (++n < 6)
          ids += (ids.empty() ? "" : ", ") + std::to_string(id);
        else if (n == 6)
          ids += ", ...";
      }
    };
    examples unlisted, unrecorded;
    c_.stream_rows("SELECT o.id, o.is_final, p.id IS NOT NULL, o.kind = " + refund_kind +
                       ", f.refund_id IS NOT NULL, o.tenant, o.request_id, o.state FROM " + orders + " o LEFT JOIN " + open +
                       " p ON p.id = o.id LEFT JOIN " + refunds + " f ON o.kind = " + refund_kind +
                       " AND f.original_order = o.original_order AND f.refund_id = o.id ORDER BY o.id",
                   [&](const row_view& row) {
                     ++r_.orders;
                     bool final = row.u(1) != 0;
                     if (!final) ++r_.orders_not_final;
                     if (!final && row.u(2) == 0) unlisted.add(row.u(0));
                     if (row.u(3) != 0 && row.u(4) == 0) unrecorded.add(row.u(0));
                     if (o_.on_order)
                       o_.on_order(table_, audited_order{row.u(0), static_cast<uint32_t>(row.u(5)), row.text(6),
                                                         static_cast<int>(row.i(7)), final});
                   });
    auto report = [&](const examples& e, const std::string& what) {
      if (e.n > 0) problem(r_, o_, where_ + ": " + what + " (orders " + e.ids + ")");
    };
    report(unlisted, "orders not final without their open_orders row: recovery would not resume them");
    examples stale, orphaned;
    c_.stream_rows("SELECT p.id FROM " + open + " p LEFT JOIN " + orders +
                       " o ON o.id = p.id WHERE o.id IS NULL OR o.is_final <> 0 ORDER BY p.id LIMIT 6",
                   [&](const row_view& row) { stale.add(row.u(0)); });
    report(stale, "open_orders rows of final or missing orders");
    report(unrecorded, "refunds without their refunds row: a restart would not count them against their payment");
    c_.stream_rows("SELECT f.refund_id FROM " + refunds + " f LEFT JOIN " + orders +
                       " o ON o.id = f.refund_id AND o.original_order = f.original_order AND o.kind = " + refund_kind +
                       " WHERE o.id IS NULL ORDER BY f.refund_id LIMIT 6",
                   [&](const row_view& row) { orphaned.add(row.u(0)); });
    report(orphaned, "refunds rows without their refund order");
  }

  bulk_connection& c_;
  const shard_layout& layout_;
  uint32_t d_, t_;
  const audit_options& o_;
  shard_result& out_;
  audit_report& r_;
  std::string wallets_table_, movements_table_, where_, range_;
  bool whole_ = true;
  size_t table_ = 0;
  std::vector<wallet_row> wallets_;
  size_t next_wallet_ = 0;
  uint64_t orphans_ = 0;
};

//! One unit per shard table when there are enough of them to keep every connection busy;
//! otherwise each table's wallets split into id ranges (the first from 0, the last to the
//! largest id, so no movement falls outside every range).
std::vector<audit_unit> plan_units(const mysql_endpoint& endpoint, const shard_layout& layout,
                                   const audit_options& options) {
  const auto tables = shard_tables(layout);
  const size_t connections = connections_for(options.connections, std::numeric_limits<size_t>::max());
  const size_t per_table = tables.size() >= 2 * connections ? 1 : (2 * connections + tables.size() - 1) / tables.size();
  std::vector<audit_unit> units;
  if (per_table == 1) {
    for (size_t i = 0; i < tables.size(); ++i) units.push_back(audit_unit{tables[i].first, tables[i].second, i});
    return units;
  }
  mysql_thread_scope scope;
  bulk_connection c(endpoint, bulk_connection::audit_io_timeout_s);
  c.set_autocommit(true);
  for (size_t i = 0; i < tables.size(); ++i) {
    auto [d, t] = tables[i];
    uint64_t low = 0, high = 0;
    c.stream_rows("SELECT COALESCE(MIN(id), 0), COALESCE(MAX(id), 0) FROM " + layout.table_at("wallets", d, t),
                  [&](const row_view& row) {
                    low = row.u(0);
                    high = row.u(1);
                  });
    uint64_t step = (high - low) / per_table + 1;
    for (size_t k = 0; k < per_table; ++k) {
      audit_unit u{d, t, i};
      u.low = k == 0 ? 0 : low + k * step;
      u.high = k + 1 == per_table ? std::numeric_limits<uint64_t>::max() : low + (k + 1) * step - 1;
      u.whole = k == 0;
      units.push_back(u);
    }
  }
  return units;
}

//! Merges the shards' order partial sums (each sorted) and reports orders not summing to zero.
void check_order_sums(std::vector<shard_result>& shards, audit_report& r, const audit_options& o) {
  std::vector<std::pair<uint64_t, int64_t>> all;
  size_t total = 0;
  for (const auto& s : shards) total += s.order_partials.size();
  all.reserve(total);
  for (auto& s : shards) {
    all.insert(all.end(), s.order_partials.begin(), s.order_partials.end());
    s.order_partials = {};
  }
  std::sort(all.begin(), all.end());
  for (size_t from = 0; from < all.size();) {
    wide sum = 0;
    size_t to = from;
    for (; to < all.size() && all[to].first == all[from].first; ++to) sum += all[to].second;
    if (sum != 0) problem(r, o, "movements of order " + std::to_string(all[from].first) + " sum to " + i128(sum));
    from = to;
  }
}

}  // namespace

std::string audit_report::summary() const {
  std::string s = ok ? "ok: " : "FAILED (" + std::to_string(problem_count) + " problems): ";
  s += std::to_string(wallets) + " wallets, " + std::to_string(movements) + " movements, " + std::to_string(orders) +
       " orders, sum of balances";
  if (sum_by_currency.empty()) s += " (no wallets)";
  for (const auto& [cur, sum] : sum_by_currency) s += " " + cur + "=" + std::to_string(sum);
  for (const auto& p : problems) s += "\n  " + p;
  return s;
}

audit_report audit(const mysql_endpoint& endpoint, const shard_layout& layout, const audit_options& options) {
  std::vector<audit_unit> units = plan_units(endpoint, layout, options);
  std::vector<shard_result> shards(units.size());
  for_each_unit(endpoint, options.connections, units.size(),
                [&](bulk_connection& c, size_t i) { shard_auditor(c, layout, units[i], options, shards[i]).run(); });

  // Shard order, so that the report is the same whatever thread audited which shard.
  audit_report r;
  std::map<std::string, wide> sums;
  for (auto& s : shards) {
    r.wallets += s.r.wallets;
    r.movements += s.r.movements;
    r.orders += s.r.orders;
    r.orders_not_final += s.r.orders_not_final;
    r.duplicate_movements += s.r.duplicate_movements;
    r.orphan_movements += s.r.orphan_movements;
    r.problem_count += s.r.problem_count;
    if (!s.r.ok) r.ok = false;
    for (auto& p : s.r.problems)
      if (r.problems.size() < options.max_problems) r.problems.push_back(std::move(p));
    for (const auto& [cur, sum] : s.sums) sums[cur] += sum;
  }
  for (const auto& [cur, sum] : sums) {
    bool fits = sum >= std::numeric_limits<int64_t>::min() && sum <= std::numeric_limits<int64_t>::max();
    r.sum_by_currency[cur] = fits ? static_cast<int64_t>(sum) : (sum < 0 ? std::numeric_limits<int64_t>::min()
                                                                          : std::numeric_limits<int64_t>::max());
    if (sum != 0) problem(r, options, "sum of balances of " + cur + " is " + i128(sum) + ", not 0");
  }
  // A mid-phase order legitimately does not sum to zero: only when every order row is final.
  if (options.orders_zero_sum && r.orders_not_final == 0) check_order_sums(shards, r, options);
  return r;
}

}  // namespace txengine::persistence
