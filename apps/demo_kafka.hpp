#pragma once
// The Kafka phase of `txengine demo --mysql URI --kafka SERVERS` (docs/kafka.md): after the
// mixed workload and its invariant checks, the demo serves its engine over the wire protocol,
// runs the two consumers (delivery-notifier, commission-payer) as child processes over the
// events the engine published, and checks their effects in MySQL: one delivery request and one
// commission order per succeeded payment, and money still conserved.
#include <string>

namespace txengine {

class engine;

struct kafka_demo_options {
  std::string mysql_uri;
  std::string bootstrap;
  std::string engine_prefix;                  //!< the engine's databases (txdemo)
  std::string consumers_database = "txdemo_consumers";
  unsigned commission_bps = 100;
  int consumers_timeout_s = 300;
  bool json = false;
};

//! Runs the phase and prints its summary; true when every check passed.
bool run_kafka_demo_phase(engine& eng, const kafka_demo_options& opt);

}  // namespace txengine
