// Unit tests of protocol/tls: two sessions connected in memory (no sockets), certificates made
// at test time (tests/tls_support.hpp).
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <openssl/ssl.h>

#include "protocol/tls.hpp"
#include "tests/tls_support.hpp"

using namespace txengine;
using namespace txengine::wire;

namespace {

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pki = new tls_testing::test_pki; }
  static void TearDownTestSuite() {
    delete pki;
    pki = nullptr;
  }

  static std::shared_ptr<tls_context> server_context(const std::string& client_ca = "") {
    std::string error;
    auto ctx = tls_context::server({pki->cert("server"), pki->key("server"), client_ca}, error);
    EXPECT_TRUE(ctx) << error;
    return ctx;
  }
  static std::shared_ptr<tls_context> client_context(const std::string& ca, const std::string& cert = "",
                                                     const std::string& key = "") {
    std::string error;
    auto ctx = tls_context::client({cert, key, ca}, error);
    EXPECT_TRUE(ctx) << error;
    return ctx;
  }

  //! Moves bytes both ways until neither side has anything to send, or one failed.
  static bool pump(tls_session& client, tls_session& server, std::string& client_in, std::string& server_in) {
    for (int round = 0; round < 16; ++round) {
      std::string bytes;
      client.drain(bytes);
      if (!bytes.empty() && !server.feed(bytes.data(), bytes.size(), server_in)) return false;
      bytes.clear();
      server.drain(bytes);
      if (!bytes.empty() && !client.feed(bytes.data(), bytes.size(), client_in)) return false;
      if (!client.pending_output() && !server.pending_output()) return true;
    }
    return true;
  }

  //! A client of `server` for "localhost" with the right CA, its handshake done.
  static std::unique_ptr<tls_session> connected_client(tls_session& server) {
    auto client = std::make_unique<tls_session>(client_context(pki->cert("ca")), "localhost");
    std::string a, b;
    EXPECT_TRUE(client->start() && pump(*client, server, a, b)) << client->error() << server.error();
    EXPECT_TRUE(client->handshake_done() && server.handshake_done());
    return client;
  }

  //! The record(s) a connected client sends for `text`.
  static std::string records_of(tls_session& client, const std::string& text) {
    std::string bytes;
    EXPECT_TRUE(client.write(text.data(), text.size()));
    client.drain(bytes);
    return bytes;
  }

  static tls_testing::test_pki* pki;
};

tls_testing::test_pki* TlsTest::pki = nullptr;

TEST_F(TlsTest, tls_handshake_then_data_both_ways) {
  tls_session server(server_context());
  tls_session client(client_context(pki->cert("ca")), "localhost");
  ASSERT_TRUE(server.start());
  ASSERT_TRUE(client.start());
  // Written before the handshake: kept, sent once it is done.
  ASSERT_TRUE(client.write("early", 5));
  std::string at_client, at_server;
  ASSERT_TRUE(pump(client, server, at_client, at_server)) << client.error() << server.error();
  EXPECT_TRUE(client.handshake_done());
  EXPECT_TRUE(server.handshake_done());
  EXPECT_EQ(at_server, "early");
  std::string big(100'000, 'x');  // several records
  ASSERT_TRUE(server.write(big.data(), big.size()));
  ASSERT_TRUE(client.write("ping", 4));
  ASSERT_TRUE(pump(client, server, at_client, at_server));
  EXPECT_EQ(at_client, big);
  EXPECT_EQ(at_server, "earlyping");
}

TEST_F(TlsTest, tls_handshake_by_ip_address) {
  tls_session server(server_context());
  tls_session client(client_context(pki->cert("ca")), "127.0.0.1");
  ASSERT_TRUE(client.start());
  std::string a, b;
  ASSERT_TRUE(pump(client, server, a, b)) << client.error();
  EXPECT_TRUE(client.handshake_done());
}

TEST_F(TlsTest, tls_garbage_before_the_handshake_is_an_error) {
  tls_session server(server_context());
  std::string plaintext;
  const char bytes[] = "\x00\x00\x00\x10 a plain frame, not a TLS record";
  std::string junk(bytes, sizeof bytes - 1);
  EXPECT_FALSE(server.feed(junk.data(), junk.size(), plaintext));
  EXPECT_TRUE(server.failed());
  EXPECT_FALSE(server.error().empty());
  EXPECT_TRUE(plaintext.empty());
  // Failed for good: more bytes change nothing.
  EXPECT_FALSE(server.feed("x", 1, plaintext));
  EXPECT_FALSE(server.write("x", 1));
}

TEST_F(TlsTest, tls_corrupt_record_after_the_handshake_is_an_error) {
  tls_session server(server_context());
  auto client = connected_client(server);
  std::string b;
  std::string record = records_of(*client, "hello, server");
  ASSERT_GT(record.size(), 10u);
  record[record.size() - 3] ^= 0x55;  // the authentication tag no longer matches
  EXPECT_FALSE(server.feed(record.data(), record.size(), b));
  EXPECT_NE(server.error().find("failed"), std::string::npos) << server.error();
  EXPECT_TRUE(b.empty());
  // The server says why before closing: an alert to send.
  EXPECT_TRUE(server.pending_output());
}

TEST_F(TlsTest, tls_truncated_record_is_an_error_at_end_of_input) {
  tls_session server(server_context());
  auto client = connected_client(server);
  std::string b;
  std::string record = records_of(*client, "a whole sentence");
  // Half a record: nothing yet, no error yet (the rest may come) ...
  EXPECT_TRUE(server.feed(record.data(), record.size() / 2, b));
  EXPECT_TRUE(b.empty());
  // ... but the stream ends there: truncated.
  EXPECT_FALSE(server.end_of_input());
  EXPECT_FALSE(server.error().empty());
}

TEST_F(TlsTest, tls_close_notify_is_a_clean_end) {
  tls_session server(server_context());
  auto client = connected_client(server);
  client->shutdown();
  std::string bytes, plaintext;
  client->drain(bytes);
  EXPECT_TRUE(server.feed(bytes.data(), bytes.size(), plaintext));
  EXPECT_TRUE(server.peer_closed());
  EXPECT_TRUE(server.end_of_input()) << server.error();
}

TEST_F(TlsTest, tls_wrong_ca_fails_verification) {
  tls_session server(server_context());
  tls_session client(client_context(pki->cert("other_ca")), "localhost");
  ASSERT_TRUE(client.start());
  std::string a, b;
  EXPECT_FALSE(pump(client, server, a, b));
  EXPECT_TRUE(client.failed());
  EXPECT_NE(client.error().find("certificate verify failed"), std::string::npos) << client.error();
  EXPECT_FALSE(client.handshake_done());
}

TEST_F(TlsTest, tls_wrong_host_name_fails_verification) {
  tls_session server(server_context());
  tls_session client(client_context(pki->cert("ca")), "pay.example.com");
  ASSERT_TRUE(client.start());
  std::string a, b;
  EXPECT_FALSE(pump(client, server, a, b));
  EXPECT_NE(client.error().find("hostname mismatch"), std::string::npos) << client.error();
}

TEST_F(TlsTest, tls_mutual_requires_a_client_certificate) {
  {
    tls_session server(server_context(pki->cert("ca")));
    tls_session client(client_context(pki->cert("ca")), "localhost");
    ASSERT_TRUE(client.start());
    std::string a, b;
    EXPECT_FALSE(pump(client, server, a, b));
    EXPECT_TRUE(server.failed());
    EXPECT_NE(server.error().find("certificate"), std::string::npos) << server.error();
  }
  {
    tls_session server(server_context(pki->cert("ca")));
    tls_session client(client_context(pki->cert("ca"), pki->cert("client"), pki->key("client")), "localhost");
    ASSERT_TRUE(client.start());
    ASSERT_TRUE(client.write("signed", 6));
    std::string a, b;
    ASSERT_TRUE(pump(client, server, a, b)) << server.error() << client.error();
    EXPECT_TRUE(server.handshake_done());
    EXPECT_EQ(b, "signed");
  }
  {
    // A certificate from another CA is refused too.
    tls_session server(server_context(pki->cert("ca")));
    tls_session client(client_context(pki->cert("ca"), pki->cert("other_server"), pki->key("other_server")),
                       "localhost");
    ASSERT_TRUE(client.start());
    std::string a, b;
    EXPECT_FALSE(pump(client, server, a, b));
    EXPECT_TRUE(server.failed());
  }
}

//! A raw OpenSSL client limited to TLS 1.2, on memory BIOs like the session.
TEST_F(TlsTest, tls12_only_peer_is_refused) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  ASSERT_NE(ctx, nullptr);
  SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  SSL* ssl = SSL_new(ctx);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);
  SSL_set_connect_state(ssl);
  tls_session server(server_context());
  EXPECT_EQ(SSL_do_handshake(ssl), -1);  // the hello goes out, then it waits
  bool refused = false;
  for (int round = 0; round < 8 && !refused; ++round) {
    std::string bytes(static_cast<size_t>(BIO_ctrl_pending(out)), '\0');
    if (bytes.empty()) break;
    BIO_read(out, bytes.data(), static_cast<int>(bytes.size()));
    std::string plaintext;
    if (!server.feed(bytes.data(), bytes.size(), plaintext)) refused = true;
    std::string reply;
    server.drain(reply);
    BIO_write(in, reply.data(), static_cast<int>(reply.size()));
    SSL_do_handshake(ssl);
  }
  EXPECT_TRUE(refused);
  EXPECT_NE(server.error().find("protocol"), std::string::npos) << server.error();
  EXPECT_FALSE(server.handshake_done());
  SSL_free(ssl);
  SSL_CTX_free(ctx);
}

TEST_F(TlsTest, tls_context_file_errors_are_clear) {
  std::string error;
  EXPECT_FALSE(tls_context::server({pki->dir + "/missing.crt", pki->key("server"), ""}, error));
  EXPECT_NE(error.find("missing.crt"), std::string::npos) << error;
  EXPECT_NE(error.find("No such file"), std::string::npos) << error;
  // Not PEM.
  std::string junk = pki->dir + "/junk.pem";
  std::ofstream(junk) << "hello\n";
  EXPECT_FALSE(tls_context::server({junk, pki->key("server"), ""}, error));
  EXPECT_NE(error.find("junk.pem"), std::string::npos) << error;
  // A key that belongs to another certificate.
  EXPECT_FALSE(tls_context::server({pki->cert("server"), pki->key("client"), ""}, error));
  EXPECT_NE(error.find("does not match"), std::string::npos) << error;
  // A key file others may read.
  std::string open_key = pki->dir + "/open.key";
  std::filesystem::copy_file(pki->key("server"), open_key);
  ::chmod(open_key.c_str(), 0644);
  EXPECT_FALSE(tls_context::server({pki->cert("server"), open_key, ""}, error));
  EXPECT_NE(error.find("open.key"), std::string::npos) << error;
  // A key file that is not PEM.
  std::string junk_key = pki->dir + "/junk.key";
  std::ofstream(junk_key) << "hello\n";
  ::chmod(junk_key.c_str(), 0600);
  EXPECT_FALSE(tls_context::server({pki->cert("server"), junk_key, ""}, error));
  EXPECT_NE(error.find("not a PEM private key"), std::string::npos) << error;
  // The client CA of mutual TLS.
  EXPECT_FALSE(tls_context::server({pki->cert("server"), pki->key("server"), junk}, error));
  EXPECT_NE(error.find("CA file"), std::string::npos) << error;
  // Clients: a CA is required; a certificate needs its key.
  EXPECT_FALSE(tls_context::client({"", "", ""}, error));
  EXPECT_NE(error.find("CA file"), std::string::npos) << error;
  EXPECT_FALSE(tls_context::client({pki->cert("client"), "", pki->cert("ca")}, error));
  EXPECT_NE(error.find("needs its key"), std::string::npos) << error;
  EXPECT_FALSE(tls_context::client({pki->cert("client"), pki->key("server"), pki->cert("ca")}, error));
  EXPECT_NE(error.find("does not match"), std::string::npos) << error;
}

TEST_F(TlsTest, tls_client_session_needs_a_server_name) {
  tls_session client(client_context(pki->cert("ca")), "");
  EXPECT_FALSE(client.start());
  EXPECT_NE(client.error().find("server name"), std::string::npos);
}

}  // namespace
