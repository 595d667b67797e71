// txprovider-sim over HTTP: the server in this process on a free port (and, for kill -9, the
// txprovider-sim program), a signed client, and a callback receiver that checks signatures.
// Waits are on conditions with deadlines; the profiles have no latency unless a test needs it.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "apps/provider_sim_process.hpp"
#include "providersim/sim_server.hpp"
#include "providersim/signing.hpp"


using namespace txprovider;
using json = nlohmann::json;

namespace {

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

//! Waits until `done` holds, at most `seconds`.
bool eventually(const std::function<bool()>& done, int seconds = 20) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

std::string state_dir(const std::string& tag) {
  auto dir = std::filesystem::temp_directory_path() / ("txsim_http_" + std::to_string(::getpid()) + "_" + tag);
  std::filesystem::remove_all(dir);
  return dir.string();
}

profile quiet() {
  profile p;
  p.latency_min_ms = p.latency_max_ms = 0;
  return p;
}

//! A client of the provider that signs as the merchant of `p` (or as told).
struct signed_client {
  httplib::Client http;
  profile p;
  signed_client(int port, profile settings) : http("127.0.0.1", port), p(std::move(settings)) {
    http.set_read_timeout(10, 0);
  }
  httplib::Result call(const std::string& method, const std::string& path, const std::string& body = "",
                       int64_t skew_ms = 0, const std::string& secret = "") {
    int64_t ts = wall_ms() + skew_ms;
    httplib::Headers h = {{header_key, p.api_key},
                          {header_timestamp, std::to_string(ts)},
                          {header_signature,
                           hmac_sha256_hex(secret.empty() ? p.secret : secret, signing_string(method, path, ts, body))}};
    if (method == "GET") return http.Get(path.c_str(), h);
    return http.Post(path.c_str(), h, body, "application/json");
  }
  httplib::Result payout(const std::string& id, int64_t amount = 1000) {
    return call("POST", "/v1/payouts", json{{"order_id", id}, {"amount", amount}, {"currency", "USD"}}.dump());
  }
  httplib::Result payment(const std::string& id, int64_t amount = 1000) {
    return call("POST", "/v1/payments", json{{"order_id", id}, {"amount", amount}, {"currency", "USD"}}.dump());
  }
  httplib::Result query(const std::string& id) { return call("GET", "/v1/orders/" + id); }
};

struct running_sim {
  std::unique_ptr<sim_server> server;
  std::thread thread;
  explicit running_sim(const sim_options& options) {
    std::string error;
    server = sim_server::start(options, error);
    if (!server) throw std::runtime_error(error);
    thread = std::thread([s = server.get()] { s->run(); });
  }
  ~running_sim() {
    server->stop();
    thread.join();
  }
  int port() const { return server->port(); }
  json stats() const { return json::parse(server->stats_json()); }
};

sim_options options_for(const std::string& tag, profile p) {
  sim_options o;
  o.port = 0;
  o.state_dir = state_dir(tag);
  o.settings = std::move(p);
  o.threads = 16;
  return o;
}

//! Receives callbacks, checking each one's signature.
struct callback_receiver {
  httplib::Server server;
  std::thread thread;
  int port = 0;
  std::mutex mutex;
  std::vector<json> received;
  std::atomic<int> bad_signatures{0};
  std::atomic<int> refuse_first{0};  //!< answers 500 to this many first
  explicit callback_receiver(const std::string& secret) {
    server.Post("/cb", [this, secret](const httplib::Request& req, httplib::Response& res) {
      int64_t ts = std::stoll(req.get_header_value(header_timestamp));
      auto expected = hmac_sha256_hex(secret, signing_string("POST", "/cb", ts, req.body));
      if (!same_signature(req.get_header_value(header_signature), expected)) ++bad_signatures;
      if (refuse_first > 0) {
        --refuse_first;
        res.status = 500;
        return;
      }
      std::lock_guard<std::mutex> lock(mutex);
      received.push_back(json::parse(req.body));
      res.set_content("ok", "text/plain");
    });
    port = server.bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { server.listen_after_bind(); });
  }
  ~callback_receiver() {
    server.stop();
    thread.join();
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mutex);
    return received.size();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port) + "/cb"; }
};

}  // namespace

TEST(ProviderSimHttp, APayoutIsAcceptedAnsweredOnceAndQueried) {
  running_sim sim(options_for("payout", quiet()));
  signed_client c(sim.port(), quiet());
  auto r = c.payout("p-1", 1234);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto body = json::parse(r->body);
  EXPECT_EQ(body["order_id"], "p-1");
  EXPECT_EQ(body["status"], "succeeded");
  EXPECT_EQ(body["settled_amount"], 1234);
  auto again = c.payout("p-1", 1234);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
  EXPECT_EQ(json::parse(again->body)["status"], "succeeded");
  auto conflict = c.payout("p-1", 99);
  ASSERT_TRUE(conflict);
  EXPECT_EQ(conflict->status, 409);
  auto q = c.query("p-1");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->status, 200);
  EXPECT_EQ(json::parse(q->body)["amount"], 1234);
  auto missing = c.query("p-2");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(json::parse(missing->body)["status"], "not_found");
  auto s = sim.stats();
  EXPECT_EQ(s["accepted"], 1);
  EXPECT_EQ(s["existing"], 1);
  EXPECT_EQ(s["conflicts"], 1);
}

TEST(ProviderSimHttp, APaymentIsClosedBeforeItsPayerPaysAndAnUnseenIdForGood) {
  profile p = quiet();
  p.payer_pays_ppm = 0;
  running_sim sim(options_for("payment", p));
  signed_client c(sim.port(), p);
  auto r = c.payment("qr-1");
  ASSERT_TRUE(r);
  auto body = json::parse(r->body);
  EXPECT_EQ(body["status"], "processing");
  EXPECT_EQ(body["qr_code"], "txsim://pay/qr-1");
  auto closed = c.call("POST", "/v1/orders/qr-1/close");
  ASSERT_TRUE(closed);
  EXPECT_EQ(json::parse(closed->body)["status"], "closed");
  auto unseen = c.call("POST", "/v1/orders/never-sent/close");
  ASSERT_TRUE(unseen);
  EXPECT_EQ(json::parse(unseen->body)["status"], "closed");
  auto late = c.payment("never-sent");
  ASSERT_TRUE(late);
  EXPECT_EQ(json::parse(late->body)["status"], "closed") << "a submit after its close is never paid";
}

TEST(ProviderSimHttp, BadInputGets400AndChangesNothing) {
  running_sim sim(options_for("bad", quiet()));
  signed_client c(sim.port(), quiet());
  const std::vector<std::string> bodies = {
      "", "not json", "[]", R"({"order_id":"a","amount":10})", R"({"order_id":"a b","amount":10,"currency":"USD"})",
      R"({"order_id":"a","amount":0,"currency":"USD"})", R"({"order_id":"a","amount":-5,"currency":"USD"})",
      R"({"order_id":"a","amount":1.5,"currency":"USD"})", R"({"order_id":"a","amount":"10","currency":"USD"})",
      R"({"order_id":"a","amount":10,"currency":"usd"})", R"({"order_id":"a","amount":10,"currency":"USD","x":1})",
      R"({"order_id":"a","amount":10000000000000000000,"currency":"USD"})"};
  for (const auto& body : bodies) {
    auto r = c.call("POST", "/v1/payouts", body);
    ASSERT_TRUE(r) << body;
    EXPECT_EQ(r->status, 400) << body << " -> " << r->body;
    EXPECT_EQ(json::parse(r->body)["error"], "bad_request") << body;
  }
  auto day = c.call("GET", "/v1/statements/2026-02-30");
  ASSERT_TRUE(day);
  EXPECT_EQ(day->status, 400);
  auto nowhere = c.call("GET", "/v1/nowhere");
  ASSERT_TRUE(nowhere);
  EXPECT_EQ(nowhere->status, 404);
  EXPECT_EQ(sim.stats()["orders"], 0) << "nothing was recorded";
}

TEST(ProviderSimHttp, AWrongKeySignatureOrStaleTimestampGets401) {
  running_sim sim(options_for("auth", quiet()));
  signed_client c(sim.port(), quiet());
  std::string body = json{{"order_id", "a"}, {"amount", 10}, {"currency", "USD"}}.dump();
  auto wrong_secret = c.call("POST", "/v1/payouts", body, 0, "not-the-secret");
  ASSERT_TRUE(wrong_secret);
  EXPECT_EQ(wrong_secret->status, 401);
  auto stale = c.call("POST", "/v1/payouts", body, -10 * 60 * 1000);
  ASSERT_TRUE(stale);
  EXPECT_EQ(stale->status, 401);
  profile other = quiet();
  other.api_key = "someone-else";
  signed_client stranger(sim.port(), other);
  auto r = stranger.payout("a");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  auto unsigned_request = c.http.Get("/v1/orders/a");
  ASSERT_TRUE(unsigned_request);
  EXPECT_EQ(unsigned_request->status, 401);
  // A body changed after signing (the signature covers the body).
  int64_t ts = wall_ms();
  httplib::Headers h = {{header_key, "txsim-merchant"},
                        {header_timestamp, std::to_string(ts)},
                        {header_signature, hmac_sha256_hex("txsim-secret", signing_string("POST", "/v1/payouts", ts, body))}};
  auto tampered = c.http.Post("/v1/payouts", h, R"({"order_id":"a","amount":99999,"currency":"USD"})", "application/json");
  ASSERT_TRUE(tampered);
  EXPECT_EQ(tampered->status, 401);
  EXPECT_EQ(sim.stats()["orders"], 0);
  EXPECT_EQ(sim.stats()["unauthorized"], 5);
}

TEST(ProviderSimHttp, PastTheQpsLimitRequestsGet429) {
  profile p = quiet();
  p.qps_limit = 5;
  running_sim sim(options_for("qps", p));
  signed_client c(sim.port(), p);
  int ok = 0, limited = 0;
  for (int i = 0; i < 50; ++i) {
    auto r = c.query("x");
    ASSERT_TRUE(r);
    if (r->status == 429) {
      ++limited;
      EXPECT_EQ(r->get_header_value("Retry-After"), "1");
    } else {
      ++ok;
    }
  }
  EXPECT_GT(limited, 0);
  EXPECT_EQ(sim.stats()["rate_limited"], limited);
  EXPECT_GE(sim.stats()["peak_requests_per_s"].get<int>(), 6);
}

TEST(ProviderSimHttp, TransportFaultsFollowTheProfile) {
  {  // refused before processing: nothing recorded
    profile p = quiet();
    p.error_before_ppm = 1'000'000;
    running_sim sim(options_for("before", p));
    signed_client c(sim.port(), p);
    auto r = c.payout("a");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    EXPECT_EQ(sim.stats()["orders"], 0);
  }
  {  // processed, then 500: the order exists (the caller cannot tell)
    profile p = quiet();
    p.error_after_ppm = 1'000'000;
    running_sim sim(options_for("after", p));
    signed_client c(sim.port(), p);
    auto r = c.payout("a");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 500);
    EXPECT_EQ(sim.stats()["orders"], 1);
  }
  for (bool hang : {false, true}) {  // never answered: dropped (not recorded) or hung (recorded)
    profile p = quiet();
    (hang ? p.hang_ppm : p.drop_ppm) = 1'000'000;
    p.hang_ms = 2'000;
    running_sim sim(options_for(hang ? "hang" : "drop", p));
    signed_client c(sim.port(), p);
    c.http.set_read_timeout(0, 200'000);
    auto r = c.payout("a");
    EXPECT_FALSE(r) << "the client gave up waiting";
    EXPECT_EQ(sim.stats()["orders"], hang ? 1 : 0);
  }
}

TEST(ProviderSimHttp, CallbacksAreSignedDuplicatedStaleAndSentAgainUntilAcknowledged) {
  profile p = quiet();
  callback_receiver receiver(p.secret);
  p.callback_url = receiver.url();
  p.callback_duplicate_ppm = 1'000'000;
  p.callback_stale_ppm = 1'000'000;
  running_sim sim(options_for("callbacks", p));
  signed_client c(sim.port(), p);
  receiver.refuse_first = 1;
  ASSERT_TRUE(c.payout("cb-1", 700));
  ASSERT_TRUE(eventually([&] { return receiver.count() >= 3; })) << sim.stats().dump();
  EXPECT_EQ(receiver.bad_signatures, 0);
  std::lock_guard<std::mutex> lock(receiver.mutex);
  int finals = 0, stale = 0;
  for (const auto& cb : receiver.received) {
    EXPECT_EQ(cb["order_id"], "cb-1");
    if (cb["status"] == "succeeded") {
      ++finals;
      EXPECT_EQ(cb["settled_amount"], 700);
      EXPECT_EQ(cb["event_id"], "cb-1-succeeded");
    } else {
      ++stale;
      EXPECT_EQ(cb["status"], "processing");
    }
  }
  EXPECT_EQ(finals, 2) << "the notification and its duplicate";
  EXPECT_EQ(stale, 1);
  EXPECT_GE(sim.stats()["callbacks_failed"].get<int>(), 1) << "the refused one was sent again";
}

TEST(ProviderSimHttp, AStatementIsTheDaysFinishedOrdersAsCsv) {
  running_sim sim(options_for("statement", quiet()));
  signed_client c(sim.port(), quiet());
  ASSERT_TRUE(c.payout("s-1", 10));
  ASSERT_TRUE(c.payout("s-2", 20));
  time_t now = static_cast<time_t>(wall_ms() / 1000);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char day[16];
  std::strftime(day, sizeof day, "%Y-%m-%d", &utc);
  auto r = c.call("GET", std::string("/v1/statements/") + day);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/csv");
  EXPECT_EQ(r->body.rfind("order_id,kind,status,currency,amount,settled_amount,code,finished_at_ms\n", 0), 0u);
  EXPECT_NE(r->body.find("\ns-1,payout,succeeded,USD,10,10,,"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("\ns-2,payout,succeeded,USD,20,20,,"), std::string::npos) << r->body;
  auto empty = c.call("GET", "/v1/statements/2001-01-01");
  ASSERT_TRUE(empty);
  EXPECT_EQ(std::count(empty->body.begin(), empty->body.end(), '\n'), 1);
}

TEST(ProviderSimHttp, RestartedItRemembersEveryOrder) {
  profile p = quiet();
  p.decline_ppm = 500'000;
  auto options = options_for("restart", p);
  std::map<std::string, std::string> answered;
  {
    running_sim sim(options);
    signed_client c(sim.port(), p);
    for (int i = 0; i < 40; ++i) {
      auto id = "r-" + std::to_string(i);
      auto r = i % 2 ? c.payout(id) : c.payment(id);
      ASSERT_TRUE(r);
      answered[id] = json::parse(r->body)["status"];
    }
  }
  running_sim again(options);
  EXPECT_EQ(again.server->restored(), 40u);
  signed_client c(again.port(), p);
  for (const auto& [id, status] : answered) {
    auto r = c.query(id);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << id;
    EXPECT_EQ(json::parse(r->body)["status"], status) << id;
  }
}

//! The txprovider-sim program on a free port, its journal in `dir`.
std::unique_ptr<txengine::provider_sim_process> sim_process(const std::string& dir) {
  return std::make_unique<txengine::provider_sim_process>(TXPROVIDER_SIM_BINARY,
                                                          std::vector<std::string>{"--state-dir", dir});
}

TEST(ProviderSimProcess, KilledMidLoadItForgetsNothingItAnswered) {
  auto dir = state_dir("kill");
  profile p = quiet();
  auto sim = sim_process(dir);
  std::mutex mutex;
  std::map<std::string, std::string> answered;
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  auto stop_clients = [&] {
    stop = true;
    for (auto& t : clients) t.join();
    clients.clear();
  };
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t, port = sim->port()] {
      signed_client c(port, p);
      for (int i = 0; !stop; ++i) {
        auto id = "k-" + std::to_string(t) + "-" + std::to_string(i);
        auto r = c.payout(id);
        if (!r || r->status != 200) continue;
        std::lock_guard<std::mutex> lock(mutex);
        answered[id] = json::parse(r->body)["status"];
      }
    });
  }
  bool enough = eventually([&] {
    std::lock_guard<std::mutex> lock(mutex);
    return answered.size() >= 300;
  });
  EXPECT_EQ(sim->end(SIGKILL), SIGKILL) << "killed mid-load";  // (the clients are still sending)
  stop_clients();
  ASSERT_TRUE(enough) << answered.size() << " answers";
  sim = sim_process(dir);
  signed_client c(sim->port(), p);
  for (const auto& [id, status] : answered) {
    auto r = c.query(id);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << id << " was answered before the kill and forgotten after it";
    EXPECT_EQ(json::parse(r->body)["status"], status) << id;
  }
  int status = sim->end(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "a stop signal ends it cleanly: " << status;
  std::filesystem::remove_all(dir);
}
