#include "algo/data_synthetic.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "common/random.h"

namespace sotto::algo {
namespace {

// Independent streams, so the truth, the features and the labels do not shift
// when another part of the options changes.
constexpr std::uint64_t kTruthStream = 0;
constexpr std::uint64_t kFeatureStream = 1;
constexpr std::uint64_t kLabelStream = 2;

Status Validate(const SparseLogisticOptions& o, int num_classes) {
  if (o.num_samples < 1 || o.num_features < 1) {
    return InvalidArgument("synthetic data: need num_samples >= 1 and num_features >= 1, got " +
                           std::to_string(o.num_samples) + " and " +
                           std::to_string(o.num_features));
  }
  if (o.num_nonzeros < 0 || o.num_nonzeros > o.num_features) {
    return InvalidArgument("synthetic data: num_nonzeros " + std::to_string(o.num_nonzeros) +
                           " outside [0, " + std::to_string(o.num_features) + "]");
  }
  if (!(o.weight_scale > 0.0) || !std::isfinite(o.weight_scale)) {
    return InvalidArgument("synthetic data: weight_scale must be positive and finite");
  }
  if (!(o.feature_density > 0.0 && o.feature_density <= 1.0)) {
    return InvalidArgument("synthetic data: feature_density " +
                           std::to_string(o.feature_density) + " outside (0, 1]");
  }
  if (!std::isfinite(o.bias)) return InvalidArgument("synthetic data: bias must be finite");
  if (num_classes < 2) {
    return InvalidArgument("synthetic data: num_classes " + std::to_string(num_classes) +
                           " < 2");
  }
  return Status::Ok();
}

// A uniformly random k-subset of 0..d-1, ascending (partial Fisher-Yates).
std::vector<std::int64_t> DrawSupport(Rng& rng, std::int64_t d, std::int64_t k) {
  std::vector<std::int64_t> all(static_cast<std::size_t>(d));
  std::iota(all.begin(), all.end(), std::int64_t{0});
  for (std::int64_t i = 0; i < k; ++i) {
    const auto j = i + static_cast<std::int64_t>(rng.UniformInt(static_cast<std::uint64_t>(d - i)));
    std::swap(all[static_cast<std::size_t>(i)], all[static_cast<std::size_t>(j)]);
  }
  all.resize(static_cast<std::size_t>(k));
  std::sort(all.begin(), all.end());
  return all;
}

float DrawWeight(Rng& rng, double scale) {
  const double magnitude = scale * (0.5 + rng.Uniform01());
  return static_cast<float>(rng.UniformInt(2) == 0 ? -magnitude : magnitude);
}

FeatureMatrix DrawFeatures(const SparseLogisticOptions& o) {
  Rng rng = Rng(o.seed).Fork(kFeatureStream);
  FeatureMatrix x(o.num_samples, o.num_features);
  float* out = x.data();
  const std::int64_t size = x.size();
  for (std::int64_t i = 0; i < size; ++i) {
    const bool keep = o.feature_density >= 1.0 || rng.Uniform01() < o.feature_density;
    out[i] = keep ? static_cast<float>(rng.Normal()) : 0.0f;
  }
  return x;
}

}  // namespace

Result<SparseLogisticData> MakeSparseLogistic(const SparseLogisticOptions& options) {
  SOTTO_RETURN_IF_ERROR(Validate(options, 2));
  SparseLogisticData out;
  Rng truth = Rng(options.seed).Fork(kTruthStream);
  out.support = DrawSupport(truth, options.num_features, options.num_nonzeros);
  out.true_weights = Eigen::VectorXf::Zero(options.num_features);
  for (const std::int64_t j : out.support) out.true_weights(j) = DrawWeight(truth, options.weight_scale);
  out.true_bias = static_cast<float>(options.bias);

  Dataset& data = out.data;
  data.features = DrawFeatures(options);
  data.num_classes = 2;
  data.name = "synthetic-logistic";
  const Eigen::VectorXd margins =
      (data.features.cast<double>() * out.true_weights.cast<double>()).array() + options.bias;
  Rng labels = Rng(options.seed).Fork(kLabelStream);
  data.labels.resize(static_cast<std::size_t>(options.num_samples));
  for (std::int64_t i = 0; i < options.num_samples; ++i) {
    const double p = 1.0 / (1.0 + std::exp(-margins(i)));
    data.labels[static_cast<std::size_t>(i)] = labels.Uniform01() < p ? 1 : 0;
  }
  return out;
}

Result<SparseSoftmaxData> MakeSparseSoftmax(const SparseLogisticOptions& options) {
  SOTTO_RETURN_IF_ERROR(Validate(options, options.num_classes));
  const int c = options.num_classes;
  SparseSoftmaxData out;
  Rng truth = Rng(options.seed).Fork(kTruthStream);
  out.support = DrawSupport(truth, options.num_features, options.num_nonzeros);
  out.true_weights = Eigen::MatrixXf::Zero(c, options.num_features);
  for (const std::int64_t j : out.support) {
    for (int k = 0; k < c; ++k) out.true_weights(k, j) = DrawWeight(truth, options.weight_scale);
  }

  Dataset& data = out.data;
  data.features = DrawFeatures(options);
  data.num_classes = c;
  data.name = "synthetic-softmax";
  const Eigen::MatrixXd logits =
      data.features.cast<double>() * out.true_weights.cast<double>().transpose();
  Rng labels = Rng(options.seed).Fork(kLabelStream);
  data.labels.resize(static_cast<std::size_t>(options.num_samples));
  Eigen::VectorXd p(c);
  for (std::int64_t i = 0; i < options.num_samples; ++i) {
    // Softmax with the max subtracted, then inverse-CDF sampling.
    p = (logits.row(i).transpose().array() - logits.row(i).maxCoeff()).exp();
    double u = labels.Uniform01() * p.sum();
    int label = c - 1;
    for (int k = 0; k < c; ++k) {
      if (u < p(k)) {
        label = k;
        break;
      }
      u -= p(k);
    }
    data.labels[static_cast<std::size_t>(i)] = label;
  }
  return out;
}

}  // namespace sotto::algo
