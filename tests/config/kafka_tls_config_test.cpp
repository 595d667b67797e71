// Issue 13: TLS settings for Kafka reach librdkafka. The config file's [kafka.properties]
// (security.protocol, ssl.ca.location, ...) end in the publisher's producer configuration, read
// back with rd_kafka_conf_get.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "apps/config_file.hpp"
#include "publication/publisher.hpp"
#include "tests/kafka/conf_value.hpp"

namespace txengine {
namespace {

TEST(KafkaTls, ConfigFilePropertiesReachTheProducersConfiguration) {
  serve_settings s;
  std::string error;
  ASSERT_TRUE(load_config_text("[storage]\nmysql = \"mysql://u:p@db:3306\"\n[kafka]\nbootstrap_servers = \"k1:9093\"\n"
                               "[kafka.properties]\n\"security.protocol\" = \"ssl\"\n"
                               "\"ssl.ca.location\" = \"/etc/txengine/kafka-ca.pem\"\n"
                               "\"ssl.endpoint.identification.algorithm\" = \"https\"\n",
                               "tls.toml", s, error))
      << error;
  rd_kafka_conf_t* conf = publication::make_producer_conf(s.kafka);
  ASSERT_NE(conf, nullptr);
  EXPECT_EQ(kafka_conf_value(conf, "bootstrap.servers"), "k1:9093");
  EXPECT_EQ(kafka_conf_value(conf, "security.protocol"), "ssl");
  EXPECT_EQ(kafka_conf_value(conf, "ssl.ca.location"), "/etc/txengine/kafka-ca.pem");
  EXPECT_EQ(kafka_conf_value(conf, "ssl.endpoint.identification.algorithm"), "https");
  EXPECT_EQ(kafka_conf_value(conf, "enable.idempotence"), "true");  // the publisher's own settings stay
  rd_kafka_conf_destroy(conf);
}

TEST(KafkaTls, AnUnknownOrBadPropertyIsRefusedByName) {
  publication_config k;
  k.bootstrap_servers = "k1:9093";
  k.properties = {{"security.protocol", "tls-please"}};
  try {
    rd_kafka_conf_destroy(publication::make_producer_conf(k));
    FAIL() << "accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("security.protocol=tls-please"), std::string::npos) << e.what();
  }
  k.properties = {{"no.such.property", "1"}};
  EXPECT_THROW(rd_kafka_conf_destroy(publication::make_producer_conf(k)), std::runtime_error);
}

}  // namespace
}  // namespace txengine
