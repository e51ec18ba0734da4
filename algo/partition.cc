#include "algo/partition.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "common/check.h"
#include "common/random.h"

namespace sotto::algo {
namespace {

// log of a Gamma(shape, 1) draw. For shape < 1 the boost identity
// G(a) = G(a+1)·U^(1/a) is applied in log space: with alpha = 0.01, U^100 would
// underflow to 0 often enough to make whole Dirichlet draws 0/0.
double LogGammaDraw(Rng& rng, double shape) {
  if (shape >= 1.0) return std::log(rng.Gamma(shape));
  double u = rng.Uniform01();
  while (u <= 0.0) u = rng.Uniform01();
  return std::log(rng.Gamma(shape + 1.0)) + std::log(u) / shape;
}

void SortShards(Partition& shards) {
  for (auto& shard : shards) std::sort(shard.begin(), shard.end());
}

}  // namespace

Result<Partition> PartitionIid(std::int64_t num_samples, int num_shards, std::uint64_t seed) {
  if (num_shards < 1 || num_shards > num_samples) {
    return InvalidArgument("iid partition: cannot split " + std::to_string(num_samples) +
                           " samples into " + std::to_string(num_shards) +
                           " non-empty shards");
  }
  std::vector<std::int64_t> order(static_cast<std::size_t>(num_samples));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  Rng rng(seed);
  rng.Shuffle(order.begin(), order.end());

  Partition shards(static_cast<std::size_t>(num_shards));
  const std::int64_t base = num_samples / num_shards;
  const std::int64_t extra = num_samples % num_shards;
  auto next = order.begin();
  for (int k = 0; k < num_shards; ++k) {
    const std::int64_t size = base + (k < extra ? 1 : 0);
    shards[static_cast<std::size_t>(k)].assign(next, next + size);
    next += size;
  }
  SortShards(shards);
  return shards;
}

Result<Partition> PartitionDirichlet(std::span<const std::int32_t> labels, int num_classes,
                                     int num_shards, double alpha, std::uint64_t seed,
                                     std::int64_t min_shard_size) {
  const auto n = static_cast<std::int64_t>(labels.size());
  if (!(alpha > 0.0) || !std::isfinite(alpha)) {
    return InvalidArgument("dirichlet partition: alpha " + std::to_string(alpha) +
                           " must be positive and finite");
  }
  if (num_shards < 1 || min_shard_size < 1 || n / num_shards < min_shard_size) {
    return InvalidArgument("dirichlet partition: cannot give " + std::to_string(num_shards) +
                           " shards at least " + std::to_string(min_shard_size) +
                           " samples each out of " + std::to_string(n));
  }
  if (num_classes < 1) {
    return InvalidArgument("dirichlet partition: num_classes " + std::to_string(num_classes));
  }
  std::vector<std::vector<std::int64_t>> by_class(static_cast<std::size_t>(num_classes));
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int32_t label = labels[static_cast<std::size_t>(i)];
    if (label < 0 || label >= num_classes) {
      return InvalidArgument("dirichlet partition: sample " + std::to_string(i) + " has label " +
                             std::to_string(label) + ", want [0, " +
                             std::to_string(num_classes) + ")");
    }
    by_class[static_cast<std::size_t>(label)].push_back(i);
  }

  Rng rng(seed);
  Partition shards(static_cast<std::size_t>(num_shards));
  std::vector<double> log_weights(static_cast<std::size_t>(num_shards));
  for (auto& members : by_class) {
    rng.Shuffle(members.begin(), members.end());
    // Normalise exp(log g_k) after subtracting the max: no overflow or 0/0.
    for (auto& w : log_weights) w = LogGammaDraw(rng, alpha);
    const double top = *std::max_element(log_weights.begin(), log_weights.end());
    double total = 0.0;
    for (auto& w : log_weights) total += (w = std::exp(w - top));
    const auto n_c = static_cast<double>(members.size());
    double cumulative = 0.0;
    std::size_t begin = 0;
    for (std::size_t k = 0; k < shards.size(); ++k) {
      cumulative += log_weights[k] / total;
      const std::size_t end =
          k + 1 == shards.size()
              ? members.size()
              : std::min(members.size(), static_cast<std::size_t>(std::llround(n_c * cumulative)));
      if (end > begin) {
        shards[k].insert(shards[k].end(), members.begin() + static_cast<std::ptrdiff_t>(begin),
                         members.begin() + static_cast<std::ptrdiff_t>(end));
        begin = end;
      }
    }
  }

  // The no-empty-shard rule (see the header).
  auto size_of = [](const std::vector<std::int64_t>& s) { return static_cast<std::int64_t>(s.size()); };
  for (;;) {
    auto small = std::find_if(shards.begin(), shards.end(), [&](const auto& s) {
      return size_of(s) < min_shard_size;
    });
    if (small == shards.end()) break;
    auto largest = std::max_element(shards.begin(), shards.end(), [&](const auto& a, const auto& b) {
      return size_of(a) < size_of(b);
    });
    SOTTO_CHECK(size_of(*largest) > min_shard_size) << "no donor shard; sizes were validated";
    small->push_back(largest->back());
    largest->pop_back();
  }
  SortShards(shards);
  return shards;
}

Result<Partition> PartitionDataset(const Dataset& data, const PartitionOptions& options) {
  switch (options.scheme) {
    case PartitionScheme::kIid:
      return PartitionIid(data.num_samples(), options.num_shards, options.seed);
    case PartitionScheme::kDirichlet:
      return PartitionDirichlet(data.labels, data.num_classes, options.num_shards, options.alpha,
                                options.seed, options.min_shard_size);
  }
  return InvalidArgument("unknown partition scheme");
}

Dataset Subset(const Dataset& data, std::span<const std::int64_t> indices) {
  Dataset out;
  out.features.resize(static_cast<Eigen::Index>(indices.size()), data.num_features());
  out.labels.resize(indices.size());
  for (std::size_t i = 0; i < indices.size(); ++i) {
    const std::int64_t row = indices[i];
    SOTTO_CHECK(row >= 0 && row < data.num_samples())
        << "Subset: index " << row << " outside " << data.name << " of " << data.num_samples();
    out.features.row(static_cast<Eigen::Index>(i)) = data.features.row(row);
    out.labels[i] = data.labels[static_cast<std::size_t>(row)];
  }
  out.num_classes = data.num_classes;
  out.name = data.name;
  return out;
}

Result<TrainTestSplit> RandomTrainTestSplit(const Dataset& data, double test_fraction,
                                            std::uint64_t seed) {
  const std::int64_t n = data.num_samples();
  const double wanted = std::round(test_fraction * static_cast<double>(n));
  if (!(wanted >= 1.0) || !(wanted <= static_cast<double>(n - 1))) {
    return InvalidArgument("train/test split of " + data.name + ": a test fraction of " +
                           std::to_string(test_fraction) + " of " + std::to_string(n) +
                           " samples leaves a side empty");
  }
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  Rng rng(seed);
  rng.Shuffle(order.begin(), order.end());
  const auto test_size = static_cast<std::ptrdiff_t>(wanted);
  std::vector<std::int64_t> test(order.begin(), order.begin() + test_size);
  std::vector<std::int64_t> train(order.begin() + test_size, order.end());
  std::sort(test.begin(), test.end());
  std::sort(train.begin(), train.end());
  return TrainTestSplit{Subset(data, train), Subset(data, test)};
}

std::vector<std::int64_t> ClassCounts(std::span<const std::int32_t> labels, int num_classes) {
  std::vector<std::int64_t> counts(static_cast<std::size_t>(std::max(num_classes, 0)), 0);
  for (const std::int32_t label : labels) {
    SOTTO_CHECK(label >= 0 && label < num_classes) << "label " << label << " of " << num_classes;
    ++counts[static_cast<std::size_t>(label)];
  }
  return counts;
}

}  // namespace sotto::algo
