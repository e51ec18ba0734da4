#pragma once

// FederatedLab: the aggregator-based (star) methods of ALGORITHMS.md §4-§6 run side
// by side in one process: n virtual nodes send compressed messages to one
// aggregating server, which updates the model and broadcasts it. Synchronous
// rounds, exact and deterministic given the seed (no clocks, no threads).
//
//   §4 random reshuffling: Q-RR, DIANA-RR, Q-NASTYA, DIANA-NASTYA and the baselines
//      QSGD, DIANA, NASTYA, FedCOM/FedPAQ-style local steps (Sadiev et al. 2022);
//   §5 EF, EF21 with contractive compressors, DCGD/DIANA with the induced
//      compressor (Horvath & Richtarik 2021), all with partial participation;
//   §6 COCO-EF: gradient codes + biased compression + error feedback, stragglers.
//
// Bits are counted exactly from the compressor's bytes (bytes.size() * 8), uplink
// only; the downlink (the server's fp32 broadcast of x to the participants) is
// reported separately and is the same for every method.
//
// Thread safety: not thread-safe.

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <Eigen/Core>

#include "algo/dataset.h"
#include "algo/federated_order.h"
#include "algo/gradient_code.h"
#include "algo/model.h"
#include "coding/compressor.h"
#include "common/random.h"
#include "common/status.h"

namespace sotto::algo {

enum class FederatedMethod {
  // §4, one step per round. gamma = step size.
  kQsgd,     // x -= gamma mean_i Q(grad f_ik(x)), components drawn with replacement.
  kDiana,    // DIANA (Mishchenko et al. 2019): one shift h_i per node, with replacement.
  kQrr,      // Q-RR: as QSGD, components in a fresh permutation each epoch.
  kDianaRr,  // DIANA-RR: one shift per local component, reshuffled.
  // §4, one local epoch per round; gamma = local step, eta = global step.
  kNastya,       // uncompressed (identity codec).
  kQNastya,      // Q(g_i), g_i = (x - x_i^m) / (gamma m).
  kDianaNastya,  // h_i + Q(g_i - h_i), one shift per node.
  kFedCom,       // FedCOM/FedPAQ-style: Q-NASTYA with local steps drawn with replacement.
  // §5 full or mini-batch gradient methods.
  kDcgd,  // x -= gamma mean_i Q(grad f_i(x)) (QSGD with the whole shard as one component).
  kEf,    // Error feedback: p_i = gamma g_i + e_i; send C(p_i); e_i = p_i - C(p_i).
  kEf21,  // EF21 (Richtarik et al. 2021): g_i += C(grad f_i - g_i); x -= gamma mean g_i.
  // §6 gradient coding with stragglers.
  kCocoEf,         // coded gradients + error feedback + (biased) compressor.
  kCodedUnbiased,  // coded gradients + unbiased compressor, no error feedback.
};

Result<FederatedMethod> ParseFederatedMethod(std::string_view name);
std::string_view FederatedMethodName(FederatedMethod method);

// What to do when alpha exceeds the theory's bound 1 / (1 + omega).
enum class AlphaCheck { kError, kWarn };

struct FederatedOptions {
  FederatedMethod method = FederatedMethod::kDianaRr;
  // Number of nodes (each holds one shard).
  int nodes = 20;
  // Communication rounds to run (one uplink message per participating node per round).
  std::int64_t rounds = 1000;
  // Seeds everything: sampling orders, participation, stragglers, compressor randomness.
  std::uint64_t seed = 1;
  // coding/ compressor spec. Unbiased methods (QSGD, DIANA*, Q-*, FedCOM, DCGD,
  // coded-unbiased) need an unbiased one; EF / EF21 / COCO-EF take contractive ones
  // (an unbiased one is scaled by 1 / (1 + omega) there). NASTYA ignores it (identity).
  std::string compressor = "randk:0.1";
  // gamma: the step of every gradient step taken (the local step in NASTYA methods).
  double gamma = 0.1;
  // eta: the server's global step in the NASTYA family and FedCOM.
  double eta = 0.1;
  // alpha: the DIANA shift step; < 0 means the theory's 1 / (1 + omega).
  double alpha = -1;
  AlphaCheck alpha_check = AlphaCheck::kError;
  // Samples per local component (mini-batch); 0: the whole shard is one component
  // (full local gradients). Components are fixed; only their order is random.
  std::int64_t batch_size = 1;
  // Probability that a node takes part in a round (partial participation); the
  // server's estimate is scaled by 1 / (n q) so it stays unbiased.
  double participation = 1.0;
  // COCO-EF: per-round straggler probability p, redundancy s, code and decoding.
  double straggler_probability = 0.0;
  int redundancy = 1;
  GradientCodeScheme code = GradientCodeScheme::kCyclic;
  DecodingRule decoding = DecodingRule::kFixed;
  // Model spec for MakeModel and its l2 coefficient (the problem's regulariser).
  std::string model = "softmax";
  double l2 = 1e-3;
  // Evaluate f(x) and ||grad f(x)||^2 on the training set every this many rounds.
  std::int64_t eval_every = 10;
  // Evaluate test accuracy too at those rounds.
  bool eval_test = true;
  // Stop once ||grad f(x)||^2 / ||grad f(x_0)||^2 <= this (0: never stop early).
  double target_relative_grad_sq = 0;
};

// Metrics of one round; fields not evaluated this round are NaN.
struct FederatedRoundMetrics {
  std::int64_t round = 0;  // 1-based.
  double epoch = 0;        // Data passes: samples whose gradient was computed / training samples.
  double loss = std::numeric_limits<double>::quiet_NaN();          // f(x), training set, with l2.
  double grad_norm_sq = std::numeric_limits<double>::quiet_NaN();  // ||grad f(x)||^2.
  double relative_grad_norm_sq = std::numeric_limits<double>::quiet_NaN();
  double test_accuracy = std::numeric_limits<double>::quiet_NaN();
  // Mean over this round's messages of ||decoded - input||^2: the compression
  // error (for DIANA-type methods it vanishes at the optimum as the shifts learn).
  double compression_error = 0;
  double uplink_bits = 0;                     // All messages this round.
  double cumulative_uplink_bits_per_node = 0;  // Sum of uplink bits / n.
  double cumulative_downlink_bits_per_node = 0;  // fp32 broadcasts, not in the uplink counts.
  int active_nodes = 0;                        // Participants (not stragglers).
};

class FederatedLab {
 public:
  // `shards[i]` lists the rows of `train` node i holds (for COCO-EF: data part i).
  // `train` and `test` must outlive the lab. Errors: kInvalidArgument for bad
  // options (with the key's name), a compressor of the wrong class, or alpha above
  // 1 / (1 + omega) with AlphaCheck::kError.
  static Result<std::unique_ptr<FederatedLab>> Create(const FederatedOptions& options, const Dataset& train,
                                                      const Dataset& test,
                                                      std::vector<std::vector<std::int64_t>> shards);
  ~FederatedLab();

  // Runs one round.
  Result<FederatedRoundMetrics> Step();
  // Runs until options.rounds or the target; calls `observer` after every round.
  Status Run(const std::function<void(const FederatedRoundMetrics&)>& observer);

  const std::vector<float>& model() const { return x_; }
  std::int64_t round() const { return round_; }
  // The shift step in use and the compressor's omega for the model's dimension.
  double alpha() const { return alpha_; }
  double omega() const { return omega_; }
  // Warnings from Create (e.g. alpha above its bound with AlphaCheck::kWarn).
  const std::vector<std::string>& warnings() const { return warnings_; }
  // How many times each training row's gradient has been computed so far.
  const std::vector<std::int64_t>& sample_visits() const { return visits_; }
  // Mean over nodes of how many shift vectors a node keeps (DIANA-RR: one per component).
  double shifts_per_node() const;

 private:
  struct Node;
  FederatedLab(const FederatedOptions& options, const Dataset& train, const Dataset& test);
  Status Init(std::vector<std::vector<std::int64_t>> shards);
  // grad of the mean loss over `rows` at `params` into grad_; counts visits.
  void Gradient(std::span<const float> params, std::span<const std::int64_t> rows);
  // Compresses `in` for node i: bytes counted, decoded into `out`.
  Status Compress(int node, const Eigen::VectorXf& in, float scale, Eigen::VectorXf* out);
  void Evaluate(FederatedRoundMetrics* m);

  FederatedOptions options_;
  const Dataset& train_;
  const Dataset& test_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<coding::Compressor> compressor_;
  float compress_scale_ = 1.0f;  // 1 / (1 + omega) for an unbiased compressor under EF.
  // part_components_[k][c]: the rows of component (mini-batch) c of data part k.
  std::vector<std::vector<std::vector<std::int64_t>>> part_components_;
  std::vector<Node> nodes_;
  std::vector<float> x_;
  std::int64_t dim_ = 0;
  double alpha_ = 0;
  double omega_ = 0;
  std::vector<std::string> warnings_;
  std::vector<std::int64_t> visits_;
  std::vector<std::int64_t> all_rows_;
  std::unique_ptr<GradientCode> code_;
  Rng server_rng_;
  Eigen::VectorXf grad_;            // Scratch gradient.
  Eigen::VectorXf server_state_;    // DIANA: mean shift; EF21: mean g_i.
  std::vector<std::uint8_t> bytes_;  // Scratch message.
  std::int64_t round_ = 0;
  double samples_computed_ = 0;
  double cumulative_uplink_bits_ = 0;
  double cumulative_downlink_bits_ = 0;
  double round_bits_ = 0;
  double round_error_ = 0;
  int round_messages_ = 0;
  double initial_grad_norm_sq_ = 0;
};

// Minimises the mean training loss of `model` over `rows` (all of `data` if empty)
// by full-gradient descent with Armijo backtracking, from zero: the reference
// optimum x* and f* for tests and benchmarks. Stops after `max_iterations` or when
// ||grad||^2 <= grad_tolerance_sq.
struct ReferenceOptimum {
  std::vector<float> x;
  double loss = 0;
  double grad_norm_sq = 0;
  std::int64_t iterations = 0;
};
ReferenceOptimum MinimizeFullBatch(Model& model, const Dataset& data, std::int64_t max_iterations,
                                   double grad_tolerance_sq);

}  // namespace sotto::algo
