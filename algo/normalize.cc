#include "algo/normalize.h"

#include <string>

#include "common/check.h"

namespace sotto::algo {

Standardizer::Standardizer(Eigen::VectorXf mean, Eigen::VectorXf stddev,
                           StandardizeOptions options)
    : mean_(std::move(mean)), stddev_(std::move(stddev)), options_(options) {
  SOTTO_CHECK(mean_.size() == stddev_.size())
      << "Standardizer: " << mean_.size() << " means, " << stddev_.size() << " stddevs";
  SOTTO_CHECK((stddev_.array() >= 0.0f).all()) << "Standardizer: negative stddev";
  inverse_scale_ = (stddev_.array() > 0.0f).select(stddev_.array().inverse(), 1.0f);
}

Result<Standardizer> Standardizer::Fit(const Dataset& train, StandardizeOptions options) {
  if (train.num_samples() == 0) {
    return InvalidArgument("standardize: " + train.name + " has no samples to fit on");
  }
  if (!train.features.allFinite()) {
    return InvalidArgument("standardize: " + train.name + " has a non-finite feature value");
  }
  // Two passes in double: the one-pass E[x²] - E[x]² loses digits for large means.
  const auto n = static_cast<double>(train.num_samples());
  Eigen::VectorXd mean = Eigen::VectorXd::Zero(train.num_features());
  for (Eigen::Index i = 0; i < train.features.rows(); ++i) {
    mean += train.features.row(i).transpose().cast<double>();
  }
  mean /= n;
  Eigen::VectorXd variance = Eigen::VectorXd::Zero(train.num_features());
  for (Eigen::Index i = 0; i < train.features.rows(); ++i) {
    variance += (train.features.row(i).transpose().cast<double>() - mean).array().square().matrix();
  }
  variance /= n;
  return Standardizer(mean.cast<float>(), variance.array().sqrt().cast<float>().matrix(), options);
}

Status Standardizer::Apply(Dataset& data) const {
  if (data.num_features() != mean_.size()) {
    return InvalidArgument("standardize: " + data.name + " has " +
                           std::to_string(data.num_features()) + " features, fitted on " +
                           std::to_string(mean_.size()));
  }
  if (options_.center) data.features.rowwise() -= mean_.transpose();
  data.features *= inverse_scale_.asDiagonal();
  return Status::Ok();
}

void NormalizeRowsToUnitNorm(Dataset& data) {
  for (Eigen::Index i = 0; i < data.features.rows(); ++i) {
    const float norm = data.features.row(i).norm();
    if (norm > 0.0f) data.features.row(i) /= norm;
  }
}

}  // namespace sotto::algo
