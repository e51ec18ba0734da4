#pragma once

// GossipAlgorithm: one node's view of a decentralised training algorithm, as a pure
// state machine (no sockets, threads or clocks). One round at node i:
//
//   algo.LocalStep(oracle, round);          // SGD (and prox) on the local model
//   bytes = algo.message();                  // send to every neighbour
//   algo.Absorb(j, bytes_j) for each j;      // neighbours' messages, any order
//   algo.Mix();                              // consensus step
//
// Implementations: D-PSGD (dpsgd.h), CHOCO-SGD and MALCOM-PSGD (compressed_gossip.h).
// The same code runs in `sotto lab` and in the daemon.
//
// Thread safety: not thread-safe; the caller serialises all calls.

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/ids.h"
#include "common/status.h"

namespace sotto::algo {

// Computes the smooth loss and its gradient at `x` on the node's next mini-batch
// (the sampler advances on every call). Returns the batch loss.
using GradientOracle = std::function<double(std::span<const float> x, std::span<float> grad)>;

// This node's row of the mixing matrix W: w_ii and w_ij for each neighbour j.
struct NeighbourWeights {
  double self = 1.0;
  std::vector<std::pair<PeerId, double>> neighbours;
};

enum class LearningRateSchedule {
  kConstant,     // eta_t = eta_0 (the MALCOM paper's experiments).
  kInverseSqrt,  // eta_t = eta_0 / sqrt(t + 1) (its theory).
};

enum class ProxOrder {
  kBeforeCompression,  // Compress x^{t+1/2} - x_hat (dense SGD step), prox after mixing: the paper.
  kAfterCompression,   // Prox the SGD step first, then compress the (sparse) residual and mix.
};

// How a compressor's output is scaled before gossip.
enum class CompressionScale {
  kAuto,  // 1 / (1 + omega) for unbiased compressors (contractive then), 1 otherwise.
  kNone,  // As the compressor produces it.
};

// Options of every gossip algorithm; unused fields are ignored by the simpler ones.
struct GossipOptions {
  // "dpsgd", "choco" or "malcom".
  std::string algorithm = "malcom";
  // eta_0, the SGD step size.
  double learning_rate = 0.1;
  LearningRateSchedule schedule = LearningRateSchedule::kConstant;
  // gamma, the consensus step of CHOCO / MALCOM (1 for exact averaging).
  double consensus_step = 0.5;
  // How SetCompressor moves gamma with the compressor's contraction delta:
  // gamma = gamma_0 * (delta / delta_0)^exponent, at most max(gamma_0,
  // consensus_step_max) (0: never above gamma_0) and at most 1.
  double consensus_step_exponent = 0.7;
  double consensus_step_max = 0.0;
  // lambda of the l1 term; MALCOM applies prox_{eta lambda ||.||_1}. 0 disables it.
  double l1 = 0.0;
  ProxOrder prox_order = ProxOrder::kBeforeCompression;
  // Compressor spec (coding/compressor.h) for CHOCO / MALCOM; D-PSGD sends raw floats.
  std::string compressor = "dither:s=16";
  CompressionScale scale = CompressionScale::kAuto;
  // Heavy-ball momentum beta in [0, 1); 0 disables it (and its buffer).
  double momentum = 0.0;
  // Seeds the dither: element j of round t from node i uses Philox(seed, t, i, j).
  std::uint64_t seed = 1;
  // Compressed gossip: one public copy per link instead of one per node, so each link
  // can carry its own compressor (SetLinkCompressor; adaptive compression per link).
  // Node i keeps x_hat_{i->j} (what j holds of it) and x_hat_{j->i} for every
  // neighbour j, sends j the residual q_ij = C_ij(x_i - x_hat_{i->j}), and mixes
  //   x_i += sum_j gamma_ij w_ij (x_hat_{j->i} - x_hat_{i->j}),
  // which keeps the average for symmetric W and gamma_ij = gamma_ji. Memory: 3 + 2 x
  // degree model vectors (the per-node form: 3 + degree); compression: one per link.
  bool per_link = false;
};

Result<LearningRateSchedule> ParseLearningRateSchedule(std::string_view name);
Result<ProxOrder> ParseProxOrder(std::string_view name);

// The vectors that make up one node's algorithm state, for checkpoints and for a
// newcomer that copies a neighbour. Vectors an algorithm does not keep are empty.
struct AlgorithmState {
  std::vector<float> model;        // x_i.
  std::vector<float> public_copy;  // x_hat_i (compressed gossip).
  std::vector<float> mixed;        // s_i = sum_j w_ij x_hat_j (compressed gossip).
  std::vector<float> velocity;     // Momentum buffer.
};

class GossipAlgorithm {
 public:
  virtual ~GossipAlgorithm() = default;

  virtual std::string name() const = 0;
  // The local model x_i.
  virtual std::span<const float> model() const = 0;
  // Sets x_i (initialisation, checkpoint restore). Public copies stay as they are.
  virtual void SetModel(std::span<const float> x) = 0;
  // Replaces this node's mixing weights (membership change). Compressed gossip keeps
  // its copy of each neighbour's public model x_hat_j, so for neighbours that stay it
  // recomputes s_i = w_ii x_hat_i + sum_j w_ij x_hat_j exactly. A new neighbour's
  // copy is unknown: it starts as x_hat_i (treated as equal to our own) and follows
  // the neighbour's later messages, so the difference x_hat_j - x_hat_i at the moment
  // of the change stays in that copy as an offset until the link is re-made.
  // (Without copies, re-basing s_i := x_hat_i would freeze the whole neighbourhood's
  // disagreement into s_i for good.)
  virtual void SetWeights(NeighbourWeights weights) = 0;

  // Whether a message for an earlier round must still be absorbed (compressed
  // gossip: every residual must reach every copy exactly once) or is stale and must
  // be dropped (D-PSGD: it mixes the models of the current round only).
  virtual bool AbsorbsLateMessages() const = 0;

  // The state to checkpoint, or to hand to a newcomer.
  virtual AlgorithmState SaveState() const = 0;
  // Restores a saved state; kInvalidArgument when a vector has the wrong size.
  // Empty vectors in `state` leave that part as it is (public_copy and mixed are
  // then set to what a fresh join needs: x_hat = mixed = given public copy or model).
  virtual Status LoadState(const AlgorithmState& state) = 0;

  // The local computation of `round`: gradient step(s) through `oracle`, then the
  // message for the neighbours is prepared. Returns the batch loss.
  virtual Result<double> LocalStep(const GradientOracle& oracle, RoundId round) = 0;
  // The bytes to send to every neighbour for the last LocalStep. Its size is exactly
  // what crosses the wire (per neighbour).
  virtual std::span<const std::uint8_t> message() const = 0;
  // A neighbour's message. Malformed bytes return kCorrupted and change nothing.
  virtual Status Absorb(PeerId from, std::span<const std::uint8_t> bytes) = 0;
  // The consensus step, after the neighbours' messages of this round (or a deadline).
  virtual void Mix() = 0;

  // Switches the compressor for the next LocalStep (adaptive compression). Messages
  // are self-describing, so receivers need not know. Compressed gossip also moves its
  // consensus step with the compressor's contraction delta: gamma = gamma_0 *
  // (delta / delta_0)^e, capped at max(gamma_0, consensus_step_max) and 1, where
  // gamma_0 and delta_0 are those of the configured compressor and e is
  // consensus_step_exponent (CHOCO's admissible gamma grows with delta -- linearly in
  // its analysis, about as delta^0.7 measured on non-iid Fashion-MNIST; a fixed gamma
  // tuned for top-1 % drives the models apart at top-0.1 %, and wastes top-20 %).
  // kInvalidArgument for a bad spec; also for algorithms that send raw models (D-PSGD).
  virtual Status SetCompressor(const std::string& spec) {
    return InvalidArgument(name() + " sends raw models: no compressor to change (to " + spec + ")");
  }
  // The consensus step neighbour `peer` mixes with (it announces it; adaptive
  // compression moves each node's own). Compressed gossip then mixes the link with
  // gamma_ij = min(gamma_i, gamma_j), the same at both ends, so the mesh's average
  // stays what it was (with a gamma per node, x_i += gamma_i sum_j w_ij (x_hat_j -
  // x_hat_i) preserves the average weighted by 1 / gamma_i instead, and under non-iid
  // data every change of a node's gamma shifts the optimum the mesh is heading for).
  // A value outside (0, 1] forgets peer's step (the link mixes with gamma_i again).
  // No effect for algorithms that average exactly.
  virtual void SetNeighbourStep(PeerId peer, double gamma) {
    (void)peer;
    (void)gamma;
  }
  // The consensus step gamma in use (1 for algorithms that average exactly), and the
  // contraction delta of the compressor in use (1: exact).
  virtual double consensus_step() const { return 1.0; }
  virtual double compressor_delta() const { return 1.0; }

  // Per-link compression (GossipOptions::per_link). Whether this node sends each
  // neighbour its own message; then link_message(peer) is what to send `peer` after
  // LocalStep (otherwise it is message()).
  virtual bool per_link() const { return false; }
  virtual std::span<const std::uint8_t> link_message(PeerId peer) const {
    (void)peer;
    return message();
  }
  // Switches the compressor of the link to `peer` only, from the next LocalStep, and
  // that link's consensus step with its contraction as SetCompressor does for the node
  // (SetCompressor sets every link back to the node's compressor). kInvalidArgument for
  // a bad spec, a non-neighbour, or an algorithm that does not compress per link.
  virtual Status SetLinkCompressor(PeerId peer, const std::string& spec) {
    (void)peer;
    return InvalidArgument(name() + " does not compress per link (to " + spec + ")");
  }
  // The consensus step this node announces on the link to `peer` (that link's; the
  // node's own without per-link compression), and the link's compressor's delta.
  virtual double link_consensus_step(PeerId peer) const {
    (void)peer;
    return consensus_step();
  }
  virtual double link_compressor_delta(PeerId peer) const {
    (void)peer;
    return compressor_delta();
  }

  // Compressed gossip: this node's copy of neighbour `peer`'s public model x_hat_j
  // (empty for a non-neighbour, or for algorithms without copies), and its own x_hat_i.
  virtual std::span<const float> NeighbourCopy(PeerId peer) const {
    (void)peer;
    return {};
  }
  virtual std::span<const float> PublicCopy() const { return {}; }
  // What neighbour `peer` holds of this node: x_hat_{i->peer} with per-link
  // compression, PublicCopy() otherwise (empty for a non-neighbour then).
  virtual std::span<const float> LinkPublicCopy(PeerId peer) const {
    (void)peer;
    return PublicCopy();
  }
  // Replaces the copy of neighbour `peer`'s x_hat_j by `copy` (the neighbour's own, sent
  // when the link was made, so the copy is exact instead of a stand-in) and recomputes
  // s_i. kInvalidArgument for a non-neighbour, a wrong size, or an algorithm without copies.
  virtual Status SetNeighbourCopy(PeerId peer, std::span<const float> copy) {
    (void)copy;
    return InvalidArgument(name() + " keeps no copies of its neighbours (peer " +
                           std::to_string(peer.value()) + ")");
  }
};

// Builds the algorithm named in `options` for a model of `dimension` parameters at
// node `self` with mixing weights `weights`. kInvalidArgument for bad options.
Result<std::unique_ptr<GossipAlgorithm>> MakeGossipAlgorithm(const GossipOptions& options,
                                                             PeerId self, std::int64_t dimension,
                                                             NeighbourWeights weights);

// eta_t for round t.
double LearningRateAt(const GossipOptions& options, std::uint64_t round);

}  // namespace sotto::algo
