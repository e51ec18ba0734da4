// A straggler with real `sotto node` processes: SIGSTOP one node of three for 20 s,
// then SIGCONT. The others keep their round rate (round deadlines, then SWIM
// declares the stopped node dead and the ring closes without it), and the returning
// node rejoins and catches up. Hidden ("[.slow]", about 45 s): run it with
//   integration_tests "[slow]"
// Every process is stopped by its pid.

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/node_process.h"

namespace {

using json = nlohmann::json;
using sotto::testing::NodeProcess;
using namespace std::chrono_literals;

std::vector<std::string> Flags(int shard) {
  return {"--data.source", "synthetic", "--data.synthetic_samples", "3000", "--data.synthetic_features", "50",
          "--data.synthetic_support", "5", "--model.kind", "softmax", "--algorithm.name", "malcom",
          "--algorithm.lr", "0.2", "--algorithm.compressor", "dither:s=16", "--algorithm.consensus_step", "0.3",
          "--algorithm.batch_size", "16", "--gossip.eval_every", "20", "--gossip.checkpoint_every", "0",
          "--gossip.min_round_ms", "50", "--gossip.round_timeout_ms", "300", "--gossip.shards", "3",
          "--gossip.shard", std::to_string(shard), "--membership.probe_interval_ms", "200",
          "--membership.probe_timeout_ms", "100", "--node.listen", "tcp://127.0.0.1:*"};
}

std::uint64_t Round(const NodeProcess& n) { return n.Status().value("round", std::uint64_t{0}); }

// Rounds per second of `n` over `window`.
double RoundRate(const NodeProcess& n, std::chrono::seconds window) {
  const std::uint64_t r0 = Round(n);
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(window);  // The measurement window itself, not a wait for a condition.
  const std::uint64_t r1 = Round(n);
  return static_cast<double>(r1 - r0) / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int CountState(const json& members, const std::string& state) {
  int n = 0;
  for (const auto& m : members.value("members", json::array())) n += m.value("status", "") == state;
  return n;
}

TEST_CASE("a node stopped for 20 s does not slow the others and catches up when it returns",
          "[integration][straggler][.slow]") {
  const std::string root = std::filesystem::temp_directory_path() / ("sotto-straggler-" + std::to_string(::getpid()));
  std::filesystem::remove_all(root);
  std::vector<std::unique_ptr<NodeProcess>> nodes;
  for (int i = 0; i < 3; ++i) {
    auto flags = Flags(i);
    if (i > 0) flags.insert(flags.end(), {"--node.join", nodes[0]->Endpoint()});
    nodes.push_back(std::make_unique<NodeProcess>(root + "/node-" + std::to_string(i), flags));
    nodes.back()->Start();
  }
  for (auto& n : nodes) REQUIRE(NodeProcess::WaitFor([&] { return CountState(n->Members(), "alive") == 3; }, 20s));
  REQUIRE(NodeProcess::WaitFor([&] { return Round(*nodes[0]) > 50; }, 20s));

  const double normal = RoundRate(*nodes[0], 5s);
  const std::uint64_t straggler_round = Round(*nodes[2]);
  nodes[2]->Signal(SIGSTOP);
  const auto stopped_at = std::chrono::steady_clock::now();
  const double stalled_0 = RoundRate(*nodes[0], 20s);
  INFO("normal " << normal << " rounds/s, node 0 while node 2 was stopped " << stalled_0);
  CHECK(stalled_0 >= 0.75 * normal);
  // The stopped node was declared dead (not just suspected) meanwhile.
  CHECK(CountState(nodes[0]->Members(), "dead") == 1);
  WARN("stopped for " << std::chrono::duration<double>(std::chrono::steady_clock::now() - stopped_at).count()
                      << " s; rates: normal " << normal << ", during the stop " << stalled_0);

  nodes[2]->Signal(SIGCONT);
  // It refutes its death, rejoins, and jumps to its neighbours' round.
  CHECK(NodeProcess::WaitFor([&] {
    return CountState(nodes[0]->Members(), "alive") == 3 && CountState(nodes[1]->Members(), "alive") == 3;
  }, 15s));
  CHECK(NodeProcess::WaitFor([&] { return Round(*nodes[2]) + 20 >= Round(*nodes[0]); }, 15s));
  const json s2 = nodes[2]->Status(), s0 = nodes[0]->Status();
  INFO(s2.dump() << "\n" << s0.dump());
  CHECK(s2.value("round", std::uint64_t{0}) > straggler_round);
  CHECK(s2.value("neighbours", json::array()).size() == 2);
  // Its model is still sound: every residual was absorbed at most once.
  CHECK(NodeProcess::WaitFor([&] {
    const json s = nodes[2]->Status();
    return s["test_accuracy"].is_number() && s["test_accuracy"].get<double>() > 0.7;
  }, 15s));
  for (auto& n : nodes) n->Kill();
  std::filesystem::remove_all(root);
}

}  // namespace
