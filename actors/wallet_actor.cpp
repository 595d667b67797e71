#include "actors/wallet_actor.hpp"

#include <algorithm>
#include <unordered_map>

#include "actors/clock.hpp"
#include "actors/messages.hpp"

namespace txengine {

namespace {

struct wallet_slot {
  wallet_core core;
  int64_t last_activity_ms;
};

struct shard_state {
  wallet_directory* directory = nullptr;
  wallet_actor_config config;
  std::unordered_map<wallet_id, wallet_slot> wallets;
  static inline const char* name = "wallet_shard";

  //! The wallet, activated if dormant; nullptr for an unknown wallet.
  wallet_slot* find(wallet_id id, int64_t now) {
    auto found = wallets.find(id);
    if (found == wallets.end()) {
      auto core = directory->activate(id);
      if (!core) return nullptr;
      found = wallets.emplace(id, wallet_slot{std::move(*core), now}).first;
    }
    found->second.last_activity_ms = now;
    return &found->second;
  }

  void passivate_idle(int64_t now) {
    for (auto it = wallets.begin(); it != wallets.end();) {
      const wallet_core& core = it->second.core;
      if (core.open_transactions() == 0 && now - it->second.last_activity_ms >= config.idle_ms) {
        directory->passivate(it->first, std::move(it->second.core));
        it = wallets.erase(it);
      } else {
        ++it;
      }
    }
  }
};

using shard_actor = caf::stateful_actor<shard_state>;

wallet_view unknown_wallet_view() {
  wallet_view view;
  view.code = result_code::unknown_wallet;
  return view;
}

caf::behavior shard_behavior(shard_actor* self, wallet_directory* directory, wallet_actor_config config) {
  self->state.directory = directory;
  self->state.config = config;
  // Sized for the shard's share of a large wallet population, not more: with one shard per
  // wallet (shards = wallets) a big reservation per shard would cost gigabytes.
  self->state.wallets.reserve(std::max<size_t>(4, (size_t{1} << 18) / directory->shards_expected()));
  auto idle_check = std::chrono::milliseconds(std::max<int64_t>(config.idle_ms / 2, 1));
  self->delayed_send(self, idle_check, idle_atom::value);
  return {
      [=](steps_atom, const std::vector<leg_step>& steps) {
        auto& st = self->state;
        int64_t now = wall_clock_ms();
        std::vector<leg_result> results;
        results.reserve(steps.size());
        for (const auto& step : steps) {
          wallet_slot* wallet = st.find(step.wallet, now);
          if (wallet == nullptr) {
            // Nothing was ever tried on a wallet that does not exist: its cancel succeeds, so
            // the order's compensation completes.
            result_code code =
                step.command.phase == tcc_phase::cancel ? result_code::ok : result_code::unknown_wallet;
            results.push_back({step.command.txn, step.leg, step.command.phase, code, {}});
            continue;
          }
          leg_outcome outcome = wallet->core.apply(step.command, now);
          results.push_back({step.command.txn, step.leg, step.command.phase, outcome.code, outcome.after});
        }
        self->send(caf::actor_cast<caf::actor>(self->current_sender()), step_ack_atom::value, std::move(results));
      },
      [=](get_wallet_atom, wallet_id id, tenant_id tenant) -> wallet_view {
        wallet_slot* wallet = self->state.find(id, wall_clock_ms());
        return wallet ? view_of(wallet->core, tenant) : unknown_wallet_view();
      },
      [=](audit_atom) -> std::vector<wallet_view> {
        std::vector<wallet_view> views;
        views.reserve(self->state.wallets.size());
        for (const auto& [id, wallet] : self->state.wallets)
          views.push_back(view_of(wallet.core, wallet.core.info().tenant));
        return views;
      },
      [=](movements_atom, wallet_id id, tenant_id tenant, uint64_t from_sequence, uint32_t limit) {
        std::vector<journal_entry> entries;
        wallet_slot* wallet = self->state.find(id, wall_clock_ms());
        if (wallet == nullptr) return caf::make_message(result_code::unknown_wallet, std::move(entries));
        auto& core = wallet->core;
        if (tenant != core.info().tenant) return caf::make_message(result_code::tenant_mismatch, std::move(entries));
        for (const auto& entry : core.journal()) {
          if (entry.sequence < from_sequence) continue;
          if (entries.size() >= limit) break;
          entries.push_back(entry);
        }
        return caf::make_message(result_code::ok, std::move(entries));
      },
      [=](admin_atom, wallet_id id, admin_op op, tenant_id tenant, int64_t argument) -> wallet_view {
        wallet_slot* wallet = self->state.find(id, wall_clock_ms());
        if (wallet == nullptr) return unknown_wallet_view();
        auto& core = wallet->core;
        result_code code = result_code::invalid_argument;
        switch (op) {
          case admin_op::freeze: code = core.freeze(tenant); break;
          case admin_op::unfreeze: code = core.unfreeze(tenant); break;
          case admin_op::close: code = core.close(tenant); break;
          case admin_op::set_overdraft_limit: code = core.set_overdraft_limit(tenant, argument); break;
        }
        wallet_view view = view_of(core, tenant);
        if (view.code == result_code::ok) view.code = code;
        return view;
      },
      [=](idle_atom) {
        self->state.passivate_idle(wall_clock_ms());
        self->delayed_send(self, idle_check, idle_atom::value);
      },
  };
}

}  // namespace

wallet_view view_of(const wallet_core& core, tenant_id tenant) {
  wallet_view view;
  if (tenant != core.info().tenant) {
    view.code = result_code::tenant_mismatch;
    return view;
  }
  view.info = core.info();
  view.current = core.current();
  view.open_transactions = core.open_transactions();
  view.journal_sequence = core.journal_sequence();
  view.journal_ok = core.verify_journal();
  return view;
}

caf::actor spawn_wallet_shard(caf::actor_system& system, wallet_directory* directory,
                              const wallet_actor_config& config) {
  return system.spawn(shard_behavior, directory, config);
}

}  // namespace txengine
