// A broad hostile flood against one node of a healthy 3-node mesh of real `sotto node`
// processes on loopback (the 30 s version is bench/hostile/run.sh): random bytes,
// truncated envelopes, lying headers, too many frames, oversized frames, large
// payloads and wrong-dimension vectors, from an outsider and from a member that
// joined. The node must stay up with bounded memory, keep training and count what it
// rejected. Every process is stopped by its pid.

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/integration/flooder.h"
#include "tests/support/node_process.h"

namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using sotto::testing::NodeProcess;

std::uint64_t Round(const json& s) { return s.value("round", std::uint64_t{0}); }

TEST_CASE("a node flooded with hostile messages stays up, bounded and training, and counts the rejects",
          "[integration][hostile]") {
  const std::string root =
      std::filesystem::temp_directory_path() / ("sotto-flood-" + std::to_string(::getpid()));
  std::filesystem::remove_all(root);
  std::vector<std::unique_ptr<NodeProcess>> nodes;
  for (int i = 0; i < 3; ++i) {
    std::vector<std::string> flags = {
        "--data.source", "synthetic", "--data.synthetic_samples", "3000", "--data.synthetic_features", "50",
        "--data.synthetic_support", "5", "--model.kind", "softmax", "--algorithm.name", "malcom",
        "--algorithm.compressor", "dither:s=16", "--algorithm.batch_size", "16", "--gossip.eval_every", "20",
        "--gossip.checkpoint_every", "0", "--gossip.min_round_ms", "20", "--gossip.round_timeout_ms", "300",
        "--gossip.shards", "3", "--gossip.shard", std::to_string(i), "--gossip.min_members", "3",
        "--membership.probe_interval_ms", "200", "--membership.probe_timeout_ms", "100",
        "--node.listen", "tcp://127.0.0.1:*", "--node.log_level", "info"};
    if (i > 0) flags.insert(flags.end(), {"--node.join", nodes[0]->Endpoint()});
    nodes.push_back(std::make_unique<NodeProcess>(root + "/node-" + std::to_string(i), flags));
    nodes.back()->Start();
  }
  NodeProcess& victim = *nodes[0];
  const std::string endpoint = victim.Endpoint();
  REQUIRE(NodeProcess::WaitFor([&] { return Round(victim.Status()) > 10; }, 30s));
  const json before = victim.Status();
  INFO(before.dump());
  const auto dimension = before.value("parameters", std::size_t{0});
  REQUIRE(dimension > 0);

  sotto::testing::FloodOptions o;
  o.target = endpoint;
  o.seed = 7;
  o.dimension = dimension;
  o.rate = 3000;
  o.large_bytes = std::size_t{2} << 20;
  o.large_every = 250ms;
  o.oversized_every = 1000ms;
  sotto::testing::Flooder flooder(o);
  constexpr auto kFlood = 4s;
  bool insider_ok = false;
  std::thread flood([&] { insider_ok = flooder.Run(kFlood); });
  // Sample VmRSS every 250 ms while the flood runs.
  std::vector<long> rss;
  const auto end = std::chrono::steady_clock::now() + kFlood;
  while (std::chrono::steady_clock::now() < end) {
    rss.push_back(sotto::testing::ProcessRssKb(victim.pid()));
    std::this_thread::sleep_for(250ms);
  }
  flood.join();
  rss.push_back(sotto::testing::ProcessRssKb(victim.pid()));

  const auto& c = flooder.counts();
  INFO("flooder sent " << c.total_sent() << " messages; insider joined " << c.insider_joined);
  for (int k = 0; k < static_cast<int>(sotto::testing::FloodKind::kCount); ++k) {
    INFO(sotto::testing::FloodKindName(static_cast<sotto::testing::FloodKind>(k)));
    CHECK(c.sent[static_cast<std::size_t>(k)] > 0);  // Every kind was really sent.
  }
  CHECK(insider_ok);
  CHECK(c.insider_joined);

  // Alive and still answering; the other two as well.
  for (auto& n : nodes) {
    INFO(n->Log());
    CHECK_FALSE(n->Exited());
  }
  const json after = victim.Status();
  INFO(after.dump());
  REQUIRE(after.is_object());
  // Rejections are counted: transport-level (envelopes) and daemon-level (residuals).
  CHECK(after.value("rejected_envelopes", std::uint64_t{0}) > before.value("rejected_envelopes", std::uint64_t{0}) + 100);
  CHECK(after.value("rejected_residuals", std::uint64_t{0}) > before.value("rejected_residuals", std::uint64_t{0}));
  CHECK_FALSE(after.value("last_reject_reason", "").empty());
  if (after.contains("rejected_by_reason")) CHECK(after["rejected_by_reason"].size() >= 3);
  // Memory stays bounded: no steady growth from the first second of the flood to the end.
  REQUIRE(rss.size() >= 8);
  INFO("VmRSS samples (kB): first " << rss.front() << ", after 1 s " << rss[4] << ", last " << rss.back());
  CHECK(rss.back() > 0);
#if defined(__SANITIZE_ADDRESS__)
  // Under ASan freed memory waits in its quarantine (up to 256 MB) before reuse, so RSS
  // grows with the flood's churn of buffers; the release build checks the bound.
  WARN("ASan build: RSS growth not checked (" << (rss.back() - rss[4]) << " kB)");
#else
  CHECK(rss.back() - rss[4] < 40 * 1024);
#endif
  // Training goes on during and after the flood.
  CHECK(Round(after) > Round(before) + 20);
  const std::uint64_t r = Round(after);
  CHECK(NodeProcess::WaitFor([&] { return Round(victim.Status()) > r + 20; }, 10s));

  for (auto& n : nodes) {
    n->Signal(SIGTERM);
    CHECK(n->Wait() == 0);
  }
  std::filesystem::remove_all(root);
}

}  // namespace
