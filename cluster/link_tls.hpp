#pragma once
// TLS on the cluster links (issue 14, docs/cluster.md "TLS on the links"): CAF's openssl module
// (libcaf-openssl) carries the links when [cluster] tls_cert, tls_key and tls_ca are set; each
// end presents its node certificate and verifies the other's against the cluster's CA (mutual
// TLS), so only a holder of a certificate that CA issued can join the links.
#include <string>

#include <caf/actor_system_config.hpp>

#include "ports/cluster.hpp"

namespace txengine::cluster {

//! Why these files cannot carry the links ("" when they can): each readable PEM, the key
//! owner-only and matching the certificate, the CA loadable. Checked before the actor system is
//! made: CAF's openssl module would only find out at the first connection, on its I/O thread.
std::string link_tls_problem(const cluster_config& config);

//! Loads CAF's openssl module into `cfg` with the node's files (call only when config.tls()).
void enable_link_tls(caf::actor_system_config& cfg, const cluster_config& config);

}  // namespace txengine::cluster
