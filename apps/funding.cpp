#include "apps/funding.hpp"

#include "core/check.hpp"

namespace txengine {

std::vector<wallet_id> create_wallets(engine& eng, tenant_id tenant, currency cur, wallet_kind kind, size_t count) {
  std::vector<wallet_id> ids;
  ids.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    auto created = eng.create_wallet(tenant, cur, kind);
    TX_CHECK(created.code == result_code::ok);
    ids.push_back(created.id);
  }
  return ids;
}

namespace {

class funding_load : public workload {
 public:
  funding_load(tenant_id tenant, currency cur, channel_id channel, const std::vector<wallet_id>& wallets,
               int64_t amount, std::string prefix)
      : tenant_(tenant), cur_(cur), channel_(channel), wallets_(wallets), amount_(amount), prefix_(std::move(prefix)) {}

  order_command next(uint64_t sequence) override {
    order_command c;
    c.tenant = tenant_;
    c.request_id = prefix_ + std::to_string(sequence);
    c.kind = order_kind::top_up;
    c.destination = wallets_[(sequence - 1) % wallets_.size()];
    c.amount = amount_;
    c.cur = cur_;
    c.channel = channel_;
    return c;
  }

 private:
  tenant_id tenant_;
  currency cur_;
  channel_id channel_;
  const std::vector<wallet_id>& wallets_;
  int64_t amount_;
  std::string prefix_;
};

}  // namespace

load_result fund_wallets(engine& eng, tenant_id tenant, currency cur, channel_id channel,
                         const std::vector<wallet_id>& wallets, int64_t amount, uint32_t concurrency,
                         const std::string& request_prefix) {
  funding_load load(tenant, cur, channel, wallets, amount, request_prefix);
  load_options options;
  options.orders = wallets.size();
  options.concurrency = concurrency;
  return run_load(eng, load, options);
}

}  // namespace txengine
