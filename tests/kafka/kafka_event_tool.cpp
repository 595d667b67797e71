// kafka_event_tool: test helper for the Kafka tests (tests/kafka/).
//   produce --bootstrap B [--topic T] --first-id N --count N --payer P --merchant M [--amount A]
//           [--currency CUR] [--repeat K] [--failed-every F] [--garbage G] [--tenant T]
//           [--order-ids FILE]
//     produces OrderFinalized events with event ids N..N+count-1 (each K times, as a redelivery
//     would), every F-th one a failed payment, then G undecodable messages; waits for every
//     delivery report (idempotent producer, acks=all). Prints "produced <messages>".
//     The order id of event i is line i of FILE (orders the test made in the engine, so that
//     commission-payer's verification finds them), else the event id: an order the engine does
//     not know, i.e. a forged event, as anyone who can write to the topic (kcat) could produce.
//   decode
//     reads kcat's `-f '%R%s'` stream (4-byte big-endian length, payload) from stdin and prints
//     one line per message: event_id order_id tenant kind state amount confirmed source destination
//     currency, or "undecodable <length>".
#include <librdkafka/rdkafka.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "events.pb.h"

namespace {

struct args {
  std::string bootstrap, topic = "txengine.orders.finalized", currency = "USD", order_ids_file;
  uint64_t first_id = 1, count = 0, payer = 0, merchant = 0, repeat = 1, failed_every = 0, garbage = 0, tenant = 1;
  std::vector<uint64_t> order_ids;
  int64_t amount = 1000;
};

bool parse(int argc, char** argv, args& a) {
  for (int i = 2; i < argc; ++i) {
    std::string k = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "kafka_event_tool: %s needs a value\n", k.c_str());
      return false;
    }
    std::string v = argv[++i];
    char* end = nullptr;
    unsigned long long n = std::strtoull(v.c_str(), &end, 10);
    bool numeric = end && *end == '\0' && !v.empty();
    if (k == "--bootstrap") a.bootstrap = v;
    else if (k == "--topic") a.topic = v;
    else if (k == "--currency") a.currency = v;
    else if (k == "--order-ids") a.order_ids_file = v;
    else if (!numeric) {
      std::fprintf(stderr, "kafka_event_tool: bad argument %s %s\n", k.c_str(), v.c_str());
      return false;
    } else if (k == "--first-id") a.first_id = n;
    else if (k == "--count") a.count = n;
    else if (k == "--payer") a.payer = n;
    else if (k == "--merchant") a.merchant = n;
    else if (k == "--repeat") a.repeat = n;
    else if (k == "--failed-every") a.failed_every = n;
    else if (k == "--garbage") a.garbage = n;
    else if (k == "--tenant") a.tenant = n;
    else if (k == "--amount") a.amount = static_cast<int64_t>(n);
    else {
      std::fprintf(stderr, "kafka_event_tool: unknown argument %s\n", k.c_str());
      return false;
    }
  }
  return true;
}

//! One order id per line; false (and a message) when the file is missing or a line is not one.
bool read_order_ids(const std::string& path, std::vector<uint64_t>& out) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) {
    std::fprintf(stderr, "kafka_event_tool: %s: %s\n", path.c_str(), std::strerror(errno));
    return false;
  }
  unsigned long long id = 0;
  int n = 0;
  while ((n = std::fscanf(f, "%llu", &id)) == 1) out.push_back(id);
  bool ok = n == EOF && !std::ferror(f);
  std::fclose(f);
  if (!ok) std::fprintf(stderr, "kafka_event_tool: %s: line %zu is not an order id\n", path.c_str(), out.size() + 1);
  return ok;
}

uint64_t delivered = 0, failed = 0;

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  if (m->err) {
    ++failed;
    std::fprintf(stderr, "kafka_event_tool: delivery failed: %s\n", rd_kafka_err2str(m->err));
  } else {
    ++delivered;
  }
}

int produce(const args& a) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", a.bootstrap.c_str(), err, sizeof err) ||
      rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof err) ||
      rd_kafka_conf_set(conf, "message.timeout.ms", "60000", err, sizeof err)) {
    std::fprintf(stderr, "kafka_event_tool: %s\n", err);
    return 2;
  }
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) {
    std::fprintf(stderr, "kafka_event_tool: %s\n", err);
    return 2;
  }
  uint64_t sent = 0;
  auto send = [&](const std::string& key, const std::string& value) {
    for (;;) {
      rd_kafka_resp_err_t e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(a.topic.c_str()),
                                                RD_KAFKA_V_KEY(key.data(), key.size()),
                                                RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
      if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(rk, 100);
        continue;
      }
      if (e) {
        std::fprintf(stderr, "kafka_event_tool: produce: %s\n", rd_kafka_err2str(e));
        return false;
      }
      ++sent;
      rd_kafka_poll(rk, 0);
      return true;
    }
  };
  for (uint64_t r = 0; r < a.repeat; ++r) {
    for (uint64_t i = 0; i < a.count; ++i) {
      uint64_t id = a.first_id + i;
      txengine::events::OrderFinalized e;
      bool fails = a.failed_every > 0 && (i + 1) % a.failed_every == 0;
      e.set_event_id(id);
      e.set_order_id(i < a.order_ids.size() ? a.order_ids[i] : id);
      e.set_tenant(static_cast<uint32_t>(a.tenant));
      e.set_request_id("test-" + std::to_string(id));
      e.set_kind(txengine::wire::ORDER_KIND_PAY);
      e.set_state(fails ? txengine::wire::ORDER_STATE_FAILED : txengine::wire::ORDER_STATE_SUCCEEDED);
      e.set_result(fails ? txengine::wire::INSUFFICIENT_FUNDS : txengine::wire::OK);
      e.set_currency(a.currency);
      e.set_amount(a.amount);
      e.set_confirmed_amount(fails ? 0 : a.amount);
      e.set_source(a.payer);
      e.set_destination(a.merchant);
      e.set_created_ms(1'700'000'000'000 + static_cast<int64_t>(id));
      e.set_final_ms(1'700'000'000'100 + static_cast<int64_t>(id));
      if (!send(std::to_string(id), e.SerializeAsString())) return 3;
    }
  }
  for (uint64_t g = 0; g < a.garbage; ++g)
    if (!send("garbage", std::string("\xff\xff\xff not a protobuf", 19))) return 3;
  rd_kafka_resp_err_t fe = rd_kafka_flush(rk, 60'000);
  rd_kafka_destroy(rk);
  if (fe || failed > 0 || delivered != sent) {
    std::fprintf(stderr, "kafka_event_tool: %" PRIu64 " of %" PRIu64 " delivered\n", delivered, sent);
    return 3;
  }
  std::printf("produced %" PRIu64 "\n", sent);
  return 0;
}

int decode() {
  uint64_t n = 0;
  for (;;) {
    unsigned char len_bytes[4];
    size_t got = std::fread(len_bytes, 1, 4, stdin);
    if (got == 0) break;
    if (got != 4) {
      std::fprintf(stderr, "kafka_event_tool: truncated length\n");
      return 3;
    }
    int32_t len = static_cast<int32_t>((uint32_t(len_bytes[0]) << 24) | (uint32_t(len_bytes[1]) << 16) |
                                       (uint32_t(len_bytes[2]) << 8) | uint32_t(len_bytes[3]));
    if (len < 0) {
      std::printf("null\n");
      continue;
    }
    if (len > (64 << 20)) {
      std::fprintf(stderr, "kafka_event_tool: message of %d bytes\n", len);
      return 3;
    }
    std::string payload(static_cast<size_t>(len), '\0');
    if (len > 0 && std::fread(payload.data(), 1, payload.size(), stdin) != payload.size()) {
      std::fprintf(stderr, "kafka_event_tool: truncated payload\n");
      return 3;
    }
    txengine::events::OrderFinalized e;
    if (!e.ParseFromString(payload)) {
      std::printf("undecodable %d\n", len);
      continue;
    }
    std::printf("event_id=%" PRIu64 " order_id=%" PRIu64 " tenant=%u kind=%s state=%s result=%s amount=%" PRId64
                " confirmed=%" PRId64 " source=%" PRIu64 " destination=%" PRIu64 " currency=%s\n",
                e.event_id(), e.order_id(), e.tenant(), txengine::wire::OrderKind_Name(e.kind()).c_str(),
                txengine::wire::OrderState_Name(e.state()).c_str(), txengine::wire::ResultCode_Name(e.result()).c_str(),
                e.amount(), e.confirmed_amount(), e.source(), e.destination(), e.currency().c_str());
    ++n;
  }
  std::fprintf(stderr, "kafka_event_tool: decoded %" PRIu64 "\n", n);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string cmd = argc > 1 ? argv[1] : "";
  args a;
  if (cmd == "produce") {
    if (!parse(argc, argv, a) || a.bootstrap.empty()) {
      std::fprintf(stderr, "usage: kafka_event_tool produce --bootstrap B --first-id N --count N ...\n");
      return 2;
    }
    if (!a.order_ids_file.empty() && !read_order_ids(a.order_ids_file, a.order_ids)) return 2;
    return produce(a);
  }
  if (cmd == "decode") return decode();
  std::fprintf(stderr, "usage: kafka_event_tool produce|decode ...\n");
  return 2;
}
