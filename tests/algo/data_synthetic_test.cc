#include "algo/data_synthetic.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include <catch2/catch.hpp>

namespace sotto::algo {
namespace {

SparseLogisticOptions SmallOptions() {
  SparseLogisticOptions options;
  options.num_samples = 2000;
  options.num_features = 50;
  options.num_nonzeros = 5;
  options.weight_scale = 2.0;
  options.seed = 11;
  return options;
}

TEST_CASE("sparse logistic data is deterministic for a seed", "[algo][data][synthetic]") {
  const SparseLogisticOptions options = SmallOptions();
  Result<SparseLogisticData> a = MakeSparseLogistic(options), b = MakeSparseLogistic(options);
  SparseLogisticOptions other_seed = options;
  other_seed.seed = 12;
  Result<SparseLogisticData> c = MakeSparseLogistic(other_seed);
  REQUIRE((a.ok() && b.ok() && c.ok()));
  CHECK(a->data.features == b->data.features);
  CHECK(a->data.labels == b->data.labels);
  CHECK(a->true_weights == b->true_weights);
  CHECK(a->data.features != c->data.features);
  CHECK(a->true_weights != c->true_weights);
}

TEST_CASE("the sparse truth has exactly k non-zeros at its support", "[algo][data][synthetic]") {
  SparseLogisticOptions options = SmallOptions();
  options.num_nonzeros = GENERATE(0, 1, 5, 50);
  Result<SparseLogisticData> data = MakeSparseLogistic(options);
  REQUIRE(data.ok());
  CHECK(data->true_weights.size() == 50);
  CHECK(data->true_weights.count() == options.num_nonzeros);  // count(): non-zeros.
  REQUIRE(static_cast<std::int64_t>(data->support.size()) == options.num_nonzeros);
  CHECK(std::is_sorted(data->support.begin(), data->support.end()));
  for (const std::int64_t j : data->support) {
    CHECK(std::abs(data->true_weights(j)) >= 0.5f * 2.0f);
    CHECK(std::abs(data->true_weights(j)) < 1.5f * 2.0f);
  }
}

TEST_CASE("synthetic labels follow the true logistic model", "[algo][data][synthetic]") {
  SparseLogisticOptions options = SmallOptions();
  Result<SparseLogisticData> data = MakeSparseLogistic(options);
  REQUIRE(data.ok());
  const Dataset& d = data->data;
  CHECK(d.num_samples() == 2000);
  CHECK(d.num_features() == 50);
  CHECK(d.num_classes == 2);
  // The Bayes classifier sign(x·w*) is right far more often than chance, and the
  // classes are roughly balanced with no bias.
  const Eigen::VectorXf margins = d.features * data->true_weights;
  int agree = 0, positives = 0;
  for (std::int64_t i = 0; i < d.num_samples(); ++i) {
    const int label = d.labels[static_cast<std::size_t>(i)];
    agree += (margins(i) > 0) == (label == 1);
    positives += label;
  }
  CHECK(agree > 1700);
  CHECK(positives > 850);
  CHECK(positives < 1150);
  // Features are standard normal.
  CHECK(d.features.mean() == Approx(0.0).margin(0.02));
  CHECK(d.features.squaredNorm() / static_cast<double>(d.features.size()) ==
        Approx(1.0).margin(0.03));

  SECTION("a positive bias raises the positive rate") {
    options.bias = 3.0;
    Result<SparseLogisticData> biased = MakeSparseLogistic(options);
    REQUIRE(biased.ok());
    const auto biased_positives =
        std::count(biased->data.labels.begin(), biased->data.labels.end(), 1);
    CHECK(biased_positives > positives + 300);
    CHECK(biased->true_bias == 3.0f);
  }
}

TEST_CASE("more synthetic samples extend the same stream", "[algo][data][synthetic]") {
  SparseLogisticOptions options = SmallOptions();
  Result<SparseLogisticData> full = MakeSparseLogistic(options);
  options.num_samples = 100;
  Result<SparseLogisticData> prefix = MakeSparseLogistic(options);
  REQUIRE((full.ok() && prefix.ok()));
  CHECK(prefix->true_weights == full->true_weights);
  CHECK(prefix->data.features == full->data.features.topRows(100));
  CHECK(std::equal(prefix->data.labels.begin(), prefix->data.labels.end(),
                   full->data.labels.begin()));
}

TEST_CASE("sparse synthetic features have the requested density", "[algo][data][synthetic]") {
  SparseLogisticOptions options = SmallOptions();
  options.feature_density = 0.1;
  Result<SparseLogisticData> data = MakeSparseLogistic(options);
  REQUIRE(data.ok());
  const double density =
      static_cast<double>(data->data.features.count()) / static_cast<double>(2000 * 50);
  CHECK(density == Approx(0.1).margin(0.01));
}

TEST_CASE("sparse softmax data has a shared sparse support", "[algo][data][synthetic]") {
  SparseLogisticOptions options = SmallOptions();
  options.num_classes = 4;
  options.weight_scale = 3.0;
  Result<SparseSoftmaxData> data = MakeSparseSoftmax(options);
  REQUIRE(data.ok());
  CHECK(data->true_weights.rows() == 4);
  CHECK(data->true_weights.cols() == 50);
  CHECK(data->true_weights.count() == 4 * 5);
  CHECK(data->data.num_classes == 4);
  for (const std::int64_t j : data->support) CHECK(data->true_weights.col(j).count() == 4);
  // argmax of the true logits predicts the label well above chance (0.25).
  const Eigen::MatrixXf logits = data->data.features * data->true_weights.transpose();
  int agree = 0;
  for (std::int64_t i = 0; i < logits.rows(); ++i) {
    Eigen::Index best = 0;
    logits.row(i).maxCoeff(&best);
    agree += best == data->data.labels[static_cast<std::size_t>(i)];
  }
  CHECK(agree > 1400);
  Result<SparseSoftmaxData> again = MakeSparseSoftmax(options);
  REQUIRE(again.ok());
  CHECK(again->data.labels == data->data.labels);
}

TEST_CASE("synthetic options outside their ranges are rejected", "[algo][data][synthetic]") {
  SparseLogisticOptions options = SmallOptions();
  SECTION("k > d") { options.num_nonzeros = 51; }
  SECTION("no samples") { options.num_samples = 0; }
  SECTION("zero density") { options.feature_density = 0.0; }
  SECTION("zero scale") { options.weight_scale = 0.0; }
  Result<SparseLogisticData> data = MakeSparseLogistic(options);
  REQUIRE_FALSE(data.ok());
  CHECK(data.error().code() == StatusCode::kInvalidArgument);

  SparseLogisticOptions one_class = SmallOptions();
  one_class.num_classes = 1;
  CHECK(MakeSparseSoftmax(one_class).error().code() == StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sotto::algo
