#pragma once

// CompressedGossip: CHOCO-SGD (Koloskova et al. 2019) and MALCOM-PSGD (Campbell et
// al. 2023) as one state machine; ALGORITHMS.md §3.
//
//   x^{t+1/2} = x^t - eta_t g                       (SGD; with prox here when kAfterCompression)
//   q = scale * C(x^{t+1/2} - x_hat_i); send bytes(q)
//   x_hat_j += q_j for j in N(i) and i
//   z = x^{t+1/2} + gamma (sum_j w_ij x_hat_j - x_hat_i)
//   x^{t+1} = prox_{eta_t lambda ||.||_1}(z)        (MALCOM, kBeforeCompression; none for CHOCO)
//
// Memory: x_i, x_hat_i, s_i = sum_j w_ij x_hat_j and this node's copy of every
// neighbour's x_hat_j (3 + degree model vectors), plus two scratch vectors for the
// codec. The copies let SetWeights() recompute s_i exactly for the neighbours that
// stay; a new neighbour's copy starts as x_hat_i (see GossipAlgorithm::SetWeights).

#include <memory>
#include <unordered_map>
#include <vector>

#include "algo/gossip_algorithm.h"
#include "coding/compressor.h"

namespace sotto::algo {

// The consensus step after a compressor change (GossipAlgorithm::SetCompressor):
// gamma0 * (delta / delta0)^exponent, capped at max(gamma0, max_step) and 1; gamma0
// when either delta is not positive.
double ScaledConsensusStep(double gamma0, double delta0, double delta, double exponent,
                           double max_step);

class CompressedGossip final : public GossipAlgorithm {
 public:
  static Result<std::unique_ptr<GossipAlgorithm>> Create(const GossipOptions& options, PeerId self,
                                                         std::int64_t dimension,
                                                         NeighbourWeights weights);

  std::string name() const override { return options_.algorithm; }
  std::span<const float> model() const override { return x_; }
  void SetModel(std::span<const float> x) override { x_.assign(x.begin(), x.end()); }
  void SetWeights(NeighbourWeights weights) override;
  bool AbsorbsLateMessages() const override { return true; }
  AlgorithmState SaveState() const override;
  Status LoadState(const AlgorithmState& state) override;
  Result<double> LocalStep(const GradientOracle& oracle, RoundId round) override;
  std::span<const std::uint8_t> message() const override { return message_; }
  Status Absorb(PeerId from, std::span<const std::uint8_t> bytes) override;
  void Mix() override;
  Status SetCompressor(const std::string& spec) override;
  void SetNeighbourStep(PeerId peer, double gamma) override;
  double consensus_step() const override { return options_.consensus_step; }
  double compressor_delta() const override { return compressor_->Delta(x_.size()); }
  std::span<const float> NeighbourCopy(PeerId peer) const override;
  std::span<const float> PublicCopy() const override { return x_hat_; }
  Status SetNeighbourCopy(PeerId peer, std::span<const float> copy) override;

  // The scale applied to the compressor's output (1 / (1 + omega) or 1).
  float scale() const { return scale_; }

 private:
  CompressedGossip(const GossipOptions& options, PeerId self, std::int64_t dimension,
                   NeighbourWeights weights, std::unique_ptr<coding::Compressor> compressor);
  void IndexWeights(NeighbourWeights weights);  // Sets weights_, weight_of_ and copies_.
  void Recompute();                             // mixed_ from x_hat_ and copies_.
  void UpdateScale();                           // scale_ for compressor_.

  GossipOptions options_;
  PeerId self_;
  NeighbourWeights weights_;
  std::unordered_map<PeerId, float> weight_of_;
  std::unordered_map<PeerId, std::vector<float>> copies_;  // x_hat_j as absorbed here.
  std::unordered_map<PeerId, double> neighbour_step_;  // gamma_j as announced (SetNeighbourStep).
  std::unique_ptr<coding::Compressor> compressor_;
  float scale_ = 1.0f;
  double base_consensus_step_ = 0;  // gamma_0 and delta_0 of the configured compressor,
  double base_delta_ = 0;           // for SetCompressor.
  coding::DecodeLimits limits_;
  std::vector<float> x_;
  std::vector<float> x_hat_;     // This node's public copy.
  std::vector<float> mixed_;     // s_i = sum_j w_ij x_hat_j, self included.
  std::vector<float> scratch_;   // Gradient, then residual.
  std::vector<float> velocity_;  // Momentum buffer (empty when momentum == 0).
  std::vector<std::uint8_t> message_;
  double eta_ = 0;
};

// prox of t*||.||_1: soft-thresholding, in place.
void SoftThreshold(std::span<float> x, float threshold);

}  // namespace sotto::algo
