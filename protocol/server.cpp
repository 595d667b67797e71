#include "protocol/server.hpp"

#include "protocol/query_pool.hpp"

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>
#include <vector>

#include <caf/io/all.hpp>
#include <google/protobuf/stubs/logging.h>

#include "core/limits.hpp"
#include "protocol/convert.hpp"
#include "protocol/replay_cache.hpp"

namespace txengine::wire {

namespace {

using query_done_atom = caf::atom_constant<caf::atom("wquerydone")>;
using resume_atom = caf::atom_constant<caf::atom("wresume")>;
using sweep_atom = caf::atom_constant<caf::atom("wsweep")>;

class caf_server_config : public caf::actor_system_config {
 public:
  caf_server_config() {
    load<caf::io::middleman>();
    set("scheduler.max-threads", size_t{1});
    set("logger.console-verbosity", caf::atom("quiet"));
  }
};

Reply code_only(result_code code) { return error_reply(code); }

}  // namespace

Reply execute_query(engine& eng, const Request& request, tenant_id tenant) {
  auto wallet_reply = [](const wallet_view& view) {
    Reply reply = code_only(view.code);
    if (view.code == result_code::ok) to_wire(view, reply.mutable_wallet());
    return reply;
  };
  switch (request.command_case()) {
    case Request::kCreateWallet: {
      const auto& r = request.create_wallet();
      auto cur = currency::parse(r.currency());
      if (!cur) return code_only(result_code::invalid_currency);
      if (!WalletKind_IsValid(r.kind())) return code_only(result_code::invalid_argument);
      auto kind = static_cast<wallet_kind>(r.kind());
      // System wallets exist once per currency and are created by the engine itself.
      if (kind == wallet_kind::system) return code_only(result_code::wallet_kind_not_allowed);
      auto created = eng.create_wallet(tenant, *cur, kind, r.overdraft_limit(), r.request_id());
      if (created.code != result_code::ok) return code_only(created.code);
      Reply reply = wallet_reply(eng.get_wallet(tenant, created.id));
      if (reply.has_wallet()) reply.mutable_wallet()->set_duplicate(created.duplicate);
      return reply;
    }
    case Request::kSetLimit:
      if (request.set_limit().overdraft_limit() < 0) return code_only(result_code::invalid_limit);
      return wallet_reply(eng.admin(tenant, request.set_limit().wallet(), admin_op::set_overdraft_limit,
                                    request.set_limit().overdraft_limit()));
    case Request::kFreezeWallet:
      return wallet_reply(eng.admin(tenant, request.freeze_wallet().wallet(), admin_op::freeze));
    case Request::kUnfreezeWallet:
      return wallet_reply(eng.admin(tenant, request.unfreeze_wallet().wallet(), admin_op::unfreeze));
    case Request::kCloseWallet:
      return wallet_reply(eng.admin(tenant, request.close_wallet().wallet(), admin_op::close));
    case Request::kGetWallet:
      return wallet_reply(eng.get_wallet(tenant, request.get_wallet().wallet()));
    case Request::kGetOrder: {
      auto found = eng.get_order(tenant, request.get_order().order_id(), request.get_order().include_movements());
      if (found.id == 0) return code_only(found.code == result_code::ok ? result_code::unknown_order : found.code);
      Reply reply = code_only(found.code);
      to_wire(found, reply.mutable_order());
      return reply;
    }
    case Request::kListMovements: {
      const auto& r = request.list_movements();
      uint32_t limit = r.limit() == 0 ? 100 : r.limit();
      if (limit > 1000) return code_only(result_code::request_too_large);
      auto [code, entries] = eng.movements(tenant, r.wallet(), r.from_sequence(), limit);
      Reply reply = code_only(code);
      if (code != result_code::ok) return reply;
      auto* m = reply.mutable_movements();
      m->set_wallet(r.wallet());
      for (const auto& e : entries) to_wire(e, m->add_movements());
      m->set_next_sequence(entries.empty() ? r.from_sequence() : entries.back().sequence + 1);
      m->set_more(entries.size() >= limit);
      return reply;
    }
    case Request::kGetStats: {
      // The caller's tenant only: engine-wide counts would tell one tenant about the others.
      auto counted = eng.stats_of(tenant);
      if (!counted) return code_only(result_code::unavailable);  // retryable: a host did not answer in time
      const tenant_stats& s = *counted;
      Reply reply = code_only(result_code::ok);
      auto* out = reply.mutable_stats();
      out->set_submitted(s.submitted);
      out->set_refused(s.refused);
      out->set_duplicates(s.duplicates);
      out->set_succeeded(s.succeeded);
      out->set_failed(s.failed);
      out->set_in_flight(s.in_flight);
      out->set_wallets(s.wallets);
      out->set_active_wallets(0);  // which wallets sit in memory is engine-wide: not a tenant's count
      return reply;
    }
    default:
      return code_only(result_code::malformed_request);
  }
}

// Everything the broker owns; touched only on the broker's thread (the multiplexer), except
// the pool and the counters.
struct server::impl {
  struct connection {
    caf::io::connection_handle hdl;
    uint64_t serial = 0;
    frame_splitter splitter;
    size_t in_flight = 0;
    uint64_t write_remaining = 0;
    bool paused = false;          //!< reading halted (CAF passivated the socket)
    bool resume_pending = false;  //!< a deferred resume is on its way (see request_resume)
    bool closing = false;
    uint32_t auth_failures = 0;  //!< frames refused unauthenticated, stale or replayed
    bool authenticated = false;  //!< a correctly signed frame came
    int64_t opened_ms = 0;
    int64_t last_frame_ms = 0;
    //! Bytes set aside for the replies of the requests in flight (they are dispatched and will
    //! come back whatever the client reads), counted with the bytes queued for writing.
    size_t reserved = 0;
    std::string address;  //!< the peer's address, for the per-address connection bound
    std::string out;  //!< reply frames gathered during one event (plaintext)
    //! With TLS: bytes from the socket go through it to the splitter, `out` through it to the socket.
    std::unique_ptr<tls_session> tls;
    connection(caf::io::connection_handle h, uint64_t s, size_t max_frame, std::string addr, int64_t now)
        : hdl(h), serial(s), splitter(max_frame), opened_ms(now), last_frame_ms(now), address(std::move(addr)) {}
  };
  struct pending {
    uint64_t serial;
    uint64_t correlation;
  };

  engine& eng;
  const server_config& config;
  std::shared_ptr<server_counters> counters;
  std::shared_ptr<tls_context> tls;  //!< null: plain TCP
  std::string tls_scratch;           //!< decrypted input, encrypted output of one event
  query_pool pool;
  caf::io::broker* self = nullptr;
  caf::actor self_handle;
  std::unordered_map<int64_t, connection> connections;  //!< by handle id
  std::unordered_map<uint64_t, int64_t> serials;        //!< serial -> handle id
  std::unordered_map<uint64_t, pending> pending_orders;  //!< client tag -> origin
  uint64_t next_serial = 1;
  uint64_t next_tag = 1;
  std::vector<std::vector<submit_item>> batches;
  std::vector<int64_t> touched;
  decoded_request scratch;
  Envelope reply_scratch;
  replay_cache replays;
  std::unordered_map<std::string, size_t> per_address;  //!< open connections by peer address
  std::unordered_map<std::string, rate_bucket> rate_buckets;  //!< by key id (keys with rate_per_s only)

  static uint64_t random_salt() {
    std::random_device device;
    return (uint64_t{device()} << 32) ^ device();
  }

  impl(engine& e, const server_config& c, std::shared_ptr<server_counters> k, std::shared_ptr<tls_context> t)
      : eng(e),
        config(c),
        counters(std::move(k)),
        tls(std::move(t)),
        pool(c.query_threads, c.query_queue_max),
        batches(e.hosts().size()),
        replays(c.replay_cache_max, 2 * c.timestamp_window_ms, random_salt()) {}

  int64_t now() const { return config.clock ? config.clock() : now_ms(); }

  //! Closes the connections past their deadlines; returns how many.
  size_t sweep() {
    const int64_t t = now();
    std::vector<int64_t> expired;
    for (auto& [id, c] : connections) {
      if (c.closing) continue;
      bool unauthenticated = !c.authenticated && t - c.opened_ms >= config.auth_deadline_ms;
      bool idle = c.in_flight == 0 && t - c.last_frame_ms >= config.idle_timeout_ms;
      if (!unauthenticated && !idle) continue;
      (unauthenticated ? counters->closed_unauthenticated : counters->closed_idle).fetch_add(1);
      expired.push_back(id);
    }
    for (int64_t id : expired)
      if (auto it = connections.find(id); it != connections.end()) close(it->second);
    return expired.size();
  }

  connection* by_serial(uint64_t serial) {
    auto s = serials.find(serial);
    if (s == serials.end()) return nullptr;
    auto c = connections.find(s->second);
    return c == connections.end() ? nullptr : &c->second;
  }

  void touch(connection& c) {
    if (c.out.empty()) touched.push_back(c.hdl.id());
  }

  void queue_reply(connection& c, uint64_t correlation, Reply&& reply) {
    touch(c);
    Envelope envelope;
    envelope.set_correlation_id(correlation);
    *envelope.mutable_reply() = std::move(reply);
    append_envelope_frame(c.out, envelope);
    counters->replies.fetch_add(1, std::memory_order_relaxed);
  }

  //! Queues the reply to an order; builds it in a reused envelope (no allocation once warm).
  void queue_order_reply(connection& c, uint64_t correlation, const order_reply& reply) {
    touch(c);
    reply_scratch.set_correlation_id(correlation);
    Reply* out = reply_scratch.mutable_reply();
    out->set_code(static_cast<ResultCode>(reply.code));
    auto name = to_string(reply.code);
    out->set_message(name.data(), name.size());
    to_wire(reply, out->mutable_order());
    append_envelope_frame(c.out, reply_scratch);
    counters->replies.fetch_add(1, std::memory_order_relaxed);
  }

  void queue_frame(connection& c, const std::string& frame) {
    touch(c);
    c.out += frame;
    counters->replies.fetch_add(1, std::memory_order_relaxed);
  }

  //! Writes what the event produced, then applies back-pressure or resumes reading.
  void flush_touched() {
    for (int64_t id : touched) {
      auto it = connections.find(id);
      if (it == connections.end()) continue;
      write_out(it->second);
    }
    touched.clear();
  }

  //! Hands `c.out` to the socket (through TLS if on), with what TLS has to send besides
  //! (handshake messages, an alert).
  void write_out(connection& c) {
    std::string* bytes = &c.out;
    if (c.tls) {
      // A failed session cannot encrypt: its replies are dropped, its alert still goes.
      if (!c.out.empty()) c.tls->write(c.out.data(), c.out.size());
      c.out.clear();
      tls_scratch.clear();
      c.tls->drain(tls_scratch);
      bytes = &tls_scratch;
    }
    if (bytes->empty()) return;
    self->write(c.hdl, bytes->size(), bytes->data());
    self->flush(c.hdl);
    c.write_remaining += bytes->size();
    bytes->clear();
  }

  //! Bytes from the socket into the frame splitter (decrypted first with TLS). False if the
  //! connection was closed (a failed handshake or a bad record; `c` is gone).
  bool receive(connection& c, const char* data, size_t size) {
    if (!c.tls) {
      c.splitter.feed(data, size);
      return true;
    }
    bool before = c.tls->handshake_done();
    tls_scratch.clear();
    bool ok = c.tls->feed(data, size, tls_scratch);
    if (!before && c.tls->handshake_done()) counters->tls_handshakes.fetch_add(1, std::memory_order_relaxed);
    c.splitter.feed(tls_scratch.data(), tls_scratch.size());
    if (!ok) {
      (c.tls->handshake_done() ? counters->tls_record_errors : counters->tls_handshake_failures)
          .fetch_add(1, std::memory_order_relaxed);
      c.out.clear();
      close(c);  // sends the alert
      return false;
    }
    if (c.tls->pending_output()) write_out(c);  // handshake messages: `out` is empty here
    return true;
  }

  bool may_read(const connection& c) const {
    return !c.closing && c.in_flight < config.in_flight_max &&
           c.write_remaining + c.reserved < config.write_buffer_max;
  }

  //! The connection leaves the broker's tables (closed by either side). `c` is gone after it.
  void forget(connection& c) {
    if (auto a = per_address.find(c.address); a != per_address.end() && --a->second == 0) per_address.erase(a);
    serials.erase(c.serial);
    connections.erase(c.hdl.id());
    counters->connections_open.fetch_sub(1);
  }

  void close(connection& c) {
    if (c.closing) return;
    c.closing = true;
    // Write what is queued, then close (graceful: queued bytes are still sent); with TLS a
    // close_notify after them.
    if (c.tls) c.tls->shutdown();
    write_out(c);
    self->flush(c.hdl);
    self->close(c.hdl);
    // Forget it now: the broker gets no connection_closed_msg for a close of its own, and the
    // handle id (the socket) can come back with the next accepted connection. `c` is gone after
    // this; callers return at once.
    forget(c);
  }

  //! Decodes and dispatches buffered frames while the connection's limits allow.
  //! False if the connection was closed (and `c` is gone).
  bool drain(connection& c, int64_t now) {
    while (may_read(c)) {
      std::string_view payload;
      auto st = c.splitter.next(payload);
      if (st == frame_splitter::status::need_more) break;
      if (st != frame_splitter::status::frame) {
        counters->oversized_frames.fetch_add(st == frame_splitter::status::too_large ? 1 : 0);
        counters->malformed.fetch_add(st == frame_splitter::status::too_large ? 0 : 1);
        queue_reply(c, 0,
                    code_only(st == frame_splitter::status::too_large ? result_code::frame_too_large
                                                                     : result_code::malformed_request));
        close(c);
        return false;
      }
      counters->requests.fetch_add(1, std::memory_order_relaxed);
      if (!handle_frame(c, payload, now)) return false;
    }
    return true;
  }

  //! A refused authentication: answered; past `auth_failures_max` on this connection the
  //! connection is closed (a client that cannot sign is either broken or guessing). False if so.
  bool refuse_auth(connection& c, uint64_t correlation, result_code code) {
    queue_reply(c, correlation, code_only(code));
    if (++c.auth_failures < config.auth_failures_max) return true;
    counters->closed_auth_failures.fetch_add(1, std::memory_order_relaxed);
    close(c);
    return false;
  }

  //! False if the connection was closed (and `c` is gone).
  bool handle_frame(connection& c, std::string_view payload, int64_t now) {
    auto& req = scratch;
    auto code = decode_request(payload, req);
    if (code != result_code::ok) {
      counters->malformed.fetch_add(1, std::memory_order_relaxed);
      queue_reply(c, req.correlation_id, code_only(code));
      return true;
    }
    tenant_id tenant = 0;
    const client_key* key = nullptr;
    code = authenticate(config.keys, req, now, tenant, config.timestamp_window_ms, &key);
    if (code != result_code::ok) {
      (code == result_code::stale_request ? counters->stale : counters->unauthenticated)
          .fetch_add(1, std::memory_order_relaxed);
      return refuse_auth(c, req.correlation_id, code);
    }
    // A correctly signed frame seen before is a replay (any connection): refused, not executed.
    switch (replays.admit(req.signature, now)) {
      case replay_cache::verdict::fresh: break;
      case replay_cache::verdict::replayed:
        counters->replayed.fetch_add(1, std::memory_order_relaxed);
        return refuse_auth(c, req.correlation_id, result_code::replayed_request);
      case replay_cache::verdict::full:
        counters->replay_full.fetch_add(1, std::memory_order_relaxed);
        queue_reply(c, req.correlation_id, code_only(result_code::overloaded));
        return true;
    }
    c.authenticated = true;
    // What the key may do, before anything runs: a missing scope or an amount past its bound.
    if (authorize(*key, req.request) != result_code::ok) {
      counters->forbidden.fetch_add(1, std::memory_order_relaxed);
      queue_reply(c, req.correlation_id, code_only(result_code::forbidden));
      return true;
    }
    // Its request rate (bounded state: one bucket per key of the key table).
    if (key->rate_per_s != 0 && !rate_buckets[req.key_id].take(*key, now)) {
      counters->rate_limited.fetch_add(1, std::memory_order_relaxed);
      queue_reply(c, req.correlation_id, code_only(result_code::rate_limited));
      return true;
    }
    order_command command;
    if (to_command(req.request, tenant, command)) {
      const order_host_actor& host = eng.host_for(tenant, command.request_id);
      size_t index = static_cast<size_t>(&host - eng.hosts().data());
      uint64_t tag = next_tag++;
      pending_orders.emplace(tag, pending{c.serial, req.correlation_id});
      auto& batch = batches[index];
      batch.push_back(submit_item{tag, std::move(command)});
      ++c.in_flight;
      c.reserved += order_reply_reserve_bytes;
      if (batch.size() >= limits::batch_commands_max) send_batch(index);
      return true;
    }
    ++c.in_flight;
    c.reserved += query_reply_reserve_bytes;
    auto request = std::make_shared<Request>(std::move(req.request));
    req.request.Clear();
    uint64_t serial = c.serial;
    uint64_t correlation = req.correlation_id;
    engine* e = &eng;
    caf::actor broker = self_handle;
    bool taken = pool.post([e, request, tenant, serial, correlation, broker] {
      Envelope envelope;
      envelope.set_correlation_id(correlation);
      *envelope.mutable_reply() = execute_query(*e, *request, tenant);
      std::string frame;
      append_envelope_frame(frame, envelope);
      caf::anon_send(broker, query_done_atom::value, serial, std::move(frame));
    });
    if (!taken) {
      // The query queue is full: refused at once, retryable, rather than queued without bound.
      request_done(c, query_reply_reserve_bytes);
      queue_reply(c, correlation, code_only(result_code::unavailable));
    }
    return true;
  }

  void send_batch(size_t index) {
    auto& batch = batches[index];
    if (batch.empty()) return;
    caf::send_as(self_handle, eng.hosts()[index], submit_atom::value, std::move(batch));
    batch = std::vector<submit_item>{};
  }

  void send_batches() {
    for (size_t i = 0; i < batches.size(); ++i) send_batch(i);
  }

  //! Resuming a halted connection must not happen in the multiplexer iteration that halted
  //! it: CAF 0.17's halt() only queues the removal of the read event (applied at the end of
  //! the iteration) and trigger() is a no-op while that removal is pending, so a trigger in
  //! the same iteration is lost and the connection never reads again (a silent stall). A
  //! function posted to the multiplexer runs in a later iteration, after the removal; it
  //! sends the broker a resume message, handled with the connection's current state.
  void request_resume(connection& c) {
    if (c.resume_pending) return;
    c.resume_pending = true;
    caf::actor broker = self_handle;
    uint64_t serial = c.serial;
    self->backend().post([broker, serial] { caf::anon_send(broker, resume_atom::value, serial); });
  }

  void resume(connection& c) {
    c.resume_pending = false;
    if (c.closing || !c.paused || !may_read(c)) return;
    if (!drain(c, now())) return;
    if (may_read(c)) {
      c.paused = false;
      self->trigger(c.hdl);
    }
  }

  void update_reading(connection& c) {
    if (c.closing) return;
    if (c.paused) {
      if (may_read(c)) request_resume(c);
    } else if (!may_read(c)) {
      c.paused = true;
      counters->paused_reads.fetch_add(1, std::memory_order_relaxed);
      self->halt(c.hdl);
    }
  }

  void request_done(connection& c, size_t reserve) {
    if (c.in_flight > 0) --c.in_flight;
    c.reserved -= std::min(c.reserved, reserve);
  }
};

namespace {

caf::behavior server_broker(caf::io::broker* self, caf::io::doorman_ptr door, std::shared_ptr<server::impl> st) {
  self->add_doorman(std::move(door));
  st->self = self;
  st->self_handle = caf::actor_cast<caf::actor>(self);
  // Nothing that reaches the broker by mistake may stop it: a stray message is dropped and an
  // error message ignored (CAF's defaults print, or quit the actor on an error).
  self->set_default_handler(caf::drop);
  self->set_error_handler([](caf::error&) {});
  self->set_exit_handler([=](caf::exit_msg& msg) {
    st->self = nullptr;
    st->self_handle = nullptr;
    st->connections.clear();
    st->per_address.clear();
    self->quit(msg.reason);
  });
  using conn = server::impl::connection;
  const auto sweep_every = std::chrono::milliseconds(std::max<int64_t>(st->config.sweep_interval_ms, 1));
  self->delayed_send(self, sweep_every, sweep_atom::value, true);
  return {
      [=](sweep_atom, bool periodic) -> size_t {
        size_t closed = st->sweep();
        if (periodic) self->delayed_send(self, sweep_every, sweep_atom::value, true);
        st->flush_touched();
        return closed;
      },
      [=](const caf::io::new_connection_msg& msg) {
        if (st->connections.size() >= st->config.connections_max) {
          st->counters->connections_refused.fetch_add(1);
          self->close(msg.handle);
          return;
        }
        // One address may not hold every slot: past its share it is refused, others still get in.
        std::string address = self->remote_addr(msg.handle);
        if (st->per_address[address] >= st->config.connections_per_address_max) {
          st->counters->connections_refused.fetch_add(1);
          st->counters->connections_refused_address.fetch_add(1);
          self->close(msg.handle);
          return;
        }
        st->counters->connections_accepted.fetch_add(1);
        st->counters->connections_open.fetch_add(1);
        if (auto stale = st->connections.find(msg.handle.id()); stale != st->connections.end()) {
          // A handle id reused before its old connection was forgotten: drop the old state.
          st->forget(stale->second);
        }
        ++st->per_address[address];
        uint64_t serial = st->next_serial++;
        st->connections.emplace(std::piecewise_construct, std::forward_as_tuple(msg.handle.id()),
                                std::forward_as_tuple(msg.handle, serial, st->config.frame_size_max, address,
                                                      st->now()));
        st->serials[serial] = msg.handle.id();
        if (st->tls) {
          auto& c = st->connections.at(msg.handle.id());
          c.tls = std::make_unique<tls_session>(st->tls);
          c.tls->start();  // a server waits for the client's hello
        }
        self->configure_read(msg.handle, caf::io::receive_policy::at_most(64 * 1024));
        self->ack_writes(msg.handle, true);
      },
      [=](caf::io::new_data_msg& msg) {
        auto it = st->connections.find(msg.handle.id());
        if (it == st->connections.end()) return;
        conn& c = it->second;
        if (c.closing) return;
        if (!st->receive(c, msg.buf.data(), msg.buf.size())) {
          st->flush_touched();
          return;
        }
        c.last_frame_ms = st->now();
        bool alive = st->drain(c, c.last_frame_ms);
        st->send_batches();
        st->flush_touched();
        if (alive) st->update_reading(c);
      },
      [=](replies_atom, std::vector<order_reply>& replies) {
        for (auto& reply : replies) {
          auto p = st->pending_orders.find(reply.client_tag);
          if (p == st->pending_orders.end()) continue;
          auto origin = p->second;
          st->pending_orders.erase(p);
          conn* c = st->by_serial(origin.serial);
          if (c == nullptr || c->closing) continue;
          st->request_done(*c, order_reply_reserve_bytes);
          st->queue_order_reply(*c, origin.correlation, reply);
        }
        std::vector<int64_t> ids = st->touched;
        st->flush_touched();
        for (int64_t id : ids) {
          auto it = st->connections.find(id);
          if (it != st->connections.end()) st->update_reading(it->second);
        }
        st->send_batches();
        st->flush_touched();
      },
      [=](query_done_atom, uint64_t serial, const std::string& frame) {
        conn* c = st->by_serial(serial);
        if (c == nullptr || c->closing) return;
        st->request_done(*c, query_reply_reserve_bytes);
        st->queue_frame(*c, frame);
        st->flush_touched();
        st->update_reading(*c);
        st->send_batches();
        st->flush_touched();
      },
      [=](resume_atom, uint64_t serial) {
        conn* c = st->by_serial(serial);
        if (c == nullptr) return;
        st->resume(*c);
        st->send_batches();
        st->flush_touched();
      },
      [=](const caf::io::data_transferred_msg& msg) {
        auto it = st->connections.find(msg.handle.id());
        if (it == st->connections.end()) return;
        it->second.write_remaining = msg.remaining;
        if (it->second.paused) {
          st->update_reading(it->second);
          st->send_batches();
          st->flush_touched();
        }
      },
      [=](const caf::io::connection_closed_msg& msg) {
        auto it = st->connections.find(msg.handle.id());
        if (it == st->connections.end()) return;
        st->forget(it->second);
      },
      [=](const caf::io::acceptor_closed_msg&) {},
      [=](const caf::io::connection_passivated_msg&) {},
  };
}

}  // namespace

server::server(engine& eng, server_config config)
    : engine_(eng), config_(std::move(config)), counters_(std::make_shared<server_counters>()) {
  config_.keys.set_deployment(config_.deployment_id);
}

server::~server() {
  stop();
  // Only now: the engine's hosts may still answer the closed broker until the engine stopped,
  // and a message to a broker whose actor system is gone crashes (header: "stop").
  system_.reset();
  caf_config_.reset();
  impl_.reset();
}

bool server::start(std::string& error) {
  if (system_) {
    error = "already started";
    return false;
  }
  // protobuf logs a line for every string field with invalid UTF-8 it parses; requests are parsed
  // before authentication, so anyone could fill the log. The frame is refused as malformed anyway.
  google::protobuf::SetLogHandler([](google::protobuf::LogLevel level, const char*, int, const std::string&) {
    if (level >= google::protobuf::LOGLEVEL_FATAL) std::abort();
  });
  std::shared_ptr<tls_context> tls;
  if (!config_.tls.cert.empty() || !config_.tls.key.empty() || !config_.tls.ca.empty()) {
    tls = tls_context::server(config_.tls, error);
    if (!tls) return false;
  }
  caf_config_ = std::make_unique<caf_server_config>();
  system_ = std::make_unique<caf::actor_system>(*caf_config_);
  auto& mm = system_->middleman();
  auto door = mm.backend().new_tcp_doorman(config_.port, config_.host.c_str(), true);
  if (!door) {
    error = "cannot listen on " + config_.host + ":" + std::to_string(config_.port) + ": " +
            system_->render(door.error());
    system_.reset();
    caf_config_.reset();
    return false;
  }
  port_ = (*door)->port();
  impl_ = std::make_shared<impl>(engine_, config_, counters_, std::move(tls));
  broker_ = mm.spawn_broker(server_broker, std::move(*door), impl_);
  return true;
}

size_t server::sweep_now() {
  if (!system_ || !broker_) return 0;
  size_t closed = 0;
  caf::scoped_actor self{*system_};
  self->request(broker_, std::chrono::seconds(10), sweep_atom::value, false)
      .receive([&](size_t n) { closed = n; }, [&](caf::error&) {});
  return closed;
}

void server::stop() {
  if (!system_ || stopped_) return;
  if (broker_) {
    // Waited for: a broker still running on the multiplexer while its actor system is torn down
    // reaches into the half-destroyed system (seen as a crash of a node's clean stop under load).
    caf::anon_send_exit(broker_, caf::exit_reason::user_shutdown);
    caf::scoped_actor self{*system_};
    self->wait_for(broker_);
  }
  broker_ = nullptr;
  if (impl_) impl_->pool.stop();
  stopped_ = true;
}

}  // namespace txengine::wire
