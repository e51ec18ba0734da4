// Training over a lossy network: four real `sotto node` processes whose send paths
// drop 10 % of envelopes (and duplicate, delay and reorder a few more) through the
// daemon's [faults] section (net/faulty_transport.h), against the same mesh without
// faults. Also checks the per-peer traffic and latency histograms of the status.

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/node_process.h"

namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using sotto::testing::NodeProcess;

constexpr int kNodes = 4;
constexpr int kRounds = 400;

struct MeshResult {
  std::vector<double> accuracy;  // Each node's own model at the last evaluation.
  std::vector<json> status;
};

MeshResult RunMesh(const std::string& root, const std::vector<std::string>& fault_flags) {
  std::filesystem::remove_all(root);
  std::vector<std::unique_ptr<NodeProcess>> nodes;
  for (int i = 0; i < kNodes; ++i) {
    std::vector<std::string> flags = {"--data.source",
                                      "synthetic",
                                      "--data.synthetic_samples",
                                      "3000",
                                      "--data.synthetic_features",
                                      "50",
                                      "--data.synthetic_support",
                                      "5",
                                      "--model.kind",
                                      "softmax",
                                      "--algorithm.name",
                                      "malcom",
                                      "--algorithm.lr",
                                      "0.2",
                                      "--algorithm.compressor",
                                      "dither:s=16",
                                      "--algorithm.consensus_step",
                                      "0.3",
                                      "--algorithm.batch_size",
                                      "16",
                                      "--gossip.eval_every",
                                      "25",
                                      "--gossip.checkpoint_every",
                                      "0",
                                      "--gossip.min_round_ms",
                                      "10",
                                      "--gossip.round_timeout_ms",
                                      "200",
                                      "--gossip.rounds",
                                      std::to_string(kRounds),
                                      "--gossip.min_members",
                                      std::to_string(kNodes),
                                      "--gossip.shards",
                                      std::to_string(kNodes),
                                      "--gossip.shard",
                                      std::to_string(i),
                                      "--membership.probe_interval_ms",
                                      "200",
                                      "--membership.probe_timeout_ms",
                                      "100",
                                      "--node.listen",
                                      "tcp://127.0.0.1:*",
                                      "--node.log_level",
                                      "info"};
    flags.insert(flags.end(), fault_flags.begin(), fault_flags.end());
    if (i > 0) flags.insert(flags.end(), {"--node.join", nodes[0]->Endpoint()});
    nodes.push_back(std::make_unique<NodeProcess>(root + "/node-" + std::to_string(i), flags));
    nodes.back()->Start();
  }
  MeshResult result;
  for (auto& n : nodes) {
    INFO(n->Log());
    const bool finished =
        NodeProcess::WaitFor([&] { return n->Status().value("state", "") == "finished"; }, 90s);
    CHECK(finished);
  }
  for (auto& n : nodes) {
    const json s = n->Status();
    result.accuracy.push_back(s["test_accuracy"].is_number() ? s["test_accuracy"].get<double>()
                                                             : 0.0);
    result.status.push_back(s);
  }
  for (auto& n : nodes) {
    n->Signal(SIGTERM);
    CHECK(n->Wait() == 0);
  }
  std::filesystem::remove_all(root);
  return result;
}

double Mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / static_cast<double>(v.size());
}

TEST_CASE(
    "training converges with 10% of envelopes dropped, plus duplicates, delays and reordering",
    "[integration][faults]") {
  const std::string root =
      std::filesystem::temp_directory_path() / ("sotto-faults-" + std::to_string(::getpid()));
  const MeshResult clean = RunMesh(root + "-clean", {});
  const MeshResult lossy =
      RunMesh(root + "-lossy", {"--faults.drop", "0.1", "--faults.duplicate", "0.02",
                                "--faults.delay", "0.02", "--faults.reorder", "0.02"});
  const double clean_mean = Mean(clean.accuracy), lossy_mean = Mean(lossy.accuracy);
  INFO("mean accuracy without faults " << clean_mean << ", with faults " << lossy_mean);
  for (const json& s : lossy.status) {
    INFO(s.dump());
    CHECK(s["test_accuracy"].get<double>() > 0.7);  // Chance is 0.5.
    REQUIRE(s.contains("faults"));
    CHECK(s["faults"]["dropped"].get<std::uint64_t>() > 0);  // The faults really happened.
    CHECK(s["faults"]["duplicated"].get<std::uint64_t>() > 0);
  }
  CHECK(lossy_mean > clean_mean - 0.06);  // Measured gaps: -0.003 to 0.057 over four runs.
  for (const json& s : clean.status) CHECK_FALSE(s.contains("faults"));

  // Per-peer, per-type traffic and latency histograms, as /metrics exposes them.
  const json& s = clean.status[0];
  INFO(s.dump());
  int residual_peers = 0;
  for (const json& t : s["traffic"]) {
    if (t["type"] == "residual" && t["direction"] == "sent") {
      ++residual_peers;
      CHECK(t["messages"].get<std::uint64_t>() >= kRounds - 5);  // One per round to each neighbour.
    }
  }
  CHECK(residual_peers == 2);  // A ring of four.
  for (const char* h : {"round_duration", "gradient", "encode", "decode", "mix"}) {
    INFO(h);
    CHECK(s["histograms"][h]["count"].get<std::uint64_t>() >= kRounds - 5);
    CHECK(s["histograms"][h]["sum"].get<double>() > 0);
  }
}

}  // namespace

namespace {

TEST_CASE("adaptive compression grows the top-k fraction on fast links, up to its maximum",
          "[integration][adaptive]") {
  const std::string root =
      std::filesystem::temp_directory_path() / ("sotto-adaptive-" + std::to_string(::getpid()));
  // Loopback delivers a 100-parameter model's message in well under the 200 ms target.
  const MeshResult r =
      RunMesh(root, {"--gossip.adaptive", "true", "--gossip.adaptive_target_ms", "200",
                     "--gossip.adaptive_max_density", "0.3", "--gossip.adaptive_max_step", "0.45",
                     "--algorithm.compressor", "chain:topk:0.01+dither:s=4"});
  for (const json& s : r.status) {
    INFO(s.dump());
    REQUIRE(s.contains("adaptive"));
    CHECK(s["adaptive"]["density"].get<double>() == Approx(0.3));
    CHECK(s["adaptive"]["changes"].get<std::uint64_t>() >=
          10);  // 0.01 -> 0.3: 16 steps of 1.25x, 16 rounds apart.
    // Denser than configured: gamma grows as (delta / delta_0)^0.7 (30x denser: ~11x), held to the
    // ceiling.
    CHECK(s["adaptive"]["consensus_step"].get<double>() == Approx(0.45));
    // Each neighbour announced its step (so both ends of a link mix with the smaller).
    REQUIRE_FALSE(s["neighbours"].empty());
    for (const json& n : s["neighbours"]) CHECK(n["consensus_step"].get<double>() == Approx(0.45));
    CHECK(s["adaptive"]["slowest_delivery_ms"].get<double>() > 0);
    CHECK(s["adaptive"]["compressor"] == "chain:topk:0.3+dither:s=4");
    CHECK(s["test_accuracy"].get<double>() > 0.7);
  }
}

TEST_CASE("adaptive compression per link moves every link's top-k fraction and step on its own",
          "[integration][adaptive]") {
  const std::string root = std::filesystem::temp_directory_path() /
                           ("sotto-adaptive-link-" + std::to_string(::getpid()));
  const MeshResult r =
      RunMesh(root, {"--gossip.per_link", "true", "--gossip.adaptive", "true",
                     "--gossip.adaptive_target_ms", "200", "--gossip.adaptive_max_density", "0.3",
                     "--gossip.adaptive_max_step", "0.45", "--algorithm.compressor",
                     "chain:topk:0.01+dither:s=4"});
  for (const json& s : r.status) {
    INFO(s.dump());
    CHECK(s["per_link"] == true);
    REQUIRE(s.contains("adaptive"));
    CHECK(s["adaptive"]["density"].get<double>() == Approx(0.3));  // The mean over the links.
    CHECK(s["adaptive"]["changes"].get<std::uint64_t>() >= 20);    // ~10 or more per link.
    REQUIRE(s["neighbours"].size() == 2);
    for (const json& n : s["neighbours"]) {
      CHECK(n["link_density"].get<double>() == Approx(0.3));
      CHECK(n["link_consensus_step"].get<double>() == Approx(0.45));  // Ours on the link...
      CHECK(n["consensus_step"].get<double>() == Approx(0.45));       // ... and the neighbour's.
      CHECK(n["link_public_copy_fingerprint"].is_string());
    }
    CHECK(s["public_copy_fingerprint"].is_null());  // No one public copy.
    CHECK(s["test_accuracy"].get<double>() > 0.7);
  }
}

}  // namespace
