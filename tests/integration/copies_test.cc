// Exact copies on links made mid-training (daemon/node.cc, kCopy): three real `sotto
// node` processes train, a fourth joins halfway and the ring is re-made around it.
// Once every node has finished and the last residuals are in, each node's copy of
// each neighbour's public model x_hat_j must be bit for bit the neighbour's own (the
// status fingerprints). With stand-in copies (the copy of a new neighbour taken as
// our own x_hat) the new links stay off by the difference for good. With per-link
// compression ([gossip].per_link) every link has its own x_hat_{i->j}: each node's copy
// of a neighbour must be what that neighbour holds for the link.

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <map>
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

constexpr int kRounds = 300;

std::vector<std::string> Flags(int shard, int shards) {
  return {"--data.source", "synthetic", "--data.synthetic_samples", "2000", "--data.synthetic_features", "40",
          "--data.synthetic_support", "5", "--model.kind", "softmax", "--algorithm.name", "malcom",
          "--algorithm.lr", "0.2", "--algorithm.compressor", "chain:topk:0.2+dither:s=16",
          "--algorithm.consensus_step", "0.2", "--algorithm.batch_size", "16", "--gossip.eval_every", "50",
          "--gossip.checkpoint_every", "0", "--gossip.min_round_ms", "10", "--gossip.round_timeout_ms", "300",
          "--gossip.rounds", std::to_string(kRounds), "--gossip.min_members", "3", "--gossip.shards",
          std::to_string(shards), "--gossip.shard", std::to_string(shard), "--membership.probe_interval_ms", "200",
          "--membership.probe_timeout_ms", "100", "--node.listen", "tcp://127.0.0.1:*", "--node.log_level", "debug"};
}

std::string Str(const json& v) { return v.is_string() ? v.get<std::string>() : ""; }

// Pairs (node, neighbour) whose copy differs from what the neighbour holds for it (its
// x_hat, or per link its x_hat for that link); empty when all agree.
std::vector<std::string> Mismatches(const std::vector<json>& status) {
  std::map<std::pair<std::string, std::string>, std::string>
      own;  // (holder, for whom) -> fingerprint
  for (const json& s : status) {
    for (const json& n : s["neighbours"]) {
      own[{s.value("id", ""), n.value("id", "")}] = s.value("per_link", false)
                                                        ? Str(n["link_public_copy_fingerprint"])
                                                        : Str(s["public_copy_fingerprint"]);
    }
  }
  std::vector<std::string> bad;
  for (const json& s : status) {
    for (const json& n : s["neighbours"]) {
      const std::string copy = n["copy_fingerprint"].is_string() ? n["copy_fingerprint"].get<std::string>() : "none";
      const auto it = own.find({n.value("id", ""), s.value("id", "")});
      if (it == own.end() || it->second.empty() || copy != it->second) {
        bad.push_back(s.value("id", "?") + "'s copy of " + n.value("id", "") + ": " + copy +
                      " vs " + (it == own.end() ? "?" : it->second));
      }
    }
  }
  return bad;
}

TEST_CASE("copies of neighbours made mid-training are exact once the residuals are in", "[integration][copies]") {
  const bool per_link = GENERATE(false, true);
  const std::string root =
      std::filesystem::temp_directory_path() /
      ("sotto-copies-" + std::string(per_link ? "link-" : "") + std::to_string(::getpid()));
  std::filesystem::remove_all(root);
  const std::vector<std::string> mode = {"--gossip.per_link", per_link ? "true" : "false"};
  std::vector<std::unique_ptr<NodeProcess>> nodes;
  for (int i = 0; i < 3; ++i) {
    auto flags = Flags(i, 4);
    flags.insert(flags.end(), mode.begin(), mode.end());
    if (i > 0) flags.insert(flags.end(), {"--node.join", nodes[0]->Endpoint()});
    nodes.push_back(std::make_unique<NodeProcess>(root + "/node-" + std::to_string(i), flags));
    nodes.back()->Start();
  }
  // Halfway, a fourth member: the ring of three becomes a ring of four.
  REQUIRE(NodeProcess::WaitFor([&] { return nodes[0]->Status().value("round", 0) >= kRounds / 2; }, 60s));
  auto flags = Flags(3, 4);
  flags.insert(flags.end(), mode.begin(), mode.end());
  flags.insert(flags.end(), {"--node.join", nodes[0]->Endpoint()});
  nodes.push_back(std::make_unique<NodeProcess>(root + "/node-3", flags));
  nodes.back()->Start();
  for (auto& n : nodes) {
    INFO(n->Log());
    CHECK(NodeProcess::WaitFor([&] { return n->Status().value("state", "") == "finished"; }, 90s));
  }
  // The last residuals may still be on their way: wait until every copy agrees.
  std::vector<json> status;
  std::vector<std::string> bad;
  const bool agree = NodeProcess::WaitFor([&] {
    status.clear();
    for (auto& n : nodes) status.push_back(n->Status());
    bad = Mismatches(status);
    return bad.empty();
  }, 10s);
  std::string why;
  for (const std::string& b : bad) why += b + "\n";
  if (!agree) {
    for (const json& st : status) {
      json brief = {{"id", st["id"]}, {"copies", st["copies"]}, {"late", st["late_or_duplicate_residuals"]},
                    {"rejected", st["rejected_residuals"]}, {"last_reject", st["last_reject_reason"]},
                    {"resends_requested", st["resends_requested"]}, {"round", st["round"]}};
      why += brief.dump() + "\n";
    }
  }
  INFO(why);
  CHECK(agree);
  std::uint64_t applied = 0;
  for (const json& s : status) {
    INFO(s.dump());
    CHECK(s["neighbours"].size() == 2);
    CHECK(s["per_link"] == per_link);
    applied += s["copies"]["applied"].get<std::uint64_t>();
  }
  CHECK(applied >= 4);  // At least the two new links, both ways.
  for (auto& n : nodes) {
    n->Signal(SIGTERM);
    CHECK(n->Wait() == 0);
  }
  if (agree) std::filesystem::remove_all(root);  // Else the logs stay for a look.
}

}  // namespace
