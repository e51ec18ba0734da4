#pragma once

// Feature scaling for the data readers' output: per-feature standardisation
// fitted on the training set and applied unchanged to the test set (or to a
// node's shard), and scaling of rows to unit ℓ2 norm. Pure: no I/O.

#include <utility>

#include <Eigen/Core>

#include "algo/dataset.h"
#include "common/status.h"

namespace sotto::algo {

struct StandardizeOptions {
  // Subtract the mean. Turn off for sparse data (LIBSVM), where centring would
  // make every zero non-zero; each feature is then only divided by its std.
  bool center = true;
};

// Per-feature z-scoring, x_j -> (x_j - mean_j) / std_j, with the statistics of
// the data it was fitted on (population std, computed in double).
//
// A feature with zero variance on the training set (e.g. an always-black
// border pixel of Fashion-MNIST) is divided by 1 instead of 0: it becomes 0
// when centred and is left unscaled otherwise, and never produces NaN.
//
//   SOTTO_ASSIGN_OR_RETURN(Standardizer scaler, Standardizer::Fit(train));
//   SOTTO_RETURN_IF_ERROR(scaler.Apply(train));
//   SOTTO_RETURN_IF_ERROR(scaler.Apply(test));
//
// A plain value; const methods are thread-safe.
class Standardizer {
 public:
  // Restores fitted statistics (e.g. from a checkpoint).
  // Requires: mean.size() == stddev.size(), every stddev >= 0.
  Standardizer(Eigen::VectorXf mean, Eigen::VectorXf stddev, StandardizeOptions options = {});

  // Returns the statistics of `train`'s features.
  // Errors: kInvalidArgument if `train` has no samples or a non-finite value.
  static Result<Standardizer> Fit(const Dataset& train, StandardizeOptions options = {});

  // Standardises `data.features` in place.
  // Errors: kInvalidArgument if its feature count differs from the fitted one.
  Status Apply(Dataset& data) const;

  const Eigen::VectorXf& mean() const { return mean_; }
  const Eigen::VectorXf& stddev() const { return stddev_; }
  const StandardizeOptions& options() const { return options_; }

 private:
  Eigen::VectorXf mean_;
  Eigen::VectorXf stddev_;
  Eigen::VectorXf inverse_scale_;  // 1/stddev, or 1 where stddev is 0.
  StandardizeOptions options_;
};

// Scales every row of `data.features` to unit ℓ2 norm; all-zero rows stay zero.
void NormalizeRowsToUnitNorm(Dataset& data);

}  // namespace sotto::algo
