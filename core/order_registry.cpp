#include "core/order_registry.hpp"

namespace txengine {

std::string request_key(tenant_id tenant, const std::string& request_id) {
  std::string key(reinterpret_cast<const char*>(&tenant), sizeof tenant);
  key += request_id;
  return key;
}

std::vector<wallet_balance> wallets_of(const order_core& core) {
  std::vector<wallet_balance> wallets;
  wallets.reserve(core.legs().size());
  for (const auto& leg : core.legs())
    if (leg.participant == participant_kind::wallet && leg.balances_tenant == core.command().tenant)
      wallets.push_back({leg.target, leg.last_balances});
  return wallets;
}

final_order final_record_of(const order_core& core, uint64_t commit_seq) {
  final_order record{core.command(),     core.state(),       core.reason(), core.posted_amount(),
                     core.created_ms(),  core.finished_ms(), wallets_of(core), nullptr,
                     commit_seq,         false};
  return record;
}

std::vector<stored_refund_state> restore_allowance(final_order& record, const std::vector<stored_refund_state>& refunds) {
  std::vector<stored_refund_state> misfits;
  record.refunds_unknown = false;
  if (record.command.kind != order_kind::pay || record.state != order_state::succeeded) return misfits;
  record.allowance = rebuild_refund_allowance(record.posted_amount, refunds, &misfits);
  return misfits;
}

}  // namespace txengine
