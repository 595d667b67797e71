#include "channels/callback_listener.hpp"

#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "channels/signing.hpp"
#include "core/channel_routing.hpp"
#include "core/provider_answer.hpp"
#include "ports/messages.hpp"

namespace txengine {

namespace {

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

//! A decimal order id: digits only, no sign, no overflow.
bool parse_order_id(const std::string& text, order_id& out) {
  if (text.empty() || text.size() > 20) return false;
  unsigned __int128 v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > UINT64_MAX || v == 0) return false;
  out = static_cast<order_id>(v);
  return true;
}

void reply(httplib::Response& res, int status, const char* text) {
  res.status = status;
  res.set_content(text, "text/plain");
}

}  // namespace

struct callback_listener::impl {
  callback_listener_config config;
  std::map<channel_id, http_provider_settings> providers;
  router route;
  bool ready = false;
  httplib::Server server;
  std::thread thread;
  int port = 0;

  mutable std::mutex mutex;
  callback_counters counts;
  //! Events seen (channel and event id), oldest first, at most events_remembered_max.
  std::unordered_set<std::string> events;
  std::deque<std::string> events_order;
  //! The first definitive callback of each order at each provider (channel and order id: a
  //! re-routed order has one per provider), status and settled amount, as many.
  std::map<std::pair<channel_id, order_id>, std::pair<std::string, int64_t>> firsts;
  std::deque<std::pair<channel_id, order_id>> firsts_order;
  std::deque<kept_callback> kept;

  void handle(const httplib::Request& req, httplib::Response& res) {
    int64_t now = wall_ms();
    std::lock_guard<std::mutex> lock(mutex);
    ++counts.received;
    channel_id channel = 0;  // 0: no such channel (ids are 1 .. 2^32-1)
    try {
      unsigned long long id = std::stoull(req.matches[1]);
      if (id <= UINT32_MAX) channel = static_cast<channel_id>(id);
    } catch (const std::exception&) {
      channel = 0;
    }
    auto provider = providers.find(channel);
    int64_t ts = 0;
    try {
      ts = std::stoll(req.get_header_value("X-TxSim-Timestamp"));
    } catch (const std::exception&) {
      ts = 0;
    }
    if (provider == providers.end() || req.get_header_value("X-TxSim-Key") != provider->second.api_key ||
        ts < now - config.max_clock_skew_ms || ts > now + config.max_clock_skew_ms ||
        !same_provider_signature(req.get_header_value("X-TxSim-Signature"),
                                 provider_signature(provider->second.secret, "POST", req.path, ts, req.body))) {
      ++counts.unauthorized;
      spdlog::warn("callback refused: channel {}, bad key, timestamp or signature", req.matches[1].str());
      return reply(res, 401, "unauthorized");
    }
    if (!ready) return reply(res, 503, "starting");
    auto body = nlohmann::json::parse(req.body, nullptr, false);
    order_id order = 0;
    auto text = [&](const char* name) {
      auto f = body.is_object() ? body.find(name) : body.end();
      return f != body.end() && f->is_string() ? f->get<std::string>() : std::string();
    };
    auto number = [&](const char* name, int64_t& out) {
      auto f = body.is_object() ? body.find(name) : body.end();
      if (f == body.end() || !f->is_number_integer()) return false;
      out = f->get<int64_t>();
      return true;
    };
    std::string status = text("status"), event = text("event_id");
    int64_t amount = 0, settled = 0;
    bool well_formed = parse_order_id(text("order_id"), order) && !event.empty() && event.size() <= 128 &&
                       number("amount", amount) && number("settled_amount", settled) &&
                       (status == "processing" || status == "succeeded" || status == "declined" ||
                        status == "closed");
    if (!well_formed) {
      ++counts.malformed;
      spdlog::warn("callback refused: channel {}: malformed body", channel);
      return reply(res, 400, "malformed");
    }
    std::string key = std::to_string(channel) + "/" + event;
    if (!events.insert(key).second) {
      ++counts.duplicates;
      return reply(res, 200, "ok");  // seen: acknowledged so the provider stops sending it
    }
    events_order.push_back(key);
    if (events_order.size() > config.events_remembered_max) {
      events.erase(events_order.front());
      events_order.pop_front();
    }
    if (status == "processing") {  // says nothing; may come after the final one (out of order)
      ++counts.stale;
      return reply(res, 200, "ok");
    }
    auto first = firsts.find({channel, order});
    if (first == firsts.end()) {
      firsts.emplace(std::make_pair(channel, order), std::make_pair(status, settled));
      firsts_order.emplace_back(channel, order);
      if (firsts_order.size() > config.events_remembered_max) {
        firsts.erase(firsts_order.front());
        firsts_order.pop_front();
      }
    } else if (first->second != std::make_pair(status, settled) &&
               !(first->second.first != "succeeded" && status != "succeeded")) {
      ++counts.contradictions;
      spdlog::error("ALERT conflicting_outcome: channel {} order {}: callback says {} ({}), an earlier one said {} ({}); "
                    "nothing changes, the first definitive answer stands",
                    channel, order, status, settled, first->second.first, first->second.second);
    }
    const order_host_actor* host = route(order);
    if (host == nullptr) {
      ++counts.unknown_orders;
      spdlog::error("ALERT callback for an order this node does not hold: channel {} order {} ({}); kept", channel,
                    order, status);
      kept.push_back({channel, req.body});
      if (kept.size() > config.unknown_kept_max) kept.pop_front();
      return reply(res, 200, "ok");
    }
    http_exchange x;
    x.status = 200;
    x.body_valid = true;
    x.order_status = status;
    x.amount = amount;
    x.settled_amount = settled;
    auto reading = read_provider_answer(provider_request::query, x);
    if (reading.anomaly != provider_anomaly::none)
      spdlog::warn("callback: channel {} order {}: {}", channel, order, to_string(reading.anomaly));
    channel_response response;
    response.order = order;
    response.outcome = reading.outcome;
    response.settled_amount = reading.settled_amount;
    response.channel = channel;
    response.nothing_moved = reading.outcome == channel_outcome::declined &&
                             declared_no_money_moved(text("code"), provider->second.reroute_codes);
    caf::anon_send(*host, chan_ack_atom::value, std::vector<channel_response>{response});
    ++counts.delivered;
    return reply(res, 200, "ok");
  }
};

std::unique_ptr<callback_listener> callback_listener::start(
    const callback_listener_config& config, const std::vector<std::pair<channel_id, http_provider_settings>>& providers,
    router route, std::string& error) {
  auto self = std::make_unique<impl>();
  self->config = config;
  for (const auto& [id, settings] : providers) self->providers[id] = settings;
  self->route = std::move(route);
  size_t threads = std::max<size_t>(1, config.threads);
  self->server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  self->server.set_payload_max_length(64 * 1024);
  self->server.set_read_timeout(5, 0);
  self->server.set_write_timeout(5, 0);
  self->server.set_tcp_nodelay(true);  // headers and body are two writes: no Nagle wait between them
  auto* raw = self.get();
  self->server.Post(R"(/callbacks/(\d{1,10}))",
                    [raw](const httplib::Request& req, httplib::Response& res) { raw->handle(req, res); });
  self->port = config.port == 0 ? self->server.bind_to_any_port(config.host)
                                : (self->server.bind_to_port(config.host, config.port) ? config.port : -1);
  if (self->port <= 0) {
    error = "cannot listen for callbacks on " + config.host + ":" + std::to_string(config.port);
    return nullptr;
  }
  self->thread = std::thread([raw] { raw->server.listen_after_bind(); });
  return std::unique_ptr<callback_listener>(new callback_listener(std::move(self)));
}

callback_listener::callback_listener(std::unique_ptr<impl> self) : self_(std::move(self)) {}

callback_listener::~callback_listener() {
  self_->server.stop();
  if (self_->thread.joinable()) self_->thread.join();
}

void callback_listener::set_ready(bool ready) {
  std::lock_guard<std::mutex> lock(self_->mutex);
  self_->ready = ready;
}

int callback_listener::port() const { return self_->port; }

callback_counters callback_listener::counters() const {
  std::lock_guard<std::mutex> lock(self_->mutex);
  return self_->counts;
}

std::vector<kept_callback> callback_listener::kept() const {
  std::lock_guard<std::mutex> lock(self_->mutex);
  return {self_->kept.begin(), self_->kept.end()};
}

}  // namespace txengine
