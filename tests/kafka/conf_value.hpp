#pragma once
// Tests of the Kafka settings: a property read back from a librdkafka configuration.
#include <librdkafka/rdkafka.h>

#include <string>

inline std::string kafka_conf_value(rd_kafka_conf_t* conf, const char* name) {
  char value[512];
  size_t size = sizeof value;
  if (rd_kafka_conf_get(conf, name, value, &size) != RD_KAFKA_CONF_OK) return "<unset>";
  return value;
}
