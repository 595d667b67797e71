#include "apps/demo_providers.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <unistd.h>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "apps/provider_sim_process.hpp"
#include "channels/signing.hpp"

namespace txengine {

namespace {

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr const char* api_key = "txengine-demo";
constexpr const char* secret = "txengine-demo-secret";

// Short horizons, as the demo's order settings: every fault resolves within seconds.
const char* flaky_profile =
    "# provider 7 of the txengine demo: it misbehaves in every way the engine must survive\n"
    "seed = 7\n"
    "[latency]\nmin_ms = 1\nmax_ms = 6\nslow_ppm = 5000\nslow_ms = 400\n"
    "[outcome]\nsettle_min_ms = 0\nsettle_max_ms = 300\ndecline_ppm = 60000\n"
    "decline_codes = [\"invalid_account\", \"insufficient_funds\"]\npartial_ppm = 10000\n"
    "[transport]\nerror_before_ppm = 10000\nerror_after_ppm = 5000\ndrop_ppm = 2000\nhang_ppm = 2000\n"
    "hang_ms = 1500\n"
    "[callbacks]\nlost_ppm = 100000\nduplicate_ppm = 100000\nstale_ppm = 50000\ndelay_max_ms = 1000\n"
    "[auth]\napi_key = \"txengine-demo\"\nsecret = \"txengine-demo-secret\"\n";
const char* steady_profile =
    "# provider 8 of the txengine demo: pays everything, a little slower\n"
    "seed = 8\n"
    "[latency]\nmin_ms = 2\nmax_ms = 10\n"
    "[auth]\napi_key = \"txengine-demo\"\nsecret = \"txengine-demo-secret\"\n";

http_provider_settings settings_for(int port) {
  http_provider_settings s;
  s.base_url = "http://127.0.0.1:" + std::to_string(port);
  s.api_key = api_key;
  s.secret = secret;
  s.connect_timeout_ms = 500;
  s.submit_timeout_ms = 1'000;  // a hung request is unknown after a second, then queried
  s.query_timeout_ms = 1'000;
  s.submit_inflight_max = 64;
  s.query_inflight_max = 32;
  return s;
}

//! A signed GET of the provider's API; the body, or "" with `error`.
std::string signed_get(int port, const std::string& path, std::string& error) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(5, 0);
  for (int attempt = 0; attempt < 20; ++attempt) {  // past the provider's injected faults
    int64_t ts = wall_ms();
    httplib::Headers headers = {{"X-TxSim-Key", api_key},
                                {"X-TxSim-Timestamp", std::to_string(ts)},
                                {"X-TxSim-Signature", provider_signature(secret, "GET", path, ts, "")}};
    auto answer = client.Get(path.c_str(), headers);
    if (answer && answer->status == 200) return answer->body;
    error = answer ? "HTTP " + std::to_string(answer->status) : "no answer";
  }
  return {};
}

std::string utc_date(int64_t ms) {
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  char text[16];
  std::strftime(text, sizeof text, "%Y-%m-%d", &tm);
  return text;
}

struct statement_row {
  std::string status;
  int64_t settled = 0;
  std::string code;
};

//! Every order final at the provider on the days from `from_ms` to now, by order id.
bool read_statements(int port, int64_t from_ms, std::map<std::string, statement_row>& out, std::string& error) {
  for (int64_t day = from_ms - 86'400'000; day <= wall_ms() + 86'400'000; day += 86'400'000) {
    std::string csv = signed_get(port, "/v1/statements/" + utc_date(day), error);
    if (csv.empty()) return false;
    std::istringstream lines(csv);
    std::string line;
    std::getline(lines, line);  // the header
    while (std::getline(lines, line)) {
      // order_id,kind,status,currency,amount,settled_amount,code,finished_at_ms
      std::vector<std::string> f;
      std::stringstream fields(line);
      std::string field;
      while (std::getline(fields, field, ',')) f.push_back(field);
      if (f.size() < 7) continue;
      out[f[0]] = {f[2], std::stoll(f[5]), f[6]};
    }
  }
  return true;
}

}  // namespace

std::string provider_sim_next_to_self() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  auto sim = self.parent_path() / "txprovider-sim";
  return std::filesystem::exists(sim, ec) ? sim.string() : std::string();
}

std::unique_ptr<demo_providers> demo_providers::start(const std::string& binary, engine_config& config,
                                                      std::string& error) {
  std::unique_ptr<demo_providers> p(new demo_providers());
  p->started_ms_ = wall_ms();
  p->dir_ = (std::filesystem::temp_directory_path() / ("txengine-demo-providers-" + std::to_string(::getpid()))).string();
  std::error_code ec;
  std::filesystem::remove_all(p->dir_, ec);
  std::filesystem::create_directories(p->dir_ + "/7", ec);
  std::filesystem::create_directories(p->dir_ + "/8", ec);
  if (ec) {
    error = "cannot create " + p->dir_ + ": " + ec.message();
    return nullptr;
  }
  std::ofstream(p->dir_ + "/7.toml") << flaky_profile;
  std::ofstream(p->dir_ + "/8.toml") << steady_profile;
  const int callbacks = free_loopback_port();
  auto url = [&](channel_id id) {
    return "http://127.0.0.1:" + std::to_string(callbacks) + "/callbacks/" + std::to_string(id);
  };
  try {
    p->flaky_ = std::make_unique<provider_sim_process>(
        binary, std::vector<std::string>{"--profile", p->dir_ + "/7.toml", "--state-dir", p->dir_ + "/7",
                                         "--callback-url", url(flaky)});
    p->steady_ = std::make_unique<provider_sim_process>(
        binary, std::vector<std::string>{"--profile", p->dir_ + "/8.toml", "--state-dir", p->dir_ + "/8",
                                         "--callback-url", url(steady)});
  } catch (const std::exception& e) {
    error = e.what();
    return nullptr;
  }
  http_provider_settings first = settings_for(p->flaky_->port());
  first.reroute_codes = {"invalid_account"};
  config.channels.clear();
  config.http_channels = {{flaky, first}, {steady, settings_for(p->steady_->port())}};
  route_rule everything;
  everything.providers = {{flaky, 1}, {steady, 0}};
  config.routes = {everything};
  callback_listener_config endpoint;
  endpoint.port = callbacks;
  endpoint.threads = 4;
  config.callbacks = endpoint;
  return p;
}

demo_providers::~demo_providers() {
  flaky_.reset();
  steady_.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string demo_providers::describe() const {
  char text[768];
  std::snprintf(text, sizeof text,
                "  provider 7: txprovider-sim on 127.0.0.1:%d: declines 6%% (invalid_account, declared \"nothing "
                "moved\", or insufficient_funds), 1%% partial payouts, 1%% 503s, 0.5%% 500s after processing, 0.2%% "
                "requests lost, 0.2%% never answered; callbacks lost, late, duplicated and stale\n"
                "  provider 8: txprovider-sim on 127.0.0.1:%d: pays everything\n"
                "  route: every top-up and withdrawal to 7, to 8 after 7's declared decline; callbacks on "
                "127.0.0.1 (signed, de-duplicated)\n",
                flaky_->port(), steady_->port());
  return text;
}

demo_providers::reconciliation demo_providers::reconcile(const std::vector<demo_channel_order>& orders) const {
  reconciliation r;
  r.orders = orders.size();
  std::map<std::string, statement_row> at7, at8;
  std::string error;
  if (!read_statements(flaky_->port(), started_ms_, at7, error) ||
      !read_statements(steady_->port(), started_ms_, at8, error)) {
    r.mismatches.push_back("statements could not be read: " + error);
    return r;
  }
  auto mismatch = [&](const std::string& what) {
    if (r.mismatches.size() < 5) r.mismatches.push_back(what);
  };
  for (const auto& o : orders) {
    const std::string id = std::to_string(o.id);
    auto a = at7.find(id), b = at8.find(id);
    const bool paid7 = a != at7.end() && a->second.status == "succeeded";
    const bool paid8 = b != at8.end() && b->second.status == "succeeded";
    if (o.state == order_state::succeeded) {
      int64_t settled = paid7 ? a->second.settled : paid8 ? b->second.settled : -1;
      bool declared7 = a != at7.end() && a->second.status == "declined" && a->second.code == "invalid_account";
      if (paid7 == paid8 || settled != o.posted_amount || (paid8 && !declared7)) {
        mismatch("order " + id + " succeeded for " + std::to_string(o.posted_amount) + ", provider 7: " +
                 (a == at7.end() ? "none" : a->second.status) + ", provider 8: " +
                 (b == at8.end() ? "none" : b->second.status));
        continue;
      }
      r.rerouted += paid8;
    } else if (paid7 || paid8) {
      mismatch("order " + id + " failed, but provider " + (paid7 ? "7" : "8") + " paid it");
      continue;
    }
    ++r.matched;
  }
  for (const auto& [name, port] : {std::pair<const char*, int>{"7", flaky_->port()}, {"8", steady_->port()}}) {
    auto stats = nlohmann::json::parse(signed_get(port, "/sim/stats", error), nullptr, false);
    if (!stats.is_object()) continue;
    char line[384];
    std::snprintf(line, sizeof line,
                  "provider %s: %lld requests, %lld orders; injected: %lld 503s, %lld 500s after processing, %lld "
                  "lost, %lld never answered, %lld callbacks lost; peak %lld requests/s\n",
                  name, stats.value("requests", 0LL), stats.value("orders", 0LL), stats.value("errors_before", 0LL),
                  stats.value("errors_after", 0LL), stats.value("dropped", 0LL), stats.value("hung", 0LL),
                  stats.value("callbacks_lost", 0LL), stats.value("peak_requests_per_s", 0LL));
    r.provider_counts += line;
  }
  return r;
}

}  // namespace txengine
