#include "algo/federated_order.h"

#include <numeric>
#include <string>

#include "common/check.h"

namespace sotto::algo {

Result<FederatedSampling> ParseFederatedSampling(std::string_view name) {
  if (name == "reshuffle") return FederatedSampling::kReshuffle;
  if (name == "replacement") return FederatedSampling::kWithReplacement;
  return InvalidArgument("sampling: want reshuffle or replacement, got '" + std::string(name) + "'");
}

FederatedOrder::FederatedOrder(std::int64_t components, FederatedSampling sampling, Rng rng)
    : sampling_(sampling), rng_(rng), permutation_(static_cast<std::size_t>(components)) {
  SOTTO_CHECK(components >= 1) << "FederatedOrder needs at least one component";
  std::iota(permutation_.begin(), permutation_.end(), std::int64_t{0});
  cursor_ = permutation_.size();  // Shuffle on the first draw.
}

std::int64_t FederatedOrder::Next() {
  ++draws_;
  if (sampling_ == FederatedSampling::kWithReplacement) {
    return static_cast<std::int64_t>(rng_.UniformInt(permutation_.size()));
  }
  if (cursor_ == permutation_.size()) {
    rng_.Shuffle(permutation_.begin(), permutation_.end());
    cursor_ = 0;
  }
  return permutation_[cursor_++];
}

}  // namespace sotto::algo
