#pragma once

// Mini-batch samplers over a node's local shard.
//
// RandomReshuffling: each epoch a fresh permutation of the shard is drawn and
// visited in order, without replacement (the last batch of an epoch may be short
// when the shard size is not a multiple of the batch size). WithReplacement: every
// batch is drawn i.i.d. uniformly. Both are deterministic given their Rng.
//
// Thread safety: not thread-safe.

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "common/random.h"
#include "common/status.h"

namespace sotto::algo {

enum class SamplingMode {
  kReshuffle,        // Without replacement, fresh permutation per epoch.
  kWithReplacement,  // i.i.d. uniform.
};

Result<SamplingMode> ParseSamplingMode(std::string_view name);

class Sampler {
 public:
  // Samples from `indices` (the shard's rows). Requires !indices.empty(), batch_size > 0.
  Sampler(std::vector<std::int64_t> indices, std::int64_t batch_size, SamplingMode mode, Rng rng);

  // The next batch of rows; valid until the next call.
  std::span<const std::int64_t> Next();

  // Completed passes over the shard (for with-replacement: samples drawn / shard size).
  std::int64_t epoch() const { return epoch_; }
  std::int64_t batches_per_epoch() const;
  std::size_t shard_size() const { return indices_.size(); }

 private:
  std::vector<std::int64_t> indices_;
  std::int64_t batch_size_;
  SamplingMode mode_;
  Rng rng_;
  std::size_t cursor_ = 0;  // Position in the current permutation.
  std::int64_t epoch_ = 0;
  std::int64_t drawn_ = 0;
  std::vector<std::int64_t> batch_;
};

}  // namespace sotto::algo
