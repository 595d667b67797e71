#include "providersim/journal.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

namespace txprovider {

namespace {

bool write_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

bool sync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return false;
  bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

std::string encode_order(const provider_order& o, int64_t at_ms) {
  nlohmann::json j = {{"at", at_ms},
                      {"id", o.id},
                      {"kind", to_string(o.kind)},
                      {"amount", o.amount},
                      {"currency", o.currency},
                      {"received", o.received_ms},
                      {"fate", to_string(o.fate)},
                      {"settles", o.settles_ms},
                      {"settled", o.settled_amount},
                      {"code", o.code},
                      {"closed", o.closed_ms},
                      {"tombstone", o.tombstone}};
  return j.dump() + "\n";
}

bool decode_order(const std::string& line, provider_order& o, int64_t& at_ms) {
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return false;
  try {
    at_ms = j.at("at").get<int64_t>();
    o.id = j.at("id").get<std::string>();
    auto kind = kind_from_string(j.at("kind").get<std::string>());
    if (!kind || !valid_order_id(o.id)) return false;
    o.kind = *kind;
    o.amount = j.at("amount").get<int64_t>();
    o.currency = j.at("currency").get<std::string>();
    o.received_ms = j.at("received").get<int64_t>();
    auto fate = j.at("fate").get<std::string>();
    if (fate == "processing") o.fate = order_status::processing;
    else if (fate == "succeeded") o.fate = order_status::succeeded;
    else if (fate == "declined") o.fate = order_status::declined;
    else return false;
    o.settles_ms = j.at("settles").get<int64_t>();
    o.settled_amount = j.at("settled").get<int64_t>();
    o.code = j.at("code").get<std::string>();
    o.closed_ms = j.at("closed").get<int64_t>();
    o.tombstone = j.at("tombstone").get<bool>();
  } catch (const nlohmann::json::exception&) {
    return false;
  }
  return true;
}

std::unique_ptr<journal> journal::open(const std::string& state_dir, provider_book& book, int64_t now_ms,
                                       std::string& error) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(state_dir, ec);
  if (ec) {
    error = "cannot create " + state_dir + ": " + ec.message();
    return nullptr;
  }
  std::unique_ptr<journal> j(new journal());
  std::string path = state_dir + "/journal.jsonl";
  int64_t last_at = 0;
  {
    std::ifstream in(path, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    size_t start = 0, line_no = 0;
    while (start < text.size()) {
      ++line_no;
      size_t end = text.find('\n', start);
      bool last = end == std::string::npos || end + 1 == text.size();
      std::string line = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
      provider_order order;
      int64_t at = 0;
      if (!decode_order(line, order, at)) {
        if (last) {  // torn by a crash mid-write: never answered, so never promised
          ++j->torn_;
          break;
        }
        error = path + ": line " + std::to_string(line_no) + " is not a journal record";
        return nullptr;
      }
      last_at = std::max(last_at, at);
      book.restore(order, never);  // reports are scheduled below
      if (end == std::string::npos) break;
      start = end + 1;
    }
  }
  // Orders that became final after the simulator's last record were not reported: they are
  // reported again (restore with report_from = last record). Rebuild the book that way, dropping
  // final orders past retention, and write the compacted journal.
  std::vector<provider_order> keep;
  book.for_each([&](const provider_order& o) {
    auto view = view_at(o, now_ms);
    if (view.finished_ms == never || view.finished_ms >= now_ms - book.settings().retention_ms) keep.push_back(o);
  });
  provider_book fresh(book.settings());
  std::string compacted;
  for (const auto& o : keep) {
    fresh.restore(o, last_at);
    compacted += encode_order(o, last_at);
  }
  book = std::move(fresh);
  j->restored_ = keep.size();
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || !write_all(fd, compacted) || ::fsync(fd) != 0 || ::close(fd) != 0 ||
      ::rename(tmp.c_str(), path.c_str()) != 0 || !sync_dir(state_dir)) {
    error = "cannot write " + tmp + ": " + std::strerror(errno);
    return nullptr;
  }
  j->fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (j->fd_ < 0) {
    error = "cannot open " + path + ": " + std::strerror(errno);
    return nullptr;
  }
  j->flusher_ = std::thread([raw = j.get()] { raw->flush_loop(); });
  return j;
}

journal::~journal() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_flusher_.notify_all();
  if (flusher_.joinable()) flusher_.join();
  if (fd_ >= 0) ::close(fd_);
}

uint64_t journal::append(const provider_order& order, int64_t at_ms) {
  auto line = encode_order(order, at_ms);
  std::lock_guard<std::mutex> lock(mutex_);
  pending_ += line;
  uint64_t seq = ++appended_;
  wake_flusher_.notify_one();
  return seq;
}

bool journal::wait_durable(uint64_t seq) {
  std::unique_lock<std::mutex> lock(mutex_);
  durable_.wait(lock, [&] { return durable_seq_ >= seq || failed_; });
  return durable_seq_ >= seq;
}

void journal::flush_loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_flusher_.wait(lock, [&] { return !pending_.empty() || stopping_; });
    if (pending_.empty() && stopping_) return;
    if (int64_t gather = gather_ms_.load(); gather > 0 && !stopping_) {
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::milliseconds(gather));
      lock.lock();
    }
    std::string batch;
    batch.swap(pending_);
    uint64_t upto = appended_;
    lock.unlock();
    bool ok = !failed_ && write_all(fd_, batch) && ::fdatasync(fd_) == 0;
    lock.lock();
    if (ok) durable_seq_ = upto;
    else failed_ = true;
    durable_.notify_all();
  }
}

}  // namespace txprovider
