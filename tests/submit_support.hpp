#pragma once
// Submitting many commands to an engine's hosts at once and collecting their replies: the
// high-rate path a server or benchmark uses, for the actor and MySQL tests.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include "node/engine.hpp"

namespace txengine {

//! Sends every command at once, to its host in chunks of at most `chunk`, and collects replies
//! (in the order of `commands`) until `stop_after` of them came (all by default), waiting at
//! most 60 s for each batch of replies.
inline std::vector<order_reply> submit_all(engine& eng, const std::vector<order_command>& commands, size_t chunk,
                                           size_t stop_after = SIZE_MAX) {
  caf::scoped_actor self{eng.system()};
  std::vector<std::vector<submit_item>> by_host(eng.hosts().size());
  for (size_t i = 0; i < commands.size(); ++i) {
    const order_host_actor& host = eng.host_for(commands[i].tenant, commands[i].request_id);
    size_t h = 0;
    while (eng.hosts()[h] != host) ++h;
    by_host[h].push_back(submit_item{i + 1, commands[i]});
  }
  for (size_t h = 0; h < by_host.size(); ++h)
    for (size_t from = 0; from < by_host[h].size(); from += chunk) {
      std::vector<submit_item> part(by_host[h].begin() + from,
                                    by_host[h].begin() + std::min(by_host[h].size(), from + chunk));
      self->send(eng.hosts()[h], submit_atom::value, std::move(part));
    }
  std::vector<order_reply> replies(commands.size());
  size_t received = 0, wanted = std::min(stop_after, commands.size());
  bool timed_out = false;
  while (received < wanted && !timed_out) {
    self->receive(
        [&](replies_atom, std::vector<order_reply>& batch) {
          for (auto& reply : batch) {
            replies.at(reply.client_tag - 1) = std::move(reply);
            ++received;
          }
        },
        caf::after(std::chrono::seconds(60)) >> [&] { timed_out = true; });
  }
  if (wanted == commands.size())
    EXPECT_EQ(received, commands.size());
  else
    EXPECT_GE(received, wanted);  // replies come in batches: more than asked for may have come
  return replies;
}

}  // namespace txengine
