#pragma once
// An in-process Kafka cluster for tests and benchmarks: librdkafka's mock cluster (brokers on
// loopback inside this process), plus a reader that fetches a topic from the beginning.
// Header-only; needs librdkafka (rdkafka_mock.h). Production never uses this.
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

namespace txengine::publication {

class mock_cluster {
 public:
  explicit mock_cluster(int brokers = 3) : brokers_(brokers) {
    char error[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    // The handle only hosts the cluster; keep its own log quiet.
    rd_kafka_conf_set(conf, "log_level", "0", error, sizeof error);
    handle_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
    if (handle_ == nullptr) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error(std::string("mock cluster handle: ") + error);
    }
    cluster_ = rd_kafka_mock_cluster_new(handle_, brokers);
    if (cluster_ == nullptr) {
      rd_kafka_destroy(handle_);
      throw std::runtime_error("mock cluster not created");
    }
  }
  ~mock_cluster() {
    rd_kafka_mock_cluster_destroy(cluster_);
    rd_kafka_destroy(handle_);
  }
  mock_cluster(const mock_cluster&) = delete;
  mock_cluster& operator=(const mock_cluster&) = delete;

  std::string bootstrap_servers() const { return rd_kafka_mock_cluster_bootstraps(cluster_); }
  void create_topic(const std::string& topic, int partitions, int replication = 3) {
    if (rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, replication) != RD_KAFKA_RESP_ERR_NO_ERROR)
      throw std::runtime_error("mock topic not created: " + topic);
  }
  //! Every broker down (connections closed and refused) or up again. Broker ids are 1..N.
  void set_all_down(bool down) {
    for (int32_t id = 1; id <= brokers_; ++id) {
      if (down)
        rd_kafka_mock_broker_set_down(cluster_, id);
      else
        rd_kafka_mock_broker_set_up(cluster_, id);
    }
  }

 private:
  int brokers_;
  rd_kafka_t* handle_ = nullptr;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
};

//! One message as read back.
struct read_message {
  std::string key;
  std::string value;
  int32_t partition = 0;
  int64_t offset = 0;
};

//! Reads partitions 0..partitions-1 of `topic` from the beginning until `stop(messages)`
//! says so or `timeout` passes (no consumer group: assign, no commits).
template <class Stop>
std::vector<read_message> read_topic(const std::string& bootstrap, const std::string& topic, int partitions,
                                     std::chrono::milliseconds timeout, Stop stop) {
  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto set = [&](const char* name, const char* value) {
    if (rd_kafka_conf_set(conf, name, value, error, sizeof error) != RD_KAFKA_CONF_OK)
      throw std::runtime_error(std::string("consumer property ") + name + ": " + error);
  };
  set("bootstrap.servers", bootstrap.c_str());
  set("group.id", "txengine-test-reader");
  set("enable.auto.commit", "false");
  set("log_level", "3");
  rd_kafka_t* consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof error);
  if (consumer == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("consumer: ") + error);
  }
  rd_kafka_topic_partition_list_t* assignment = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p)
    rd_kafka_topic_partition_list_add(assignment, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(consumer, assignment);
  rd_kafka_topic_partition_list_destroy(assignment);
  std::vector<read_message> messages;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline && !stop(messages)) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer, 50);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      read_message r;
      if (m->key) r.key.assign(static_cast<const char*>(m->key), m->key_len);
      if (m->payload) r.value.assign(static_cast<const char*>(m->payload), m->len);
      r.partition = m->partition;
      r.offset = m->offset;
      messages.push_back(std::move(r));
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(consumer);
  rd_kafka_destroy(consumer);
  return messages;
}

}  // namespace txengine::publication
