// TLS 1.3 end to end (issue 13): an in-process engine and TLS servers on ephemeral ports of
// loopback, the C++ client over TLS; certificates made at test time (tests/tls_support.hpp).
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "protocol/client.hpp"
#include "protocol/server.hpp"
#include "tests/wire/wire_support.hpp"
#include "tests/tls_support.hpp"

using namespace txengine;
using namespace txengine::wire;
using namespace std::chrono_literals;

namespace {

struct tls_state {
  std::unique_ptr<tls_testing::test_pki> pki;
  std::unique_ptr<engine> eng;
  std::unique_ptr<server> srv;    // TLS
  std::unique_ptr<server> mtls;   // mutual TLS
  std::unique_ptr<server> plain;  // plain TCP
};

tls_state* state = nullptr;

class TlsWireTest : public ::testing::Test {
 protected:
  static server_config config(bool tls, bool mutual) {
    server_config c;
    c.host = "127.0.0.1";
    c.port = 0;
    c.keys.add(std::string(dev_key_id), std::string(dev_secret), dev_tenant);
    if (tls) c.tls = {state->pki->cert("server"), state->pki->key("server"), mutual ? state->pki->cert("ca") : ""};
    return c;
  }

  static void SetUpTestSuite() {
    state = new tls_state;
    state->pki = std::make_unique<tls_testing::test_pki>();
    state->eng = std::make_unique<engine>(wire_testing::engine_with_good_channel());
    std::string error;
    state->srv = std::make_unique<server>(*state->eng, config(true, false));
    ASSERT_TRUE(state->srv->start(error)) << error;
    state->mtls = std::make_unique<server>(*state->eng, config(true, true));
    ASSERT_TRUE(state->mtls->start(error)) << error;
    state->plain = std::make_unique<server>(*state->eng, config(false, false));
    ASSERT_TRUE(state->plain->start(error)) << error;
  }
  static void TearDownTestSuite() {
    state->srv.reset();
    state->mtls.reset();
    state->plain.reset();
    state->eng.reset();
    state->pki.reset();
    delete state;
    state = nullptr;
  }

  static client_options options(uint16_t port, const std::string& ca = "ca") {
    client_options o;
    o.port = port;
    o.timeout = 10s;
    if (!ca.empty()) o.tls.ca = state->pki->cert(ca);
    return o;
  }

  static Reply call(client& c, const Request& r) {
    std::string error;
    auto reply = c.call(r, error);
    EXPECT_TRUE(reply.has_value()) << error;
    return reply ? *reply : Reply{};
  }

  static Request stats() {
    Request r;
    r.mutable_get_stats();
    return r;
  }

  template <class Pred>
  static bool eventually(Pred pred) {
    for (int i = 0; i < 1000; ++i) {
      if (pred()) return true;
      std::this_thread::sleep_for(10ms);
    }
    return pred();
  }
};

}  // namespace

TEST_F(TlsWireTest, tls_client_submits_orders_and_queries) {
  client c(options(state->srv->port()));
  std::string error;
  ASSERT_TRUE(c.connect(error)) << error;
  uint64_t wallets[2];
  for (auto& w : wallets) {
    Request r;
    r.mutable_create_wallet()->set_kind(WALLET_KIND_USER);
    r.mutable_create_wallet()->set_currency("USD");
    auto reply = call(c, r);
    ASSERT_EQ(reply.code(), OK);
    w = reply.wallet().wallet();
  }
  Request top_up;
  auto* t = top_up.mutable_top_up();
  t->set_request_id("tls-top-up-1"), t->set_wallet(wallets[0]), t->set_amount(10'000), t->set_currency("USD");
  t->set_channel(1);
  ASSERT_EQ(call(c, top_up).code(), OK);
  // Many transfers pipelined: several records each way.
  std::atomic<int> ok{0};
  std::atomic<int> answered{0};
  for (int i = 0; i < 200; ++i) {
    Request r;
    auto* tr = r.mutable_transfer();
    tr->set_request_id("tls-transfer-" + std::to_string(i)), tr->set_from(wallets[0]), tr->set_to(wallets[1]);
    tr->set_amount(10), tr->set_currency("USD");
    ASSERT_TRUE(c.call_async(r, [&](const Reply* reply) {
      if (reply && reply->code() == OK) ++ok;
      ++answered;
    }));
  }
  ASSERT_TRUE(eventually([&] { return answered.load() == 200; }));
  EXPECT_EQ(ok.load(), 200);
  Request get;
  get.mutable_get_wallet()->set_wallet(wallets[1]);
  auto reply = call(c, get);
  ASSERT_EQ(reply.code(), OK);
  EXPECT_EQ(reply.wallet().balances().available(), 2000);
  EXPECT_GE(state->srv->counters().tls_handshakes.load(), 1u);
  c.close();
}

TEST_F(TlsWireTest, tls_client_checks_the_server_certificate) {
  {
    client c(options(state->srv->port(), "other_ca"));
    std::string error;
    EXPECT_FALSE(c.connect(error));
    EXPECT_NE(error.find("certificate verify failed"), std::string::npos) << error;
  }
  {
    auto o = options(state->srv->port());
    o.tls_server_name = "pay.example.com";  // not a name of the certificate
    client c(o);
    std::string error;
    EXPECT_FALSE(c.connect(error));
    EXPECT_NE(error.find("hostname mismatch"), std::string::npos) << error;
  }
  {
    auto o = options(state->srv->port());
    o.host = "localhost";  // a DNS name of the certificate (resolves to loopback)
    client c(o);
    std::string error;
    if (c.connect(error)) {
      EXPECT_EQ(call(c, stats()).code(), OK);
    } else {
      // localhost may resolve to ::1 first, where nothing listens: only that is acceptable.
      EXPECT_NE(error.find("cannot connect"), std::string::npos) << error;
      EXPECT_EQ(error.find("TLS"), std::string::npos) << error;
    }
  }
}

TEST_F(TlsWireTest, tls_mutual_refuses_a_client_without_certificate) {
  uint64_t failures = state->mtls->counters().tls_handshake_failures.load();
  client c(options(state->mtls->port()));
  std::string error;
  // TLS 1.3: the client's side of the handshake ends before the server checks its certificate;
  // the refusal comes as an alert, and the first call fails with it.
  if (c.connect(error)) {
    auto reply = c.call(stats(), error);
    EXPECT_FALSE(reply.has_value());
    EXPECT_NE(error.find("certificate required"), std::string::npos) << error;
  }
  EXPECT_TRUE(eventually([&] { return state->mtls->counters().tls_handshake_failures.load() > failures; }));
  EXPECT_EQ(state->mtls->counters().requests.load(), 0u);

  auto o = options(state->mtls->port());
  o.tls.cert = state->pki->cert("client");
  o.tls.key = state->pki->key("client");
  client with_cert(o);
  ASSERT_TRUE(with_cert.connect(error)) << error;
  EXPECT_EQ(call(with_cert, stats()).code(), OK);
}

TEST_F(TlsWireTest, tls_plain_client_against_tls_server_fails_cleanly) {
  uint64_t failures = state->srv->counters().tls_handshake_failures.load();
  uint64_t requests = state->srv->counters().requests.load();
  client c(options(state->srv->port(), ""));
  std::string error;
  ASSERT_TRUE(c.connect(error)) << error;  // TCP only
  auto reply = c.call(stats(), error);
  EXPECT_FALSE(reply.has_value());
  EXPECT_NE(error.find("connection lost"), std::string::npos) << error;
  EXPECT_TRUE(c.wait_closed(10s));
  EXPECT_TRUE(eventually([&] { return state->srv->counters().tls_handshake_failures.load() > failures; }));
  EXPECT_EQ(state->srv->counters().requests.load(), requests);  // nothing was decoded, nothing ran
}

TEST_F(TlsWireTest, tls_client_against_plain_server_fails_cleanly) {
  auto o = options(state->plain->port());
  o.timeout = 5s;
  client c(o);
  std::string error;
  EXPECT_FALSE(c.connect(error));
  EXPECT_NE(error.find("TLS"), std::string::npos) << error;
  EXPECT_FALSE(c.connected());
}

// A TLS client that never finishes its handshake holds a slot like a silent plain one: closed at
// the authentication deadline, on the server's clock.
TEST_F(TlsWireTest, tls_unfinished_handshake_is_closed_at_the_auth_deadline) {
  auto clock = std::make_shared<std::atomic<int64_t>>(now_ms());
  auto cfg = config(true, false);
  cfg.clock = [clock] { return clock->load(); };
  cfg.auth_deadline_ms = 10'000;
  cfg.sweep_interval_ms = 3'600'000;
  server s(*state->eng, cfg);
  std::string error;
  ASSERT_TRUE(s.start(error)) << error;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(s.port());
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  // Half a ClientHello record header: a handshake begun, never finished.
  ASSERT_EQ(::send(fd, "\x16\x03\x01", 3, 0), 3);
  ASSERT_TRUE(eventually([&] { return s.counters().connections_open.load() == 1; }));
  EXPECT_EQ(s.sweep_now(), 0u);
  clock->fetch_add(10'000);
  EXPECT_EQ(s.sweep_now(), 1u);
  EXPECT_EQ(s.counters().closed_unauthenticated.load(), 1u);
  char byte;
  EXPECT_EQ(::recv(fd, &byte, 1, 0), 0);  // closed by the server
  ::close(fd);
}

TEST_F(TlsWireTest, tls_server_refuses_to_start_with_unusable_files) {
  auto cfg = config(true, false);
  cfg.tls.key = state->pki->key("client");  // another certificate's key
  server s(*state->eng, cfg);
  std::string error;
  EXPECT_FALSE(s.start(error));
  EXPECT_NE(error.find("does not match"), std::string::npos) << error;
  cfg.tls.cert = state->pki->dir + "/nope.crt";
  server s2(*state->eng, cfg);
  EXPECT_FALSE(s2.start(error));
  EXPECT_NE(error.find("nope.crt"), std::string::npos) << error;
}
