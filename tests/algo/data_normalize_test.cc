#include <cmath>

#include <catch2/catch.hpp>

#include "algo/normalize.h"

namespace sotto::algo {
namespace {

Dataset Toy() {
  Dataset data;
  data.features.resize(4, 3);
  // Column 0: mean 2.5, std sqrt(1.25); column 1 constant; column 2 mean 0, std 10.
  data.features << 1, 7, -10, 2, 7, 10, 3, 7, -10, 4, 7, 10;
  data.labels = {0, 1, 0, 1};
  data.num_classes = 2;
  data.name = "toy";
  return data;
}

TEST_CASE("standardisation fitted on train gives zero mean and unit variance",
          "[algo][data][normalize]") {
  Dataset train = Toy();
  Result<Standardizer> scaler = Standardizer::Fit(train);
  REQUIRE(scaler.ok());
  CHECK(scaler->mean()(0) == Approx(2.5));
  CHECK(scaler->stddev()(0) == Approx(std::sqrt(1.25)));
  CHECK(scaler->stddev()(1) == 0.0f);
  CHECK(scaler->stddev()(2) == Approx(10.0));
  REQUIRE(scaler->Apply(train).ok());
  CHECK(train.features.allFinite());
  CHECK(train.features.col(0).mean() == Approx(0.0).margin(1e-6));
  CHECK(train.features.col(0).squaredNorm() / 4 == Approx(1.0));
  CHECK(train.features.col(1).isZero());  // Zero variance: centred, not divided by 0.
  CHECK(train.features(1, 2) == Approx(1.0));
}

TEST_CASE("test data uses the statistics of the training data", "[algo][data][normalize]") {
  const Dataset train = Toy();
  Result<Standardizer> scaler = Standardizer::Fit(train);
  REQUIRE(scaler.ok());
  Dataset test;
  test.features.resize(1, 3);
  test.features << 2.5f, 8, 20;
  REQUIRE(scaler->Apply(test).ok());
  CHECK(test.features(0, 0) == Approx(0.0).margin(1e-6));
  CHECK(test.features(0, 1) == Approx(1.0));  // Constant on train: only shifted.
  CHECK(test.features(0, 2) == Approx(2.0));

  Dataset wrong;
  wrong.features.resize(1, 2);
  wrong.name = "wrong";
  const Status status = scaler->Apply(wrong);
  CHECK(status.code() == StatusCode::kInvalidArgument);
  CHECK_THAT(status.message(), Catch::Contains("wrong has 2 features, fitted on 3"));
}

TEST_CASE("standardisation without centring keeps zeros zero", "[algo][data][normalize]") {
  Dataset data = Toy();
  data.features(0, 0) = 0;
  StandardizeOptions options;
  options.center = false;
  Result<Standardizer> scaler = Standardizer::Fit(data, options);
  REQUIRE(scaler.ok());
  REQUIRE(scaler->Apply(data).ok());
  CHECK(data.features(0, 0) == 0.0f);
  CHECK(data.features(0, 1) == 7.0f);  // Zero variance: left unscaled.
  CHECK(data.features(1, 2) == Approx(1.0));
}

TEST_CASE("standardisation rejects empty or non-finite training data", "[algo][data][normalize]") {
  Dataset empty;
  empty.features.resize(0, 3);
  CHECK(Standardizer::Fit(empty).error().code() == StatusCode::kInvalidArgument);
  Dataset bad = Toy();
  bad.features(2, 1) = std::nanf("");
  CHECK(Standardizer::Fit(bad).error().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("rows scale to unit norm and zero rows stay zero", "[algo][data][normalize]") {
  Dataset data;
  data.features.resize(2, 2);
  data.features << 3, 4, 0, 0;
  NormalizeRowsToUnitNorm(data);
  CHECK(data.features(0, 0) == Approx(0.6));
  CHECK(data.features(0, 1) == Approx(0.8));
  CHECK(data.features.row(1).isZero());
}

}  // namespace
}  // namespace sotto::algo
