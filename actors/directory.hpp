#pragma once
// Wallet id -> wallet actor. Wallets live in one of two forms: an active actor, or a
// dormant wallet_core kept by the store (here: memory; later MySQL). A wallet is
// activated on first use and passivated (back to dormant) when idle.
//
// Why a striped-lock table rather than a directory actor: every order step resolves a
// wallet, and a directory actor would put one more message round trip and one hot mailbox
// on every order's path. Lookups take a short uncontended lock; activation (a spawn) is rare.
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include <caf/all.hpp>

#include "actors/core/result_code.hpp"
#include "actors/core/types.hpp"
#include "actors/core/wallet_core.hpp"

namespace txengine {

struct wallet_actor_config {
  //! A wallet with no open transaction and no message for this long is passivated.
  int64_t idle_ms = 60'000;
  wallet_config core;
};

class wallet_directory {
 public:
  wallet_directory(caf::actor_system& system, wallet_actor_config config);
  ~wallet_directory();

  //! Creates a dormant wallet; its id is assigned here. Returns no_wallet on bad input via `code`.
  wallet_id create(tenant_id tenant, currency cur, wallet_kind kind, int64_t overdraft_limit, result_code& code);

  //! The tenant's system wallet for a currency, created on first use.
  wallet_id system_wallet(tenant_id tenant, currency cur);

  //! The wallet's actor, activating it if dormant; std::nullopt for an unknown wallet.
  std::optional<caf::actor> resolve(wallet_id id);

  //! Called by a wallet actor that wants to stop: succeeds (and keeps `core` dormant) only
  //! while no message waits in its mailbox. The actor must quit right after a success.
  bool passivate(wallet_id id, const caf::actor_addr& self, const wallet_core& core,
                 const std::function<bool()>& mailbox_empty);

  size_t wallets() const { return wallet_count_.load(); }
  size_t active() const { return active_count_.load(); }

  //! Calls `f` with every wallet id (active and dormant); for checks and reports.
  std::vector<wallet_id> all_ids() const;
  //! A dormant wallet's state, or std::nullopt when it is active or unknown.
  std::optional<wallet_core> dormant(wallet_id id) const;

 private:
  static constexpr size_t stripes = 64;
  struct entry {
    std::optional<caf::actor> active;
    std::optional<wallet_core> dormant;
  };
  struct stripe {
    mutable std::mutex mutex;
    std::unordered_map<wallet_id, entry> entries;
  };
  stripe& stripe_of(wallet_id id) { return stripes_[id % stripes]; }
  const stripe& stripe_of(wallet_id id) const { return stripes_[id % stripes]; }

  caf::actor_system& system_;
  wallet_actor_config config_;
  std::array<stripe, stripes> stripes_;
  std::atomic<wallet_id> next_id_{1};
  std::atomic<size_t> wallet_count_{0};
  std::atomic<size_t> active_count_{0};
  std::mutex system_wallets_mutex_;
  std::map<std::pair<tenant_id, uint32_t>, wallet_id> system_wallets_;
};

}  // namespace txengine
