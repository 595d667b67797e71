#pragma once
// The flags of the executables that talk to a server over the wire protocol (txctl, txbench,
// commission-payer): the same names, checks and defaults everywhere.
#include <fstream>
#include <string>

#include "apps/cli.hpp"
#include "protocol/client.hpp"

namespace txengine::cli {

//! A HOST:PORT check (wire::parse_address).
inline CLI::Validator server_address() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        std::string host;
        uint16_t port = 0;
        return wire::parse_address(text, host, port) ? "" : "expects HOST:PORT, got '" + text + "'";
      },
      "", "HOST:PORT");
}

//! --server HOST:PORT (or `address_flag`), --key-id ID, --secret S, --deployment ID and the TLS
//! flags (--tls-ca, --tls-cert, --tls-key, --tls-server-name) into `options`; with `env_prefix`
//! (e.g. "TXCTL") the environment variables PREFIX_SERVER, PREFIX_KEY_ID, PREFIX_SECRET,
//! PREFIX_DEPLOYMENT and PREFIX_TLS_CA are the defaults.
inline void add_client_options(CLI::App& app, wire::client_options& options, const std::string& env_prefix = "",
                               const std::string& address_flag = "--server") {
  auto* server = app.add_option_function<std::string>(
                        address_flag, [&options](const std::string& text) { wire::parse_address(text, options.host, options.port); },
                        "the txengine server (default 127.0.0.1:7400)")
                     ->type_name("HOST:PORT")
                     ->check(server_address());
  auto* key_id = app.add_option("--key-id", options.key_id, "client key id (default: the development key)")
                     ->type_name("ID");
  auto* secret = app.add_option("--secret", options.secret, "the key's secret (default: the development secret)")
                     ->type_name("S");
  // The secret from an owner-only file (first line), so it is not in argv or the environment.
  auto* secret_file =
      app.add_option_function<std::string>(
             "--secret-file",
             [&options](const std::string& path) {
               std::string error;
               if (!wire::check_private_file(path, error)) throw CLI::ValidationError("--secret-file", error);
               std::ifstream in(path);
               std::string line;
               std::getline(in, line);
               if (!line.empty() && line.back() == '\r') line.pop_back();
               if (line.empty()) throw CLI::ValidationError("--secret-file", path + ": the first line is empty");
               options.secret = line;
             },
             "the key's secret, first line of this owner-only file (instead of --secret)")
          ->type_name("FILE");
  secret_file->excludes(secret);
  auto* deployment =
      app.add_option("--deployment", options.deployment_id,
                     "the server's deployment id, covered by every signature (default " +
                         std::string(wire::dev_deployment_id) + ")")
          ->type_name("ID");
  // TLS 1.3 (docs/security.md): on with --tls-ca; the server must name the --server host.
  auto* tls_ca = app.add_option("--tls-ca", options.tls.ca,
                                "TLS 1.3: verify the server's certificate with these PEM CA certificates (and its "
                                "name: the --server host or --tls-server-name); without it: plain TCP")
                     ->type_name("FILE")
                     ->check(CLI::ExistingFile);
  auto* tls_cert = app.add_option("--tls-cert", options.tls.cert,
                                  "with --tls-ca: this client certificate for a server that asks for one (mutual TLS)")
                       ->type_name("FILE")
                       ->check(CLI::ExistingFile);
  auto* tls_key =
      app.add_option("--tls-key", options.tls.key, "with --tls-cert: its private key (an owner-only file)")
          ->type_name("FILE")
          ->check(CLI::ExistingFile);
  auto* tls_name = app.add_option("--tls-server-name", options.tls_server_name,
                                  "with --tls-ca: the name the server's certificate must carry, when it is not the "
                                  "--server host")
                       ->type_name("NAME");
  tls_cert->needs(tls_ca)->needs(tls_key);
  tls_key->needs(tls_cert);
  tls_name->needs(tls_ca);
  if (!env_prefix.empty()) {
    tls_ca->envname(env_prefix + "_TLS_CA");
    server->envname(env_prefix + "_SERVER");
    key_id->envname(env_prefix + "_KEY_ID");
    secret->envname(env_prefix + "_SECRET");
    deployment->envname(env_prefix + "_DEPLOYMENT");
  }
}

}  // namespace txengine::cli
