#include "protocol/wire.hpp"

#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

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
                          std::string_view request_bytes) {
  std::string out;
  out.reserve(4 + 8 + 8 + 4 + key_id.size() + request_bytes.size());
  out.append("TXE1", 4);
  put_u64(out, correlation_id);
  put_u64(out, static_cast<uint64_t>(timestamp_ms));
  put_u32(out, static_cast<uint32_t>(key_id.size()));
  out.append(key_id.data(), key_id.size());
  out.append(request_bytes.data(), request_bytes.size());
  return out;
}

std::string hmac_sha256(std::string_view secret, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), md, &md_len);
  return std::string(reinterpret_cast<const char*>(md), md_len);
}

void sign(Envelope& envelope, std::string_view key_id, std::string_view secret, int64_t now) {
  envelope.set_key_id(std::string(key_id));
  envelope.set_timestamp_ms(now);
  envelope.set_signature(
      hmac_sha256(secret, signing_input(envelope.correlation_id(), now, key_id, envelope.request())));
}

Envelope make_request(uint64_t correlation_id, const Request& request, std::string_view key_id,
                      std::string_view secret, int64_t now) {
  Envelope envelope;
  envelope.set_correlation_id(correlation_id);
  request.SerializeToString(envelope.mutable_request());
  sign(envelope, key_id, secret, now);
  return envelope;
}

bool key_table::load_file(const std::string& path, std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = "cannot open " + path;
    return false;
  }
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    auto hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    std::istringstream fields(line);
    std::string key, secret;
    long long tenant = -1;
    if (!(fields >> key)) continue;
    if (!(fields >> secret >> tenant) || tenant <= 0 || tenant > 0xFFFFFFFFll) {
      error = path + ":" + std::to_string(number) + ": expected 'key_id secret tenant'";
      return false;
    }
    add(key, secret, static_cast<tenant_id>(tenant));
  }
  return true;
}

result_code authenticate(const key_table& keys, const decoded_request& request, int64_t now, tenant_id& tenant,
                         int64_t window_ms) {
  const client_key* key = keys.find(request.key_id);
  if (key == nullptr) return result_code::unauthenticated;
  if (request.signature.size() != signature_size) return result_code::unauthenticated;
  std::string expected = hmac_sha256(
      key->secret, signing_input(request.correlation_id, request.timestamp_ms, request.key_id, request.request_bytes));
  if (CRYPTO_memcmp(expected.data(), request.signature.data(), signature_size) != 0)
    return result_code::unauthenticated;
  // Only a correctly signed request learns that its clock is off.
  int64_t skew = now - request.timestamp_ms;
  if (skew > window_ms || skew < -window_ms) return result_code::stale_request;
  tenant = key->tenant;
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
