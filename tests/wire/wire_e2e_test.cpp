// End-to-end tests over loopback: an in-process engine and server on an ephemeral port,
// real TCP clients. Every command, every error path, malformed frames, back-pressure.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>
#include <thread>

#include "protocol/client.hpp"
#include "protocol/server.hpp"

using namespace txengine;
using namespace txengine::wire;
using namespace std::chrono_literals;

namespace {

constexpr tenant_id other_tenant = 2;

struct fixture_state {
  std::unique_ptr<engine> eng;
  std::unique_ptr<server> srv;
  std::unique_ptr<server> tight;  // small per-connection limits
};

fixture_state* state = nullptr;

server_config base_config() {
  server_config config;
  config.host = "127.0.0.1";
  config.port = 0;
  config.keys.add(std::string(dev_key_id), std::string(dev_secret), dev_tenant);
  config.keys.add("other", "other-secret", other_tenant);
  return config;
}

class WireTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    state = new fixture_state;
    engine_config cfg;
    channel_config good;
    good.latency_ms = 1;
    good.decline_ppm = good.reply_lost_ppm = good.reply_unknown_ppm = good.submit_lost_ppm = good.partial_ppm = 0;
    cfg.channels = {{1, good}};
    state->eng = std::make_unique<engine>(cfg);
    state->srv = std::make_unique<server>(*state->eng, base_config());
    std::string error;
    ASSERT_TRUE(state->srv->start(error)) << error;
    auto tight = base_config();
    tight.in_flight_max = 4;
    tight.frame_size_max = 1024;
    state->tight = std::make_unique<server>(*state->eng, tight);
    ASSERT_TRUE(state->tight->start(error)) << error;
  }
  static void TearDownTestSuite() {
    state->srv.reset();
    state->tight.reset();
    state->eng.reset();
    delete state;
    state = nullptr;
  }

  std::unique_ptr<client> connect(uint16_t port = 0, std::string key = std::string(dev_key_id),
                                  std::string secret = std::string(dev_secret)) {
    client_options o;
    o.port = port ? port : state->srv->port();
    o.key_id = key;
    o.secret = secret;
    o.timeout = 10s;
    auto c = std::make_unique<client>(o);
    std::string error;
    EXPECT_TRUE(c->connect(error)) << error;
    return c;
  }

  Reply call(client& c, const Request& r) {
    std::string error;
    auto reply = c.call(r, error);
    EXPECT_TRUE(reply.has_value()) << error;
    return reply ? *reply : Reply{};
  }

  uint64_t create_wallet(client& c, WalletKind kind = WALLET_KIND_USER, const std::string& cur = "USD") {
    Request r;
    r.mutable_create_wallet()->set_kind(kind);
    r.mutable_create_wallet()->set_currency(cur);
    auto reply = call(c, r);
    EXPECT_EQ(reply.code(), OK) << reply.message();
    return reply.wallet().wallet();
  }

  Reply top_up(client& c, uint64_t wallet, int64_t amount, const std::string& id) {
    Request r;
    auto* t = r.mutable_top_up();
    t->set_request_id(id);
    t->set_wallet(wallet);
    t->set_amount(amount);
    t->set_currency("USD");
    return call(c, r);
  }

  Reply transfer(client& c, uint64_t from, uint64_t to, int64_t amount, const std::string& id,
                 const std::string& cur = "USD") {
    Request r;
    auto* t = r.mutable_transfer();
    t->set_request_id(id);
    t->set_from(from);
    t->set_to(to);
    t->set_amount(amount);
    t->set_currency(cur);
    return call(c, r);
  }

  Wallet get_wallet(client& c, uint64_t id) {
    Request r;
    r.mutable_get_wallet()->set_wallet(id);
    auto reply = call(c, r);
    EXPECT_EQ(reply.code(), OK);
    return reply.wallet();
  }

  static std::string unique(const std::string& prefix) {
    static std::atomic<uint64_t> n{0};
    return prefix + "-" + std::to_string(n++);
  }
};

}  // namespace

TEST_F(WireTest, CreateGetAndTopUp) {
  auto c = connect();
  uint64_t w = create_wallet(*c);
  ASSERT_NE(w, 0u);
  auto wallet = get_wallet(*c, w);
  EXPECT_EQ(wallet.currency(), "USD");
  EXPECT_EQ(wallet.kind(), WALLET_KIND_USER);
  EXPECT_EQ(wallet.status(), WALLET_STATUS_ACTIVE);
  auto reply = top_up(*c, w, 5000, unique("top"));
  ASSERT_EQ(reply.code(), OK) << reply.message();
  EXPECT_EQ(reply.order().state(), ORDER_STATE_SUCCEEDED);
  EXPECT_EQ(reply.order().kind(), ORDER_KIND_TOP_UP);
  EXPECT_NE(reply.order().order_id(), 0u);
  EXPECT_EQ(get_wallet(*c, w).balances().available(), 5000);
}

TEST_F(WireTest, EveryOrderKind) {
  auto c = connect();
  uint64_t user = create_wallet(*c), user2 = create_wallet(*c);
  uint64_t merchant = create_wallet(*c, WALLET_KIND_MERCHANT);
  uint64_t fee = create_wallet(*c, WALLET_KIND_FEE);
  ASSERT_EQ(top_up(*c, user, 10000, unique("t")).code(), OK);

  auto tr = transfer(*c, user, user2, 1000, unique("tr"));
  ASSERT_EQ(tr.code(), OK) << tr.message();
  EXPECT_EQ(tr.order().kind(), ORDER_KIND_TRANSFER);

  Request pay;
  auto* p = pay.mutable_pay();
  p->set_request_id(unique("pay"));
  p->set_payer(user);
  p->set_merchant(merchant);
  p->set_amount(2000);
  p->set_currency("USD");
  p->set_fee_wallet(fee);
  p->set_fee_amount(100);
  auto paid = call(*c, pay);
  ASSERT_EQ(paid.code(), OK) << paid.message();
  EXPECT_EQ(get_wallet(*c, merchant).balances().available(), 1900);
  EXPECT_EQ(get_wallet(*c, fee).balances().available(), 100);

  Request refund;
  auto* rf = refund.mutable_refund();
  rf->set_request_id(unique("refund"));
  rf->set_original_order(paid.order().order_id());
  rf->set_amount(500);
  rf->set_currency("USD");
  auto refunded = call(*c, refund);
  ASSERT_EQ(refunded.code(), OK) << refunded.message();
  rf->set_request_id(unique("refund"));
  rf->set_amount(5000);
  EXPECT_EQ(call(*c, refund).code(), REFUND_EXCEEDS_ORIGINAL);

  Request commission;
  auto* cm = commission.mutable_commission();
  cm->set_request_id(unique("com"));
  cm->set_from(fee);
  cm->set_to(merchant);
  cm->set_amount(50);
  cm->set_currency("USD");
  auto commissioned = call(*c, commission);
  EXPECT_EQ(commissioned.code(), OK) << commissioned.message();

  Request withdraw;
  auto* wd = withdraw.mutable_withdraw();
  wd->set_request_id(unique("wd"));
  wd->set_wallet(user2);
  wd->set_amount(300);
  wd->set_currency("USD");
  auto withdrawn = call(*c, withdraw);
  ASSERT_EQ(withdrawn.code(), OK) << withdrawn.message();
  EXPECT_EQ(get_wallet(*c, user2).balances().available(), 700);
  EXPECT_EQ(get_wallet(*c, user).balances().available(), 10000 - 1000 - 2000 + 500);

  Request get;
  get.mutable_get_order()->set_order_id(paid.order().order_id());
  auto order = call(*c, get);
  EXPECT_EQ(order.code(), OK);
  EXPECT_EQ(order.order().kind(), ORDER_KIND_PAY);
  EXPECT_EQ(order.order().state(), ORDER_STATE_SUCCEEDED);
  get.mutable_get_order()->set_order_id(12345);
  EXPECT_EQ(call(*c, get).code(), UNKNOWN_ORDER);
}

TEST_F(WireTest, IdempotencyAndConflict) {
  auto c = connect();
  uint64_t a = create_wallet(*c), b = create_wallet(*c);
  ASSERT_EQ(top_up(*c, a, 1000, unique("t")).code(), OK);
  std::string id = unique("same");
  auto first = transfer(*c, a, b, 100, id);
  ASSERT_EQ(first.code(), OK);
  auto again = transfer(*c, a, b, 100, id);
  EXPECT_EQ(again.code(), OK);
  EXPECT_TRUE(again.order().duplicate());
  EXPECT_EQ(again.order().order_id(), first.order().order_id());
  EXPECT_EQ(transfer(*c, a, b, 200, id).code(), DUPLICATE_CONFLICT);
  EXPECT_EQ(get_wallet(*c, a).balances().available(), 900);
}

TEST_F(WireTest, BusinessRejections) {
  auto c = connect();
  uint64_t a = create_wallet(*c), b = create_wallet(*c), eur = create_wallet(*c, WALLET_KIND_USER, "EUR");
  ASSERT_EQ(top_up(*c, a, 1000, unique("t")).code(), OK);
  EXPECT_EQ(transfer(*c, a, b, 0, unique("x")).code(), INVALID_AMOUNT);
  EXPECT_EQ(transfer(*c, a, b, 10, unique("x"), "usd").code(), INVALID_CURRENCY);
  EXPECT_EQ(transfer(*c, a, b, 10, "").code(), INVALID_REQUEST_ID);
  EXPECT_EQ(transfer(*c, a, b, 10, std::string(65, 'x')).code(), INVALID_REQUEST_ID);
  EXPECT_EQ(transfer(*c, a, a, 10, unique("x")).code(), SAME_WALLET);
  auto poor = transfer(*c, b, a, 10, unique("x"));
  EXPECT_EQ(poor.code(), INSUFFICIENT_FUNDS);
  EXPECT_EQ(poor.order().state(), ORDER_STATE_FAILED);
  EXPECT_EQ(transfer(*c, a, eur, 10, unique("x")).code(), CURRENCY_MISMATCH);
  EXPECT_EQ(transfer(*c, a, 999999, 10, unique("x")).code(), UNKNOWN_WALLET);
  Request w;
  w.mutable_get_wallet()->set_wallet(999999);
  EXPECT_EQ(call(*c, w).code(), UNKNOWN_WALLET);
  Request cw;
  cw.mutable_create_wallet()->set_currency("US");
  EXPECT_EQ(call(*c, cw).code(), INVALID_CURRENCY);
  cw.mutable_create_wallet()->set_currency("USD");
  cw.mutable_create_wallet()->set_kind(WALLET_KIND_SYSTEM);
  EXPECT_EQ(call(*c, cw).code(), WALLET_KIND_NOT_ALLOWED);
  cw.mutable_create_wallet()->set_kind(WALLET_KIND_USER);
  cw.mutable_create_wallet()->set_overdraft_limit(-1);
  EXPECT_EQ(call(*c, cw).code(), INVALID_LIMIT);
  EXPECT_EQ(get_wallet(*c, a).balances().available(), 1000);
  EXPECT_EQ(get_wallet(*c, b).balances().available(), 0);
}

TEST_F(WireTest, WalletAdministration) {
  auto c = connect();
  uint64_t a = create_wallet(*c), b = create_wallet(*c);
  ASSERT_EQ(top_up(*c, a, 1000, unique("t")).code(), OK);
  Request freeze;
  freeze.mutable_freeze_wallet()->set_wallet(a);
  auto frozen = call(*c, freeze);
  ASSERT_EQ(frozen.code(), OK);
  EXPECT_EQ(frozen.wallet().status(), WALLET_STATUS_FROZEN);
  EXPECT_EQ(transfer(*c, a, b, 10, unique("x")).code(), WALLET_FROZEN);
  Request unfreeze;
  unfreeze.mutable_unfreeze_wallet()->set_wallet(a);
  EXPECT_EQ(call(*c, unfreeze).wallet().status(), WALLET_STATUS_ACTIVE);
  EXPECT_EQ(transfer(*c, a, b, 10, unique("x")).code(), OK);

  Request limit;
  limit.mutable_set_limit()->set_wallet(b);
  limit.mutable_set_limit()->set_overdraft_limit(500);
  auto limited = call(*c, limit);
  ASSERT_EQ(limited.code(), OK);
  EXPECT_EQ(limited.wallet().overdraft_limit(), 500);
  EXPECT_EQ(transfer(*c, b, a, 300, unique("x")).code(), OK);  // 10 - 300 = -290 >= -500
  limit.mutable_set_limit()->set_overdraft_limit(-5);
  EXPECT_EQ(call(*c, limit).code(), INVALID_LIMIT);

  Request close;
  close.mutable_close_wallet()->set_wallet(a);
  EXPECT_EQ(call(*c, close).code(), WALLET_NOT_EMPTY);
  uint64_t empty = create_wallet(*c);
  close.mutable_close_wallet()->set_wallet(empty);
  auto closed = call(*c, close);
  EXPECT_EQ(closed.code(), OK);
  EXPECT_EQ(closed.wallet().status(), WALLET_STATUS_CLOSED);
  EXPECT_EQ(transfer(*c, a, empty, 10, unique("x")).code(), WALLET_CLOSED);
}

TEST_F(WireTest, MovementsPagingAndStats) {
  auto c = connect();
  uint64_t a = create_wallet(*c), b = create_wallet(*c);
  ASSERT_EQ(top_up(*c, a, 1000, unique("t")).code(), OK);
  for (int i = 0; i < 5; ++i) ASSERT_EQ(transfer(*c, a, b, 10, unique("m")).code(), OK);
  Request list;
  list.mutable_list_movements()->set_wallet(a);
  list.mutable_list_movements()->set_limit(3);
  std::vector<Movement> all;
  for (int page = 0; page < 20; ++page) {
    auto reply = call(*c, list);
    ASSERT_EQ(reply.code(), OK);
    for (const auto& m : reply.movements().movements()) all.push_back(m);
    if (!reply.movements().more()) break;
    list.mutable_list_movements()->set_from_sequence(reply.movements().next_sequence());
  }
  ASSERT_GE(all.size(), 7u);  // top-up and 5 transfers, each with try and confirm entries
  for (size_t i = 1; i < all.size(); ++i) EXPECT_GT(all[i].sequence(), all[i - 1].sequence());
  EXPECT_EQ(all.back().after().available(), 950);
  list.mutable_list_movements()->set_limit(5000);
  EXPECT_EQ(call(*c, list).code(), REQUEST_TOO_LARGE);
  list.mutable_list_movements()->set_wallet(999999);
  list.mutable_list_movements()->set_limit(10);
  EXPECT_EQ(call(*c, list).code(), UNKNOWN_WALLET);
  Request stats;
  stats.mutable_get_stats();
  auto s = call(*c, stats);
  EXPECT_EQ(s.code(), OK);
  EXPECT_GE(s.stats().succeeded(), 6u);
  EXPECT_GE(s.stats().wallets(), 2u);
}

TEST_F(WireTest, AuthenticationFailuresChangeNothing) {
  auto c = connect();
  uint64_t a = create_wallet(*c), b = create_wallet(*c);
  ASSERT_EQ(top_up(*c, a, 1000, unique("t")).code(), OK);
  auto unknown = connect(0, "nobody", "x");
  EXPECT_EQ(transfer(*unknown, a, b, 10, unique("x")).code(), UNAUTHENTICATED);
  auto wrong = connect(0, std::string(dev_key_id), "wrong-secret");
  EXPECT_EQ(transfer(*wrong, a, b, 10, unique("x")).code(), UNAUTHENTICATED);
  // Stale: a correctly signed request from 60 s ago.
  Request r;
  auto* t = r.mutable_transfer();
  t->set_request_id(unique("stale"));
  t->set_from(a);
  t->set_to(b);
  t->set_amount(10);
  t->set_currency("USD");
  std::promise<Reply> stale;
  c->on_unsolicited([&](uint64_t id, const Reply& reply) {
    if (id == 777) stale.set_value(reply);
  });
  ASSERT_TRUE(c->send_raw(c->frame(777, r, now_ms() - 60'000)));
  auto f = stale.get_future();
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(f.get().code(), STALE_REQUEST);
  // The connection still works after rejections, and nothing moved.
  EXPECT_EQ(get_wallet(*c, a).balances().available(), 1000);
  EXPECT_EQ(get_wallet(*c, b).balances().available(), 0);
  EXPECT_TRUE(unknown->connected());
}

TEST_F(WireTest, TenantIsolation) {
  auto c = connect();
  auto other = connect(0, "other", "other-secret");
  uint64_t a = create_wallet(*c), b = create_wallet(*c);
  auto topped = top_up(*c, a, 1000, unique("t"));
  ASSERT_EQ(topped.code(), OK);
  uint64_t mine = create_wallet(*other);
  Request w;
  w.mutable_get_wallet()->set_wallet(a);
  auto seen = call(*other, w);
  EXPECT_NE(seen.code(), OK);
  EXPECT_FALSE(seen.has_wallet());
  EXPECT_NE(transfer(*other, a, mine, 10, unique("steal")).code(), OK);
  EXPECT_NE(transfer(*other, a, b, 10, unique("steal")).code(), OK);
  Request freeze;
  freeze.mutable_freeze_wallet()->set_wallet(a);
  EXPECT_NE(call(*other, freeze).code(), OK);
  Request get;
  get.mutable_get_order()->set_order_id(topped.order().order_id());
  EXPECT_EQ(call(*other, get).code(), UNKNOWN_ORDER);
  Request list;
  list.mutable_list_movements()->set_wallet(a);
  EXPECT_NE(call(*other, list).code(), OK);
  auto wallet = get_wallet(*c, a);
  EXPECT_EQ(wallet.balances().available(), 1000);
  EXPECT_EQ(wallet.status(), WALLET_STATUS_ACTIVE);
}

namespace {

Reply await_unsolicited(client& c, uint64_t id, const std::string& bytes) {
  auto p = std::make_shared<std::promise<Reply>>();
  auto f = p->get_future();
  auto once = std::make_shared<std::atomic<bool>>(false);
  c.on_unsolicited([=](uint64_t got, const Reply& reply) {
    if (got == id && !once->exchange(true)) p->set_value(reply);
  });
  EXPECT_TRUE(c.send_raw(bytes));
  if (f.wait_for(10s) != std::future_status::ready) {
    ADD_FAILURE() << "no reply";
    return Reply{};
  }
  return f.get();
}

}  // namespace

TEST_F(WireTest, MalformedFramesAreAnsweredAndChangeNothing) {
  auto c = connect();
  uint64_t a = create_wallet(*c), b = create_wallet(*c);
  ASSERT_EQ(top_up(*c, a, 1000, unique("t")).code(), OK);
  // Garbage payload: answered, connection stays.
  std::string garbage;
  append_frame(garbage, "\xff\xfe\xfd garbage that is not protobuf");
  EXPECT_EQ(await_unsolicited(*c, 0, garbage).code(), MALFORMED_REQUEST);
  // A reply sent to the server (wrong type).
  Envelope reply;
  reply.set_correlation_id(41);
  reply.mutable_reply()->set_code(OK);
  std::string wrong;
  append_envelope_frame(wrong, reply);
  EXPECT_EQ(await_unsolicited(*c, 41, wrong).code(), MALFORMED_REQUEST);
  // A signed request without a command.
  EXPECT_EQ(await_unsolicited(*c, 42, c->frame(42, Request{}, now_ms())).code(), MALFORMED_REQUEST);
  // Request bytes that are not a Request.
  Envelope bad;
  bad.set_correlation_id(43);
  bad.set_request("\x0a\xff\xff\xff");
  std::string bad_frame;
  append_envelope_frame(bad_frame, bad);
  EXPECT_EQ(await_unsolicited(*c, 43, bad_frame).code(), MALFORMED_REQUEST);
  EXPECT_TRUE(c->connected());
  EXPECT_EQ(get_wallet(*c, a).balances().available(), 1000);

  // Oversized frame: answered frame_too_large, then closed.
  auto big = connect();
  std::string header = {0, 1, 0, 1};  // 65537 bytes announced
  EXPECT_EQ(await_unsolicited(*big, 0, header).code(), FRAME_TOO_LARGE);
  EXPECT_TRUE(big->wait_closed(10s));
  // Zero-length frame: answered, then closed.
  auto zero = connect();
  EXPECT_EQ(await_unsolicited(*zero, 0, std::string(4, '\0')).code(), MALFORMED_REQUEST);
  EXPECT_TRUE(zero->wait_closed(10s));
  // A truncated frame and a hang-up: the server just drops the connection.
  {
    auto cut = connect();
    Request r;
    r.mutable_transfer()->set_request_id(unique("cut"));
    r.mutable_transfer()->set_from(a);
    r.mutable_transfer()->set_to(b);
    r.mutable_transfer()->set_amount(10);
    r.mutable_transfer()->set_currency("USD");
    std::string bytes = cut->frame(9, r, now_ms());
    ASSERT_TRUE(cut->send_raw(bytes.substr(0, bytes.size() - 3)));
  }
  // Random garbage streams on fresh connections: never a crash.
  for (int i = 0; i < 20; ++i) {
    auto g = connect();
    std::string noise(200 + i * 37, '\0');
    uint32_t x = 12345 + i;
    for (auto& ch : noise) ch = static_cast<char>((x = x * 1103515245 + 12345) >> 16);
    g->send_raw(noise);
  }
  // The server still serves and nothing moved.
  auto after = connect();
  EXPECT_EQ(get_wallet(*after, a).balances().available(), 1000);
  EXPECT_EQ(get_wallet(*after, b).balances().available(), 0);
  EXPECT_EQ(transfer(*after, a, b, 10, unique("ok")).code(), OK);
}

TEST_F(WireTest, PipelinedRepliesMatchTheirRequests) {
  auto c = connect();
  uint64_t a = create_wallet(*c), b = create_wallet(*c);
  ASSERT_EQ(top_up(*c, a, 1'000'000, unique("t")).code(), OK);
  constexpr int n = 3000;
  std::atomic<int> done{0}, ok{0}, mismatched{0};
  std::promise<void> all;
  for (int i = 0; i < n; ++i) {
    Request r;
    auto* t = r.mutable_transfer();
    t->set_request_id("pipe-" + std::to_string(i));
    t->set_from(a);
    t->set_to(b);
    t->set_amount(1 + i % 7);
    t->set_currency("USD");
    int64_t expected = 1 + i % 7;
    ASSERT_TRUE(c->call_async(r, [&, expected, i](const Reply* reply) {
      if (reply && reply->code() == OK) ++ok;
      if (!reply || reply->order().amount() != expected || reply->order().request_id() != "pipe-" + std::to_string(i))
        ++mismatched;
      if (++done == n) all.set_value();
    }));
  }
  ASSERT_EQ(all.get_future().wait_for(60s), std::future_status::ready);
  EXPECT_EQ(ok.load(), n);
  EXPECT_EQ(mismatched.load(), 0);
}

TEST_F(WireTest, BackPressureWithSmallInFlightLimit) {
  auto c = connect(state->tight->port());
  uint64_t a = create_wallet(*c), b = create_wallet(*c);
  ASSERT_EQ(top_up(*c, a, 100'000, unique("t")).code(), OK);
  constexpr int n = 500;
  std::atomic<int> done{0}, ok{0};
  std::promise<void> all;
  for (int i = 0; i < n; ++i) {
    Request r;
    auto* t = r.mutable_transfer();
    t->set_request_id(unique("bp"));
    t->set_from(a);
    t->set_to(b);
    t->set_amount(1);
    t->set_currency("USD");
    ASSERT_TRUE(c->call_async(r, [&](const Reply* reply) {
      if (reply && reply->code() == OK) ++ok;
      if (++done == n) all.set_value();
    }));
  }
  ASSERT_EQ(all.get_future().wait_for(60s), std::future_status::ready);
  EXPECT_EQ(ok.load(), n);
  EXPECT_GT(state->tight->counters().paused_reads.load(), 0u);
  // The tight server's frame limit (1 KiB) applies too.
  auto big = connect(state->tight->port());
  std::string header = {0, 0, 8, 0};  // 2048 bytes
  EXPECT_EQ(await_unsolicited(*big, 0, header).code(), FRAME_TOO_LARGE);
}

TEST_F(WireTest, ManyConnections) {
  auto setup = connect();
  uint64_t a = create_wallet(*setup), b = create_wallet(*setup);
  ASSERT_EQ(top_up(*setup, a, 1'000'000, unique("t")).code(), OK);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 32; ++t)
    threads.emplace_back([&, t] {
      auto c = connect();
      for (int i = 0; i < 20; ++i)
        if (transfer(*c, a, b, 1, "many-" + std::to_string(t) + "-" + std::to_string(i)).code() == OK) ++ok;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 32 * 20);
  EXPECT_EQ(get_wallet(*setup, b).balances().available(), 640);
}
