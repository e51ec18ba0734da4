#pragma once

// FederatedOrder: the order in which a node visits its fixed local components
// (mini-batches) in the aggregator-based methods (ALGORITHMS.md §4): random
// reshuffling (a fresh permutation each epoch, without replacement) or i.i.d.
// draws with replacement. Pure and seeded.

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/random.h"
#include "common/status.h"

namespace sotto::algo {

enum class FederatedSampling {
  kReshuffle,        // Every component exactly once per epoch, fresh permutation each epoch.
  kWithReplacement,  // Each draw uniform over the components.
};

Result<FederatedSampling> ParseFederatedSampling(std::string_view name);  // reshuffle, replacement

// Not thread-safe.
class FederatedOrder {
 public:
  // Requires components >= 1.
  FederatedOrder(std::int64_t components, FederatedSampling sampling, Rng rng);

  // The next component index in [0, components).
  std::int64_t Next();

  // Draws completed (the epoch position is draws() % components()).
  std::int64_t draws() const { return draws_; }
  std::int64_t components() const { return static_cast<std::int64_t>(permutation_.size()); }

 private:
  FederatedSampling sampling_;
  Rng rng_;
  std::vector<std::int64_t> permutation_;
  std::size_t cursor_ = 0;
  std::int64_t draws_ = 0;
};

}  // namespace sotto::algo
