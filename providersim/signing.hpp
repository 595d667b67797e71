#pragma once
// The signatures of txprovider-sim's HTTP API (docs/channels.md, "The provider's HTTP API"):
// HMAC-SHA256 with the merchant's secret over the method, path, timestamp and body of a
// request or callback, hex encoded.
#include <cstdint>
#include <string>

namespace txprovider {

//! What is signed: "METHOD\nPATH\nTIMESTAMP_MS\nBODY".
std::string signing_string(const std::string& method, const std::string& path, int64_t timestamp_ms,
                           const std::string& body);
//! HMAC-SHA256 of `message` with `key`, 64 lower-case hex digits.
std::string hmac_sha256_hex(const std::string& key, const std::string& message);
//! Compares two signatures in time that does not depend on where they differ.
bool same_signature(const std::string& a, const std::string& b);

// The headers carrying them.
inline constexpr const char* header_key = "X-TxSim-Key";
inline constexpr const char* header_timestamp = "X-TxSim-Timestamp";
inline constexpr const char* header_signature = "X-TxSim-Signature";

}  // namespace txprovider
