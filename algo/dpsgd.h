#pragma once

// D-PSGD (Lian et al. 2017), the uncompressed baseline:
//   x_i <- sum_j w_ij x_j - eta g_i,   g_i the gradient at x_i.
// The message is the model as raw little-endian float32 after an 8-byte header
// ("SDP1" magic, then the dimension as uint32). A neighbour that did not deliver
// this round has its weight moved onto x_i (mix with what arrived).
// Memory: x_i, the running mix, the gradient, the message.

#include <unordered_set>
#include <vector>

#include "algo/gossip_algorithm.h"

namespace sotto::algo {

class Dpsgd final : public GossipAlgorithm {
 public:
  Dpsgd(const GossipOptions& options, PeerId self, std::int64_t dimension, NeighbourWeights weights);

  std::string name() const override { return "dpsgd"; }
  std::span<const float> model() const override { return x_; }
  void SetModel(std::span<const float> x) override;
  void SetWeights(NeighbourWeights weights) override { weights_ = std::move(weights); }
  bool AbsorbsLateMessages() const override { return false; }
  AlgorithmState SaveState() const override;
  Status LoadState(const AlgorithmState& state) override;
  Result<double> LocalStep(const GradientOracle& oracle, RoundId round) override;
  std::span<const std::uint8_t> message() const override { return message_; }
  Status Absorb(PeerId from, std::span<const std::uint8_t> bytes) override;
  void Mix() override;

 private:
  GossipOptions options_;
  PeerId self_;
  NeighbourWeights weights_;
  std::vector<float> x_;
  std::vector<float> mix_;   // w_ii x_i - eta g + sum of arrived w_ij x_j.
  std::vector<float> grad_;
  std::vector<std::uint8_t> message_;
  double arrived_weight_ = 0;
  std::unordered_set<PeerId> arrived_;
  bool stepped_ = false;
};

}  // namespace sotto::algo
