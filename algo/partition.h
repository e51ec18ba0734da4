#pragma once

// Splitting a data set across the nodes of a run: iid shards, or non-iid shards
// whose label mix follows a Dirichlet(alpha) draw (Hsu et al. 2019, "Measuring the
// Effects of Non-Identical Data Distribution for Federated Visual Classification").
// Pure and seeded: the same arguments give the same shards on every machine.

#include <cstdint>
#include <span>
#include <vector>

#include "algo/dataset.h"
#include "common/status.h"

namespace sotto::algo {

// shards[k] lists the sample indices (rows) of node k, ascending. Every sample
// appears in exactly one shard.
using Partition = std::vector<std::vector<std::int64_t>>;

enum class PartitionScheme {
  kIid,        // Shuffle, then cut into near-equal contiguous pieces.
  kDirichlet,  // Per class, shard proportions ~ Dirichlet(alpha): label skew.
};

struct PartitionOptions {
  // Number of shards (nodes). Must be in [1, num_samples / min_shard_size].
  int num_shards = 1;

  PartitionScheme scheme = PartitionScheme::kIid;

  // Dirichlet concentration (kDirichlet only), > 0. Small (0.1) gives each shard
  // a few dominant classes; large (100) approaches the iid split.
  double alpha = 0.5;

  // kDirichlet only: every shard ends up with at least this many samples (see
  // PartitionDirichlet). kIid shards differ in size by at most one anyway.
  std::int64_t min_shard_size = 1;

  // Seed of the shuffle and of the Dirichlet draws.
  std::uint64_t seed = 0;
};

// Splits 0..num_samples-1 uniformly at random into `num_shards` shards whose
// sizes differ by at most one (the first num_samples % num_shards get the extra).
// Errors: kInvalidArgument unless 1 <= num_shards <= num_samples.
Result<Partition> PartitionIid(std::int64_t num_samples, int num_shards, std::uint64_t seed);

// Label-skewed split. For each class c (in order), draws p ~ Dirichlet(alpha·1)
// over the shards and gives shard k the next round(n_c·(p_1+..+p_k)) - (previous)
// of class c's shuffled samples.
//
// No-empty-shard rule: afterwards, while some shard holds fewer than
// `min_shard_size` samples, the lowest-numbered such shard takes one sample from
// the currently largest shard (lowest number on ties; the sample taken is the last
// one that shard received). This moves at most num_shards·min_shard_size samples.
//
// Errors: kInvalidArgument if a label is outside [0, num_classes), alpha <= 0,
// num_shards < 1, min_shard_size < 1, or labels.size() < num_shards·min_shard_size.
Result<Partition> PartitionDirichlet(std::span<const std::int32_t> labels, int num_classes,
                                     int num_shards, double alpha, std::uint64_t seed,
                                     std::int64_t min_shard_size = 1);

// Dispatches on options.scheme. Errors as the function it calls.
Result<Partition> PartitionDataset(const Dataset& data, const PartitionOptions& options);

// Returns the rows `indices` of `data` (in that order) as a new Dataset with the
// same num_classes and name. Requires: every index in [0, data.num_samples()).
Dataset Subset(const Dataset& data, std::span<const std::int64_t> indices);

struct TrainTestSplit {
  Dataset train;
  Dataset test;
};

// Holds out round(test_fraction · n) samples chosen uniformly at random (seeded)
// as the test set; the rest is the training set. Each side keeps the original
// sample order. For data without a separate test file (LIBSVM files are often
// sorted by label, so a tail cut would be biased).
// Errors: kInvalidArgument unless both sides get at least one sample.
Result<TrainTestSplit> RandomTrainTestSplit(const Dataset& data, double test_fraction,
                                            std::uint64_t seed);

// Returns counts[c] = number of samples with label c.
// Requires: every label in [0, num_classes).
std::vector<std::int64_t> ClassCounts(std::span<const std::int32_t> labels, int num_classes);

}  // namespace sotto::algo
