#pragma once

// Lab: N virtual nodes of a gossip algorithm over a topology, in one process,
// synchronous rounds, exact and deterministic (same options and data give the same
// metrics bit for bit). The very same GossipAlgorithm objects run in the daemon.
//
// Thread safety: not thread-safe.

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "algo/dataset.h"
#include "algo/gossip_algorithm.h"
#include "algo/model.h"
#include "algo/sampler.h"
#include "common/random.h"
#include "common/status.h"

namespace sotto::algo {

struct LabOptions {
  // Number of virtual nodes.
  int nodes = 16;
  // Gossip rounds to run (each node takes one mini-batch step per round).
  std::int64_t rounds = 1000;
  // Seeds everything: partition, sampling, initialisation, dither, stragglers.
  std::uint64_t seed = 1;
  // Topology spec for topology::MakeGraph ("ring", "torus", "exp", "regular:d=4", ...).
  std::string topology = "ring";
  // Probability that a node sits a round out (computes, sends and mixes nothing).
  double straggler_probability = 0.0;
  // Evaluate the average model on the test set every this many rounds (and at the end).
  std::int64_t eval_every = 50;
  // Also evaluate every node's own model at those rounds (costs N evaluations).
  bool eval_nodes = false;
  // Stop once the average model reaches this test accuracy (> 1 never stops early).
  double target_accuracy = 2.0;
  std::int64_t batch_size = 64;
  SamplingMode sampling = SamplingMode::kReshuffle;
  // Model spec for MakeModel and its l2 coefficient.
  std::string model = "softmax";
  double l2 = 0.0;
  GossipOptions gossip;
};

// Metrics of one round. Accuracy fields are NaN when not evaluated that round.
struct RoundMetrics {
  std::int64_t round = 0;             // 1-based: rounds completed.
  double epoch = 0;                   // Mean passes over the local shards.
  double train_loss = 0;              // Mean batch loss of active nodes + lambda * mean ||x_i||_1.
  double test_loss = std::numeric_limits<double>::quiet_NaN();      // Average model.
  double test_accuracy = std::numeric_limits<double>::quiet_NaN();  // Average model.
  double node_accuracy_mean = std::numeric_limits<double>::quiet_NaN();  // Mean over nodes.
  double density = 0;                 // Mean fraction of non-zeros in the x_i.
  double consensus_distance = 0;      // (1/n) sum_i ||x_i - x_bar||^2.
  double message_bits = 0;            // Mean size of one message this round, bits.
  double bits_sent_per_node = 0;      // Mean over nodes of bits put on links this round.
  double cumulative_bits_per_node = 0;
  int active_nodes = 0;               // Nodes that were not straggling.
};

class Lab {
 public:
  // `shards[i]` lists the rows of `train` that node i holds. `train` and `test` must
  // outlive the Lab.
  static Result<std::unique_ptr<Lab>> Create(const LabOptions& options, const Dataset& train,
                                             const Dataset& test,
                                             std::vector<std::vector<std::int64_t>> shards);
  ~Lab();

  // Runs one round and returns its metrics.
  Result<RoundMetrics> Step();

  // Runs until options.rounds or the target accuracy; calls `observer` after every round.
  Status Run(const std::function<void(const RoundMetrics&)>& observer);

  std::int64_t round() const { return round_; }
  // The average model x_bar.
  std::vector<float> AverageModel() const;
  const GossipAlgorithm& node(int i) const;

 private:
  struct VirtualNode;
  Lab(const LabOptions& options, const Dataset& train, const Dataset& test);

  LabOptions options_;
  const Dataset& train_;
  const Dataset& test_;
  std::vector<VirtualNode> nodes_;
  std::vector<std::vector<int>> neighbours_;
  std::unique_ptr<Model> eval_model_;
  Rng straggler_rng_;
  std::int64_t round_ = 0;
  double cumulative_bits_ = 0;
};

}  // namespace sotto::algo
