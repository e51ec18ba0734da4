#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include <catch2/catch.hpp>

#include "algo/partition.h"

namespace sotto::algo {
namespace {

// 10 classes x 100 samples, labels cycling 0..9.
std::vector<std::int32_t> CyclingLabels(int num_classes, int per_class) {
  std::vector<std::int32_t> labels;
  for (int i = 0; i < num_classes * per_class; ++i) labels.push_back(i % num_classes);
  return labels;
}

void CheckCoversEverySampleOnce(const Partition& shards, std::int64_t num_samples) {
  std::vector<int> seen(static_cast<std::size_t>(num_samples), 0);
  for (const auto& shard : shards) {
    CHECK(std::is_sorted(shard.begin(), shard.end()));
    for (const std::int64_t i : shard) {
      REQUIRE(i >= 0);
      REQUIRE(i < num_samples);
      ++seen[static_cast<std::size_t>(i)];
    }
  }
  CHECK(std::all_of(seen.begin(), seen.end(), [](int s) { return s == 1; }));
}

// Mean over shards of the largest class's share: 1/C when balanced, 1 when one-class.
double MeanTopClassShare(const Partition& shards, const std::vector<std::int32_t>& labels, int c) {
  double total = 0;
  for (const auto& shard : shards) {
    std::vector<std::int32_t> shard_labels;
    for (const std::int64_t i : shard) shard_labels.push_back(labels[static_cast<std::size_t>(i)]);
    const auto counts = ClassCounts(shard_labels, c);
    total += static_cast<double>(*std::max_element(counts.begin(), counts.end())) /
             static_cast<double>(shard.size());
  }
  return total / static_cast<double>(shards.size());
}

TEST_CASE("iid partition covers every sample exactly once in near-equal shards",
          "[algo][data][partition]") {
  const std::int64_t n = GENERATE(7, 100, 1001);
  const int shards_wanted = GENERATE(1, 3, 7);
  Result<Partition> shards = PartitionIid(n, shards_wanted, 42);
  REQUIRE(shards.ok());
  REQUIRE(shards->size() == static_cast<std::size_t>(shards_wanted));
  CheckCoversEverySampleOnce(*shards, n);
  for (const auto& shard : *shards) {
    CHECK(static_cast<std::int64_t>(shard.size()) >= n / shards_wanted);
    CHECK(static_cast<std::int64_t>(shard.size()) <= n / shards_wanted + 1);
  }
}

TEST_CASE("iid partition is deterministic for a seed and shuffles", "[algo][data][partition]") {
  Result<Partition> a = PartitionIid(1000, 4, 7), b = PartitionIid(1000, 4, 7),
                    c = PartitionIid(1000, 4, 8);
  REQUIRE((a.ok() && b.ok() && c.ok()));
  CHECK(*a == *b);
  CHECK(*a != *c);
  // Not a contiguous cut of 0..999.
  CHECK((*a)[0].back() > 250);
}

TEST_CASE("iid partition rejects more shards than samples", "[algo][data][partition]") {
  CHECK(PartitionIid(3, 4, 0).error().code() == StatusCode::kInvalidArgument);
  CHECK(PartitionIid(3, 0, 0).error().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("dirichlet partition skews labels for small alpha and not for large alpha",
          "[algo][data][partition]") {
  const auto labels = CyclingLabels(10, 200);
  Result<Partition> skewed = PartitionDirichlet(labels, 10, 10, 0.1, 1);
  Result<Partition> uniform = PartitionDirichlet(labels, 10, 10, 1000.0, 1);
  REQUIRE((skewed.ok() && uniform.ok()));
  CheckCoversEverySampleOnce(*skewed, 2000);
  CheckCoversEverySampleOnce(*uniform, 2000);
  CHECK(MeanTopClassShare(*skewed, labels, 10) > 0.5);
  CHECK(MeanTopClassShare(*uniform, labels, 10) < 0.15);
  for (const auto& shard : *uniform) {
    CHECK(shard.size() > 170);
    CHECK(shard.size() < 230);
  }
}

TEST_CASE("dirichlet partition is deterministic for a seed", "[algo][data][partition]") {
  const auto labels = CyclingLabels(5, 50);
  Result<Partition> a = PartitionDirichlet(labels, 5, 6, 0.5, 3);
  Result<Partition> b = PartitionDirichlet(labels, 5, 6, 0.5, 3);
  Result<Partition> c = PartitionDirichlet(labels, 5, 6, 0.5, 4);
  REQUIRE((a.ok() && b.ok() && c.ok()));
  CHECK(*a == *b);
  CHECK(*a != *c);
}

TEST_CASE("dirichlet partition never leaves a shard empty", "[algo][data][partition]") {
  // Tiny alpha gives each class to roughly one shard; 20 shards > 3 classes, so
  // most shards would be empty without the rule.
  const auto labels = CyclingLabels(3, 20);
  const double alpha = GENERATE(0.001, 0.01, 0.1);
  const std::uint64_t seed = GENERATE(range(0, 5));
  Result<Partition> shards = PartitionDirichlet(labels, 3, 20, alpha, seed);
  REQUIRE(shards.ok());
  CheckCoversEverySampleOnce(*shards, 60);
  for (const auto& shard : *shards) CHECK(!shard.empty());

  Result<Partition> at_least_two = PartitionDirichlet(labels, 3, 20, alpha, seed, 2);
  REQUIRE(at_least_two.ok());
  CheckCoversEverySampleOnce(*at_least_two, 60);
  for (const auto& shard : *at_least_two) CHECK(shard.size() >= 2);
}

TEST_CASE("dirichlet partition rejects impossible requests", "[algo][data][partition]") {
  const auto labels = CyclingLabels(2, 3);
  CHECK(PartitionDirichlet(labels, 2, 7, 1.0, 0).error().code() == StatusCode::kInvalidArgument);
  CHECK(PartitionDirichlet(labels, 2, 2, 0.0, 0).error().code() == StatusCode::kInvalidArgument);
  CHECK(PartitionDirichlet(labels, 2, 3, 1.0, 0, 3).error().code() ==
        StatusCode::kInvalidArgument);
  const std::vector<std::int32_t> bad = {0, 1, 2};
  Result<Partition> out_of_range = PartitionDirichlet(bad, 2, 1, 1.0, 0);
  REQUIRE_FALSE(out_of_range.ok());
  CHECK_THAT(out_of_range.error().message(), Catch::Contains("sample 2 has label 2"));
}

TEST_CASE("subset materialises the rows of a shard", "[algo][data][partition]") {
  Dataset data;
  data.features.resize(4, 2);
  data.features << 0, 1, 10, 11, 20, 21, 30, 31;
  data.labels = {0, 1, 0, 1};
  data.num_classes = 2;
  data.name = "toy";
  const std::vector<std::int64_t> rows = {3, 1};
  const Dataset shard = Subset(data, rows);
  CHECK(shard.num_samples() == 2);
  CHECK(shard.features(0, 0) == 30.0f);
  CHECK(shard.features(1, 1) == 11.0f);
  CHECK(shard.labels == std::vector<std::int32_t>{1, 1});
  CHECK(shard.num_classes == 2);
  CHECK(shard.name == "toy");

  PartitionOptions options;
  options.num_shards = 2;
  options.scheme = PartitionScheme::kDirichlet;
  options.alpha = 10;
  Result<Partition> shards = PartitionDataset(data, options);
  REQUIRE(shards.ok());
  CheckCoversEverySampleOnce(*shards, 4);
}

TEST_CASE("a random train/test split holds out a seeded sample", "[algo][data][partition]") {
  Dataset data;
  data.features.resize(100, 1);
  for (int i = 0; i < 100; ++i) data.features(i, 0) = static_cast<float>(i);
  data.labels.assign(100, 0);
  std::fill(data.labels.begin() + 50, data.labels.end(), 1);  // Sorted by label.
  data.num_classes = 2;
  Result<TrainTestSplit> split = RandomTrainTestSplit(data, 0.2, 5);
  REQUIRE(split.ok());
  CHECK(split->train.num_samples() == 80);
  CHECK(split->test.num_samples() == 20);
  // Both classes in the test set, unlike a tail cut; rows keep their order.
  const auto counts = ClassCounts(split->test.labels, 2);
  CHECK(counts[0] > 0);
  CHECK(counts[1] > 0);
  const Eigen::VectorXf test_rows = split->test.features.col(0);
  CHECK(std::is_sorted(test_rows.begin(), test_rows.end()));
  CHECK(split->train.features.sum() + split->test.features.sum() == 4950.0f);
  Result<TrainTestSplit> again = RandomTrainTestSplit(data, 0.2, 5);
  REQUIRE(again.ok());
  CHECK(again->test.features == split->test.features);

  CHECK(RandomTrainTestSplit(data, 0.0, 5).error().code() == StatusCode::kInvalidArgument);
  CHECK(RandomTrainTestSplit(data, 1.0, 5).error().code() == StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sotto::algo
