// Starts real `sotto node` processes on loopback and checks the mesh through their
// control sockets: membership, training, SIGKILL and restart from a checkpoint,
// and hostile bytes from a raw ZeroMQ socket. Every process is stopped by its pid.

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "daemon/control_client.h"
#include "tests/support/node_process.h"

namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

using sotto::testing::NodeProcess;

std::vector<std::string> CommonFlags() {
  return {"--data.source", "synthetic", "--data.synthetic_samples", "3000", "--data.synthetic_features", "50",
          "--data.synthetic_support", "5", "--model.kind", "softmax", "--algorithm.name", "malcom",
          "--algorithm.lr", "0.2", "--algorithm.compressor", "dither:s=16", "--algorithm.consensus_step", "0.3",
          "--algorithm.batch_size", "16", "--gossip.eval_every", "20", "--gossip.checkpoint_every", "20",
          "--gossip.min_round_ms", "20", "--gossip.round_timeout_ms", "300", "--gossip.shards", "5",
          "--membership.probe_interval_ms", "200", "--membership.probe_timeout_ms", "100",
          "--node.log_level", "info"};
}

int CountState(const json& members, const std::string& state) {
  int n = 0;
  if (!members.contains("members")) return -1;
  for (const auto& m : members["members"]) n += m.value("status", "") == state;
  return n;
}

// The log lines of `text` that contain `what`, each as (UTC time of day in ms, line);
// every line spdlog writes must open with an ISO 8601 UTC timestamp to the millisecond.
std::vector<std::pair<long, std::string>> TimedLines(const std::string& text, const std::string& what) {
  static const std::regex stamp(R"(^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{3})Z \[(info|warning|error|debug)\] )");
  std::vector<std::pair<long, std::string>> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(what) == std::string::npos) continue;
    std::smatch m;
    if (!std::regex_search(line, m, stamp)) {
      out.emplace_back(-1, line);  // No timestamp: the caller's check fails on it.
      continue;
    }
    const long ms = ((std::stol(m[4]) * 60 + std::stol(m[5])) * 60 + std::stol(m[6])) * 1000 + std::stol(m[7]);
    out.emplace_back(ms, line);
  }
  return out;
}

TEST_CASE("five real nodes form a mesh, train, survive SIGKILL and resume from a checkpoint",
          "[integration][mesh]") {
  const std::string root = std::filesystem::temp_directory_path() / ("sotto-it-" + std::to_string(::getpid()));
  std::filesystem::remove_all(root);
  std::vector<std::unique_ptr<NodeProcess>> nodes;
  for (int i = 0; i < 5; ++i) {
    auto flags = CommonFlags();
    flags.insert(flags.end(), {"--gossip.shard", std::to_string(i), "--node.listen", "tcp://127.0.0.1:*"});
    if (i > 0) flags.insert(flags.end(), {"--node.join", nodes[0]->Endpoint()});
    nodes.push_back(std::make_unique<NodeProcess>(root + "/node-" + std::to_string(i), flags));
    nodes.back()->Start();
  }
  // Everyone sees everyone.
  for (auto& n : nodes) {
    INFO(n->Log());
    CHECK(NodeProcess::WaitFor([&] { return CountState(n->Members(), "alive") == 5; }, 20s));
  }
  // Logs are timestamped, and say when membership starts: the first node starts a
  // mesh, the others join through it, and learn of members only after that line.
  CHECK(TimedLines(nodes[0]->Log(), "membership: starting a new mesh").size() == 1);
  for (int i = 1; i < 5; ++i) {
    const std::string log = nodes[i]->Log();
    INFO(log);
    const auto start = TimedLines(log, "membership: joining through " + nodes[0]->Endpoint());
    REQUIRE(start.size() == 1);
    CHECK(start[0].first >= 0);
    const auto joined = TimedLines(log, " joined (");
    CHECK(joined.size() >= 4);
    for (const auto& [ms, line] : joined) {
      INFO(line);
      CHECK(ms >= 0);
      // Same day in any realistic run; a midnight in between would wrap.
      CHECK((ms >= start[0].first || start[0].first - ms > 12 * 3600 * 1000));
    }
  }
  // Training makes progress and the accuracy is well above chance (0.5).
  CHECK(NodeProcess::WaitFor([&] {
    const json s = nodes[1]->Status();
    return s.value("round", std::uint64_t{0}) >= 100 && s["test_accuracy"].is_number() && s["test_accuracy"].get<double>() > 0.7;
  }, 60s));
  const json before = nodes[2]->Status();
  INFO(before.dump());
  CHECK(before["neighbours"].size() == 2);  // A ring of 5.

  // SIGKILL node 3: the others mark it dead and drop it from their neighbour weights.
  const std::string victim_endpoint = nodes[3]->Endpoint();
  const std::string victim_id = nodes[3]->Status().value("id", "");
  REQUIRE_FALSE(victim_id.empty());
  const std::uint64_t victim_round = nodes[3]->Status().value("round", std::uint64_t{0});
  nodes[3]->Kill();
  for (int i : {0, 1, 2, 4}) {
    CHECK(NodeProcess::WaitFor([&] {
      const json m = nodes[i]->Members();
      bool dead = false;
      for (const auto& e : m.value("members", json::array())) dead |= e.value("id", "") == victim_id && e.value("status", "") == "dead";
      const json s = nodes[i]->Status();
      bool neighbour = false;
      for (const auto& nb : s.value("neighbours", json::array())) neighbour |= nb.value("id", "") == victim_id;
      return dead && !neighbour;
    }, 15s));
  }
  // Training goes on without it.
  const std::uint64_t r0 = nodes[0]->Status().value("round", std::uint64_t{0});
  CHECK(NodeProcess::WaitFor([&] { return nodes[0]->Status().value("round", std::uint64_t{0}) > r0 + 20; }, 20s));

  // Restart it on the same address (same id): it resumes from its checkpoint and rejoins.
  auto flags = CommonFlags();
  flags.insert(flags.end(), {"--gossip.shard", "3", "--node.listen", victim_endpoint, "--node.join", nodes[0]->Endpoint()});
  nodes[3] = std::make_unique<NodeProcess>(root + "/node-3", flags);
  nodes[3]->Start();
  CHECK(NodeProcess::WaitFor([&] { return nodes[3]->Log().find("checkpoint: resumed at round") != std::string::npos; }, 20s));
  CHECK(NodeProcess::WaitFor([&] { return nodes[3]->Status().value("round", std::uint64_t{0}) >= victim_round - victim_round % 20; }, 20s));
  for (int i : {0, 2, 4}) {
    CHECK(NodeProcess::WaitFor([&] { return CountState(nodes[i]->Members(), "alive") == 5; }, 20s));
  }
  CHECK(nodes[3]->Status().value("id", "") == victim_id);

  // Graceful stop: SIGTERM checkpoints, leaves, exits 0; the others see "left".
  nodes[4]->Signal(SIGTERM);
  CHECK(nodes[4]->Wait() == 0);
  CHECK(NodeProcess::WaitFor([&] { return CountState(nodes[0]->Members(), "left") == 1; }, 10s));
  for (auto& n : nodes) n->Kill();
  std::filesystem::remove_all(root);
}

TEST_CASE("malformed envelopes from a raw socket are counted and dropped while training goes on",
          "[integration][hostile]") {
  const std::string root = std::filesystem::temp_directory_path() / ("sotto-hostile-" + std::to_string(::getpid()));
  std::filesystem::remove_all(root);
  auto flags = CommonFlags();
  flags.insert(flags.end(), {"--gossip.shards", "1", "--node.listen", "tcp://127.0.0.1:*"});
  NodeProcess node(root, flags);
  node.Start();
  const std::string endpoint = node.Endpoint();
  REQUIRE(NodeProcess::WaitFor([&] { return node.Status().value("round", std::uint64_t{0}) > 5; }, 20s));

  zmq::context_t ctx;
  zmq::socket_t rogue(ctx, zmq::socket_type::dealer);
  const char id[9] = {'S', 1, 2, 3, 4, 5, 6, 7, 8};
  rogue.set(zmq::sockopt::routing_id, zmq::const_buffer(id, 9));
  rogue.set(zmq::sockopt::linger, 0);
  rogue.connect(endpoint);
  const std::vector<std::string> junk = {"", "\x01", "garbage that is not msgpack", std::string(100, '\x95'),
                                          std::string("\x95\x01\x08\xcf\x00\x00\x00\x00\x00\x00\x00\x01\x00\xc4\x00", 15)};
  for (int k = 0; k < 50; ++k) {
    const auto& j = junk[static_cast<std::size_t>(k) % junk.size()];
    (void)rogue.send(zmq::buffer(j), zmq::send_flags::dontwait);
  }
  CHECK(NodeProcess::WaitFor([&] { return node.Status().value("rejected_messages", std::uint64_t{0}) >= 40; }, 10s));
  const std::uint64_t r = node.Status().value("round", std::uint64_t{0});
  CHECK(NodeProcess::WaitFor([&] { return node.Status().value("round", std::uint64_t{0}) > r + 10; }, 10s));
  const json s = node.Status();
  INFO(s.dump());
  CHECK_FALSE(s.value("last_reject_reason", "").empty());
  node.Signal(SIGTERM);
  CHECK(node.Wait() == 0);
  std::filesystem::remove_all(root);
}

TEST_CASE(
    "a mesh that starts together ships no model to its joiners; a joiner with another initial "
    "model gets one",
    "[integration][mesh][join]") {
  const std::string root =
      std::filesystem::temp_directory_path() / ("sotto-it-join-" + std::to_string(::getpid()));
  std::filesystem::remove_all(root);
  auto flags_for = [&](int shard, const std::string& seed, const std::string& join) {
    auto f = CommonFlags();
    f.insert(f.end(), {"--gossip.shard", std::to_string(shard), "--node.listen",
                       "tcp://127.0.0.1:*", "--gossip.min_members", "3", "--node.seed", seed});
    if (!join.empty()) f.insert(f.end(), {"--node.join", join});
    return f;
  };
  auto join_of = [](const json& s) { return s.contains("join") ? s["join"] : json::object(); };
  // A waits for three members before its first step, so its model is still the initial one.
  NodeProcess a(root + "/a", flags_for(0, "1", ""));
  a.Start();
  const std::string ep = a.Endpoint();
  NodeProcess b(root + "/b", flags_for(1, "1", ep));
  b.Start();
  // Same seed, nobody has stepped: A answers "you hold it" and sends no model.
  CHECK(NodeProcess::WaitFor([&] { return join_of(b.Status()).value("model", json()).is_string(); },
                             20s));
  json sb = b.Status(), sa = a.Status();
  INFO(sa.dump() << "\n" << sb.dump() << "\n" << a.Log() << "\n" << b.Log());
  CHECK(join_of(sb).value("model", "") == "same");
  CHECK(join_of(sa).value("models_same", 0) >= 1);
  CHECK(join_of(sa).value("models_served", 1) == 0);
  CHECK(sa.value("round", std::uint64_t{1}) == 0);  // Nobody trains before the third member.
  // Another seed, another initial model: the checksums differ and C gets a donor's model.
  NodeProcess c(root + "/c", flags_for(2, "7", ep));
  c.Start();
  CHECK(NodeProcess::WaitFor([&] { return join_of(c.Status()).value("model", json()).is_string(); },
                             20s));
  const json sc = c.Status();
  sa = a.Status();
  sb = b.Status();
  INFO(sc.dump() << "\n" << c.Log());
  CHECK(join_of(sc).value("model", "") == "donor");
  CHECK(join_of(sa).value("models_served", 0) + join_of(sb).value("models_served", 0) >= 1);
  // And the three train together from there.
  CHECK(
      NodeProcess::WaitFor([&] { return c.Status().value("round", std::uint64_t{0}) > 10; }, 30s));
  for (NodeProcess* n : {&a, &b, &c}) {
    n->Signal(SIGTERM);
    CHECK(n->Wait() == 0);
  }
  std::filesystem::remove_all(root);
}

}  // namespace
