#pragma once
// Setup helpers shared by the demo, the benchmark and the tests.
#include <vector>

#include "node/engine.hpp"
#include "apps/load_driver.hpp"

namespace txengine {

//! Creates `count` wallets of one kind; aborts on a refusal (setup must not fail silently).
std::vector<wallet_id> create_wallets(engine& eng, tenant_id tenant, currency cur, wallet_kind kind, size_t count);

//! Tops every wallet up with `amount` through `channel`, `concurrency` at a time; returns the
//! load result (the channel should be a well-behaved one for setup).
load_result fund_wallets(engine& eng, tenant_id tenant, currency cur, channel_id channel,
                         const std::vector<wallet_id>& wallets, int64_t amount, uint32_t concurrency,
                         const std::string& request_prefix);

}  // namespace txengine
