// Issue 13: the consumers' Kafka settings accept TLS. The [kafka.properties] of txengine's
// config file (--config) and --kafka-property reach librdkafka's configuration (read back with
// rd_kafka_conf_get); the consumer's own settings cannot be overridden; bad input is refused.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "apps/consumer_common.hpp"
#include "tests/kafka/conf_value.hpp"

using namespace txengine::consumers;

namespace {

std::string write_file(const std::string& text) {
  char path[] = "/tmp/txconsumer_conf_XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << text;
  return path;
}

common_options options() {
  common_options o;
  o.bootstrap = "k1:9093";
  return o;
}

}  // namespace

TEST(consumer_conf, config_file_and_flags_reach_librdkafka) {
  auto path = write_file(
      "[server]\nlisten = \"0.0.0.0:7400\"\n"  // serve's sections are not the consumer's business
      "[kafka.properties]\n\"security.protocol\" = \"ssl\"\n\"ssl.ca.location\" = \"/etc/kafka-ca.pem\"\n");
  auto o = options();
  o.config = path;
  o.kafka_property_flags = {"ssl.endpoint.identification.algorithm=https", "ssl.ca.location=/etc/other-ca.pem"};
  std::string error;
  ASSERT_TRUE(finish_common_options(o, "commission-payer", error)) << error;
  rd_kafka_conf_s* conf = make_consumer_conf(o, error);
  ASSERT_NE(conf, nullptr) << error;
  EXPECT_EQ(kafka_conf_value(conf, "security.protocol"), "ssl");
  EXPECT_EQ(kafka_conf_value(conf, "ssl.ca.location"), "/etc/other-ca.pem");  // the flag comes after the file
  EXPECT_EQ(kafka_conf_value(conf, "ssl.endpoint.identification.algorithm"), "https");
  EXPECT_EQ(kafka_conf_value(conf, "enable.auto.commit"), "false");
  EXPECT_EQ(kafka_conf_value(conf, "group.id"), "commission-payer");
  rd_kafka_conf_destroy(conf);
  std::remove(path.c_str());
}

TEST(consumer_conf, bad_properties_are_refused_with_their_name) {
  std::string error;
  auto o = options();
  o.kafka_property_flags = {"enable.auto.commit=true"};
  EXPECT_FALSE(finish_common_options(o, "delivery-notifier", error));
  EXPECT_NE(error.find("enable.auto.commit"), std::string::npos) << error;

  o = options();
  o.kafka_property_flags = {"security.protocol=tls-please"};
  EXPECT_FALSE(finish_common_options(o, "delivery-notifier", error));
  EXPECT_NE(error.find("security.protocol"), std::string::npos) << error;

  o = options();
  o.config = write_file("[kafka.properties]\n\"security.protocol\" = 1\n");
  EXPECT_FALSE(finish_common_options(o, "delivery-notifier", error));
  EXPECT_NE(error.find("kafka.properties .security.protocol expects a string"), std::string::npos) << error;
  std::remove(o.config.c_str());

  o = options();
  o.config = "/nonexistent/txengine.toml";
  EXPECT_FALSE(finish_common_options(o, "delivery-notifier", error));
  EXPECT_NE(error.find("cannot read the file"), std::string::npos) << error;
}
