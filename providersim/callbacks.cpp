#include "providersim/callbacks.hpp"

#include <algorithm>

namespace txprovider {

namespace {
enum salt : uint64_t { salt_lost = 101, salt_duplicate, salt_stale, salt_delay, salt_duplicate_delay };
}  // namespace

std::vector<callback_delivery> plan_callbacks(const profile& p, const order_view& view, int64_t now_ms) {
  std::vector<callback_delivery> out;
  if (p.callback_url.empty() || draw_ppm(p.seed, view.id, salt_lost, p.callback_lost_ppm)) return out;
  auto delay = [&](uint64_t salt) {
    int64_t span = p.callback_delay_max_ms - p.callback_delay_min_ms;
    return p.callback_delay_min_ms + (span <= 0 ? 0 : static_cast<int64_t>(draw(p.seed, view.id, salt) % (span + 1)));
  };
  std::string event = view.id + "-" + to_string(view.status);
  int64_t first = now_ms + delay(salt_delay);
  out.push_back({first, view, event, 0});
  if (draw_ppm(p.seed, view.id, salt_duplicate, p.callback_duplicate_ppm))
    out.push_back({now_ms + delay(salt_duplicate_delay), view, event, 0});
  if (draw_ppm(p.seed, view.id, salt_stale, p.callback_stale_ppm)) {
    order_view stale = view;
    stale.status = order_status::processing;
    stale.settled_amount = 0;
    stale.code.clear();
    stale.finished_ms = never;
    out.push_back({first + 1, stale, view.id + "-processing", 0});
  }
  return out;
}

bool retry_callback(const profile& p, callback_delivery& delivery, int64_t now_ms) {
  if (delivery.attempt >= p.callback_retries) return false;
  ++delivery.attempt;
  int64_t backoff = std::min<int64_t>(60'000, 1'000LL << std::min<uint32_t>(delivery.attempt - 1, 6));
  delivery.due_ms = now_ms + backoff;
  return true;
}

}  // namespace txprovider
