#include <cmath>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <Eigen/Core>

#include "algo/data_synthetic.h"
#include "algo/federated_lab.h"
#include "algo/gradient_code.h"
#include "algo/partition.h"
#include "common/random.h"

namespace sotto::algo {
namespace {

// Random per-part "gradients" g_k and the decoded estimate of sum_k g_k.
struct Parts {
  std::vector<Eigen::VectorXd> g;
  Eigen::VectorXd sum;
};

Parts RandomParts(int n, int dim, std::uint64_t seed) {
  Rng rng(seed);
  Parts p;
  p.sum = Eigen::VectorXd::Zero(dim);
  for (int k = 0; k < n; ++k) {
    Eigen::VectorXd v(dim);
    for (int j = 0; j < dim; ++j) v(j) = rng.Normal() + 0.5 * k;  // Heterogeneous parts.
    p.sum += v;
    p.g.push_back(v);
  }
  return p;
}

Eigen::VectorXd Decode(const GradientCode& code, const Parts& parts, const std::vector<std::uint8_t>& arrived,
                       double p, DecodingRule rule) {
  const std::vector<double> w = code.DecodingWeights(arrived, p, rule).value();
  Eigen::VectorXd est = Eigen::VectorXd::Zero(parts.sum.size());
  for (int i = 0; i < code.nodes(); ++i) {
    if (arrived[static_cast<std::size_t>(i)] == 0) continue;
    Eigen::VectorXd c = Eigen::VectorXd::Zero(parts.sum.size());
    for (int k : code.parts(i)) c += parts.g[static_cast<std::size_t>(k)];
    est += w[static_cast<std::size_t>(i)] * c;
  }
  return est;
}

// Mean and relative mean squared error of the decoded estimate over random straggler draws.
struct DecodeStats {
  double bias = 0;  // ||E est - sum|| / ||sum||.
  double mse = 0;   // E||est - sum||^2 / ||sum||^2.
};

DecodeStats Simulate(const GradientCode& code, const Parts& parts, double p, DecodingRule rule, int draws) {
  Rng rng(99);
  Eigen::VectorXd mean = Eigen::VectorXd::Zero(parts.sum.size());
  double mse = 0;
  for (int t = 0; t < draws; ++t) {
    std::vector<std::uint8_t> arrived(static_cast<std::size_t>(code.nodes()));
    for (auto& a : arrived) a = rng.Uniform01() < p ? 0 : 1;
    const Eigen::VectorXd est = Decode(code, parts, arrived, p, rule);
    mean += est / draws;
    mse += (est - parts.sum).squaredNorm() / draws;
  }
  const double norm_sq = parts.sum.squaredNorm();
  return {(mean - parts.sum).norm() / std::sqrt(norm_sq), mse / norm_sq};
}

TEST_CASE("gradient codes assign every part to exactly s+1 nodes", "[algo][federated][coco]") {
  const int s = GENERATE(0, 1, 3);
  const GradientCodeScheme scheme = GENERATE(GradientCodeScheme::kCyclic, GradientCodeScheme::kFractionalRepetition);
  const auto code = GradientCode::Create(12, s, scheme).value();
  std::vector<int> holders(12, 0);
  for (int i = 0; i < 12; ++i) {
    REQUIRE(code.parts(i).size() == static_cast<std::size_t>(s + 1));
    for (int k : code.parts(i)) ++holders[static_cast<std::size_t>(k)];
  }
  for (int h : holders) CHECK(h == s + 1);
  CHECK(!GradientCode::Create(10, 2, GradientCodeScheme::kFractionalRepetition).ok());  // 3 does not divide 10.
  CHECK(!GradientCode::Create(4, 4, GradientCodeScheme::kCyclic).ok());
  CHECK(!GradientCode::Create(4, 1, GradientCodeScheme::kCyclic).value()
             .DecodingWeights(std::vector<std::uint8_t>(4, 1), 0.1, DecodingRule::kGroup).ok());
}

TEST_CASE("decoding is exact when no node straggles", "[algo][federated][coco]") {
  const Parts parts = RandomParts(12, 8, 1);
  const int s = GENERATE(0, 1, 2, 3);
  for (auto scheme : {GradientCodeScheme::kCyclic, GradientCodeScheme::kFractionalRepetition}) {
    const auto code = GradientCode::Create(12, s, scheme).value();
    const std::vector<std::uint8_t> all(12, 1);
    const Eigen::VectorXd est = Decode(code, parts, all, 0.0, DecodingRule::kFixed);
    CHECK((est - parts.sum).norm() < 1e-9 * parts.sum.norm());
    if (scheme == GradientCodeScheme::kFractionalRepetition) {
      const Eigen::VectorXd g = Decode(code, parts, all, 0.0, DecodingRule::kGroup);
      CHECK((g - parts.sum).norm() < 1e-9 * parts.sum.norm());
    }
  }
}

TEST_CASE("decoding stays unbiased and degrades gracefully as stragglers grow", "[algo][federated][coco]") {
  const Parts parts = RandomParts(12, 8, 2);
  const auto uncoded = GradientCode::Create(12, 0, GradientCodeScheme::kCyclic).value();
  const auto cyclic = GradientCode::Create(12, 2, GradientCodeScheme::kCyclic).value();
  const auto fr = GradientCode::Create(12, 2, GradientCodeScheme::kFractionalRepetition).value();
  double previous = 0;
  for (double p : {0.1, 0.3, 0.5}) {
    const DecodeStats u = Simulate(uncoded, parts, p, DecodingRule::kFixed, 4000);
    const DecodeStats c = Simulate(cyclic, parts, p, DecodingRule::kFixed, 4000);
    const DecodeStats g = Simulate(fr, parts, p, DecodingRule::kGroup, 4000);
    INFO("p = " << p << ": relative MSE uncoded " << u.mse << ", cyclic s=2 " << c.mse << ", fr group " << g.mse
                << "; bias " << u.bias << " " << c.bias << " " << g.bias);
    // Unbiased: the Monte Carlo mean is within a few standard errors of the sum.
    CHECK(u.bias < 3 * std::sqrt(u.mse / 4000) + 1e-3);
    CHECK(c.bias < 3 * std::sqrt(c.mse / 4000) + 1e-3);
    CHECK(g.bias < 3 * std::sqrt(g.mse / 4000) + 1e-3);
    // Redundancy helps; group decoding of fractional repetition helps most.
    CHECK(c.mse < u.mse);
    CHECK(g.mse < c.mse);
    // Graceful: the error grows with p, stays finite, and is near the uncoded
    // estimator's p / (1 - p) times the heterogeneity (never blows up below p = 1).
    CHECK(c.mse > previous);
    CHECK(u.mse < 2.0 * p / (1 - p));
    previous = c.mse;
  }
}

struct Small {
  Dataset data;
  Partition shards;
  ReferenceOptimum optimum;
  double initial_loss = 0;
};

const Small& SmallProblem() {
  static const Small* problem = [] {
    auto* p = new Small;
    SparseLogisticOptions so;
    so.num_samples = 240;
    so.num_features = 10;
    so.num_nonzeros = 5;
    so.seed = 4;
    p->data = MakeSparseLogistic(so).value().data;
    p->shards = PartitionIid(p->data.num_samples(), 6, 4).value();
    auto model = MakeModel("softmax", p->data.num_features(), 2, 0.05).value();
    p->optimum = MinimizeFullBatch(*model, p->data, 5000, 1e-14);
    std::vector<float> zero(static_cast<std::size_t>(model->num_parameters()), 0.0f);
    p->initial_loss = model->Evaluate(zero, p->data).loss;
    return p;
  }();
  return *problem;
}

double Gap(FederatedMethod method, int redundancy, double p, const std::string& compressor, double gamma) {
  const Small& s = SmallProblem();
  FederatedOptions o;
  o.method = method;
  o.nodes = 6;
  o.l2 = 0.05;
  o.seed = 11;
  o.batch_size = 0;  // Full part gradients: the straggler and compression noise is what is left.
  o.redundancy = redundancy;
  o.code = GradientCodeScheme::kCyclic;
  o.straggler_probability = p;
  o.compressor = compressor;
  o.gamma = gamma;
  o.rounds = 1500;
  o.eval_every = 1500;
  o.eval_test = false;
  auto lab = FederatedLab::Create(o, s.data, s.data, s.shards);
  if (!lab.ok()) FAIL(lab.error().ToString());
  FederatedRoundMetrics last;
  const Status st = (*lab)->Run([&](const FederatedRoundMetrics& m) { last = m; });
  if (!st.ok()) FAIL(st.ToString());
  return (last.loss - s.optimum.loss) / (s.initial_loss - s.optimum.loss);
}

TEST_CASE("COCO-EF converges with stragglers and beats uncoded EF there", "[algo][federated][coco]") {
  const double exact = Gap(FederatedMethod::kCocoEf, 1, 0.0, "topk:0.25", 0.2);
  const double coded = Gap(FederatedMethod::kCocoEf, 1, 0.3, "topk:0.25", 0.2);
  const double uncoded = Gap(FederatedMethod::kCocoEf, 0, 0.3, "topk:0.25", 0.2);
  const double unbiased = Gap(FederatedMethod::kCodedUnbiased, 1, 0.3, "randk:0.25", 0.2);
  INFO("relative gap: p=0 " << exact << "; p=0.3 coco-ef " << coded << ", uncoded ef " << uncoded
                            << ", coded unbiased " << unbiased);
  CHECK(exact < 5e-4);
  CHECK(exact < coded);
  CHECK(coded < 1e-2);
  CHECK(uncoded < 1e-1);
  CHECK(unbiased < 1e-1);
  CHECK(coded < uncoded);
}

}  // namespace
}  // namespace sotto::algo
