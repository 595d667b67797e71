// Unit tests of the wire format: frames, envelopes, signing, the result-code mirror.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cctype>
#include <random>

#include "protocol/wire.hpp"

using namespace txengine;
using namespace txengine::wire;

namespace {

Request transfer_request(const std::string& id = "r1") {
  Request request;
  auto* t = request.mutable_transfer();
  t->set_request_id(id);
  t->set_from(1);
  t->set_to(2);
  t->set_amount(1000);
  t->set_currency("USD");
  return request;
}

std::string frame_of(const Envelope& e) {
  std::string out;
  append_envelope_frame(out, e);
  return out;
}

key_table dev_keys() {
  key_table keys;
  keys.add(std::string(dev_key_id), std::string(dev_secret), dev_tenant);
  return keys;
}

}  // namespace

TEST(Frame, RoundTripRequest) {
  auto e = make_request(7, transfer_request(), dev_key_id, dev_secret, 1'700'000'000'000);
  std::string bytes = frame_of(e);
  frame_splitter splitter;
  splitter.feed(bytes.data(), bytes.size());
  std::string_view payload;
  ASSERT_EQ(splitter.next(payload), frame_splitter::status::frame);
  decoded_request req;
  ASSERT_EQ(decode_request(payload, req), result_code::ok);
  EXPECT_EQ(req.correlation_id, 7u);
  EXPECT_EQ(req.key_id, "dev");
  EXPECT_EQ(req.timestamp_ms, 1'700'000'000'000);
  ASSERT_EQ(req.request.command_case(), Request::kTransfer);
  EXPECT_EQ(req.request.transfer().amount(), 1000);
  EXPECT_EQ(req.request.transfer().currency(), "USD");
  EXPECT_EQ(splitter.next(payload), frame_splitter::status::need_more);
  EXPECT_EQ(splitter.buffered(), 0u);
}

TEST(Frame, RoundTripReply) {
  Envelope e;
  e.set_correlation_id(99);
  auto* reply = e.mutable_reply();
  reply->set_code(INSUFFICIENT_FUNDS);
  reply->mutable_order()->set_order_id(123);
  std::string bytes = frame_of(e);
  frame_splitter splitter;
  splitter.feed(bytes.data(), bytes.size());
  std::string_view payload;
  ASSERT_EQ(splitter.next(payload), frame_splitter::status::frame);
  uint64_t correlation = 0;
  Reply out;
  ASSERT_TRUE(decode_reply(payload, correlation, out));
  EXPECT_EQ(correlation, 99u);
  EXPECT_EQ(out.code(), INSUFFICIENT_FUNDS);
  EXPECT_EQ(out.order().order_id(), 123u);
}

TEST(Frame, HeaderIsBigEndianLength) {
  std::string out;
  append_frame(out, std::string(300, 'x'));
  ASSERT_EQ(out.size(), 304u);
  EXPECT_EQ(static_cast<unsigned char>(out[0]), 0);
  EXPECT_EQ(static_cast<unsigned char>(out[1]), 0);
  EXPECT_EQ(static_cast<unsigned char>(out[2]), 1);
  EXPECT_EQ(static_cast<unsigned char>(out[3]), 44);
}

TEST(Frame, PartialReadsByteByByte) {
  std::string bytes;
  for (int i = 0; i < 50; ++i)
    append_envelope_frame(bytes, make_request(i, transfer_request("r" + std::to_string(i)), dev_key_id, dev_secret, 1));
  frame_splitter splitter;
  int frames = 0;
  for (char ch : bytes) {
    splitter.feed(&ch, 1);
    std::string_view payload;
    while (splitter.next(payload) == frame_splitter::status::frame) {
      decoded_request req;
      ASSERT_EQ(decode_request(payload, req), result_code::ok);
      EXPECT_EQ(req.correlation_id, static_cast<uint64_t>(frames));
      ++frames;
    }
  }
  EXPECT_EQ(frames, 50);
}

TEST(Frame, RandomChunking) {
  std::string bytes;
  for (int i = 0; i < 200; ++i)
    append_envelope_frame(bytes, make_request(i, transfer_request("r" + std::to_string(i)), dev_key_id, dev_secret, 1));
  std::mt19937 rng(1);
  frame_splitter splitter;
  size_t at = 0;
  int frames = 0;
  while (at < bytes.size()) {
    size_t n = std::min<size_t>(bytes.size() - at, rng() % 700 + 1);
    splitter.feed(bytes.data() + at, n);
    at += n;
    std::string_view payload;
    while (splitter.next(payload) == frame_splitter::status::frame) ++frames;
  }
  EXPECT_EQ(frames, 200);
}

TEST(Frame, OversizedFrameIsRejectedWithoutBuffering) {
  frame_splitter splitter(1024);
  std::string header = {0, 0, 4, 1};  // 1025 bytes announced
  splitter.feed(header.data(), header.size());
  std::string_view payload;
  EXPECT_EQ(splitter.next(payload), frame_splitter::status::too_large);
  EXPECT_TRUE(splitter.failed());
  std::string more(5000, 'a');
  splitter.feed(more.data(), more.size());
  EXPECT_EQ(splitter.next(payload), frame_splitter::status::too_large);
  EXPECT_EQ(splitter.buffered(), 4u);  // nothing more was buffered
}

TEST(Frame, HugeLengthPrefix) {
  frame_splitter splitter;
  std::string header = {'\xff', '\xff', '\xff', '\xff'};
  splitter.feed(header.data(), header.size());
  std::string_view payload;
  EXPECT_EQ(splitter.next(payload), frame_splitter::status::too_large);
}

TEST(Frame, MaximumSizeIsAccepted) {
  frame_splitter splitter;
  std::string out;
  append_frame(out, std::string(frame_size_max, '\0'));
  splitter.feed(out.data(), out.size());
  std::string_view payload;
  EXPECT_EQ(splitter.next(payload), frame_splitter::status::frame);
  EXPECT_EQ(payload.size(), frame_size_max);
}

TEST(Frame, EmptyFrameIsAnError) {
  frame_splitter splitter;
  std::string header(4, '\0');
  splitter.feed(header.data(), header.size());
  std::string_view payload;
  EXPECT_EQ(splitter.next(payload), frame_splitter::status::empty_frame);
}

TEST(Frame, TruncatedFrameWaits) {
  auto bytes = frame_of(make_request(1, transfer_request(), dev_key_id, dev_secret, 1));
  frame_splitter splitter;
  splitter.feed(bytes.data(), bytes.size() - 1);
  std::string_view payload;
  EXPECT_EQ(splitter.next(payload), frame_splitter::status::need_more);
  EXPECT_FALSE(splitter.failed());
}

TEST(Decode, TruncatedEnvelopeIsMalformed) {
  auto e = make_request(5, transfer_request(), dev_key_id, dev_secret, 1);
  std::string payload = e.SerializeAsString();
  for (size_t cut = 1; cut < payload.size(); ++cut) {
    decoded_request req;
    auto code = decode_request(std::string_view(payload.data(), cut), req);
    // A cut on a field boundary can still parse; then something required is missing.
    EXPECT_NE(code, result_code::ok) << cut;
  }
}

TEST(Decode, GarbageIsMalformed) {
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string payload(rng() % 200 + 1, '\0');
    for (auto& ch : payload) ch = static_cast<char>(rng());
    decoded_request req;
    auto code = decode_request(payload, req);
    if (code == result_code::ok) {
      // Random bytes that happen to be a valid envelope must still fail authentication.
      tenant_id tenant = 0;
      EXPECT_NE(authenticate(dev_keys(), req, 1, tenant), result_code::ok);
    } else {
      EXPECT_EQ(code, result_code::malformed_request);
    }
  }
  decoded_request req;
  EXPECT_EQ(decode_request("", req), result_code::malformed_request);
  EXPECT_EQ(decode_request("\xff\xff\xff\xff\xff", req), result_code::malformed_request);
}

TEST(Decode, WrongTypeIsMalformed) {
  // A reply sent to the server.
  Envelope reply;
  reply.set_correlation_id(4);
  reply.mutable_reply()->set_code(OK);
  decoded_request req;
  EXPECT_EQ(decode_request(reply.SerializeAsString(), req), result_code::malformed_request);
  EXPECT_EQ(req.correlation_id, 4u);
  // An envelope with no content.
  Envelope empty;
  empty.set_correlation_id(5);
  EXPECT_EQ(decode_request(empty.SerializeAsString(), req), result_code::malformed_request);
  // A request with no command.
  auto none = make_request(6, Request{}, dev_key_id, dev_secret, 1);
  EXPECT_EQ(decode_request(none.SerializeAsString(), req), result_code::malformed_request);
  EXPECT_EQ(req.correlation_id, 6u);
  // Request bytes that are not a Request.
  Envelope bad;
  bad.set_correlation_id(8);
  bad.set_request("\xff\xff\xff");
  EXPECT_EQ(decode_request(bad.SerializeAsString(), req), result_code::malformed_request);
  // Another message type in place of the envelope (a Transfer): parses to nothing useful.
  EXPECT_EQ(decode_request(transfer_request().transfer().SerializeAsString(), req), result_code::malformed_request);
  // The client side refuses requests as replies.
  uint64_t correlation = 0;
  Reply out;
  EXPECT_FALSE(decode_reply(make_request(1, transfer_request(), dev_key_id, dev_secret, 1).SerializeAsString(),
                            correlation, out));
}

TEST(Auth, ValidSignature) {
  auto keys = dev_keys();
  int64_t now = 1'700'000'000'000;
  auto e = make_request(1, transfer_request(), dev_key_id, dev_secret, now);
  decoded_request req;
  ASSERT_EQ(decode_request(e.SerializeAsString(), req), result_code::ok);
  tenant_id tenant = 0;
  EXPECT_EQ(authenticate(keys, req, now + 1000, tenant), result_code::ok);
  EXPECT_EQ(tenant, dev_tenant);
  EXPECT_EQ(req.signature.size(), signature_size);
}

TEST(Auth, Rejections) {
  key_table keys = dev_keys();
  keys.add("other", "other-secret", 2);
  int64_t now = 1'700'000'000'000;
  tenant_id tenant = 0;
  auto check = [&](const Envelope& e, int64_t at) {
    decoded_request req;
    EXPECT_EQ(decode_request(e.SerializeAsString(), req), result_code::ok);
    return authenticate(keys, req, at, tenant);
  };
  // Unknown key.
  EXPECT_EQ(check(make_request(1, transfer_request(), "nobody", dev_secret, now), now), result_code::unauthenticated);
  // Wrong secret.
  EXPECT_EQ(check(make_request(1, transfer_request(), dev_key_id, "wrong", now), now), result_code::unauthenticated);
  // Signed by another key's secret but claiming the dev key.
  EXPECT_EQ(check(make_request(1, transfer_request(), dev_key_id, "other-secret", now), now),
            result_code::unauthenticated);
  // Tampered request bytes.
  auto tampered = make_request(1, transfer_request(), dev_key_id, dev_secret, now);
  auto changed = transfer_request();
  changed.mutable_transfer()->set_amount(100000);
  tampered.set_request(changed.SerializeAsString());
  EXPECT_EQ(check(tampered, now), result_code::unauthenticated);
  // Tampered correlation id, timestamp, key id.
  auto e = make_request(1, transfer_request(), dev_key_id, dev_secret, now);
  e.set_correlation_id(2);
  EXPECT_EQ(check(e, now), result_code::unauthenticated);
  e = make_request(1, transfer_request(), dev_key_id, dev_secret, now);
  e.set_timestamp_ms(now + 1);
  EXPECT_EQ(check(e, now), result_code::unauthenticated);
  // Missing or short signature.
  e = make_request(1, transfer_request(), dev_key_id, dev_secret, now);
  e.clear_signature();
  EXPECT_EQ(check(e, now), result_code::unauthenticated);
  e = make_request(1, transfer_request(), dev_key_id, dev_secret, now);
  e.set_signature(e.signature().substr(0, 16));
  EXPECT_EQ(check(e, now), result_code::unauthenticated);
  // Stale in both directions; the window's edge is accepted.
  e = make_request(1, transfer_request(), dev_key_id, dev_secret, now);
  EXPECT_EQ(check(e, now + timestamp_window_ms + 1), result_code::stale_request);
  EXPECT_EQ(check(e, now - timestamp_window_ms - 1), result_code::stale_request);
  EXPECT_EQ(check(e, now + timestamp_window_ms), result_code::ok);
  // A key is bound to its tenant.
  EXPECT_EQ(check(make_request(1, transfer_request(), "other", "other-secret", now), now), result_code::ok);
  EXPECT_EQ(tenant, 2u);
}

TEST(Auth, KnownVector) {
  // The example of docs/protocol.md.
  std::string input = signing_input(1, 1700000000000, "dev", "abc");
  std::string hex;
  for (unsigned char ch : input) {
    char b[3];
    std::snprintf(b, sizeof b, "%02x", ch);
    hex += b;
  }
  EXPECT_EQ(hex, "54584532" "0000000c" "7478656e67696e652d646576" "0000000000000001" "0000018bcfe56800" "00000003"
                 "646576" "616263");
  // RFC 4231 test case 2.
  std::string mac = hmac_sha256("Jefe", "what do ya want for nothing?");
  std::string mac_hex;
  for (unsigned char ch : mac) {
    char b[3];
    std::snprintf(b, sizeof b, "%02x", ch);
    mac_hex += b;
  }
  EXPECT_EQ(mac_hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(ResultCodes, WireEnumMirrorsTheCoreEnum) {
  int mirrored = 0;
  for (int i = 0; i < 256; ++i) {
    auto name = std::string(to_string(static_cast<result_code>(i)));
    bool in_core = name != "unknown_result_code";
    EXPECT_EQ(in_core, ResultCode_IsValid(i)) << i;
    if (in_core && ResultCode_IsValid(i)) {
      std::string wire_name = ResultCode_Name(static_cast<ResultCode>(i));
      for (auto& ch : wire_name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      EXPECT_EQ(wire_name, name) << i;
      ++mirrored;
    }
  }
  EXPECT_GE(mirrored, 39);
  EXPECT_EQ(static_cast<int>(result_code::unauthenticated), 90);
  EXPECT_EQ(static_cast<int>(result_code::stale_request), 91);
  EXPECT_EQ(static_cast<int>(result_code::malformed_request), 92);
  EXPECT_EQ(static_cast<int>(result_code::frame_too_large), 93);
}

namespace {

std::string write_key_file(const std::string& text, mode_t mode = 0600) {
  // One file per test process: ctest runs the Keys tests at once, and a shared path raced.
  std::string path = ::testing::TempDir() + "/txengine_keys_test_" + std::to_string(::getpid()) + ".txt";
  ::unlink(path.c_str());
  FILE* f = std::fopen(path.c_str(), "w");
  std::fputs(text.c_str(), f);
  std::fclose(f);
  ::chmod(path.c_str(), mode);
  return path;
}

const std::string s32 = "0123456789abcdef0123456789abcdef";  // 32 characters, the shortest secret

}  // namespace

TEST(Keys, LoadFile) {
  auto path = write_key_file("# comment\nk1 " + s32 + " 5\n\nk2 " + s32 + "x 6 # trailing\n");
  key_table keys;
  std::string error;
  ASSERT_TRUE(keys.load_file(path, error)) << error;
  EXPECT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys.find("k2")->tenant, 6u);
  EXPECT_EQ(keys.find("k2")->secret, s32 + "x");
  key_table bad;
  EXPECT_FALSE(bad.load_file(write_key_file("k1 " + s32 + "\n"), error));
  EXPECT_FALSE(bad.load_file(path + ".missing", error));
  EXPECT_EQ(bad.size(), 0u);
}

TEST(Keys, UnsafeKeyFilesAreRefusedWholeAndNameNoSecret) {
  key_table keys;
  std::string error;
  // Readable by the group or others: refused, whatever it holds.
  EXPECT_FALSE(keys.load_file(write_key_file("k1 " + s32 + " 5\n", 0640), error));
  EXPECT_NE(error.find("mode 0640"), std::string::npos) << error;
  EXPECT_FALSE(keys.load_file(write_key_file("k1 " + s32 + " 5\n", 0604), error));
  // A secret too short to resist guessing; the error names the key and line, not the secret.
  EXPECT_FALSE(keys.load_file(write_key_file("k1 " + s32 + " 5\nk2 short-secret 6\n"), error));
  EXPECT_NE(error.find(":2: secret of key 'k2' is shorter than 32"), std::string::npos) << error;
  EXPECT_EQ(error.find("short-secret"), std::string::npos) << error;
  // The same key id twice (which secret would count?).
  EXPECT_FALSE(keys.load_file(write_key_file("k1 " + s32 + " 5\nk1 " + s32 + "y 6\n"), error));
  EXPECT_NE(error.find("appears twice"), std::string::npos) << error;
  // An unknown option, a zero or too large tenant, an overlong key id.
  EXPECT_FALSE(keys.load_file(write_key_file("k1 " + s32 + " 5 extra\n"), error));
  EXPECT_FALSE(keys.load_file(write_key_file("k1 " + s32 + " 0\n"), error));
  EXPECT_FALSE(keys.load_file(write_key_file("k1 " + s32 + " 4294967296\n"), error));
  EXPECT_FALSE(keys.load_file(write_key_file(std::string(65, 'k') + " " + s32 + " 5\n"), error));
  // Nothing of a refused file was loaded, not even its good lines.
  EXPECT_EQ(keys.size(), 0u);
  // A directory is not a key file.
  EXPECT_FALSE(keys.load_file(::testing::TempDir(), error));
}

TEST(Keys, ScopesAndBoundsFromTheKeyFile) {
  auto path = write_key_file("reader " + s32 + " 5 scopes=queries\n" +
                             "shop " + s32 + " 5 scopes=orders,queries amount_max=10000\n" +
                             "ops " + s32 + " 5 scopes=admin overdraft_max=5000\n" + "all " + s32 + " 5\n" +
                             "reader2 " + s32 + " 5 scopes=read\n" + "shop2 " + s32 + " 5 scopes=pay,read\n");
  key_table keys;
  std::string error;
  ASSERT_TRUE(keys.load_file(path, error)) << error;
  Request transfer = transfer_request();  // amount 1000
  Request big = transfer_request();
  big.mutable_transfer()->set_amount(10'001);
  Request stats;
  stats.mutable_get_stats();
  Request limit;
  limit.mutable_set_limit()->set_wallet(1);
  limit.mutable_set_limit()->set_overdraft_limit(5'000);
  Request high_limit = limit;
  high_limit.mutable_set_limit()->set_overdraft_limit(5'001);
  Request create;
  create.mutable_create_wallet()->set_overdraft_limit(std::numeric_limits<int64_t>::max());
  Request freeze;
  freeze.mutable_freeze_wallet()->set_wallet(1);
  auto may = [&](const char* key, const Request& r) { return authorize(*keys.find(key), r); };
  // `read` and `pay` name the same scopes as `queries` and `orders`.
  EXPECT_EQ(keys.find("reader2")->scopes, keys.find("reader")->scopes);
  EXPECT_EQ(keys.find("shop2")->scopes, keys.find("shop")->scopes);
  EXPECT_EQ(may("reader", stats), result_code::ok);
  EXPECT_EQ(may("reader", transfer), result_code::forbidden);
  EXPECT_EQ(may("reader", freeze), result_code::forbidden);
  EXPECT_EQ(may("shop", transfer), result_code::ok);
  EXPECT_EQ(may("shop", big), result_code::forbidden);  // past amount_max
  EXPECT_EQ(may("shop", limit), result_code::forbidden);
  EXPECT_EQ(may("ops", limit), result_code::ok);
  EXPECT_EQ(may("ops", high_limit), result_code::forbidden);  // past overdraft_max
  EXPECT_EQ(may("ops", create), result_code::forbidden);
  EXPECT_EQ(may("ops", freeze), result_code::ok);
  EXPECT_EQ(may("ops", stats), result_code::forbidden);
  for (const auto* r : {&stats, &transfer, &big, &limit, &high_limit, &create, &freeze})
    EXPECT_EQ(may("all", *r), result_code::ok);  // no options: everything, as before
  // Bad options refuse the whole file.
  for (std::string bad : {"scopes=", "scopes=root", "amount_max=-1", "amount_max=1e6", "amount_max=9223372036854775808",
                          "overdraft=5", "scopes"}) {
    key_table none;
    EXPECT_FALSE(none.load_file(write_key_file("k " + s32 + " 5 " + bad + "\n"), error)) << bad;
    EXPECT_EQ(none.size(), 0u);
  }
}

TEST(Keys, RateBucketAllowsTheBurstThenTheRate) {
  key_table keys;
  std::string error;
  ASSERT_TRUE(keys.load_file(write_key_file("k " + s32 + " 5 rate_per_s=10 burst=3\nfree " + s32 + " 5\n"), error))
      << error;
  const client_key& k = *keys.find("k");
  EXPECT_EQ(k.rate_per_s, 10u);
  EXPECT_EQ(k.burst, 3u);
  rate_bucket bucket;
  int64_t t = 1'000'000;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(bucket.take(k, t)) << i;  // the burst
  EXPECT_FALSE(bucket.take(k, t));
  EXPECT_FALSE(bucket.take(k, t + 99));  // 10 a second: one every 100 ms
  EXPECT_TRUE(bucket.take(k, t + 100));
  EXPECT_FALSE(bucket.take(k, t + 150));
  EXPECT_FALSE(bucket.take(k, t - 5'000));  // a clock stepping back adds nothing
  // A long quiet time refills to the burst, not more.
  t += 3'600'000;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(bucket.take(k, t)) << i;
  EXPECT_FALSE(bucket.take(k, t));
  // Without rate_per_s there is no limit.
  rate_bucket unlimited;
  for (int i = 0; i < 10'000; ++i) ASSERT_TRUE(unlimited.take(*keys.find("free"), t));
  key_table bad;
  EXPECT_FALSE(bad.load_file(write_key_file("k " + s32 + " 5 rate_per_s=-1\n"), error));
  EXPECT_FALSE(bad.load_file(write_key_file("k " + s32 + " 5 burst=1000001\n"), error));
}

TEST(Auth, DocumentedExample) {
  // The worked example of docs/protocol.md, byte for byte.
  Request request;
  auto* t = request.mutable_transfer();
  t->set_request_id("r1");
  t->set_from(1);
  t->set_to(2);
  t->set_amount(1000);
  t->set_currency("USD");
  auto e = make_request(1, request, "dev", "txengine-development-secret", 1700000000000);
  auto hex = [](const std::string& s) {
    std::string out;
    for (unsigned char ch : s) {
      char b[3];
      std::snprintf(b, sizeof b, "%02x", ch);
      out += b;
    }
    return out;
  };
  EXPECT_EQ(hex(e.request()), "2a100a0272311001180220e8072a03555344");
  EXPECT_EQ(hex(e.signature()), "85af1056853e6f1e143e08462da2597626b03f2093c807d2a2a717b45f1f5efb");
}

TEST(Auth, DeploymentIsSigned) {
  // A frame signed for another deployment fails with the same key, secret and bytes.
  key_table prod;
  prod.add(std::string(dev_key_id), std::string(dev_secret), dev_tenant);
  prod.set_deployment("prod-eu");
  const int64_t now = 1'700'000'000'000;
  auto check = [&](const Envelope& e) {
    decoded_request req;
    EXPECT_EQ(decode_request(e.SerializeAsString(), req), result_code::ok);
    tenant_id tenant = 0;
    return authenticate(prod, req, now, tenant);
  };
  EXPECT_EQ(check(make_request(1, transfer_request(), dev_key_id, dev_secret, now, "prod-eu")), result_code::ok);
  EXPECT_EQ(check(make_request(1, transfer_request(), dev_key_id, dev_secret, now, "staging-eu")),
            result_code::unauthenticated);
  EXPECT_EQ(check(make_request(1, transfer_request(), dev_key_id, dev_secret, now)), result_code::unauthenticated);
  EXPECT_NE(signing_input(1, now, "dev", "abc", "a"), signing_input(1, now, "dev", "abc", "b"));
  // Length-prefixed: moving bytes between the deployment and the key id changes the input.
  EXPECT_NE(signing_input(1, now, "ab", "x", "c"), signing_input(1, now, "b", "x", "ca"));
}
