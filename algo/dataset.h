#pragma once

// Dataset: labelled samples held densely in memory, the input of every model.
// Readers (IDX for Fashion-MNIST, LIBSVM), the synthetic generator and the
// partitioners live in algo/data_*.h. Pure: readers take bytes or paths, no clocks.

#include <cstdint>
#include <string>
#include <vector>

#include <Eigen/Core>

namespace sotto::algo {

using FeatureMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Row k of `features` is sample k; labels[k] in [0, num_classes).
// Binary problems use num_classes == 2 and labels {0, 1}.
struct Dataset {
  FeatureMatrix features;        // num_samples x num_features.
  std::vector<std::int32_t> labels;
  int num_classes = 0;
  std::string name;              // For messages: "fashion-mnist/train", "a9a", ...

  std::int64_t num_samples() const { return features.rows(); }
  std::int64_t num_features() const { return features.cols(); }
};

}  // namespace sotto::algo
