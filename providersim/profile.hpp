#pragma once
// How txprovider-sim behaves in a run: a TOML file (`--profile FILE`, examples in
// config/provider-sim/), every key optional, every value checked. Rates are parts per
// million (integers, so a run's draws replay exactly).
#include <cstdint>
#include <string>
#include <vector>

namespace txprovider {

struct profile {
  uint64_t seed = 1;

  // [latency] of every answer: uniform in [min_ms, max_ms], and slow_ppm of them slow_ms.
  int64_t latency_min_ms = 1;
  int64_t latency_max_ms = 5;
  uint32_t slow_ppm = 0;
  int64_t slow_ms = 2'000;

  // [outcome] the fate of an order, drawn at receipt.
  //! Time from receipt until the outcome is known: uniform in [settle_min_ms, settle_max_ms].
  int64_t settle_min_ms = 0;
  int64_t settle_max_ms = 0;
  uint32_t decline_ppm = 0;
  std::vector<std::string> decline_codes = {"insufficient_funds", "invalid_account", "limit_exceeded"};
  uint32_t partial_ppm = 0;             //!< a payout settles less than asked
  uint32_t processing_forever_ppm = 0;  //!< never settles (a payout stuck; a payer who never pays)
  //! Payments (money in): the payer pays settle_* after creation with this probability,
  //! otherwise never (the order waits until it is closed).
  uint32_t payer_pays_ppm = 1'000'000;

  // [transport] what happens to a request on the way.
  //! Refused with 503 before it is looked at (nothing recorded).
  uint32_t error_before_ppm = 0;
  //! Processed, then answered 500 (the caller cannot know it was processed).
  uint32_t error_after_ppm = 0;
  //! Never arrives: nothing recorded, no answer (the connection is held hang_ms, then closed).
  uint32_t drop_ppm = 0;
  //! Processed, never answered (held hang_ms, then closed): "received, never answered".
  uint32_t hang_ppm = 0;
  int64_t hang_ms = 30'000;
  //! At most this many requests in any sliding second; past it, 429 (0: no limit).
  uint32_t qps_limit = 0;

  // [callbacks] a signed POST to callback_url when an order becomes final.
  std::string callback_url;  //!< empty: no callbacks
  uint32_t callback_lost_ppm = 0;
  uint32_t callback_duplicate_ppm = 0;
  //! A stale "processing" notification sent after the final one (out of order).
  uint32_t callback_stale_ppm = 0;
  int64_t callback_delay_min_ms = 0;  //!< late callbacks: uniform in [min, max] after the fact
  int64_t callback_delay_max_ms = 0;
  //! A callback not answered 2xx is sent again, 1 s, 2 s, 4 s ... (at most 60 s) apart, this many times.
  uint32_t callback_retries = 5;

  // [auth] the merchant's credentials: requests carry the key and an HMAC-SHA256 signature
  // with the secret (docs/channels.md, "The provider's HTTP API"); callbacks are signed with it.
  std::string api_key = "txsim-merchant";
  std::string secret = "txsim-secret";
  //! Requests whose timestamp is further than this from the provider's clock are refused (replay).
  int64_t max_clock_skew_ms = 300'000;

  // [limits]
  //! Orders the provider keeps at most; past it, submits get 503 (retryable).
  uint64_t orders_max = 10'000'000;
  //! Final orders older than this are forgotten when the journal is compacted (at start).
  int64_t retention_ms = 30LL * 24 * 3600 * 1000;
};

//! Reads a profile file; false and `error` (naming the key) when it cannot be read or a value
//! is out of range or of the wrong type, or a key is unknown.
bool load_profile(const std::string& path, profile& out, std::string& error);
//! The same from TOML text (tests, fuzzing).
bool parse_profile(const std::string& text, profile& out, std::string& error);

}  // namespace txprovider
