#pragma once
// The signatures of the providers' HTTP API (docs/channels.md, "Signatures"): HMAC-SHA256 with
// the merchant's secret over "METHOD\nPATH\nTIMESTAMP_MS\nBODY", hex; the engine signs its
// requests and checks the providers' callbacks with it.
#include <cstdint>
#include <string>

namespace txengine {

std::string provider_signature(const std::string& secret, const std::string& method, const std::string& path,
                               int64_t timestamp_ms, const std::string& body);
//! Compares two signatures in time that does not depend on where they differ.
bool same_provider_signature(const std::string& a, const std::string& b);

}  // namespace txengine
