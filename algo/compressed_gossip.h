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
//
// Per link (GossipOptions::per_link): x_hat_{i->j} per neighbour instead of x_hat_i,
// one residual per link, each with the link's own compressor (SetLinkCompressor):
//   q_ij = scale_ij * C_ij(x^{t+1/2} - x_hat_{i->j}); send bytes(q_ij) to j only
//   x_hat_{i->j} += q_ij;  x_hat_{j->i} += q_ji on receipt
//   z = x^{t+1/2} + sum_j gamma_ij w_ij (x_hat_{j->i} - x_hat_{i->j})
// with gamma_ij the smaller of the steps the two ends announce for the link. Every
// link's term appears with opposite signs at its two ends, so sum_i x_i is kept for
// symmetric W. A new link's x_hat_{i->j} and copy of x_hat_{j->i} start as x_hat_i
// would (zeros, or the loaded state; the daemon then exchanges the exact copies).
// Memory: 3 + 2 x degree model vectors (x_i, x_hat_i as that starting point, the pull).

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
  std::span<const float> PublicCopy() const override {
    return options_.per_link ? std::span<const float>() : std::span<const float>(x_hat_);
  }
  Status SetNeighbourCopy(PeerId peer, std::span<const float> copy) override;
  bool per_link() const override { return options_.per_link; }
  std::span<const std::uint8_t> link_message(PeerId peer) const override;
  Status SetLinkCompressor(PeerId peer, const std::string& spec) override;
  double link_consensus_step(PeerId peer) const override;
  double link_compressor_delta(PeerId peer) const override;
  std::span<const float> LinkPublicCopy(PeerId peer) const override;

  // The scale applied to the compressor's output (1 / (1 + omega) or 1).
  float scale() const { return scale_; }

 private:
  CompressedGossip(const GossipOptions& options, PeerId self, std::int64_t dimension,
                   NeighbourWeights weights, std::unique_ptr<coding::Compressor> compressor);
  void IndexWeights(NeighbourWeights weights);  // Sets weights_, weight_of_ and copies_.
  void Recompute();                             // mixed_ from x_hat_ and copies_.
  void UpdateScale();                           // scale_ for compressor_.
  float ScaleOf(const coding::Compressor& c) const;
  double StepOf(const coding::Compressor& c) const;  // ScaledConsensusStep for c.
  Status CompressPerLink(RoundId round);             // LocalStep's messages, per link.
  void MixPerLink();

  // One link of per-link compression.
  struct Link {
    std::vector<float> out;                          // x_hat_{i->j}: what j holds of us.
    std::unique_ptr<coding::Compressor> compressor;  // Null: compressor_.
    float scale = 1.0f;                              // scale_ of `compressor`.
    double step = 0;                                 // gamma of `compressor`.
    std::vector<std::uint8_t> message;
  };

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
  std::vector<float> x_hat_;  // This node's public copy (per link: unused).
  // s_i = sum_j w_ij x_hat_j, self included (per link: sum_j w_ij (x_hat_{j->i} -
  // x_hat_{i->j}), the pull of the links).
  std::vector<float> mixed_;
  std::unordered_map<PeerId, Link> links_;  // Per link only.
  std::vector<float> scratch_;              // Gradient, then residual.
  std::vector<float> velocity_;             // Momentum buffer (empty when momentum == 0).
  std::vector<std::uint8_t> message_;
  double eta_ = 0;
};

// prox of t*||.||_1: soft-thresholding, in place.
void SoftThreshold(std::span<float> x, float threshold);

}  // namespace sotto::algo
