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
#include <map>
#include <random>
#include <string>
#include <vector>

#include "protocol/client.hpp"

using namespace txengine;
using namespace txengine::wire;

namespace {

constexpr int exit_ok = 0, exit_rejected = 1, exit_usage = 2, exit_infra = 3;

void usage(FILE* out) {
  std::fprintf(out,
               "usage: txctl [--server HOST:PORT] [--key-id ID] [--secret S] [--json] [--timeout MS] <command>\n"
               "commands:\n"
               "  wallet create --kind user|merchant|fee --currency CUR [--overdraft AMOUNT] [--request-id R]\n"
               "  wallet get ID\n"
               "  wallet freeze ID | wallet unfreeze ID | wallet close ID\n"
               "  wallet set-limit ID --limit AMOUNT\n"
               "  wallet movements ID [--from SEQ] [--limit N] [--all]\n"
               "  top-up   --wallet ID --amount AMOUNT --currency CUR [--channel N] [--request-id R]\n"
               "  withdraw --wallet ID --amount AMOUNT --currency CUR [--channel N] [--request-id R]\n"
               "  transfer --from ID --to ID --amount AMOUNT --currency CUR [--request-id R]\n"
               "  pay      --payer ID --merchant ID --amount AMOUNT --currency CUR [--fee-wallet ID --fee AMOUNT]\n"
               "           [--request-id R]\n"
               "  refund   --order ID --amount AMOUNT --currency CUR [--request-id R]\n"
               "  commission --from FEE_WALLET --to MERCHANT --amount AMOUNT --currency CUR [--request-id R]\n"
               "  order get ID [--movements]\n"
               "  stats    (the counts of the key's tenant only)\n"
               "AMOUNT is decimal with at most 2 places (10.00 = 1000 minor units). Without --request-id a\n"
               "random one is generated and printed. Defaults: --server 127.0.0.1:7400 and the development\n"
               "key (or TXCTL_SERVER, TXCTL_KEY_ID, TXCTL_SECRET).\n"
               "exit codes: 0 ok, 1 rejected by the engine, 2 usage, 3 connection/authentication failure\n");
}

struct usage_error {
  std::string what;
};

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

struct args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;
  std::map<std::string, bool> flags;

  std::string need(const std::string& name) const {
    auto it = options.find(name);
    if (it == options.end()) throw usage_error{"missing --" + name};
    return it->second;
  }
  std::string get(const std::string& name, const std::string& fallback = "") const {
    auto it = options.find(name);
    return it == options.end() ? fallback : it->second;
  }
  bool has(const std::string& name) const { return options.count(name) > 0; }
  uint64_t id(const std::string& name) const { return parse_id(need(name), name); }
  int64_t amount(const std::string& name) const {
    int64_t v = 0;
    if (!parse_money(need(name), v)) throw usage_error{"--" + name + ": expected an amount like 10.00"};
    return v;
  }
  static uint64_t parse_id(const std::string& text, const std::string& what) {
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno != 0 || text[0] == '-') throw usage_error{what + ": expected a number"};
    return v;
  }
  uint64_t position(size_t i, const std::string& what) const {
    if (i >= positional.size()) throw usage_error{"missing " + what};
    return parse_id(positional[i], what);
  }
};

const std::vector<std::string> boolean_flags = {"all", "json", "help", "movements"};

args parse(int argc, char** argv, int from) {
  args a;
  for (int i = from; i < argc; ++i) {
    std::string s = argv[i];
    if (s.rfind("--", 0) == 0 && s.size() > 2) {
      std::string name = s.substr(2);
      auto eq = name.find('=');
      if (eq != std::string::npos) {
        a.options[name.substr(0, eq)] = name.substr(eq + 1);
      } else if (std::find(boolean_flags.begin(), boolean_flags.end(), name) != boolean_flags.end()) {
        a.flags[name] = true;
      } else {
        if (i + 1 >= argc) throw usage_error{"--" + name + " needs a value"};
        a.options[name] = argv[++i];
      }
    } else {
      a.positional.push_back(s);
    }
  }
  return a;
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

bool wallet_kind_of(const std::string& text, WalletKind& out) {
  if (text == "user") out = WALLET_KIND_USER;
  else if (text == "merchant") out = WALLET_KIND_MERCHANT;
  else if (text == "fee") out = WALLET_KIND_FEE;
  else return false;
  return true;
}

std::string request_id(const args& a, bool json) {
  if (a.has("request-id")) return a.get("request-id");
  std::string id = random_request_id();
  if (!json) std::fprintf(stderr, "request id: %s\n", id.c_str());
  return id;
}

//! Builds the request of a command line; `all_pages` for wallet movements --all.
Request build(const std::vector<std::string>& words, const args& a, bool json, bool& all_pages) {
  Request r;
  const std::string& cmd = words.at(0);
  auto sub = [&](size_t i) -> std::string {
    if (words.size() <= i) throw usage_error{"missing subcommand of '" + cmd + "'"};
    return words[i];
  };
  if (cmd == "wallet") {
    std::string what = sub(1);
    if (what == "create") {
      auto* c = r.mutable_create_wallet();
      WalletKind kind;
      if (!wallet_kind_of(a.get("kind", "user"), kind)) throw usage_error{"--kind must be user, merchant or fee"};
      c->set_kind(kind);
      c->set_currency(a.need("currency"));
      if (a.has("overdraft")) c->set_overdraft_limit(a.amount("overdraft"));
      c->set_request_id(request_id(a, json));
    } else if (what == "get") {
      r.mutable_get_wallet()->set_wallet(a.position(2, "wallet id"));
    } else if (what == "freeze") {
      r.mutable_freeze_wallet()->set_wallet(a.position(2, "wallet id"));
    } else if (what == "unfreeze") {
      r.mutable_unfreeze_wallet()->set_wallet(a.position(2, "wallet id"));
    } else if (what == "close") {
      r.mutable_close_wallet()->set_wallet(a.position(2, "wallet id"));
    } else if (what == "set-limit") {
      r.mutable_set_limit()->set_wallet(a.position(2, "wallet id"));
      r.mutable_set_limit()->set_overdraft_limit(a.amount("limit"));
    } else if (what == "movements") {
      auto* m = r.mutable_list_movements();
      m->set_wallet(a.position(2, "wallet id"));
      if (a.has("from")) m->set_from_sequence(args::parse_id(a.get("from"), "--from"));
      if (a.has("limit")) m->set_limit(static_cast<uint32_t>(args::parse_id(a.get("limit"), "--limit")));
      all_pages = a.flags.count("all") > 0;
    } else {
      throw usage_error{"unknown wallet command '" + what + "'"};
    }
  } else if (cmd == "order") {
    if (sub(1) != "get") throw usage_error{"unknown order command '" + words[1] + "'"};
    r.mutable_get_order()->set_order_id(a.position(2, "order id"));
    if (a.flags.count("movements")) r.mutable_get_order()->set_include_movements(true);
  } else if (cmd == "stats") {
    r.mutable_get_stats();
  } else if (cmd == "top-up" || cmd == "withdraw") {
    bool top = cmd == "top-up";
    uint64_t wallet = a.id("wallet");
    int64_t amount = a.amount("amount");
    std::string cur = a.need("currency");
    uint32_t channel = static_cast<uint32_t>(args::parse_id(a.get("channel", "1"), "--channel"));
    std::string id = request_id(a, json);
    if (top) {
      auto* t = r.mutable_top_up();
      t->set_request_id(id), t->set_wallet(wallet), t->set_amount(amount), t->set_currency(cur),
          t->set_channel(channel);
    } else {
      auto* t = r.mutable_withdraw();
      t->set_request_id(id), t->set_wallet(wallet), t->set_amount(amount), t->set_currency(cur),
          t->set_channel(channel);
    }
  } else if (cmd == "transfer" || cmd == "commission") {
    uint64_t from = a.id("from"), to = a.id("to");
    int64_t amount = a.amount("amount");
    std::string cur = a.need("currency");
    std::string id = request_id(a, json);
    if (cmd == "transfer") {
      auto* t = r.mutable_transfer();
      t->set_request_id(id), t->set_from(from), t->set_to(to), t->set_amount(amount), t->set_currency(cur);
    } else {
      auto* t = r.mutable_commission();
      t->set_request_id(id), t->set_from(from), t->set_to(to), t->set_amount(amount), t->set_currency(cur);
    }
  } else if (cmd == "pay") {
    auto* p = r.mutable_pay();
    p->set_payer(a.id("payer"));
    p->set_merchant(a.id("merchant"));
    p->set_amount(a.amount("amount"));
    p->set_currency(a.need("currency"));
    if (a.has("fee-wallet") || a.has("fee")) {
      p->set_fee_wallet(a.id("fee-wallet"));
      p->set_fee_amount(a.amount("fee"));
    }
    p->set_request_id(request_id(a, json));
  } else if (cmd == "refund") {
    auto* f = r.mutable_refund();
    f->set_original_order(a.id("order"));
    f->set_amount(a.amount("amount"));
    f->set_currency(a.need("currency"));
    f->set_request_id(request_id(a, json));
  } else {
    throw usage_error{"unknown command '" + cmd + "'"};
  }
  return r;
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

}  // namespace

int main(int argc, char** argv) {
  client_options options;
  if (const char* s = std::getenv("TXCTL_SERVER")) parse_address(s, options.host, options.port);
  if (const char* s = std::getenv("TXCTL_KEY_ID")) options.key_id = s;
  if (const char* s = std::getenv("TXCTL_SECRET")) options.secret = s;
  bool json = false;
  Request request;
  bool all_pages = false;
  try {
    args a = parse(argc, argv, 1);
    if (a.flags.count("help") || a.positional.empty()) {
      usage(a.flags.count("help") ? stdout : stderr);
      return a.flags.count("help") ? exit_ok : exit_usage;
    }
    json = a.flags.count("json") > 0;
    if (a.has("server") && !parse_address(a.get("server"), options.host, options.port))
      throw usage_error{"--server expects HOST:PORT"};
    if (a.has("key-id")) options.key_id = a.get("key-id");
    if (a.has("secret")) options.secret = a.get("secret");
    if (a.has("timeout")) options.timeout = std::chrono::milliseconds(args::parse_id(a.get("timeout"), "--timeout"));
    request = build(a.positional, a, json, all_pages);
  } catch (const usage_error& e) {
    std::fprintf(stderr, "txctl: %s\n", e.what.c_str());
    usage(stderr);
    return exit_usage;
  }
  client c(options);
  std::string error;
  if (!c.connect(error)) {
    if (json) std::printf("{\"error\":\"%s\"}\n", json_escape(error).c_str());
    std::fprintf(stderr, "txctl: %s\n", error.c_str());
    return exit_infra;
  }
  for (;;) {
    auto reply = c.call(request, error);
    if (!reply) {
      if (json) std::printf("{\"error\":\"%s\"}\n", json_escape(error).c_str());
      std::fprintf(stderr, "txctl: %s\n", error.c_str());
      return exit_infra;
    }
    if (json)
      std::printf("%s\n", to_json(*reply).c_str());
    else
      print_text(*reply);
    int code = exit_code_of(*reply);
    if (code != exit_ok || !all_pages || !reply->has_movements() || !reply->movements().more()) return code;
    request.mutable_list_movements()->set_from_sequence(reply->movements().next_sequence());
  }
}
