#pragma once

// Synthetic classification data with a known sparse truth, for tests and for
// checking that ℓ1-regularised training recovers the support (ALGORITHMS.md §7).
// Pure and seeded: the same options give byte-identical data everywhere.

#include <cstdint>
#include <vector>

#include <Eigen/Core>

#include "algo/dataset.h"
#include "common/status.h"

namespace sotto::algo {

struct SparseLogisticOptions {
  std::int64_t num_samples = 1000;
  std::int64_t num_features = 100;

  // k: how many features carry signal. Must be in [0, num_features].
  std::int64_t num_nonzeros = 10;

  // Each non-zero true weight is ±weight_scale·(0.5 + U[0,1)), random sign, so
  // none is near 0 and support recovery is well posed. Must be > 0.
  double weight_scale = 1.0;

  // Each x_ij is N(0, 1) with this probability and exactly 0 otherwise (sparse
  // features, as in LIBSVM data). 1 gives x ~ N(0, I). Must be in (0, 1].
  double feature_density = 1.0;

  // True intercept b*: binary labels follow P(y = 1 | x) = sigmoid(x·w* + b*).
  double bias = 0.0;

  // MakeSparseSoftmax only: number of classes, >= 2.
  int num_classes = 3;

  std::uint64_t seed = 0;
};

struct SparseLogisticData {
  Dataset data;                        // num_classes 2, labels in {0, 1}.
  Eigen::VectorXf true_weights;        // w*, exactly num_nonzeros non-zeros.
  float true_bias = 0.0f;              // b*.
  std::vector<std::int64_t> support;   // Indices of w*'s non-zeros, ascending.
};

// Binary logistic data: x as in the options, y ~ Bernoulli(sigmoid(x·w* + b*)).
//
// Streams are split so that the truth depends only on (seed, num_features,
// num_nonzeros, weight_scale), and the first m samples do not change when
// num_samples grows beyond m.
//
// Errors: kInvalidArgument for options outside the documented ranges.
Result<SparseLogisticData> MakeSparseLogistic(const SparseLogisticOptions& options);

struct SparseSoftmaxData {
  Dataset data;                        // labels in [0, options.num_classes).
  // W*, num_classes x num_features; only the columns in `support` are non-zero
  // (one shared support: the group-sparse truth that ℓ1 on W tends to recover).
  Eigen::MatrixXf true_weights;
  std::vector<std::int64_t> support;   // Ascending, num_nonzeros entries.
};

// Multi-class variant: y ~ Categorical(softmax(W* x)); options.bias is unused.
// Same determinism and errors as MakeSparseLogistic.
Result<SparseSoftmaxData> MakeSparseSoftmax(const SparseLogisticOptions& options);

}  // namespace sotto::algo
