#pragma once
// Which order host (lane) of a node owns a request: a pure function of the tenant and the
// request id, shared by the hosts (node/engine.cpp) and the order loader that hands recovered
// orders back to their hosts (persistence/order_loader.cpp).
#include <cstddef>
#include <string>

#include "core/types.hpp"

namespace txengine {

//! The lane of the host that owns a request id (its idempotency record and its order), of `hosts`.
//! Order ids carry the lane too (order_id_generator): both agree while the lane count stays.
size_t host_index(tenant_id tenant, const std::string& request_id, size_t hosts);

}  // namespace txengine
