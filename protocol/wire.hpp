#pragma once
// The txengine wire format (docs/protocol.md): frames of a 4-byte big-endian length and one
// serialized Envelope; request signing with HMAC-SHA256; the key table. No CAF, no sockets.
#include <cstddef>
#include <cstdint>
#include <istream>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/result_code.hpp"
#include "core/types.hpp"
#include "txengine.pb.h"

namespace txengine::wire {

//! Bytes of the length prefix.
constexpr size_t frame_header_size = 4;
//! Default and hard upper bound of one frame's payload (the envelope), in bytes.
constexpr size_t frame_size_max = 64 * 1024;
//! Requests older or newer than this (against the server clock) are stale.
constexpr int64_t timestamp_window_ms = 30'000;
//! Length of an HMAC-SHA256 signature.
constexpr size_t signature_size = 32;

//! Appends one frame (length prefix + payload) to `out`.
void append_frame(std::string& out, std::string_view payload);
//! Serializes `envelope` and appends it as one frame.
void append_envelope_frame(std::string& out, const Envelope& envelope);

//! Splits a byte stream into frames; handles partial reads. After an oversized or empty
//! frame it fails for good (the stream can no longer be trusted to be in sync).
class frame_splitter {
 public:
  enum class status { frame, need_more, too_large, empty_frame };

  explicit frame_splitter(size_t max_frame = frame_size_max) : max_frame_(max_frame) {}

  void feed(const void* data, size_t size);
  //! Extracts the next complete frame's payload into `payload` (valid until the next call
  //! of feed or next).
  status next(std::string_view& payload);
  //! Bytes received but not yet returned as frames.
  size_t buffered() const { return buf_.size() - pos_; }
  bool failed() const { return failed_ != status::need_more; }

 private:
  size_t max_frame_;
  std::string buf_;
  size_t pos_ = 0;
  status failed_ = status::need_more;
};

//! A decoded client request.
struct decoded_request {
  uint64_t correlation_id = 0;
  std::string key_id;
  int64_t timestamp_ms = 0;
  std::string signature;
  std::string request_bytes;  //!< the signed bytes
  Request request;
};

//! Decodes one frame payload from a client. On failure returns malformed_request and sets
//! `out.correlation_id` if it could be read (else 0).
result_code decode_request(std::string_view payload, decoded_request& out);

//! Decodes one frame payload from the server; false if it is not an envelope with a reply.
bool decode_reply(std::string_view payload, uint64_t& correlation_id, Reply& reply);

//! The deployment a development server and client use unless told otherwise. A production
//! deployment names itself (`[server] deployment_id`, the clients' `--deployment`): a frame
//! signed for one deployment (say staging) is refused by every other (production), even with
//! the same key.
constexpr std::string_view dev_deployment_id = "txengine-dev";
//! Longest deployment id accepted (bytes).
constexpr size_t deployment_id_length_max = 64;

//! The bytes a signature covers: "TXE2" | u32be len(deployment_id) | deployment_id |
//! u64be correlation_id | i64be timestamp_ms | u32be len(key_id) | key_id | request bytes.
std::string signing_input(uint64_t correlation_id, int64_t timestamp_ms, std::string_view key_id,
                          std::string_view request_bytes, std::string_view deployment_id = dev_deployment_id);
//! HMAC-SHA256 of `data` with `secret` (32 raw bytes).
std::string hmac_sha256(std::string_view secret, std::string_view data);
//! Fills key_id, timestamp and signature of an envelope whose `request` bytes are set.
void sign(Envelope& envelope, std::string_view key_id, std::string_view secret, int64_t now_ms,
          std::string_view deployment_id = dev_deployment_id);
//! Builds a signed request envelope.
Envelope make_request(uint64_t correlation_id, const Request& request, std::string_view key_id,
                      std::string_view secret, int64_t now_ms, std::string_view deployment_id = dev_deployment_id);

//! True when `path` is a regular file only its owner may read or write (a file of secrets:
//! keys, passwords); else false and `error` says why (naming the mode).
bool check_private_file(const std::string& path, std::string& error);

//! Longest key id, and shortest secret, a key file may hold.
constexpr size_t key_id_length_max = 64;
constexpr size_t secret_length_min = 32;

//! What a key may do (key file option `scopes=`): submit orders, read (wallets, orders,
//! movements, stats), administer wallets (create, set limit, freeze, unfreeze, close).
enum key_scope : uint8_t { scope_orders = 1, scope_queries = 2, scope_admin = 4, scope_all = 7 };

struct client_key {
  std::string secret;
  tenant_id tenant = 0;
  uint8_t scopes = scope_all;
  //! Largest amount of one order this key may submit (key file option `amount_max=`).
  int64_t amount_max = std::numeric_limits<int64_t>::max();
  //! Largest overdraft limit this key may set or create a wallet with (`overdraft_max=`).
  int64_t overdraft_max = std::numeric_limits<int64_t>::max();
  //! Requests per second this key may send, on average (`rate_per_s=`; 0: no limit), and how
  //! many at once after a quiet time (`burst=`; 0: one second's worth). Past it `RATE_LIMITED`.
  uint32_t rate_per_s = 0;
  uint32_t burst = 0;
};

//! A key's request budget (a token bucket in thousandths of a request). Deterministic: time is
//! passed in.
class rate_bucket {
 public:
  //! True (and one request taken) when the key may send a request at `now_ms`.
  bool take(const client_key& key, int64_t now_ms);

 private:
  int64_t milli_tokens_ = -1;  //!< -1: not used yet (starts full)
  int64_t last_ms_ = 0;
};

//! What the request asks of its (authenticated) key: ok, or forbidden (the scope is missing,
//! or an amount or overdraft limit is past the key's bound). Checked before anything runs.
result_code authorize(const client_key& key, const Request& request);

//! key id -> (secret, tenant). A key is bound to exactly one tenant. The table also names the
//! deployment its server serves: signatures are checked against it.
class key_table {
 public:
  void set_deployment(std::string id) { deployment_ = std::move(id); }
  const std::string& deployment() const { return deployment_; }
  void add(std::string key_id, std::string secret, tenant_id tenant) {
    keys_[std::move(key_id)] = client_key{std::move(secret), tenant};
  }
  void add(std::string key_id, client_key key) { keys_[std::move(key_id)] = std::move(key); }
  const client_key* find(const std::string& key_id) const {
    auto it = keys_.find(key_id);
    return it == keys_.end() ? nullptr : &it->second;
  }
  size_t size() const { return keys_.size(); }
  //! Loads lines "key_id secret tenant [scopes=orders,queries,admin] [amount_max=N]
  //! [overdraft_max=N]" ('#' comments; options left out allow everything). Refuses (false and
  //! `error`, naming the line but never a secret) a file others may read or write, a bad line
  //! or option, a key id over `key_id_length_max` bytes or given twice, a secret under
  //! `secret_length_min` characters; then nothing is loaded.
  bool load_file(const std::string& path, std::string& error);
  //! The same rules on lines from `in` (no file mode check); `source` names it in errors.
  bool load_stream(std::istream& in, const std::string& source, std::string& error);

 private:
  std::unordered_map<std::string, client_key> keys_;
  std::string deployment_ = std::string(dev_deployment_id);
};

//! Checks key, signature (for the table's deployment) and timestamp window (in that order).
//! ok and `tenant` (and `key`, when asked) set, or unauthenticated / stale_request. Replays are
//! the server's to refuse (replay_cache.hpp).
result_code authenticate(const key_table& keys, const decoded_request& request, int64_t now_ms, tenant_id& tenant,
                         int64_t window_ms = timestamp_window_ms, const client_key** key = nullptr);

//! Unix time in milliseconds.
int64_t now_ms();

//! Development mode's one tenant and key, used by default by txctl and txbench.
constexpr tenant_id dev_tenant = 1;
constexpr std::string_view dev_key_id = "dev";
constexpr std::string_view dev_secret = "txengine-development-secret";

//! Reply with only a code (and its name as message).
Reply error_reply(result_code code);
//! Human name of a wire result code (numbers outside result_code too).
std::string code_name(uint32_t code);

}  // namespace txengine::wire
