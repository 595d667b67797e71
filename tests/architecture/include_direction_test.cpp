// The layers point one way (docs/architecture.md): reads every source file of the repository,
// finds its layer from its folder, and fails on any `#include` of a project header from a layer
// it may not see, and on any include of an infrastructure library (CAF, MySQL, Kafka, HTTP,
// sockets, logging) from the core. Generated headers and the standard library are not
// project headers and are not checked, except by the core's library rule.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <unistd.h>

#include <gtest/gtest.h>

namespace fs = std::filesystem;

namespace {

// Every folder of the repository that holds C++ and the layer it belongs to. Files of
// protocol/ split in two: the wire codec, TLS and the client library need only the core (outside
// programs link them), the network front (server) drives the engine through node/.
std::string layer_of(const std::string& path) {
  auto top = path.substr(0, path.find('/'));
  if (top == "protocol") {
    // (The fuzz harnesses reach the front too: fuzz_request converts requests like the server.)
    if (path.rfind("protocol/wire", 0) == 0 || path.rfind("protocol/client", 0) == 0 ||
        path.rfind("protocol/replay_cache", 0) == 0 || path.rfind("protocol/tls", 0) == 0)
      return "wire";
    return "front";
  }
  return top;  // core, ports, actors, persistence, publication, node, apps, benchmarks, tests
}

// What each layer may include, besides itself. Adapters see the core and the ports and
// never one another: only node/ (and the programs above it) names more than one adapter.
const std::map<std::string, std::set<std::string>>& allowed() {
  static const std::map<std::string, std::set<std::string>> table = {
      {"core", {}},
      {"ports", {"core"}},
      {"wire", {"core"}},
      {"actors", {"core", "ports"}},
      {"persistence", {"core", "ports"}},
      {"publication", {"core", "ports"}},
      {"cluster", {"core", "ports"}},
      {"channels", {"core", "ports"}},
      // txprovider-sim's provider plays an outside party: it includes nothing of the engine.
      {"providersim", {}},
      {"node", {"core", "ports", "actors", "persistence", "publication", "cluster", "channels"}},
      {"front", {"core", "ports", "wire", "node"}},
      {"apps", {"core", "ports", "wire", "actors", "persistence", "publication", "cluster", "node", "front",
                "providersim", "channels"}},
      {"benchmarks",
       {"core", "ports", "wire", "actors", "persistence", "publication", "cluster", "node", "front", "apps",
        "providersim", "channels"}},
      {"tests", {"core", "ports", "wire", "actors", "persistence", "publication", "cluster", "node", "front", "apps",
                 "benchmarks", "providersim", "channels"}},
  };
  return table;
}

// Libraries the core must never include (the rules of money are plain C++).
const std::vector<std::string> core_forbidden_prefixes = {
    "caf/", "mysql", "cppconn/", "mariadb/", "librdkafka/", "httplib", "curl/", "sys/socket", "netinet/",
    "arpa/", "spdlog/", "google/protobuf", "openssl/", "toml", "thread", "mutex", "condition_variable"};

struct include_line {
  std::string target;  // as written between the quotes or angle brackets
  bool quoted = false;
  int line = 0;
};

std::vector<include_line> includes_of(const fs::path& file) {
  std::vector<include_line> out;
  std::ifstream in(file);
  std::string text;
  int number = 0;
  while (std::getline(in, text)) {
    ++number;
    auto first = text.find_first_not_of(" \t");
    if (first == std::string::npos || text[first] != '#') continue;
    auto directive = text.find_first_not_of(" \t", first + 1);
    if (directive == std::string::npos || text.compare(directive, 7, "include") != 0) continue;
    auto open = text.find_first_of("\"<", directive + 7);
    if (open == std::string::npos) continue;
    char close_char = text[open] == '"' ? '"' : '>';
    auto close = text.find(close_char, open + 1);
    if (close == std::string::npos) continue;
    out.push_back({text.substr(open + 1, close - open - 1), text[open] == '"', number});
  }
  return out;
}

bool is_source(const fs::path& p) {
  auto ext = p.extension().string();
  return ext == ".cpp" || ext == ".hpp" || ext == ".h" || ext == ".in";
}

std::vector<std::string> source_files(const fs::path& root) {
  std::vector<std::string> files;
  for (const auto& [layer, _] : allowed()) {
    (void)_;
    std::string folder = layer == "wire" || layer == "front" ? "protocol" : layer;
    if (!fs::is_directory(root / folder)) continue;
    for (const auto& entry : fs::recursive_directory_iterator(root / folder))
      if (entry.is_regular_file() && is_source(entry.path()))
        files.push_back(fs::relative(entry.path(), root).generic_string());
  }
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  return files;
}

std::vector<std::string> violations(const fs::path& root) {
  std::vector<std::string> found;
  for (const auto& file : source_files(root)) {
    auto layer = layer_of(file);
    const auto& may = allowed().at(layer);
    for (const auto& inc : includes_of(root / file)) {
      if (layer == "core")
        for (const auto& prefix : core_forbidden_prefixes)
          if (inc.target.rfind(prefix, 0) == 0)
            found.push_back(file + ":" + std::to_string(inc.line) + ": the core includes <" + inc.target + ">");
      if (!inc.quoted) continue;
      auto slash = inc.target.find('/');
      if (slash == std::string::npos) continue;  // generated headers (txengine.pb.h, ...)
      if (!fs::exists(root / inc.target)) continue;
      auto target_layer = layer_of(inc.target);
      if (target_layer == layer || may.count(target_layer) != 0) continue;
      found.push_back(file + ":" + std::to_string(inc.line) + ": " + layer + " includes " + inc.target + " (" +
                      target_layer + ")");
    }
  }
  return found;
}

}  // namespace

TEST(Architecture, include_direction) {
  fs::path root = TXENGINE_SOURCE_DIR;
  ASSERT_TRUE(fs::is_directory(root / "core")) << root;
  auto files = source_files(root);
  EXPECT_GT(files.size(), 100u) << "the walk found too few files under " << root;
  auto found = violations(root);
  std::string report;
  for (const auto& v : found) report += "\n  " + v;
  EXPECT_TRUE(found.empty()) << found.size() << " includes point the wrong way:" << report;
}

TEST(Architecture, every_folder_has_a_layer) {
  // A new top-level folder with C++ in it must be given a layer above (or the check misses it).
  fs::path root = TXENGINE_SOURCE_DIR;
  std::set<std::string> known = {"core", "ports", "protocol", "actors", "persistence", "publication", "cluster",
                                 "providersim", "channels",
                                 "node", "apps", "benchmarks", "tests", "build", "cmake", "config",
                                 "docs", "scripts"};
  for (const auto& entry : fs::directory_iterator(root)) {
    if (!entry.is_directory()) continue;
    auto name = entry.path().filename().string();
    if (name.empty() || name[0] == '.' || known.count(name) != 0 || name.rfind("build", 0) == 0) continue;
    bool has_cpp = false;
    for (const auto& f : fs::recursive_directory_iterator(entry.path()))
      if (f.is_regular_file() && is_source(f.path())) has_cpp = true;
    EXPECT_FALSE(has_cpp) << "folder " << name << " holds C++ but has no layer in include_direction_test.cpp";
  }
}

TEST(Architecture, the_check_sees_a_wrong_include) {
  // The checker itself: a file of the core including an actor header, and one including CAF.
  fs::path dir = fs::temp_directory_path() / ("txengine_arch_" + std::to_string(::getpid()));
  fs::create_directories(dir / "core");
  fs::create_directories(dir / "actors");
  fs::create_directories(dir / "publication");
  fs::create_directories(dir / "persistence");
  std::ofstream(dir / "actors" / "a.hpp") << "#pragma once\n";
  std::ofstream(dir / "persistence" / "p.hpp") << "#pragma once\n";
  std::ofstream(dir / "core" / "bad.hpp") << "#include \"actors/a.hpp\"\n#include <caf/all.hpp>\n";
  std::ofstream(dir / "publication" / "bad.cpp") << "  #  include \"persistence/p.hpp\"\n";
  auto found = violations(dir);
  fs::remove_all(dir);
  ASSERT_EQ(found.size(), 3u);
  EXPECT_NE(found[0].find("core/bad.hpp:1: core includes actors/a.hpp"), std::string::npos) << found[0];
  EXPECT_NE(found[1].find("<caf/all.hpp>"), std::string::npos) << found[1];
  EXPECT_NE(found[2].find("publication includes persistence/p.hpp"), std::string::npos) << found[2];
}
