#include "apps/demo_kafka.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "node/engine.hpp"
#include "protocol/server.hpp"
#ifdef TXENGINE_WITH_MYSQL
#include "persistence/mysql_connection.hpp"
#include "persistence/shard_layout.hpp"
#endif

extern char** environ;

namespace txengine {

namespace {

using clock_type = std::chrono::steady_clock;

std::string own_directory() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string path(buf, static_cast<size_t>(n));
  auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

struct child {
  pid_t pid = -1;
  std::string name, out_path, log_path;
};

// Starts `args[0]` with stdout and stderr to files (the summary line is read back afterwards).
bool spawn(child& c, const std::vector<std::string>& args, std::string& error) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, c.out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, c.log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int rc = posix_spawn(&c.pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    error = "cannot start " + args[0] + ": " + std::strerror(rc);
    c.pid = -1;
    return false;
  }
  return true;
}

// Waits for the child until `deadline`; then SIGTERM, and SIGKILL 10 s later. Its exit code, or -1.
int wait_child(child& c, clock_type::time_point deadline) {
  bool termed = false;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(c.pid, &status, WNOHANG);
    if (r == c.pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (r < 0) return -1;
    auto now = clock_type::now();
    if (now >= deadline && !termed) {
      std::fprintf(stderr, "txengine demo: %s did not finish in time; stopping it\n", c.name.c_str());
      ::kill(c.pid, SIGTERM);
      termed = true;
      deadline = now + std::chrono::seconds(10);
    } else if (now >= deadline) {
      ::kill(c.pid, SIGKILL);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::string last_line(const std::string& path) {
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  return last;
}

}  // namespace

bool run_kafka_demo_phase(engine& eng, const kafka_demo_options& opt) {
#ifndef TXENGINE_WITH_MYSQL
  (void)eng;
  (void)opt;
  std::fprintf(stderr, "txengine demo: the Kafka phase needs MySQL support\n");
  return false;
#else
  auto log = [&](const char* format, auto... args) {
    if (!opt.json) std::printf(format, args...);
    std::fflush(stdout);
  };
  // 1. Everything the workload made final is in Kafka before the consumers start.
  auto deadline = clock_type::now() + std::chrono::seconds(120);
  publication_stats pub = eng.publication();
  while ((pub.unpublished > 0 || pub.in_flight > 0) && clock_type::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    pub = eng.publication();
  }
  bool drained = pub.unpublished == 0 && pub.in_flight == 0;
  log("kafka: %llu events published to %s (publication latency p50 %lld ms, p99 %lld ms), %lld unpublished\n",
      (unsigned long long)pub.delivered, opt.bootstrap.c_str(), (long long)pub.latency_p50_ms,
      (long long)pub.latency_p99_ms, (long long)pub.unpublished);

  persistence::mysql_endpoint endpoint;
  persistence::parse_mysql_uri(opt.mysql_uri, endpoint);
  persistence::mysql_thread_scope scope;
  persistence::mysql_connection conn(endpoint);
  persistence::shard_layout layout;
  layout.prefix = opt.engine_prefix;
  std::string orders = layout.table_at("orders", 0, 0);
  eng.sync_storage();
  int64_t final_before = conn.query_int("SELECT COUNT(*) FROM " + orders + " WHERE is_final = 1");

  // 2. The platform's commission wallet (a fee wallet paying from its overdraft) and the wire
  //    server commission-payer talks to.
  constexpr tenant_id tenant = 1;
  currency usd = *currency::parse("USD");
  auto platform = eng.create_wallet(tenant, usd, wallet_kind::fee, 1'000'000'000'000);
  if (platform.code != result_code::ok) {
    std::fprintf(stderr, "txengine demo: cannot create the commission wallet\n");
    return false;
  }
  wire::server_config sc;
  sc.port = 0;
  sc.keys.add(std::string(wire::dev_key_id), std::string(wire::dev_secret), wire::dev_tenant);
  wire::server srv(eng, sc);
  std::string error;
  if (!srv.start(error)) {
    std::fprintf(stderr, "txengine demo: wire server: %s\n", error.c_str());
    return false;
  }
  std::string engine_address = "127.0.0.1:" + std::to_string(srv.port());

  // 3. The consumers' database, fresh each run.
  conn.execute("DROP DATABASE IF EXISTS " + persistence::quote_identifier(opt.consumers_database));

  // 4. Both consumers, until they have read everything (idle for 3 s with partitions assigned).
  std::string dir = own_directory();
  char tmpl[] = "/tmp/txdemo-kafka.XXXXXX";
  std::string tmp = ::mkdtemp(tmpl) ? tmpl : "/tmp";
  std::vector<std::string> common{"--bootstrap",   opt.bootstrap, "--mysql", opt.mysql_uri,
                                  "--database",    opt.consumers_database,
                                  "--idle-exit-ms", "3000", "--json"};
  child notifier{-1, "delivery-notifier", tmp + "/delivery-notifier.out", tmp + "/delivery-notifier.log"};
  child payer{-1, "commission-payer", tmp + "/commission-payer.out", tmp + "/commission-payer.log"};
  std::vector<std::string> notifier_args{dir + "/delivery-notifier"};
  notifier_args.insert(notifier_args.end(), common.begin(), common.end());
  std::vector<std::string> payer_args{dir + "/commission-payer", "--engine", engine_address, "--platform-wallet",
                                      std::to_string(platform.id), "--bps", std::to_string(opt.commission_bps)};
  payer_args.insert(payer_args.end(), common.begin(), common.end());
  log("consumers: delivery-notifier and commission-payer (%u bps from wallet %llu, engine at %s), logs in %s\n",
      opt.commission_bps, (unsigned long long)platform.id, engine_address.c_str(), tmp.c_str());
  auto started = clock_type::now();
  if (!spawn(notifier, notifier_args, error) || !spawn(payer, payer_args, error)) {
    std::fprintf(stderr, "txengine demo: %s (build the targets delivery-notifier and commission-payer)\n",
                 error.c_str());
    if (notifier.pid > 0) ::kill(notifier.pid, SIGTERM), wait_child(notifier, clock_type::now());
    srv.stop();
    return false;
  }
  auto consumers_deadline = started + std::chrono::seconds(opt.consumers_timeout_s);
  int notifier_rc = wait_child(notifier, consumers_deadline);
  int payer_rc = wait_child(payer, consumers_deadline);
  double consumers_s = std::chrono::duration<double>(clock_type::now() - started).count();
  log("  %s\n  %s\n", last_line(notifier.out_path).c_str(), last_line(payer.out_path).c_str());

  // 5. Checks: the engine's committed orders against the consumers' rows.
  bool quiet = eng.wait_until_quiet(std::chrono::seconds(60)) && eng.sync_storage();
  srv.stop();
  wallet_audit audit = eng.audit_wallets();
  int64_t usd_sum = audit.sum_by_currency.count("USD") ? audit.sum_by_currency.at("USD") : 0;
  std::string db = persistence::quote_identifier(opt.consumers_database);
  int64_t succeeded_pays = conn.query_int("SELECT COUNT(*) FROM " + orders + " WHERE kind = 1 AND state = 5");
  int64_t final_orders = conn.query_int("SELECT COUNT(*) FROM " + orders + " WHERE is_final = 1");
  int64_t deliveries = conn.query_int("SELECT COUNT(*) FROM " + db + ".delivery_requests", -1);
  int64_t delivery_ok = conn.query_int("SELECT COUNT(*) FROM " + db + ".delivery_requests d JOIN " + orders +
                                       " o ON o.id = d.order_id AND o.kind = 1 AND o.state = 5");
  int64_t commission_rows = conn.query_int("SELECT COUNT(*) FROM " + db + ".commission_payments", -1);
  int64_t commission_due = conn.query_int("SELECT COUNT(*) FROM " + db + ".commission_payments WHERE commission_amount > 0");
  int64_t commission_sum = conn.query_int("SELECT COALESCE(SUM(commission_amount), 0) FROM " + db +
                                          ".commission_payments WHERE result_code = 0");
  int64_t commission_orders = conn.query_int("SELECT COUNT(*) FROM " + orders + " WHERE kind = 5 AND request_id LIKE 'commission-%'");
  int64_t commission_paid = conn.query_int("SELECT COUNT(*) FROM " + db + ".commission_payments c JOIN " + orders +
                                           " o ON o.request_id = c.request_id AND o.kind = 5 AND o.state = 5 "
                                           "AND o.amount = c.commission_amount AND o.id = c.commission_order_id");
  int64_t rejected = conn.query_int("SELECT COUNT(*) FROM " + db + ".commission_payments WHERE result_code <> 0");

  bool consumers_ok = notifier_rc == 0 && payer_rc == 0;
  bool deliveries_ok = deliveries == succeeded_pays && delivery_ok == succeeded_pays;
  bool commissions_ok = commission_rows == succeeded_pays && commission_orders == commission_due &&
                        commission_paid == commission_due && rejected == 0;
  bool conserved = quiet && usd_sum == 0 && audit.ok;
  drained = drained && static_cast<int64_t>(pub.delivered) >= final_before;
  bool ok = drained && consumers_ok && deliveries_ok && commissions_ok && conserved;
  if (opt.json) {
    std::printf("{\"name\":\"demo_kafka\",\"events_published\":%llu,\"publication_p99_ms\":%lld,\"final_orders\":%lld,"
                "\"final_before\":%lld,\"succeeded_payments\":%lld,\"delivery_requests\":%lld,\"commissions_paid\":%lld,"
                "\"commission_sum\":%lld,\"consumers_s\":%.1f,\"kafka_ok\":%s}\n",
                (unsigned long long)pub.delivered, (long long)pub.latency_p99_ms, (long long)final_orders,
                (long long)final_before, (long long)succeeded_pays, (long long)deliveries, (long long)commission_paid, (long long)commission_sum,
                consumers_s, ok ? "true" : "false");
  } else {
    auto check = [](bool pass, const std::string& what) { std::printf("  [%s] %s\n", pass ? "PASS" : "FAIL", what.c_str()); };
    std::printf("kafka checks (consumers ran %.1f s):\n", consumers_s);
    check(drained, "every final state of the workload published (" + std::to_string(pub.delivered) +
                       " events for " + std::to_string(final_before) +
                       " final orders; a redelivery is de-duplicated by event id)");
    check(consumers_ok, "both consumers finished (exit codes " + std::to_string(notifier_rc) + ", " +
                            std::to_string(payer_rc) + ")");
    check(deliveries_ok, "one delivery request per succeeded payment (" + std::to_string(deliveries) + " for " +
                             std::to_string(succeeded_pays) + ")");
    check(commissions_ok, "one commission order per succeeded payment, paid once (" + std::to_string(commission_paid) +
                              " paid, " + std::to_string(commission_sum) + " minor units; " +
                              std::to_string(commission_rows - commission_due) + " below one cent; " +
                              std::to_string(rejected) + " rejected)");
    check(conserved, "after the commissions, the sum of all balances is still zero (USD: " + std::to_string(usd_sum) + ")");
  }
  return ok;
#endif
}

}  // namespace txengine
