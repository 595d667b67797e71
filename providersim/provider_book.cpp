#include "providersim/provider_book.hpp"

#include <algorithm>

namespace txprovider {

namespace {

// What each draw of an order is for: one salt each, so the draws are independent.
enum salt : uint64_t {
  salt_forever = 1,
  salt_decline,
  salt_code,
  salt_partial,
  salt_partial_amount,
  salt_settle,
  salt_payer,
};

uint64_t mix(uint64_t x) {  // splitmix64's finalizer
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

int64_t uniform(uint64_t seed, const std::string& id, uint64_t salt, int64_t lo, int64_t hi) {
  if (hi <= lo) return lo;
  return lo + static_cast<int64_t>(draw(seed, id, salt) % static_cast<uint64_t>(hi - lo + 1));
}

}  // namespace

uint64_t draw(uint64_t seed, const std::string& id, uint64_t salt) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a of the id
  for (unsigned char c : id) h = (h ^ c) * 0x100000001b3ULL;
  return mix(mix(seed ^ h) ^ salt);
}

bool draw_ppm(uint64_t seed, const std::string& id, uint64_t salt, uint32_t ppm) {
  return ppm != 0 && draw(seed, id, salt) % 1'000'000 < ppm;
}

const char* to_string(order_kind kind) { return kind == order_kind::payout ? "payout" : "payment"; }

const char* to_string(order_status status) {
  switch (status) {
    case order_status::processing: return "processing";
    case order_status::succeeded: return "succeeded";
    case order_status::declined: return "declined";
    case order_status::closed: return "closed";
  }
  return "processing";
}

std::optional<order_kind> kind_from_string(const std::string& text) {
  if (text == "payout") return order_kind::payout;
  if (text == "payment") return order_kind::payment;
  return std::nullopt;
}

bool valid_order_id(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

bool valid_currency(const std::string& currency) {
  return currency.size() == 3 && std::all_of(currency.begin(), currency.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

order_view view_at(const provider_order& order, int64_t now_ms) {
  order_view view{order.id, order.kind, order.amount, order.currency, order_status::processing, 0, {}, never};
  // Whichever happened first of the close and the fate; a close is only ever recorded before
  // the fate took effect (close() checks), so the close wins when both are past.
  if (order.closed_ms <= now_ms) {
    view.status = order_status::closed;
    view.finished_ms = order.closed_ms;
  } else if (order.fate != order_status::processing && order.settles_ms <= now_ms) {
    view.status = order.fate;
    view.finished_ms = order.settles_ms;
    if (order.fate == order_status::succeeded) view.settled_amount = order.settled_amount;
    if (order.fate == order_status::declined) view.code = order.code;
  }
  return view;
}

provider_order provider_book::draw_fate(const submit_request& request, int64_t now_ms) const {
  const auto& p = profile_;
  provider_order order;
  order.id = request.id;
  order.kind = request.kind;
  order.amount = request.amount;
  order.currency = request.currency;
  order.received_ms = now_ms;
  order.settles_ms = now_ms + uniform(p.seed, request.id, salt_settle, p.settle_min_ms, p.settle_max_ms);
  bool forever = draw_ppm(p.seed, request.id, salt_forever, p.processing_forever_ppm) ||
                 (request.kind == order_kind::payment && !draw_ppm(p.seed, request.id, salt_payer, p.payer_pays_ppm));
  if (forever) {
    order.fate = order_status::processing;
    order.settles_ms = never;
  } else if (draw_ppm(p.seed, request.id, salt_decline, p.decline_ppm)) {
    order.fate = order_status::declined;
    order.code = p.decline_codes.empty()
                     ? "declined"
                     : p.decline_codes[draw(p.seed, request.id, salt_code) % p.decline_codes.size()];
  } else {
    order.fate = order_status::succeeded;
    order.settled_amount = request.amount;
    if (request.kind == order_kind::payout && request.amount > 1 &&
        draw_ppm(p.seed, request.id, salt_partial, p.partial_ppm))
      order.settled_amount = uniform(p.seed, request.id, salt_partial_amount, 1, request.amount - 1);
  }
  return order;
}

void provider_book::schedule_report(const provider_order& order) {
  if (order.fate != order_status::processing && order.settles_ms != never && order.closed_ms == never)
    pending_reports_.emplace(order.settles_ms, order.id);
}

submit_result provider_book::submit(const submit_request& request, int64_t now_ms) {
  submit_result result;
  auto found = orders_.find(request.id);
  if (found != orders_.end()) {
    const auto& known = found->second;
    result.view = view_at(known, now_ms);
    bool same = known.tombstone || (known.kind == request.kind && known.amount == request.amount &&
                                    known.currency == request.currency);
    result.outcome = same ? submit_outcome::existing : submit_outcome::conflict;
    return result;
  }
  if (orders_.size() >= profile_.orders_max) {
    result.outcome = submit_outcome::full;
    return result;
  }
  auto order = draw_fate(request, now_ms);
  result.outcome = submit_outcome::accepted;
  result.view = view_at(order, now_ms);
  schedule_report(order);
  result.recorded = order;
  orders_.emplace(order.id, std::move(order));
  return result;
}

std::optional<order_view> provider_book::query(const std::string& id, int64_t now_ms) const {
  auto found = orders_.find(id);
  if (found == orders_.end()) return std::nullopt;
  return view_at(found->second, now_ms);
}

close_result provider_book::close(const std::string& id, int64_t now_ms) {
  close_result result;
  auto found = orders_.find(id);
  if (found == orders_.end()) {
    // Never received: closed for good, a later submit of it is answered `closed`.
    provider_order tombstone;
    tombstone.id = id;
    tombstone.kind = order_kind::payment;
    tombstone.received_ms = now_ms;
    tombstone.closed_ms = now_ms;
    tombstone.tombstone = true;
    result.view = view_at(tombstone, now_ms);
    result.recorded = tombstone;
    orders_.emplace(id, std::move(tombstone));
    return result;
  }
  auto& order = found->second;
  auto view = view_at(order, now_ms);
  // A payout on its way cannot be called back; a payment not paid yet can be closed.
  if (view.status == order_status::processing && order.kind == order_kind::payment) {
    order.closed_ms = now_ms;
    result.recorded = order;
    view = view_at(order, now_ms);
    closed_reports_.push_back(view);
  }
  result.view = view;
  return result;
}

std::vector<order_view> provider_book::newly_final(int64_t now_ms) {
  std::vector<order_view> out = std::move(closed_reports_);
  closed_reports_.clear();
  while (!pending_reports_.empty() && pending_reports_.begin()->first <= now_ms) {
    auto id = std::move(pending_reports_.begin()->second);
    pending_reports_.erase(pending_reports_.begin());
    auto found = orders_.find(id);
    if (found == orders_.end()) continue;
    auto view = view_at(found->second, now_ms);
    // A payment closed before its payer paid was reported at its close.
    if (view.status != order_status::closed) out.push_back(std::move(view));
  }
  return out;
}

int64_t provider_book::next_final_ms() const {
  if (!closed_reports_.empty()) return 0;
  return pending_reports_.empty() ? never : pending_reports_.begin()->first;
}

std::vector<order_view> provider_book::finished_between(int64_t from_ms, int64_t to_ms, int64_t now_ms) const {
  std::vector<order_view> out;
  for (const auto& [id, order] : orders_) {
    if (order.tombstone) continue;
    auto view = view_at(order, now_ms);
    if (view.finished_ms != never && view.finished_ms >= from_ms && view.finished_ms < to_ms) out.push_back(view);
  }
  std::sort(out.begin(), out.end(), [](const order_view& a, const order_view& b) {
    return a.finished_ms != b.finished_ms ? a.finished_ms < b.finished_ms : a.id < b.id;
  });
  return out;
}

void provider_book::restore(const provider_order& order, int64_t report_from_ms) {
  orders_[order.id] = order;
  if (order.settles_ms >= report_from_ms) schedule_report(order);
}

void provider_book::forget(const std::string& id) { orders_.erase(id); }

}  // namespace txprovider
