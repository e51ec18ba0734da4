#pragma once

// Gradient codes for straggler tolerance (ALGORITHMS.md §6, COCO-EF): which data
// parts each node holds (redundancy s: every part is held by s + 1 nodes) and the
// decoding weights the aggregator applies to the coded gradients that arrived.
// Pure: no I/O, no randomness (the straggler draw is the caller's).

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace sotto::algo {

enum class GradientCodeScheme {
  // Node i holds parts i, i+1, ..., i+s (mod n).
  kCyclic,
  // Nodes form n/(s+1) groups of s+1 consecutive nodes; every member of group g
  // holds the same s+1 parts g(s+1) .. g(s+1)+s. Requires (s+1) | n.
  kFractionalRepetition,
};

enum class DecodingRule {
  // w_i = 1 / ((s+1)(1-p)) for every node that arrived: unbiased for any
  // assignment in which every part is held by exactly s+1 nodes.
  kFixed,
  // Fractional repetition only: a group reached by k >= 1 members counts once,
  // each arrival weighted 1 / (k (1 - p^(s+1))); exact when no group is lost.
  kGroup,
};

Result<GradientCodeScheme> ParseGradientCodeScheme(std::string_view name);  // cyclic, fr
Result<DecodingRule> ParseDecodingRule(std::string_view name);              // fixed, group

// The assignment of n parts to n nodes with redundancy s, with coefficients
// a_ik = 1 (a node sends the plain sum of its parts' gradients).
//
//   auto code = GradientCode::Create(20, 2, GradientCodeScheme::kCyclic);
//   for k in code->parts(i): c_i += grad_k(x);          // at node i
//   w = code->DecodingWeights(arrived, p, rule);         // at the aggregator
//   estimate of sum_k grad_k(x) = sum_i w[i] * c_i
//
// A plain value; thread-safe for const use.
class GradientCode {
 public:
  // Errors: kInvalidArgument unless 1 <= nodes, 0 <= redundancy < nodes, and for
  // fractional repetition (redundancy + 1) divides nodes.
  static Result<GradientCode> Create(int nodes, int redundancy, GradientCodeScheme scheme);

  int nodes() const { return nodes_; }
  int redundancy() const { return redundancy_; }
  GradientCodeScheme scheme() const { return scheme_; }

  // The parts node i holds (s+1 of them). Requires 0 <= node < nodes().
  const std::vector<int>& parts(int node) const { return parts_[static_cast<std::size_t>(node)]; }

  // Decoding weights for one round: w[i] = 0 for nodes that did not arrive. With
  // independent stragglers of probability p, E[sum_i w_i c_i] = sum_k grad_k.
  // Errors: kInvalidArgument if arrived.size() != nodes(), p is outside [0, 1),
  // or kGroup is asked of a cyclic code.
  Result<std::vector<double>> DecodingWeights(std::span<const std::uint8_t> arrived,
                                              double straggler_probability, DecodingRule rule) const;

 private:
  GradientCode(int nodes, int redundancy, GradientCodeScheme scheme,
               std::vector<std::vector<int>> parts)
      : nodes_(nodes), redundancy_(redundancy), scheme_(scheme), parts_(std::move(parts)) {}

  int nodes_;
  int redundancy_;
  GradientCodeScheme scheme_;
  std::vector<std::vector<int>> parts_;
};

}  // namespace sotto::algo
