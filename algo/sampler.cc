#include "algo/sampler.h"

#include <algorithm>
#include <string>

#include "common/check.h"

namespace sotto::algo {

Result<SamplingMode> ParseSamplingMode(std::string_view name) {
  if (name == "reshuffle" || name == "rr") return SamplingMode::kReshuffle;
  if (name == "replacement" || name == "with-replacement") return SamplingMode::kWithReplacement;
  return InvalidArgument("unknown sampler '" + std::string(name) + "' (want reshuffle or replacement)");
}

Sampler::Sampler(std::vector<std::int64_t> indices, std::int64_t batch_size, SamplingMode mode, Rng rng)
    : indices_(std::move(indices)), batch_size_(batch_size), mode_(mode), rng_(rng) {
  SOTTO_CHECK(!indices_.empty()) << "sampler over an empty shard";
  SOTTO_CHECK(batch_size_ > 0) << "batch size " << batch_size_;
  if (mode_ == SamplingMode::kReshuffle) rng_.Shuffle(indices_.begin(), indices_.end());
}

std::int64_t Sampler::batches_per_epoch() const {
  const auto n = static_cast<std::int64_t>(indices_.size());
  return (n + batch_size_ - 1) / batch_size_;
}

std::span<const std::int64_t> Sampler::Next() {
  const std::size_t n = indices_.size();
  const auto b = static_cast<std::size_t>(batch_size_);
  if (mode_ == SamplingMode::kWithReplacement) {
    batch_.resize(b);
    for (auto& row : batch_) row = indices_[rng_.UniformInt(n)];
    drawn_ += batch_size_;
    epoch_ = drawn_ / static_cast<std::int64_t>(n);
    return batch_;
  }
  if (cursor_ >= n) {
    rng_.Shuffle(indices_.begin(), indices_.end());
    cursor_ = 0;
  }
  const std::size_t count = std::min(b, n - cursor_);
  std::span<const std::int64_t> out(indices_.data() + cursor_, count);
  cursor_ += count;
  if (cursor_ == n) ++epoch_;
  return out;
}

}  // namespace sotto::algo
