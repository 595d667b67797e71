#pragma once
// The common setup of the detached actors that talk to MySQL (the writer, the wallet loader,
// the order loader): each holds the storage link, its shard layout and endpoint, and the
// client library's per-thread state for its own thread, and closes its connections on exit.
#include <memory>
#include <utility>

#include <caf/all.hpp>

#include "ports/storage_link.hpp"
#include "persistence/mysql_connection.hpp"
#include "persistence/shard_layout.hpp"
#include "persistence/storage_target.hpp"

namespace txengine::persistence {

//! The part of a MySQL actor's state that start_mysql_actor() fills in (the state derives from it).
struct mysql_actor_state {
  storage_link* link = nullptr;
  shard_layout layout;
  mysql_endpoint endpoint;
  std::unique_ptr<mysql_thread_scope> thread_scope;
};

//! Fills in the common state from `link` (throws std::invalid_argument on a bad URI, checked at
//! engine start), enters the actor's thread into the client library, and sets the exit handler:
//! `on_exit(self)` (what the actor does before it goes: close its connections), then the thread
//! leaves the client library and the actor quits. Call it first in the actor's behavior
//! function; the actor must be detached (its own thread).
template <class State, class Base, class OnExit>
void start_mysql_actor(caf::stateful_actor<State, Base>* self, storage_link* link, OnExit on_exit) {
  mysql_actor_state& st = self->state;
  st.link = link;
  st.layout = layout_of(link->config);
  st.endpoint = endpoint_of(link->config);
  st.thread_scope = std::make_unique<mysql_thread_scope>();
  self->set_exit_handler([self, on_exit = std::move(on_exit)](const caf::exit_msg& msg) {
    on_exit(self);
    self->state.thread_scope.reset();
    self->quit(msg.reason);
  });
}

}  // namespace txengine::persistence
