#include "algo/gradient_code.h"

#include <cmath>
#include <string>
#include <utility>

namespace sotto::algo {

Result<GradientCodeScheme> ParseGradientCodeScheme(std::string_view name) {
  if (name == "cyclic") return GradientCodeScheme::kCyclic;
  if (name == "fr" || name == "fractional-repetition") return GradientCodeScheme::kFractionalRepetition;
  return InvalidArgument("gradient code: want cyclic or fr, got '" + std::string(name) + "'");
}

Result<DecodingRule> ParseDecodingRule(std::string_view name) {
  if (name == "fixed") return DecodingRule::kFixed;
  if (name == "group") return DecodingRule::kGroup;
  return InvalidArgument("decoding: want fixed or group, got '" + std::string(name) + "'");
}

Result<GradientCode> GradientCode::Create(int nodes, int redundancy, GradientCodeScheme scheme) {
  if (nodes < 1) return InvalidArgument("gradient code: need at least one node");
  if (redundancy < 0 || redundancy >= nodes) {
    return InvalidArgument("gradient code: redundancy s = " + std::to_string(redundancy) +
                           " must be in [0, nodes) = [0, " + std::to_string(nodes) + ")");
  }
  const int copies = redundancy + 1;
  if (scheme == GradientCodeScheme::kFractionalRepetition && nodes % copies != 0) {
    return InvalidArgument("gradient code: fractional repetition needs s + 1 = " + std::to_string(copies) +
                           " to divide the node count " + std::to_string(nodes));
  }
  std::vector<std::vector<int>> parts(static_cast<std::size_t>(nodes));
  for (int i = 0; i < nodes; ++i) {
    const int first = scheme == GradientCodeScheme::kCyclic ? i : (i / copies) * copies;
    for (int t = 0; t < copies; ++t) parts[static_cast<std::size_t>(i)].push_back((first + t) % nodes);
  }
  return GradientCode(nodes, redundancy, scheme, std::move(parts));
}

Result<std::vector<double>> GradientCode::DecodingWeights(std::span<const std::uint8_t> arrived,
                                                          double straggler_probability,
                                                          DecodingRule rule) const {
  if (arrived.size() != static_cast<std::size_t>(nodes_)) {
    return InvalidArgument("decoding weights: " + std::to_string(arrived.size()) + " arrival flags for " +
                           std::to_string(nodes_) + " nodes");
  }
  const double p = straggler_probability;
  if (!(p >= 0 && p < 1)) return InvalidArgument("decoding weights: straggler probability must be in [0, 1)");
  const int copies = redundancy_ + 1;
  std::vector<double> w(arrived.size(), 0.0);
  if (rule == DecodingRule::kFixed) {
    const double weight = 1.0 / (copies * (1.0 - p));
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = arrived[i] != 0 ? weight : 0.0;
    return w;
  }
  if (scheme_ != GradientCodeScheme::kFractionalRepetition) {
    return InvalidArgument("decoding weights: the group rule needs a fractional-repetition code");
  }
  // P(group reached) = 1 - p^(s+1); one group's sum counted once per arrival set.
  const double reach = 1.0 - std::pow(p, copies);
  for (int g = 0; g < nodes_ / copies; ++g) {
    int k = 0;
    for (int t = 0; t < copies; ++t) k += arrived[static_cast<std::size_t>(g * copies + t)] != 0 ? 1 : 0;
    if (k == 0) continue;
    for (int t = 0; t < copies; ++t) {
      const auto i = static_cast<std::size_t>(g * copies + t);
      if (arrived[i] != 0) w[i] = 1.0 / (k * reach);
    }
  }
  return w;
}

}  // namespace sotto::algo
