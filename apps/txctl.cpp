// txctl: command-line client of a txengine server (docs/protocol.md).
// Exit codes: 0 ok, 1 business rejection (the server answered with a code other than ok),
// 2 usage error, 3 connection or infrastructure failure (no answer, unauthenticated,
// stale or malformed request).
#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "apps/client_cli.hpp"
#include "protocol/client.hpp"

using namespace txengine;
using namespace txengine::wire;

namespace {

constexpr int exit_ok = 0, exit_rejected = 1, exit_usage = 2, exit_infra = 3;

std::string money(int64_t minor) {
  char buf[48];
  uint64_t abs = minor < 0 ? static_cast<uint64_t>(-(minor + 1)) + 1 : static_cast<uint64_t>(minor);
  std::snprintf(buf, sizeof buf, "%s%" PRIu64 ".%02" PRIu64, minor < 0 ? "-" : "", abs / 100, abs % 100);
  return buf;
}

bool parse_money(const std::string& text, int64_t& out) {
  if (text.empty()) return false;
  size_t i = 0;
  bool negative = false;
  if (text[0] == '-') {
    negative = true;
    i = 1;
  }
  int64_t units = 0;
  int digits = 0;
  for (; i < text.size() && text[i] != '.'; ++i) {
    if (text[i] < '0' || text[i] > '9' || units > (INT64_MAX / 100 - 9) / 10) return false;
    units = units * 10 + (text[i] - '0');
    ++digits;
  }
  int64_t cents = 0;
  if (i < text.size()) {
    size_t places = text.size() - i - 1;
    if (places == 0 || places > 2) return false;
    for (size_t j = i + 1; j < text.size(); ++j) {
      if (text[j] < '0' || text[j] > '9') return false;
      cents = cents * 10 + (text[j] - '0');
    }
    if (places == 1) cents *= 10;
  }
  if (digits == 0 && i >= text.size()) return false;
  out = units * 100 + cents;
  if (negative) out = -out;
  return true;
}

std::string random_request_id() {
  std::random_device rd;
  std::mt19937_64 rng((uint64_t{rd()} << 32) ^ rd());
  char buf[32];
  std::snprintf(buf, sizeof buf, "txctl-%016" PRIx64, rng());
  return buf;
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", ch);
      out += b;
    } else {
      out += ch;
    }
  }
  return out;
}

std::string lower(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

std::string enum_name(const std::string& full, const std::string& prefix) {
  return lower(full.rfind(prefix, 0) == 0 ? full.substr(prefix.size()) : full);
}

std::string balances_json(const Balances& b) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "{\"available\":%" PRId64 ",\"frozen\":%" PRId64 ",\"incoming\":%" PRId64 "}",
                b.available(), b.frozen(), b.incoming());
  return buf;
}

std::string movement_json(const Movement& e, bool with_wallet) {
  return std::string("{") + (with_wallet ? "\"wallet\":" + std::to_string(e.wallet()) + "," : "") +
         "\"sequence\":" + std::to_string(e.sequence()) + ",\"order_id\":" + std::to_string(e.order_id()) +
         ",\"phase\":" + std::to_string(e.phase()) + ",\"delta\":" + balances_json(e.delta()) +
         ",\"after\":" + balances_json(e.after()) + ",\"at_ms\":" + std::to_string(e.at_ms()) + "}";
}

std::string to_json(const Reply& reply) {
  std::string out = "{\"code\":" + std::to_string(reply.code()) + ",\"result\":\"" + code_name(reply.code()) + "\"";
  if (reply.has_order()) {
    const auto& o = reply.order();
    out += ",\"order\":{\"order_id\":" + std::to_string(o.order_id()) + ",\"request_id\":\"" +
           json_escape(o.request_id()) + "\",\"kind\":\"" + enum_name(OrderKind_Name(o.kind()), "ORDER_KIND_") +
           "\",\"state\":\"" + enum_name(OrderState_Name(o.state()), "ORDER_STATE_") +
           "\",\"amount\":" + std::to_string(o.amount()) + ",\"posted_amount\":" + std::to_string(o.posted_amount()) +
           ",\"currency\":\"" + json_escape(o.currency()) + "\",\"source\":" + std::to_string(o.source()) +
           ",\"destination\":" + std::to_string(o.destination()) + ",\"duplicate\":" +
           (o.duplicate() ? "true" : "false") + ",\"created_ms\":" + std::to_string(o.created_ms()) +
           ",\"finished_ms\":" + std::to_string(o.finished_ms()) + ",\"wallets\":[";
    for (int i = 0; i < o.wallets_size(); ++i)
      out += std::string(i ? "," : "") + "{\"wallet\":" + std::to_string(o.wallets(i).wallet()) +
             ",\"balances\":" + balances_json(o.wallets(i).balances()) + "}";
    out += "]";
    if (o.movements_size() > 0) {
      out += ",\"movements\":[";
      for (int i = 0; i < o.movements_size(); ++i) out += std::string(i ? "," : "") + movement_json(o.movements(i), true);
      out += "]";
    }
    out += "}";
  }
  if (reply.has_wallet()) {
    const auto& w = reply.wallet();
    out += ",\"wallet\":{\"wallet\":" + std::to_string(w.wallet()) + ",\"kind\":\"" +
           enum_name(WalletKind_Name(w.kind()), "WALLET_KIND_") + "\",\"status\":\"" +
           enum_name(WalletStatus_Name(w.status()), "WALLET_STATUS_") + "\",\"currency\":\"" +
           json_escape(w.currency()) + "\",\"overdraft_limit\":" + std::to_string(w.overdraft_limit()) +
           ",\"balances\":" + balances_json(w.balances()) + ",\"open_transactions\":" +
           std::to_string(w.open_transactions()) + ",\"journal_sequence\":" + std::to_string(w.journal_sequence()) +
           ",\"duplicate\":" + (w.duplicate() ? "true" : "false") + "}";
  }
  if (reply.has_movements()) {
    const auto& m = reply.movements();
    out += ",\"movements\":{\"wallet\":" + std::to_string(m.wallet()) + ",\"next_sequence\":" +
           std::to_string(m.next_sequence()) + ",\"more\":" + (m.more() ? "true" : "false") + ",\"entries\":[";
    for (int i = 0; i < m.movements_size(); ++i) {
      out += std::string(i ? "," : "") + movement_json(m.movements(i), false);
    }
    out += "]}";
  }
  if (reply.has_stats()) {
    const auto& s = reply.stats();
    out += ",\"stats\":{\"submitted\":" + std::to_string(s.submitted()) + ",\"refused\":" +
           std::to_string(s.refused()) + ",\"duplicates\":" + std::to_string(s.duplicates()) + ",\"succeeded\":" +
           std::to_string(s.succeeded()) + ",\"failed\":" + std::to_string(s.failed()) + ",\"in_flight\":" +
           std::to_string(s.in_flight()) + ",\"wallets\":" + std::to_string(s.wallets()) + ",\"active_wallets\":" +
           std::to_string(s.active_wallets()) + "}";
  }
  return out + "}";
}

std::string balances_text(const Balances& b) {
  return "available " + money(b.available()) + "  frozen " + money(b.frozen()) + "  incoming " +
         money(b.incoming());
}

//! A movement's phase: try, confirm, cancel; "direct" (one step, seeded), "try+conf" (a stored
//! try and its confirm that could not be split; it stands for sequence - 1 and sequence).
const char* phase_name(uint32_t phase) {
  static const char* names[] = {"try", "confirm", "cancel", "direct", "try+conf"};
  return phase < 5 ? names[phase] : "?";
}

void print_text(const Reply& reply) {
  if (reply.code() != OK) std::printf("REJECTED: %s (code %u)\n", code_name(reply.code()).c_str(), reply.code());
  if (reply.has_order()) {
    const auto& o = reply.order();
    std::printf("order       %" PRIu64 "%s\n", o.order_id(), o.duplicate() ? "  (duplicate: original order)" : "");
    std::printf("request id  %s\n", o.request_id().c_str());
    std::printf("kind        %s\n", enum_name(OrderKind_Name(o.kind()), "ORDER_KIND_").c_str());
    std::printf("state       %s\n", enum_name(OrderState_Name(o.state()), "ORDER_STATE_").c_str());
    std::printf("amount      %s %s", money(o.amount()).c_str(), o.currency().c_str());
    if (o.posted_amount() != o.amount()) std::printf("  (posted %s)", money(o.posted_amount()).c_str());
    std::printf("\n");
    if (o.source()) std::printf("from        %" PRIu64 "\n", o.source());
    if (o.destination()) std::printf("to          %" PRIu64 "\n", o.destination());
    for (const auto& w : o.wallets())
      std::printf("wallet %-5" PRIu64 " %s\n", w.wallet(), balances_text(w.balances()).c_str());
    if (o.movements_size() > 0) {
      std::printf("movements\n%-10s %-8s %-8s %14s %14s %14s %14s\n", "wallet", "seq", "phase", "delta avail",
                  "delta frozen", "available", "frozen");
      for (const auto& e : o.movements())
        std::printf("%-10" PRIu64 " %-8" PRIu64 " %-8s %14s %14s %14s %14s\n", e.wallet(), e.sequence(),
                    phase_name(e.phase()), money(e.delta().available()).c_str(), money(e.delta().frozen()).c_str(),
                    money(e.after().available()).c_str(), money(e.after().frozen()).c_str());
    }
  }
  if (reply.has_wallet()) {
    const auto& w = reply.wallet();
    std::printf("wallet      %" PRIu64 "%s\n", w.wallet(), w.duplicate() ? "  (duplicate: created before)" : "");
    std::printf("kind        %s\n", enum_name(WalletKind_Name(w.kind()), "WALLET_KIND_").c_str());
    std::printf("status      %s\n", enum_name(WalletStatus_Name(w.status()), "WALLET_STATUS_").c_str());
    std::printf("currency    %s\n", w.currency().c_str());
    std::printf("available   %s\n", money(w.balances().available()).c_str());
    std::printf("frozen      %s\n", money(w.balances().frozen()).c_str());
    std::printf("incoming    %s\n", money(w.balances().incoming()).c_str());
    std::printf("overdraft   %s\n", money(w.overdraft_limit()).c_str());
    std::printf("open txns   %" PRIu64 "\n", w.open_transactions());
  }
  if (reply.has_movements()) {
    const auto& m = reply.movements();
    std::printf("%-8s %-20s %-8s %14s %14s %14s\n", "seq", "order", "phase", "delta avail", "available", "frozen");
    for (const auto& e : m.movements())
      std::printf("%-8" PRIu64 " %-20" PRIu64 " %-8s %14s %14s %14s\n", e.sequence(), e.order_id(),
                  phase_name(e.phase()), money(e.delta().available()).c_str(),
                  money(e.after().available()).c_str(), money(e.after().frozen()).c_str());
    if (m.more()) std::printf("more: --from %" PRIu64 "\n", m.next_sequence());
  }
  if (reply.has_stats()) {
    const auto& s = reply.stats();
    // The key's tenant only (docs/protocol.md, get_stats).
    std::printf("submitted   %" PRIu64 "\nsucceeded   %" PRIu64 "\nfailed      %" PRIu64 "\nrefused     %" PRIu64
                "\nduplicates  %" PRIu64 "\nin flight   %" PRIu64 "\nwallets     %" PRIu64 "\n",
                s.submitted(), s.succeeded(), s.failed(), s.refused(), s.duplicates(), s.in_flight(), s.wallets());
  }
  if (reply.code() == OK && !reply.has_order() && !reply.has_wallet() && !reply.has_movements() && !reply.has_stats())
    std::printf("ok\n");
}

//! An amount option: decimal with at most 2 places, stored in minor units.
CLI::Validator amount_check() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        int64_t minor = 0;
        if (!parse_money(text, minor)) return "expected an amount like 10.00 (at most 2 places), got '" + text + "'";
        text = std::to_string(minor);
        return {};
      },
      "", "AMOUNT");
}

//! What the command line says: the connection, then the fields of whichever command was named.
struct command_line {
  client_options server;
  bool json = false;
  uint64_t timeout_ms = 30'000;
  uint64_t id = 0, wallet = 0, from = 0, to = 0, payer = 0, merchant = 0, fee_wallet = 0, order = 0;
  uint32_t channel = 1, page_limit = 0;
  int64_t amount = 0, overdraft = 0, limit = 0, fee = 0;
  std::string kind = "user", currency, request_id;
  bool all = false, movements = false;
  CLI::App* movements_cmd = nullptr;
  //! The command named, and what builds its request.
  std::vector<std::pair<CLI::App*, std::function<void(Request&)>>> builders;

  std::string next_request_id() const {
    if (!request_id.empty()) return request_id;
    std::string id = random_request_id();
    if (!json) std::fprintf(stderr, "request id: %s\n", id.c_str());
    return id;
  }
};

CLI::Option* add_amount(CLI::App& cmd, const std::string& name, int64_t& target, const std::string& help) {
  return cmd.add_option(name, target, help)->type_name("AMOUNT")->transform(amount_check());
}

CLI::Option* add_id(CLI::App& cmd, const std::string& name, uint64_t& target, const std::string& help) {
  return cli::add_number(cmd, name, target, help)->required()->default_str("");
}

void add_order_options(CLI::App& cmd, command_line& c) {
  add_amount(cmd, "--amount", c.amount, "amount, e.g. 10.00")->required();
  cmd.add_option("--currency", c.currency, "currency code, e.g. USD")->required()->type_name("CUR");
  cmd.add_option("--request-id", c.request_id, "idempotency key (default: a random one, printed)")->type_name("R");
}

void add_wallet_commands(CLI::App& app, command_line& c) {
  CLI::App* wallet = app.add_subcommand("wallet", "create, inspect and manage wallets")->require_subcommand(1);
  CLI::App* create = wallet->add_subcommand("create", "create a wallet");
  cli::add_choice(*create, "--kind", c.kind, "wallet kind", {"user", "merchant", "fee"});
  create->add_option("--currency", c.currency, "currency code, e.g. USD")->required()->type_name("CUR");
  add_amount(*create, "--overdraft", c.overdraft, "overdraft limit (default 0.00)");
  create->add_option("--request-id", c.request_id, "idempotency key (default: a random one, printed)")->type_name("R");
  c.builders.emplace_back(create, [&c, create](Request& r) {
    auto* w = r.mutable_create_wallet();
    w->set_kind(c.kind == "merchant" ? WALLET_KIND_MERCHANT : c.kind == "fee" ? WALLET_KIND_FEE : WALLET_KIND_USER);
    w->set_currency(c.currency);
    if (create->count("--overdraft")) w->set_overdraft_limit(c.overdraft);
    w->set_request_id(c.next_request_id());
  });
  auto by_id = [&](const char* name, const char* help, std::function<void(Request&, uint64_t)> set) {
    CLI::App* cmd = wallet->add_subcommand(name, help);
    add_id(*cmd, "ID", c.id, "wallet id");
    c.builders.emplace_back(cmd, [&c, set](Request& r) { set(r, c.id); });
    return cmd;
  };
  by_id("get", "a wallet's balances and status", [](Request& r, uint64_t id) { r.mutable_get_wallet()->set_wallet(id); });
  by_id("freeze", "refuse orders that debit the wallet",
        [](Request& r, uint64_t id) { r.mutable_freeze_wallet()->set_wallet(id); });
  by_id("unfreeze", "lift a freeze", [](Request& r, uint64_t id) { r.mutable_unfreeze_wallet()->set_wallet(id); });
  by_id("close", "close an empty wallet", [](Request& r, uint64_t id) { r.mutable_close_wallet()->set_wallet(id); });
  CLI::App* set_limit = by_id("set-limit", "set the overdraft limit", [&c](Request& r, uint64_t id) {
    r.mutable_set_limit()->set_wallet(id);
    r.mutable_set_limit()->set_overdraft_limit(c.limit);
  });
  add_amount(*set_limit, "--limit", c.limit, "the new overdraft limit, e.g. 50.00")->required();
  c.movements_cmd = by_id("movements", "the wallet's movements, oldest first", [&c](Request& r, uint64_t id) {
    auto* m = r.mutable_list_movements();
    m->set_wallet(id);
    if (c.movements_cmd->count("--from")) m->set_from_sequence(c.from);
    if (c.movements_cmd->count("--limit")) m->set_limit(c.page_limit);
  });
  cli::add_number(*c.movements_cmd, "--from", c.from, "first journal sequence");
  cli::add_number(*c.movements_cmd, "--limit", c.page_limit, "movements a page (default: the server's)");
  c.movements_cmd->add_flag("--all", c.all, "every page, not just the first");
}

void add_order_commands(CLI::App& app, command_line& c) {
  for (const char* name : {"top-up", "withdraw"}) {
    bool top = std::string(name) == "top-up";
    CLI::App* cmd = app.add_subcommand(name, top ? "add money to a wallet through a channel"
                                                 : "take money out of a wallet through a channel");
    add_id(*cmd, "--wallet", c.wallet, "wallet id");
    add_order_options(*cmd, c);
    cli::add_number(*cmd, "--channel", c.channel, "payment channel (0: the engine's routes choose)");
    c.builders.emplace_back(cmd, [&c, top](Request& r) {
      std::string id = c.next_request_id();
      auto set = [&](auto* t) {
        t->set_request_id(id), t->set_wallet(c.wallet), t->set_amount(c.amount), t->set_currency(c.currency),
            t->set_channel(c.channel);
      };
      top ? set(r.mutable_top_up()) : set(r.mutable_withdraw());
    });
  }
  for (const char* name : {"transfer", "commission"}) {
    bool transfer = std::string(name) == "transfer";
    CLI::App* cmd = app.add_subcommand(name, transfer ? "move money between two wallets"
                                                      : "pay a merchant from a fee wallet");
    add_id(*cmd, "--from", c.from, transfer ? "source wallet" : "fee wallet");
    add_id(*cmd, "--to", c.to, transfer ? "destination wallet" : "merchant wallet");
    add_order_options(*cmd, c);
    c.builders.emplace_back(cmd, [&c, transfer](Request& r) {
      std::string id = c.next_request_id();
      auto set = [&](auto* t) {
        t->set_request_id(id), t->set_from(c.from), t->set_to(c.to), t->set_amount(c.amount),
            t->set_currency(c.currency);
      };
      transfer ? set(r.mutable_transfer()) : set(r.mutable_commission());
    });
  }
  CLI::App* pay = app.add_subcommand("pay", "a payer pays a merchant, optionally with a fee");
  add_id(*pay, "--payer", c.payer, "payer wallet");
  add_id(*pay, "--merchant", c.merchant, "merchant wallet");
  add_order_options(*pay, c);
  auto* fee_wallet = cli::add_number(*pay, "--fee-wallet", c.fee_wallet, "fee wallet");
  auto* fee = add_amount(*pay, "--fee", c.fee, "fee amount");
  fee_wallet->needs(fee);
  fee->needs(fee_wallet);
  c.builders.emplace_back(pay, [&c, fee](Request& r) {
    auto* p = r.mutable_pay();
    p->set_payer(c.payer), p->set_merchant(c.merchant), p->set_amount(c.amount), p->set_currency(c.currency);
    if (fee->count()) p->set_fee_wallet(c.fee_wallet), p->set_fee_amount(c.fee);
    p->set_request_id(c.next_request_id());
  });
  CLI::App* refund = app.add_subcommand("refund", "refund (part of) a payment");
  add_id(*refund, "--order", c.order, "the original order");
  add_order_options(*refund, c);
  c.builders.emplace_back(refund, [&c](Request& r) {
    auto* f = r.mutable_refund();
    f->set_original_order(c.order), f->set_amount(c.amount), f->set_currency(c.currency);
    f->set_request_id(c.next_request_id());
  });
}

void add_query_commands(CLI::App& app, command_line& c) {
  CLI::App* order = app.add_subcommand("order", "inspect orders")->require_subcommand(1);
  CLI::App* get = order->add_subcommand("get", "an order's state and its wallets");
  add_id(*get, "ID", c.order, "order id");
  get->add_flag("--movements", c.movements, "with the movements the order made");
  c.builders.emplace_back(get, [&c](Request& r) {
    r.mutable_get_order()->set_order_id(c.order);
    if (c.movements) r.mutable_get_order()->set_include_movements(true);
  });
  CLI::App* stats = app.add_subcommand("stats", "order and wallet counts (the key's tenant only)");
  c.builders.emplace_back(stats, [](Request& r) { r.mutable_get_stats(); });
}

void add_options(CLI::App& app, command_line& c) {
  app.fallthrough();  // --json, --server ... anywhere on the line
  app.require_subcommand(1);
  cli::add_client_options(app, c.server, "TXCTL");
  app.add_flag("--json", c.json, "print the reply as JSON");
  cli::add_number(app, "--timeout", c.timeout_ms, "how long to wait for the reply, in ms");
  app.footer(
      "AMOUNT is decimal with at most 2 places (10.00 = 1000 minor units). Without --request-id a random one is "
      "generated and printed.\nexit codes: 0 ok, 1 rejected by the engine, 2 usage, 3 connection/authentication "
      "failure");
  add_wallet_commands(app, c);
  add_order_commands(app, c);
  add_query_commands(app, c);
}

int exit_code_of(const Reply& reply) {
  switch (reply.code()) {
    case OK: return exit_ok;
    case UNAUTHENTICATED:
    case STALE_REQUEST:
    case MALFORMED_REQUEST:
    case FRAME_TOO_LARGE: return exit_infra;
    default: return exit_rejected;
  }
}

//! Sends the request (every page of it with wallet movements --all) and prints the replies.
int call(const command_line& c, Request request) {
  bool all_pages = c.all && c.movements_cmd->parsed();
  client connection(c.server);
  std::string error;
  if (!connection.connect(error)) {
    if (c.json) std::printf("{\"error\":\"%s\"}\n", json_escape(error).c_str());
    std::fprintf(stderr, "txctl: %s\n", error.c_str());
    return exit_infra;
  }
  for (;;) {
    auto reply = connection.call(request, error);
    if (!reply) {
      if (c.json) std::printf("{\"error\":\"%s\"}\n", json_escape(error).c_str());
      std::fprintf(stderr, "txctl: %s\n", error.c_str());
      return exit_infra;
    }
    if (c.json)
      std::printf("%s\n", to_json(*reply).c_str());
    else
      print_text(*reply);
    int code = exit_code_of(*reply);
    if (code != exit_ok || !all_pages || !reply->has_movements() || !reply->movements().more()) return code;
    request.mutable_list_movements()->set_from_sequence(reply->movements().next_sequence());
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"txctl: command-line client of a txengine server (docs/protocol.md)", "txctl"};
  command_line c;
  add_options(app, c);
  if (int code = cli::parse(app, argc, argv); code >= 0) return code;
  c.server.timeout = std::chrono::milliseconds(c.timeout_ms);
  for (const auto& [cmd, build] : c.builders)
    if (cmd->parsed()) {
      Request request;
      build(request);
      return call(c, std::move(request));
    }
  std::fprintf(stderr, "txctl: no command given\n");
  return exit_usage;
}
