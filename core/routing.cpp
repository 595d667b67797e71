#include "core/routing.hpp"

#include <functional>

namespace txengine {

size_t host_index(tenant_id tenant, const std::string& request_id, size_t hosts) {
  size_t h = std::hash<std::string>{}(request_id) ^ (std::hash<uint32_t>{}(tenant) * 0x9E3779B97F4A7C15ull);
  return h % hosts;
}

}  // namespace txengine
