#pragma once
// Sharding as seed 000 does it: database = wallet id mod D, table = wallet id mod T.
// Tables keyed by something else follow a wallet (orders and the outbox: the order's home
// wallet, its source) or a 64-bit key (request ids: a hash of tenant and request id).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/types.hpp"

namespace txengine::persistence {

struct shard_layout {
  uint32_t databases = 1;            //!< D
  uint32_t tables = 1;               //!< T
  std::string prefix = "txengine";   //!< databases are <prefix>_0 .. <prefix>_<D-1>

  uint32_t database_of(uint64_t key) const { return static_cast<uint32_t>(key % databases); }
  uint32_t table_of(uint64_t key) const { return static_cast<uint32_t>(key % tables); }
  std::string database_name(uint32_t d) const { return prefix + "_" + std::to_string(d); }
  //! `<prefix>_d`.`<base>_t`, quoted, for a key (a wallet id, or request_key()).
  std::string table_for(std::string_view base, uint64_t key) const { return table_at(base, database_of(key), table_of(key)); }
  std::string table_at(std::string_view base, uint32_t d, uint32_t t) const;
  //! The table indices that can hold rows in database d: t with t ≡ d (mod gcd(D, T)). Only
  //! these are created (with D dividing T, each database holds T / D tables, T in all).
  std::vector<uint32_t> tables_in(uint32_t d) const;
  //! The shard key of a request id: FNV-1a over the tenant and the request id.
  static uint64_t request_key(tenant_id tenant, std::string_view request_id);
  //! 1..256 databases, 1..4096 tables, prefix of [a-z0-9_], 1..48 characters.
  bool valid(std::string* error = nullptr) const;
};

//! The table families of the schema, in migration order.
const std::vector<std::string>& table_families();

}  // namespace txengine::persistence
