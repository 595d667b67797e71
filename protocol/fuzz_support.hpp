#pragma once
// What the wire fuzz harnesses share: protobuf's per-field log lines silenced (the server drops
// them too, server.cpp), and the key table they authenticate against: the development key and a
// scoped key (orders only, amount_max 1000) of tenant 2.
#include <string>

#include <google/protobuf/stubs/logging.h>

#include "protocol/wire.hpp"

namespace txengine::wire {

constexpr const char* fuzz_scoped_key_id = "scoped";
constexpr const char* fuzz_scoped_secret = "scoped-secret-0123456789abcdef0123";
constexpr int64_t fuzz_scoped_amount_max = 1000;

inline const key_table& fuzz_keys() {
  static const key_table keys = [] {
    google::protobuf::SetLogHandler(nullptr);
    key_table k;
    k.add(std::string(dev_key_id), std::string(dev_secret), dev_tenant);
    k.add(fuzz_scoped_key_id, client_key{fuzz_scoped_secret, 2, scope_orders, fuzz_scoped_amount_max, 0});
    return k;
  }();
  return keys;
}

}  // namespace txengine::wire
