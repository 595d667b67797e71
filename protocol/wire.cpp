// SHA256_Init/Update/Final are deprecated in OpenSSL 3 but remain the cheapest way to keep
// HMAC midstates (see hmac_key below); the EVP one-shot HMAC() costs more than the hashing.
#define OPENSSL_SUPPRESS_DEPRECATED
#include "protocol/wire.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

namespace txengine::wire {

namespace {

void put_u32(std::string& out, uint32_t v) {
  char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
               static_cast<char>(v)};
  out.append(b, 4);
}

void put_u64(std::string& out, uint64_t v) {
  put_u32(out, static_cast<uint32_t>(v >> 32));
  put_u32(out, static_cast<uint32_t>(v));
}

void store_u32(unsigned char* b, uint32_t v) {
  b[0] = static_cast<unsigned char>(v >> 24), b[1] = static_cast<unsigned char>(v >> 16);
  b[2] = static_cast<unsigned char>(v >> 8), b[3] = static_cast<unsigned char>(v);
}

void store_u64(unsigned char* b, uint64_t v) {
  store_u32(b, static_cast<uint32_t>(v >> 32));
  store_u32(b + 4, static_cast<uint32_t>(v));
}

//! HMAC-SHA256 (RFC 2104) with the key's inner and outer hash states computed once: a
//! signature then costs the message's blocks plus two, with no allocation and no OpenSSL
//! provider lookup (which the one-shot HMAC() does on every call).
class hmac_key {
 public:
  explicit hmac_key(std::string_view secret) {
    unsigned char block[SHA256_CBLOCK] = {};
    if (secret.size() > SHA256_CBLOCK)
      SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), block);
    else
      std::memcpy(block, secret.data(), secret.size());
    unsigned char pad[SHA256_CBLOCK];
    for (size_t i = 0; i < SHA256_CBLOCK; ++i) pad[i] = block[i] ^ 0x36;
    SHA256_Init(&inner_);
    SHA256_Update(&inner_, pad, sizeof pad);
    for (size_t i = 0; i < SHA256_CBLOCK; ++i) pad[i] = block[i] ^ 0x5c;
    SHA256_Init(&outer_);
    SHA256_Update(&outer_, pad, sizeof pad);
  }
  //! Starts a MAC; feed the message with SHA256_Update, then finish().
  SHA256_CTX begin() const { return inner_; }
  std::string finish(SHA256_CTX& ctx) const {
    unsigned char inner_digest[SHA256_DIGEST_LENGTH];
    SHA256_Final(inner_digest, &ctx);
    SHA256_CTX outer = outer_;
    SHA256_Update(&outer, inner_digest, sizeof inner_digest);
    std::string mac(SHA256_DIGEST_LENGTH, '\0');
    SHA256_Final(reinterpret_cast<unsigned char*>(mac.data()), &outer);
    return mac;
  }

 private:
  SHA256_CTX inner_, outer_;
};

//! Prepared keys by secret, per thread (a server has few keys; a client one).
const hmac_key& key_for(std::string_view secret) {
  thread_local std::unordered_map<std::string, hmac_key> keys;
  auto it = keys.find(std::string(secret));
  if (it != keys.end()) return it->second;
  if (keys.size() >= 256) keys.clear();
  return keys.emplace(std::string(secret), hmac_key(secret)).first->second;
}

//! HMAC of signing_input(...) without building the input string.
std::string sign_request(std::string_view secret, std::string_view deployment_id, uint64_t correlation_id,
                         int64_t timestamp_ms, std::string_view key_id, std::string_view request_bytes) {
  const hmac_key& key = key_for(secret);
  unsigned char magic[4 + 4];
  std::memcpy(magic, "TXE2", 4);
  store_u32(magic + 4, static_cast<uint32_t>(deployment_id.size()));
  unsigned char head[8 + 8 + 4];
  store_u64(head, correlation_id);
  store_u64(head + 8, static_cast<uint64_t>(timestamp_ms));
  store_u32(head + 16, static_cast<uint32_t>(key_id.size()));
  SHA256_CTX ctx = key.begin();
  SHA256_Update(&ctx, magic, sizeof magic);
  SHA256_Update(&ctx, deployment_id.data(), deployment_id.size());
  SHA256_Update(&ctx, head, sizeof head);
  SHA256_Update(&ctx, key_id.data(), key_id.size());
  SHA256_Update(&ctx, request_bytes.data(), request_bytes.size());
  return key.finish(ctx);
}

uint32_t get_u32(const char* p) {
  auto u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | uint32_t{u[3]};
}

}  // namespace

void append_frame(std::string& out, std::string_view payload) {
  put_u32(out, static_cast<uint32_t>(payload.size()));
  out.append(payload.data(), payload.size());
}

void append_envelope_frame(std::string& out, const Envelope& envelope) {
  size_t size = envelope.ByteSizeLong();
  size_t at = out.size();
  put_u32(out, static_cast<uint32_t>(size));
  out.resize(at + frame_header_size + size);
  envelope.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(&out[at + frame_header_size]));
}

void frame_splitter::feed(const void* data, size_t size) {
  if (failed()) return;
  // Compact once the consumed prefix dominates, so the buffer stays bounded.
  if (pos_ > 0 && (pos_ == buf_.size() || pos_ > 4096)) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(static_cast<const char*>(data), size);
}

frame_splitter::status frame_splitter::next(std::string_view& payload) {
  if (failed()) return failed_;
  size_t avail = buf_.size() - pos_;
  if (avail < frame_header_size) return status::need_more;
  uint32_t length = get_u32(buf_.data() + pos_);
  if (length > max_frame_) return failed_ = status::too_large;
  if (length == 0) return failed_ = status::empty_frame;
  if (avail < frame_header_size + length) return status::need_more;
  payload = std::string_view(buf_.data() + pos_ + frame_header_size, length);
  pos_ += frame_header_size + length;
  return status::frame;
}

result_code decode_request(std::string_view payload, decoded_request& out) {
  out.correlation_id = 0;
  if (payload.empty() || payload.size() > frame_size_max) return result_code::malformed_request;
  Envelope envelope;
  if (!envelope.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) return result_code::malformed_request;
  out.correlation_id = envelope.correlation_id();
  if (envelope.content_case() != Envelope::kRequest) return result_code::malformed_request;
  out.key_id = envelope.key_id();
  out.timestamp_ms = envelope.timestamp_ms();
  out.signature = envelope.signature();
  out.request_bytes = std::move(*envelope.mutable_request());
  if (!out.request.ParseFromString(out.request_bytes)) return result_code::malformed_request;
  if (out.request.command_case() == Request::COMMAND_NOT_SET) return result_code::malformed_request;
  return result_code::ok;
}

bool decode_reply(std::string_view payload, uint64_t& correlation_id, Reply& reply) {
  Envelope envelope;
  if (!envelope.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) return false;
  if (envelope.content_case() != Envelope::kReply) return false;
  correlation_id = envelope.correlation_id();
  reply = std::move(*envelope.mutable_reply());
  return true;
}

std::string signing_input(uint64_t correlation_id, int64_t timestamp_ms, std::string_view key_id,
                          std::string_view request_bytes, std::string_view deployment_id) {
  std::string out;
  out.reserve(4 + 4 + deployment_id.size() + 8 + 8 + 4 + key_id.size() + request_bytes.size());
  out.append("TXE2", 4);
  put_u32(out, static_cast<uint32_t>(deployment_id.size()));
  out.append(deployment_id.data(), deployment_id.size());
  put_u64(out, correlation_id);
  put_u64(out, static_cast<uint64_t>(timestamp_ms));
  put_u32(out, static_cast<uint32_t>(key_id.size()));
  out.append(key_id.data(), key_id.size());
  out.append(request_bytes.data(), request_bytes.size());
  return out;
}

std::string hmac_sha256(std::string_view secret, std::string_view data) {
  const hmac_key& key = key_for(secret);
  SHA256_CTX ctx = key.begin();
  SHA256_Update(&ctx, data.data(), data.size());
  return key.finish(ctx);
}

void sign(Envelope& envelope, std::string_view key_id, std::string_view secret, int64_t now,
          std::string_view deployment_id) {
  envelope.set_key_id(std::string(key_id));
  envelope.set_timestamp_ms(now);
  envelope.set_signature(
      sign_request(secret, deployment_id, envelope.correlation_id(), now, key_id, envelope.request()));
}

Envelope make_request(uint64_t correlation_id, const Request& request, std::string_view key_id,
                      std::string_view secret, int64_t now, std::string_view deployment_id) {
  Envelope envelope;
  envelope.set_correlation_id(correlation_id);
  request.SerializeToString(envelope.mutable_request());
  sign(envelope, key_id, secret, now, deployment_id);
  return envelope;
}

namespace {

//! A non-negative decimal int64 with nothing after it.
bool parse_amount(const std::string& text, int64_t& out) {
  if (text.empty() || text.size() > 19) return false;
  int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    if (v > (std::numeric_limits<int64_t>::max() - (c - '0')) / 10) return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

//! One `name=value` option of a key file line.
bool parse_key_option(const std::string& option, client_key& key, std::string& why) {
  auto eq = option.find('=');
  std::string name = option.substr(0, eq), value = eq == std::string::npos ? "" : option.substr(eq + 1);
  if (name == "scopes") {
    key.scopes = 0;
    std::istringstream list(value);
    std::string scope;
    while (std::getline(list, scope, ',')) {
      // `pay` and `read` are the same scopes under the names of issue 13.
      if (scope == "orders" || scope == "pay") key.scopes |= scope_orders;
      else if (scope == "queries" || scope == "read") key.scopes |= scope_queries;
      else if (scope == "admin") key.scopes |= scope_admin;
      else {
        why = "unknown scope '" + scope + "' (orders or pay, queries or read, admin)";
        return false;
      }
    }
    if (key.scopes == 0) {
      why = "scopes= names no scope";
      return false;
    }
    return true;
  }
  if (name == "rate_per_s" || name == "burst") {
    int64_t v = 0;
    if (!parse_amount(value, v) || v > 1'000'000) {
      why = name + " expects a whole number 0..1000000";
      return false;
    }
    (name == "burst" ? key.burst : key.rate_per_s) = static_cast<uint32_t>(v);
    return true;
  }
  int64_t* target = name == "amount_max" ? &key.amount_max : name == "overdraft_max" ? &key.overdraft_max : nullptr;
  if (target == nullptr) {
    why = "unknown option '" + name + "' (scopes=, amount_max=, overdraft_max=, rate_per_s=, burst=)";
    return false;
  }
  if (!parse_amount(value, *target)) {
    why = name + " expects a non-negative integer (minor units)";
    return false;
  }
  return true;
}

}  // namespace

bool rate_bucket::take(const client_key& key, int64_t now_ms) {
  if (key.rate_per_s == 0) return true;
  const int64_t capacity = int64_t{key.burst != 0 ? key.burst : key.rate_per_s} * 1000;
  if (milli_tokens_ < 0) {
    milli_tokens_ = capacity;
    last_ms_ = now_ms;
  }
  if (now_ms > last_ms_) {  // a clock that steps back adds nothing
    // rate_per_s requests a second = rate_per_s thousandths a millisecond.
    int64_t elapsed = std::min<int64_t>(now_ms - last_ms_, capacity / key.rate_per_s + 1);
    milli_tokens_ = std::min(capacity, milli_tokens_ + elapsed * key.rate_per_s);
    last_ms_ = now_ms;
  }
  if (milli_tokens_ < 1000) return false;
  milli_tokens_ -= 1000;
  return true;
}

result_code authorize(const client_key& key, const Request& request) {
  auto needs = [&](uint8_t scope) { return (key.scopes & scope) != 0; };
  auto order = [&](int64_t amount) {
    if (!needs(scope_orders)) return result_code::forbidden;
    return amount > key.amount_max ? result_code::forbidden : result_code::ok;
  };
  auto admin = [&](int64_t overdraft) {
    if (!needs(scope_admin)) return result_code::forbidden;
    return overdraft > key.overdraft_max ? result_code::forbidden : result_code::ok;
  };
  switch (request.command_case()) {
    case Request::kTopUp: return order(request.top_up().amount());
    case Request::kPay: return order(request.pay().amount());
    case Request::kWithdraw: return order(request.withdraw().amount());
    case Request::kTransfer: return order(request.transfer().amount());
    case Request::kRefund: return order(request.refund().amount());
    case Request::kCommission: return order(request.commission().amount());
    case Request::kCreateWallet: return admin(request.create_wallet().overdraft_limit());
    case Request::kSetLimit: return admin(request.set_limit().overdraft_limit());
    case Request::kFreezeWallet:
    case Request::kUnfreezeWallet:
    case Request::kCloseWallet: return admin(0);
    case Request::kGetOrder:
    case Request::kGetWallet:
    case Request::kListMovements:
    case Request::kGetStats: return needs(scope_queries) ? result_code::ok : result_code::forbidden;
    case Request::COMMAND_NOT_SET: return result_code::ok;  // malformed: refused as such later
  }
  return result_code::forbidden;
}

bool check_private_file(const std::string& path, std::string& error) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    error = "cannot open " + path;
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    error = path + " is not a regular file";
    return false;
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    error = path + " may be read or written by others (mode " + mode + "): chmod 600 it";
    return false;
  }
  return true;
}

bool key_table::load_file(const std::string& path, std::string& error) {
  // The file holds every tenant's secret: refuse it unless only its owner can read it.
  if (!check_private_file(path, error)) return false;
  std::ifstream in(path);
  if (!in) {
    error = "cannot open " + path;
    return false;
  }
  return load_stream(in, path, error);
}

bool key_table::load_stream(std::istream& in, const std::string& path, std::string& error) {
  std::unordered_map<std::string, client_key> loaded;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    auto hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    std::istringstream fields(line);
    std::string key, secret, option;
    long long tenant = -1;
    if (!(fields >> key)) continue;
    // Errors name the line, never the secret.
    const std::string where = path + ":" + std::to_string(number) + ": ";
    if (!(fields >> secret >> tenant) || tenant <= 0 || tenant > 0xFFFFFFFFll) {
      error = where + "expected 'key_id secret tenant [options]' (tenant 1..4294967295)";
      return false;
    }
    client_key entry{secret, static_cast<tenant_id>(tenant)};
    while (fields >> option) {
      std::string why;
      if (!parse_key_option(option, entry, why)) {
        error = where + why;
        return false;
      }
    }
    if (key.size() > key_id_length_max) {
      error = where + "key id longer than " + std::to_string(key_id_length_max) + " bytes";
      return false;
    }
    if (secret.size() < secret_length_min) {
      error = where + "secret of key '" + key + "' is shorter than " + std::to_string(secret_length_min) +
              " characters (use e.g. `openssl rand -hex 32`)";
      return false;
    }
    if (!loaded.emplace(key, std::move(entry)).second) {
      error = where + "key id '" + key + "' appears twice";
      return false;
    }
  }
  for (auto& [key, value] : loaded) keys_[key] = std::move(value);
  return true;
}

result_code authenticate(const key_table& keys, const decoded_request& request, int64_t now, tenant_id& tenant,
                         int64_t window_ms, const client_key** key_out) {
  const client_key* key = keys.find(request.key_id);
  if (key == nullptr) return result_code::unauthenticated;
  if (request.signature.size() != signature_size) return result_code::unauthenticated;
  std::string expected = sign_request(key->secret, keys.deployment(), request.correlation_id, request.timestamp_ms,
                                      request.key_id, request.request_bytes);
  if (CRYPTO_memcmp(expected.data(), request.signature.data(), signature_size) != 0)
    return result_code::unauthenticated;
  // Only a correctly signed request learns that its clock is off.
  int64_t skew = now - request.timestamp_ms;
  if (skew > window_ms || skew < -window_ms) return result_code::stale_request;
  tenant = key->tenant;
  if (key_out != nullptr) *key_out = key;
  return result_code::ok;
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Reply error_reply(result_code code) {
  Reply reply;
  reply.set_code(static_cast<ResultCode>(code));
  reply.set_message(std::string(to_string(code)));
  return reply;
}

std::string code_name(uint32_t code) {
  auto name = to_string(static_cast<result_code>(code));
  if (name != "unknown_result_code") return std::string(name);
  return "code_" + std::to_string(code);
}

}  // namespace txengine::wire
