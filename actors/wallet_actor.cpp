#include "actors/wallet_actor.hpp"

#include <algorithm>

#include "actors/clock.hpp"
#include "actors/messages.hpp"

namespace txengine {

namespace {

struct wallet_state {
  std::optional<wallet_core> core;
  wallet_directory* directory = nullptr;
  wallet_actor_config config;
  int64_t last_activity_ms = 0;
  static inline const char* name = "wallet";
};

using wallet_actor = caf::stateful_actor<wallet_state>;

caf::behavior wallet_behavior(wallet_actor* self, wallet_core core, wallet_directory* directory,
                              wallet_actor_config config) {
  self->state.core.emplace(std::move(core));
  self->state.directory = directory;
  self->state.config = config;
  self->state.last_activity_ms = wall_clock_ms();
  auto idle_check = std::chrono::milliseconds(std::max<int64_t>(config.idle_ms / 2, 1));
  self->delayed_send(self, idle_check, idle_atom::value);
  return {
      [=](steps_atom, const std::vector<leg_step>& steps) {
        auto& st = self->state;
        int64_t now = wall_clock_ms();
        st.last_activity_ms = now;
        std::vector<leg_result> results;
        results.reserve(steps.size());
        for (const auto& step : steps) {
          leg_outcome outcome = st.core->apply(step.command, now);
          results.push_back({step.command.txn, step.leg, step.command.phase, outcome.code, outcome.after});
        }
        self->send(caf::actor_cast<caf::actor>(self->current_sender()), step_ack_atom::value, std::move(results));
      },
      [=](get_wallet_atom, tenant_id tenant) -> wallet_view {
        self->state.last_activity_ms = wall_clock_ms();
        return view_of(*self->state.core, tenant);
      },
      [=](audit_atom) -> wallet_view { return view_of(*self->state.core, self->state.core->info().tenant); },
      [=](movements_atom, tenant_id tenant, uint64_t from_sequence, uint32_t limit) {
        auto& core = *self->state.core;
        std::vector<journal_entry> entries;
        if (tenant != core.info().tenant) return caf::make_message(result_code::tenant_mismatch, std::move(entries));
        for (const auto& entry : core.journal()) {
          if (entry.sequence < from_sequence) continue;
          if (entries.size() >= limit) break;
          entries.push_back(entry);
        }
        return caf::make_message(result_code::ok, std::move(entries));
      },
      [=](admin_atom, admin_op op, tenant_id tenant, int64_t argument) -> wallet_view {
        auto& core = *self->state.core;
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
        auto& st = self->state;
        int64_t now = wall_clock_ms();
        if (st.core->open_transactions() == 0 && now - st.last_activity_ms >= st.config.idle_ms) {
          auto mailbox_empty = [self] { return self->mailbox().empty(); };
          if (st.directory->passivate(st.core->info().id, self->address(), *st.core, mailbox_empty)) {
            self->quit();
            return;
          }
        }
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

caf::actor spawn_wallet_actor(caf::actor_system& system, wallet_core core, wallet_directory* directory,
                              const wallet_actor_config& config) {
  return system.spawn(wallet_behavior, std::move(core), directory, config);
}

}  // namespace txengine
