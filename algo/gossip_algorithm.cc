#include "algo/gossip_algorithm.h"

#include <cmath>

#include "algo/compressed_gossip.h"
#include "algo/dpsgd.h"

namespace sotto::algo {

Result<LearningRateSchedule> ParseLearningRateSchedule(std::string_view name) {
  if (name == "constant") return LearningRateSchedule::kConstant;
  if (name == "inverse-sqrt" || name == "sqrt") return LearningRateSchedule::kInverseSqrt;
  return InvalidArgument("unknown learning-rate schedule '" + std::string(name) +
                         "' (want constant or inverse-sqrt)");
}

Result<ProxOrder> ParseProxOrder(std::string_view name) {
  if (name == "before") return ProxOrder::kBeforeCompression;
  if (name == "after") return ProxOrder::kAfterCompression;
  return InvalidArgument("unknown prox order '" + std::string(name) + "' (want before or after)");
}

double LearningRateAt(const GossipOptions& options, std::uint64_t round) {
  if (options.schedule == LearningRateSchedule::kInverseSqrt) {
    return options.learning_rate / std::sqrt(static_cast<double>(round) + 1.0);
  }
  return options.learning_rate;
}

Result<std::unique_ptr<GossipAlgorithm>> MakeGossipAlgorithm(const GossipOptions& options,
                                                             PeerId self, std::int64_t dimension,
                                                             NeighbourWeights weights) {
  if (dimension <= 0) return InvalidArgument("algorithm: model has no parameters");
  if (!(options.learning_rate > 0)) return InvalidArgument("learning_rate must be > 0");
  if (!(options.momentum >= 0 && options.momentum < 1)) {
    return InvalidArgument("momentum must be in [0, 1)");
  }
  if (!(options.l1 >= 0)) return InvalidArgument("l1 must be >= 0");
  double sum = weights.self;
  for (const auto& [peer, w] : weights.neighbours) {
    if (!(w >= 0))
      return InvalidArgument("mixing weight of peer " + std::to_string(peer.value()) +
                             " is negative");
    sum += w;
  }
  if (std::abs(sum - 1.0) > 1e-6) {
    return InvalidArgument("mixing weights of peer " + std::to_string(self.value()) + " sum to " +
                           std::to_string(sum) + ", want 1");
  }
  if (options.algorithm == "dpsgd") {
    return std::unique_ptr<GossipAlgorithm>(
        new Dpsgd(options, self, dimension, std::move(weights)));
  }
  if (options.algorithm == "choco" || options.algorithm == "malcom") {
    if (!(options.consensus_step > 0 && options.consensus_step <= 1)) {
      return InvalidArgument("consensus_step (gamma) must be in (0, 1]");
    }
    if (!(options.consensus_step_exponent >= 0 && options.consensus_step_exponent <= 2)) {
      return InvalidArgument("consensus_step_exponent must be in [0, 2]");
    }
    if (!(options.consensus_step_max >= 0 && options.consensus_step_max <= 1)) {
      return InvalidArgument(
          "consensus_step_max must be in [0, 1] (0: never above consensus_step)");
    }
    if (options.algorithm == "choco" && options.l1 > 0) {
      return InvalidArgument("choco has no prox step: set l1 = 0 or use malcom");
    }
    return CompressedGossip::Create(options, self, dimension, std::move(weights));
  }
  return InvalidArgument("unknown algorithm '" + options.algorithm +
                         "' (want dpsgd, choco or malcom)");
}

}  // namespace sotto::algo
