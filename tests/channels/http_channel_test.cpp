// The HTTP provider adapter (channels/http_channel.hpp) end to end: an engine on the wall clock
// whose channels are txprovider-sim's provider served in this process (providersim/), with the
// misbehaviour each test asks for. After each: every order final, the engine and the provider
// agree on every order's outcome, and money is conserved. Waits are on conditions with deadlines.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "apps/provider_sim_process.hpp"
#include "channels/http_channel.hpp"
#include "node/engine.hpp"
#include "providersim/profile.hpp"
#include "providersim/signing.hpp"
#include "providersim/sim_server.hpp"

namespace txengine {
namespace {

using json = nlohmann::json;
constexpr tenant_id tenant = 1;
const currency usd = *currency::parse("USD");

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

//! txprovider-sim's provider on a free port, its journal in a fresh directory.
struct provider {
  std::unique_ptr<txprovider::sim_server> server;
  std::thread thread;
  txprovider::profile settings;
  std::string dir;
  explicit provider(txprovider::profile p, const std::string& tag) : settings(std::move(p)) {
    dir = (std::filesystem::temp_directory_path() / ("txchan_" + std::to_string(::getpid()) + "_" + tag)).string();
    std::filesystem::remove_all(dir);
    txprovider::sim_options o;
    o.port = 0;
    o.state_dir = dir;
    o.settings = settings;
    o.threads = 256;  // above the connections the engine opens (submit + query in-flight caps): one thread each
    std::string error;
    server = txprovider::sim_server::start(o, error);
    if (!server) throw std::runtime_error(error);
    thread = std::thread([s = server.get()] { s->run(); });
  }
  ~provider() {
    server->stop();
    thread.join();
    std::filesystem::remove_all(dir);
  }
  json stats() { return json::parse(server->stats_json()); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server->port()); }
  //! The provider's own view of an order (signed query), "not_found" when it has none.
  std::string status_of(order_id id) { return order_of(id).value("status", "no answer"); }
  //! The provider's order (its status, code, amounts) as a signed query answers it.
  json order_of(order_id id) {
    httplib::Client c("127.0.0.1", server->port());
    c.set_read_timeout(0, 500'000);  // a hung request of the profile is given up on, and asked again
    std::string path = "/v1/orders/" + std::to_string(id);
    for (int attempt = 0; attempt < 50; ++attempt) {  // past the profile's own faults
      int64_t ts = wall_ms();
      httplib::Headers h = {
          {txprovider::header_key, settings.api_key},
          {txprovider::header_timestamp, std::to_string(ts)},
          {txprovider::header_signature,
           txprovider::hmac_sha256_hex(settings.secret, txprovider::signing_string("GET", path, ts, ""))}};
      auto r = c.Get(path.c_str(), h);
      if (r && r->status == 429) {  // a rate-limited provider: this test's own queries count too
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        continue;
      }
      if (!r || (r->status != 200 && r->status != 404)) continue;
      auto body = json::parse(r->body, nullptr, false);
      if (body.is_object() && body.contains("status") && body["status"].is_string()) return body;
    }
    return json::object();
  }
};

txprovider::profile honest() {
  txprovider::profile p;
  p.latency_min_ms = 1;
  p.latency_max_ms = 3;
  return p;
}

http_provider_settings settings_for(const provider& p) {
  http_provider_settings s;
  s.base_url = p.url();
  s.api_key = p.settings.api_key;
  s.secret = p.settings.secret;
  s.submit_timeout_ms = 1'000;
  s.query_timeout_ms = 1'000;
  return s;
}

engine_config config_with(std::vector<std::pair<channel_id, http_provider_settings>> channels) {
  engine_config config;
  config.order_hosts = 2;
  config.scheduler_threads = 2;
  config.channels.clear();
  config.http_channels = std::move(channels);
  config.order.channel_submit_timeout_ms = 1'500;
  config.order.channel_query_min_delay_ms = 100;
  config.order.channel_query_max_interval_ms = 500;
  config.order.channel_not_found_final_ms = 3'000;
  config.order.payment_deadline_ms = 3'000;  // a payer who never pays: closed at the provider after 3 s
  return config;
}

struct outcome {
  order_command command;
  order_reply reply;
};

//! Runs every command at once (a thread each, `parallel` at a time) and returns the replies.
std::vector<outcome> run_all(engine& eng, const std::vector<order_command>& commands, size_t parallel = 32,
                             std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  std::vector<outcome> out(commands.size());
  std::atomic<size_t> next{0};
  std::vector<std::thread> workers;
  for (size_t w = 0; w < parallel; ++w)
    workers.emplace_back([&] {
      for (size_t i = next++; i < commands.size(); i = next++)
        out[i] = {commands[i], eng.execute(commands[i], timeout)};
    });
  for (auto& t : workers) t.join();
  return out;
}

struct bench {
  engine eng;
  std::vector<wallet_id> users;
  uint64_t seq = 0;
  explicit bench(engine_config config, size_t wallets = 20) : eng(std::move(config)) {
    for (size_t i = 0; i < wallets; ++i) users.push_back(eng.create_wallet(tenant, usd, wallet_kind::user).id);
  }
  order_command order(order_kind kind, size_t wallet, int64_t amount, channel_id channel) {
    order_command c;
    c.tenant = tenant;
    c.request_id = "r" + std::to_string(++seq);
    c.kind = kind;
    c.amount = amount;
    c.cur = usd;
    c.channel = channel;
    (kind == order_kind::top_up ? c.destination : c.source) = users[wallet % users.size()];
    return c;
  }
  void expect_conserved() {
    auto audit = eng.audit_wallets();
    EXPECT_TRUE(audit.ok) << audit.detail;
    for (const auto& [cur, sum] : audit.sum_by_currency) EXPECT_EQ(sum, 0) << "currency " << cur;
    EXPECT_EQ(audit.open_transactions, 0u);
  }
};

//! Top-ups (`ups` of `up_amount`), then payouts (`downs` of `down_amount`), through `channel` (0:
//! routed), `parallel` at a time, each waited for at most `timeout`.
std::pair<std::vector<outcome>, std::vector<outcome>> ups_then_downs(
    bench& b, channel_id channel, size_t ups = 100, int64_t up_amount = 10'000, size_t downs = 200,
    int64_t down_amount = 1'000, size_t parallel = 32, std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  std::vector<order_command> up_commands, down_commands;
  for (size_t i = 0; i < ups; ++i) up_commands.push_back(b.order(order_kind::top_up, i, up_amount, channel));
  auto up = run_all(b.eng, up_commands, parallel, timeout);
  for (size_t i = 0; i < downs; ++i) down_commands.push_back(b.order(order_kind::withdraw, i, down_amount, channel));
  return {std::move(up), run_all(b.eng, down_commands, parallel, timeout)};
}

//! The engine's final state of each order agrees with the provider's: succeeded there <->
//! succeeded here with the same amount; declined or closed (or never seen) there <-> failed here.
void expect_agreement(provider& p, const std::vector<outcome>& outcomes) {
  for (const auto& o : outcomes) {
    ASSERT_NE(o.reply.id, 0u) << "order " << o.command.request_id << " has no final state: "
                              << to_string(o.reply.code);
    std::string there = p.status_of(o.reply.id);
    if (o.reply.state == order_state::succeeded) {
      EXPECT_EQ(there, "succeeded") << o.reply.id;
    } else {
      EXPECT_EQ(o.reply.state, order_state::failed) << o.reply.id;
      EXPECT_TRUE(there == "declined" || there == "closed" || there == "not_found") << o.reply.id << ": " << there;
    }
  }
}

TEST(HttpChannel, TopUpsAndPayoutsSettleThroughTheProvider) {
  provider p(honest(), "honest");
  bench b(config_with({{7, settings_for(p)}}));
  std::vector<order_command> ups, downs;
  for (size_t i = 0; i < 200; ++i) ups.push_back(b.order(order_kind::top_up, i, 1'000, 7));
  auto up = run_all(b.eng, ups);
  for (const auto& o : up)
    EXPECT_EQ(o.reply.state, order_state::succeeded) << to_string(o.reply.code) << " provider: " << p.status_of(o.reply.id) << " took " << o.reply.finished_ms - o.reply.created_ms << " ms";
  for (size_t i = 0; i < 100; ++i) downs.push_back(b.order(order_kind::withdraw, i, 700, 7));
  auto down = run_all(b.eng, downs);
  for (const auto& o : down) EXPECT_EQ(o.reply.state, order_state::succeeded) << to_string(o.reply.code);
  EXPECT_EQ(b.eng.get_wallet(tenant, b.users[0]).current.available, 10 * 1'000 - 5 * 700);
  expect_agreement(p, up);
  expect_agreement(p, down);
  b.expect_conserved();
  EXPECT_EQ(p.stats()["accepted"], 300);
  EXPECT_EQ(p.stats()["unauthorized"], 0);
}

TEST(HttpChannel, DeclinesAndPartialPayoutsAreDefinitive) {
  auto profile = honest();
  profile.decline_ppm = 300'000;
  profile.partial_ppm = 300'000;
  provider p(profile, "declines");
  bench b(config_with({{7, settings_for(p)}}));
  auto [up, down] = ups_then_downs(b, 7);
  size_t failed = 0, partial = 0;
  for (const auto& o : down) {
    failed += o.reply.state == order_state::failed;
    partial += o.reply.state == order_state::succeeded && o.reply.posted_amount < 1'000;
    if (o.reply.state == order_state::failed) {
      EXPECT_TRUE(o.reply.code == result_code::channel_declined || o.reply.code == result_code::insufficient_funds)
          << to_string(o.reply.code);
    }
  }
  EXPECT_GT(failed, 20u);
  EXPECT_GT(partial, 10u);
  expect_agreement(p, up);
  expect_agreement(p, down);
  b.expect_conserved();
}

TEST(HttpChannel, ErrorsTimeoutsAndLostRequestsNeverFailAPayout) {
  auto profile = honest();
  profile.error_before_ppm = 100'000;  // 503, nothing done
  profile.error_after_ppm = 100'000;   // done, then 500
  profile.drop_ppm = 50'000;           // never arrives
  profile.hang_ppm = 50'000;           // done, never answered
  profile.hang_ms = 800;
  profile.settle_max_ms = 500;
  provider p(profile, "flaky");
  auto s = settings_for(p);
  s.submit_timeout_ms = s.query_timeout_ms = 300;
  auto config = config_with({{7, s}});
  config.order.channel_submit_timeout_ms = 500;
  config.order.channel_not_found_final_ms = 1'000;  // a lost submit is found out sooner
  bench b(std::move(config));
  std::vector<order_command> ups, downs;
  for (size_t i = 0; i < 60; ++i) ups.push_back(b.order(order_kind::top_up, i, 10'000, 7));
  auto up = run_all(b.eng, ups);
  for (size_t i = 0; i < 100; ++i) downs.push_back(b.order(order_kind::withdraw, i, 1'000, 7));
  auto down = run_all(b.eng, downs);
  for (const auto& o : down)
    if (o.reply.state == order_state::failed) {
      // Only a definitive "no": the provider declined or closed it, or never had it and the
      // engine never thought it might (a first submit refused unseen).
      EXPECT_NE(p.status_of(o.reply.id), "succeeded") << o.reply.id;
    }
  expect_agreement(p, up);
  expect_agreement(p, down);
  b.expect_conserved();
  auto stats = p.stats();
  EXPECT_GT(stats["errors_after"].get<int>() + stats["hung"].get<int>(), 0);
}

TEST(HttpChannel, WrongCredentialsRefuseFirstSubmitsAndMoveNothing) {
  provider p(honest(), "creds");
  auto s = settings_for(p);
  s.secret = "not-the-secret";
  bench b(config_with({{7, s}}));
  std::vector<order_command> ups;
  for (size_t i = 0; i < 10; ++i) ups.push_back(b.order(order_kind::top_up, i, 100, 7));
  auto up = run_all(b.eng, ups, 4);
  for (const auto& o : up) {
    EXPECT_EQ(o.reply.state, order_state::failed) << o.reply.id;
    EXPECT_EQ(o.reply.code, result_code::channel_busy) << to_string(o.reply.code);
  }
  EXPECT_EQ(p.stats()["orders"], 0);
  EXPECT_EQ(p.stats()["unauthorized"], 10) << "refused credentials are not tried again";
  b.expect_conserved();
}

TEST(HttpChannel, RoutesReRouteOnlyOnTheDeclinesAProviderDeclared) {
  // Provider 7 declines 40% (half "invalid_account", which it declares as "nothing moved", half
  // "insufficient_funds", which it does not) and answers 10% of requests with a 500 after doing
  // them (unknown: never a reason to go elsewhere). Provider 8 pays everything.
  auto first = honest();
  first.decline_ppm = 400'000;
  first.decline_codes = {"invalid_account", "insufficient_funds"};
  first.error_after_ppm = 100'000;
  provider a(first, "route_a");
  auto second = honest();
  second.seed = 8;
  provider b(second, "route_b");
  auto declaring = settings_for(a);
  declaring.reroute_codes = {"invalid_account"};
  engine_config config = config_with({{7, declaring}, {8, settings_for(b)}});
  route_rule rule;
  rule.providers = {{7, 1}, {8, 0}};
  config.routes = {rule};
  bench e(config);
  auto [up, down] = ups_then_downs(e, 0);
  size_t rerouted = 0, refused_here = 0;
  int64_t moved = 0;
  for (const auto* batch : {&up, &down})
    for (const auto& o : *batch) {
      ASSERT_NE(o.reply.id, 0u) << to_string(o.reply.code);
      json at_a = a.order_of(o.reply.id), at_b = b.order_of(o.reply.id);
      std::string sa = at_a.value("status", "?"), sb = at_b.value("status", "?");
      const bool declared = sa == "declined" && at_a.value("code", "") == "invalid_account";
      if (o.reply.state == order_state::succeeded) {
        // Paid at exactly one provider; at 8 only after 7 refused with the declared code.
        EXPECT_TRUE((sa == "succeeded") != (sb == "succeeded")) << o.reply.id << ": " << sa << " / " << sb;
        if (sb == "succeeded") {
          EXPECT_TRUE(declared) << o.reply.id << ": " << at_a.dump();
        }
        rerouted += sb == "succeeded";
        moved += (o.command.kind == order_kind::top_up ? 1 : -1) * o.reply.posted_amount;
      } else if (o.command.kind == order_kind::withdraw && o.reply.code == result_code::insufficient_funds) {
        EXPECT_EQ(sa, "not_found");
      } else {
        // Failed: refused at 7 with a code it did not declare, and never sent to 8.
        EXPECT_EQ(o.reply.code, result_code::channel_declined);
        EXPECT_EQ(sa, "declined") << o.reply.id;
        EXPECT_EQ(at_a.value("code", ""), "insufficient_funds") << o.reply.id;
        EXPECT_EQ(sb, "not_found") << o.reply.id;
        ++refused_here;
      }
      EXPECT_FALSE(sa != "declined" && sb != "not_found") << o.reply.id << ": sent on without a declared decline";
    }
  EXPECT_GT(rerouted, 20u);
  EXPECT_GT(refused_here, 20u);
  int64_t held = 0;
  for (wallet_id w : e.users) held += e.eng.get_wallet(tenant, w).current.available;
  EXPECT_EQ(held, moved);
  e.expect_conserved();
}

TEST(HttpChannel, EveryShippedProfileKeepsTheMoneyRight) {
  // Each profile of config/provider-sim/ as txprovider-sim would run it, callbacks on, the
  // engine's rate cap under the provider's limit: 40 top-ups and 40 payouts. Every order that
  // ends agrees with the provider; one that does not (a provider that never settles it) is a
  // payout the provider still has as processing, its money held; the sums stay zero.
  for (const char* name : {"honest", "flaky", "callbacks-chaos", "rate-limited", "stuck"}) {
    SCOPED_TRACE(name);
    txprovider::profile profile;
    std::string error;
    ASSERT_TRUE(txprovider::load_profile(std::string(TXENGINE_SOURCE_DIR) + "/config/provider-sim/" + name + ".toml",
                                         profile, error))
        << error;
    int callback_port = free_loopback_port();
    profile.callback_url = "http://127.0.0.1:" + std::to_string(callback_port) + "/callbacks/7";
    provider p(profile, std::string("profile_") + name);
    auto settings = settings_for(p);
    if (profile.qps_limit != 0) {  // rate + burst <= the provider's limit (docs/channels.md)
      settings.qps = profile.qps_limit * 8 / 10;
      settings.burst = profile.qps_limit / 10;
    }
    auto config = config_with({{7, settings}});
    config.callbacks = callback_listener_config{};
    config.callbacks->port = callback_port;
    bench b(std::move(config));
    auto [up, down] = ups_then_downs(b, 7, 40, 10'000, 40, 1'000, 40, std::chrono::seconds(20));
    // The provider's own count, before this test's queries below add theirs.
    const int64_t peak_per_s = p.stats()["peak_requests_per_s"].get<int64_t>();
    size_t open = 0, closed_unpaid = 0;
    for (const auto* batch : {&up, &down})
      for (const auto& o : *batch) {
        if (o.reply.id != 0 && is_final(o.reply.state)) {
          expect_agreement(p, {o});
          closed_unpaid += o.command.kind == order_kind::top_up && p.status_of(o.reply.id) == "closed";
          continue;
        }
        // Not final in 20 s: only a payout the provider never settles (stuck), asked about for ever.
        ++open;
        EXPECT_EQ(std::string(name), "stuck") << o.command.request_id << ": " << to_string(o.reply.code);
        EXPECT_EQ(o.command.kind, order_kind::withdraw) << o.command.request_id;
      }
    if (std::string(name) == "stuck") {
      // Half its payers never pay: their top-ups are closed at the provider once the payment
      // deadline passed, and fail with nothing moved (1 in 10^12 that none of 40 is unpaid).
      EXPECT_GT(closed_unpaid, 0u);
    }
    auto audit = b.eng.audit_wallets();
    EXPECT_TRUE(audit.ok || open > 0) << audit.detail;  // the audit counts a held payout as open
    for (const auto& [cur, sum] : audit.sum_by_currency) EXPECT_EQ(sum, 0) << "currency " << cur;
    EXPECT_EQ(audit.open_transactions == 0, open == 0) << "a processing payout holds its money";
    if (profile.qps_limit != 0) {
      EXPECT_LE(peak_per_s, profile.qps_limit);
    }
  }
}

TEST(HttpChannel, AnOrdersQueriesNeverPileUpBehindASlowProvider) {
  // Every answer takes 300 ms and orders settle 1.5 to 2 s after the submit; the engine asks every
  // 100 ms at most. An order's next query while its last one is still out is dropped by the
  // adapter (the order asks again after the answer), so the provider sees about one query per
  // 300 ms per order, not one per 100 ms.
  auto profile = honest();
  profile.latency_min_ms = profile.latency_max_ms = 300;
  profile.settle_min_ms = 1'500;
  profile.settle_max_ms = 2'000;
  provider p(profile, "slow_queries");
  auto config = config_with({{7, settings_for(p)}});
  config.order.channel_submit_timeout_ms = 100;
  config.order.channel_query_min_delay_ms = 50;
  config.order.channel_query_max_interval_ms = 100;
  bench b(std::move(config));
  std::vector<order_command> ups;
  for (size_t i = 0; i < 20; ++i) ups.push_back(b.order(order_kind::top_up, i, 1'000, 7));
  auto up = run_all(b.eng, ups, 20, std::chrono::seconds(30));
  for (const auto& o : up) EXPECT_EQ(o.reply.state, order_state::succeeded) << to_string(o.reply.code);
  const int64_t queries = p.stats()["queries"].get<int64_t>();  // before expect_agreement's own
  expect_agreement(p, up);
  b.expect_conserved();
  int64_t coalesced = 0;
  for (const auto& [id, c] : b.eng.provider_counters()) coalesced += static_cast<int64_t>(c.queries_coalesced);
  EXPECT_GT(coalesced, 0);
  // At most one query out per order at a time: 2 s / 300 ms + 2 each, against ~20 each without.
  EXPECT_LE(queries, 20 * (2'000 / 300 + 2)) << coalesced << " coalesced";
}

TEST(HttpChannel, TheQpsCapIsNeverExceededAtTheProvider) {
  auto profile = honest();
  profile.qps_limit = 100;
  provider p(profile, "qps");
  auto s = settings_for(p);
  s.qps = 80;
  s.burst = 10;
  bench b(config_with({{7, s}}));
  std::vector<order_command> ups;
  for (size_t i = 0; i < 250; ++i) ups.push_back(b.order(order_kind::top_up, i, 100, 7));
  auto up = run_all(b.eng, ups, 64);
  for (const auto& o : up) EXPECT_EQ(o.reply.state, order_state::succeeded) << to_string(o.reply.code);
  auto stats = p.stats();
  EXPECT_EQ(stats["rate_limited"], 0);
  EXPECT_LE(stats["peak_requests_per_s"].get<int>(), 100);
  EXPECT_GE(stats["peak_requests_per_s"].get<int>(), 50) << "the cap was reached (the test means something)";
  b.expect_conserved();
}

TEST(HttpChannel, ADeadProviderDoesNotDelayAnother) {
  auto stuck_profile = honest();
  stuck_profile.hang_ppm = 1'000'000;  // takes everything, answers nothing
  stuck_profile.hang_ms = 60'000;
  provider stuck(stuck_profile, "stuck");
  provider good(honest(), "good");
  auto s_stuck = settings_for(stuck);
  s_stuck.submit_timeout_ms = s_stuck.query_timeout_ms = 30'000;
  s_stuck.submit_inflight_max = 8;
  bench b(config_with({{1, s_stuck}, {2, settings_for(good)}}));
  // Fill the stuck provider's slots and queue first.
  std::vector<order_command> stuck_orders;
  for (size_t i = 0; i < 50; ++i) stuck_orders.push_back(b.order(order_kind::top_up, i, 100, 1));
  // Their clients give up after 2 s; the orders stay in the engine, processing.
  std::thread stuck_runner([&] { run_all(b.eng, stuck_orders, 50, std::chrono::seconds(2)); });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (stuck.stats()["hung"].get<int>() < 8 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_GE(stuck.stats()["hung"].get<int>(), 8) << "the stuck provider's slots are all taken";
  std::vector<order_command> good_orders;
  for (size_t i = 0; i < 100; ++i) good_orders.push_back(b.order(order_kind::top_up, i, 100, 2));
  auto done = run_all(b.eng, good_orders);
  for (const auto& o : done) EXPECT_EQ(o.reply.state, order_state::succeeded) << to_string(o.reply.code);
  expect_agreement(good, done);
  stuck_runner.join();
  EXPECT_GE(b.eng.stats().orders.in_flight, 8u) << "the stuck provider's orders are still waiting, none failed";
}


//! Posts a callback as a provider would, signed with `secret`.
int post_callback(int port, channel_id channel, const json& body, const std::string& secret,
                  const std::string& key = "txsim-merchant") {
  httplib::Client c("127.0.0.1", port);
  std::string path = "/callbacks/" + std::to_string(channel), text = body.dump();
  int64_t ts = wall_ms();
  httplib::Headers h = {{txprovider::header_key, key},
                        {txprovider::header_timestamp, std::to_string(ts)},
                        {txprovider::header_signature,
                         txprovider::hmac_sha256_hex(secret, txprovider::signing_string("POST", path, ts, text))}};
  auto r = c.Post(path.c_str(), h, text, "application/json");
  return r ? r->status : -1;
}

TEST(HttpChannel, CallbacksSettleOrdersLongBeforeAnyQuery) {
  int callback_port = free_loopback_port();
  auto profile = honest();
  profile.settle_min_ms = 200;
  profile.settle_max_ms = 600;
  profile.callback_url = "http://127.0.0.1:" + std::to_string(callback_port) + "/callbacks/7";
  profile.callback_duplicate_ppm = 300'000;
  profile.callback_stale_ppm = 300'000;
  profile.callback_delay_max_ms = 200;
  provider p(profile, "callbacks");
  auto config = config_with({{7, settings_for(p)}});
  config.order.channel_submit_timeout_ms = 30'000;  // no query before 30 s: only callbacks finish orders in time
  config.order.channel_query_min_delay_ms = 30'000;
  config.order.channel_not_found_final_ms = 60'000;
  config.callbacks = callback_listener_config{};
  config.callbacks->port = callback_port;
  bench b(std::move(config));
  auto [up, down] = ups_then_downs(b, 7, 50, 1'000, 50, 300, 50, std::chrono::seconds(15));
  for (const auto* outcomes : {&up, &down})
    for (const auto& o : *outcomes) EXPECT_EQ(o.reply.state, order_state::succeeded) << to_string(o.reply.code);
  expect_agreement(p, up);
  expect_agreement(p, down);
  b.expect_conserved();
  auto counts = b.eng.callbacks()->counters();
  EXPECT_GE(counts.delivered, 100u);
  EXPECT_GT(counts.duplicates, 0u) << "the provider's duplicates were dropped";
  EXPECT_GT(counts.stale, 0u) << "its stale 'processing' callbacks changed nothing";
  EXPECT_EQ(counts.unauthorized, 0u);
  EXPECT_EQ(b.eng.stats().orders.channel_queries, 0u) << "no order needed a query";

  // A forged callback (another secret), a malformed one, one of an unknown channel: refused.
  order_id paid = up[0].reply.id;
  json forged = {{"order_id", std::to_string(paid)}, {"status", "declined"}, {"amount", 1000},
                 {"settled_amount", 0},           {"code", "x"},           {"event_id", "forged-1"}};
  EXPECT_EQ(post_callback(callback_port, 7, forged, "not-the-secret"), 401);
  EXPECT_EQ(post_callback(callback_port, 7, forged, profile.secret, "another-key"), 401);
  EXPECT_EQ(post_callback(callback_port, 8, forged, profile.secret), 401);
  {  // a channel id past 2^32 - 1 is no channel (not 7 truncated from 2^32 + 7), whoever signs it
    httplib::Client c("127.0.0.1", callback_port);
    std::string path = "/callbacks/4294967303", text = forged.dump();
    int64_t ts = wall_ms();
    httplib::Headers h = {{txprovider::header_key, profile.api_key},
                          {txprovider::header_timestamp, std::to_string(ts)},
                          {txprovider::header_signature, txprovider::hmac_sha256_hex(
                                                             profile.secret, txprovider::signing_string("POST", path, ts, text))}};
    auto r = c.Post(path.c_str(), h, text, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
  }
  EXPECT_EQ(post_callback(callback_port, 7, json{{"order_id", "12x"}, {"event_id", "e"}}, profile.secret), 400);
  // A genuine but contradicting one for an order already succeeded: alerted, nothing changes.
  auto before = b.eng.get_wallet(tenant, b.users[0]).current;
  EXPECT_EQ(post_callback(callback_port, 7, forged, profile.secret), 200);
  EXPECT_EQ(b.eng.callbacks()->counters().contradictions, 1u);
  EXPECT_EQ(b.eng.get_order(tenant, paid).state, order_state::succeeded);
  EXPECT_EQ(b.eng.get_wallet(tenant, b.users[0]).current, before);
  // One for an order this node does not hold (another node's id): kept and alerted.
  json stranger = forged;
  stranger["order_id"] = std::to_string(paid ^ (uint64_t{1} << 16));  // node id 1 (this node is 0)
  stranger["event_id"] = "stranger-1";
  EXPECT_EQ(post_callback(callback_port, 7, stranger, profile.secret), 200);
  EXPECT_EQ(b.eng.callbacks()->counters().unknown_orders, 1u);
  ASSERT_EQ(b.eng.callbacks()->kept().size(), 1u);
  EXPECT_EQ(b.eng.callbacks()->kept()[0].channel, 7u);
  b.expect_conserved();
}

}  // namespace
}  // namespace txengine
