#include "topology/mixing_weights.h"

#include <cmath>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "topology/generators.h"

namespace sotto::topology {
namespace {

Graph MustMake(const std::string& spec, int n, std::uint64_t seed = 1) {
  Result<Graph> g = MakeGraph(spec, n, seed);
  INFO(g.status().ToString());
  REQUIRE(g.has_value());
  return *g;
}

TEST_CASE("mixing matrices are symmetric and doubly stochastic within 1e-12",
          "[topology][weights]") {
  const auto [spec, n] = GENERATE(table<std::string, int>({{"ring", 1},
                                                           {"ring", 2},
                                                           {"ring", 17},
                                                           {"torus", 36},
                                                           {"hypercube", 32},
                                                           {"exp", 50},
                                                           {"regular:d=5", 40},
                                                           {"erdos:p=0.2", 60},
                                                           {"complete", 12},
                                                           {"star", 25}}));
  const WeightRule rule =
      GENERATE(WeightRule::kMetropolisHastings, WeightRule::kMaxDegree, WeightRule::kUniform);
  INFO(spec << " on " << n << ", rule " << static_cast<int>(rule));
  const Graph g = MustMake(spec, n);
  const Eigen::MatrixXd w = MixingMatrix(g, rule);
  CHECK(CheckMixingMatrix(w, 1e-12).ok());
  CHECK(AsymmetryOf(w) == 0.0);
  CHECK(StochasticityErrorOf(w) < 1e-12);
  // Supported on edges plus the diagonal.
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) {
      if (i != j && !g.HasEdge(i, j)) CHECK(w(i, j) == 0.0);
      if (i != j && g.HasEdge(i, j)) CHECK(w(i, j) > 0.0);
    }
  }
  // The row helpers agree with the dense matrix.
  const std::vector<MixingRow> rows = MixingRows(g, rule);
  for (int i = 0; i < n; ++i) {
    const MixingRow row = LocalMixingRow(g, i, rule);
    CHECK(row.neighbours == g.neighbours(i));
    CHECK(row.self_weight == w(i, i));
    CHECK(rows[static_cast<std::size_t>(i)].weights == row.weights);
    for (std::size_t k = 0; k < row.neighbours.size(); ++k) {
      CHECK(row.weights[k] == w(i, row.neighbours[k]));
    }
  }
}

TEST_CASE("ring spectral gap is (2/3)(1 - cos(2 pi / n)) with MH weights", "[topology][weights]") {
  // W = I/3 + (P + P^T)/3 has eigenvalues 1/3 + (2/3) cos(2 pi k / n).
  for (int n : {4, 5, 10, 64, 200}) {
    const double want = 2.0 / 3.0 * (1.0 - std::cos(2.0 * std::numbers::pi / n));
    const Graph g = RingGraph(n);
    CHECK(SpectralGapOf(g, WeightRule::kMetropolisHastings) == Approx(want).epsilon(1e-9));
    CHECK(SpectralGapOf(g, WeightRule::kMaxDegree) == Approx(want).epsilon(1e-9));
  }
  CHECK(SpectralGapOf(RingGraph(3), WeightRule::kMetropolisHastings) == Approx(1.0));
}

TEST_CASE("known spectral gaps: complete, hypercube, star, disconnected", "[topology][weights]") {
  for (int n : {2, 5, 32}) {  // W = J/n: one round averages.
    CHECK(SpectralGapOf(CompleteGraph(n), WeightRule::kMetropolisHastings) == Approx(1.0));
  }
  // Hypercube of dimension d: W = (I + A)/(d+1), eigenvalues (d+1-2j)/(d+1): gap 2/(d+1).
  CHECK(SpectralGapOf(*HypercubeGraph(16), WeightRule::kMetropolisHastings) == Approx(0.4));
  CHECK(SpectralGapOf(*HypercubeGraph(256), WeightRule::kMetropolisHastings) == Approx(2.0 / 9));
  // Star with MH: w_0j = 1/n; the leaves' subspace orthogonal to 1 keeps eigenvalue 1 - 1/n.
  CHECK(SpectralGapOf(StarGraph(10), WeightRule::kMetropolisHastings) == Approx(0.1));
  CHECK(SpectralGap(Eigen::MatrixXd::Identity(1, 1)) == 1.0);
  Graph split(4);
  split.AddEdge(0, 1);
  split.AddEdge(2, 3);
  CHECK(SpectralGapOf(split, WeightRule::kMetropolisHastings) == Approx(0.0).margin(1e-12));
}

TEST_CASE("consensus rounds follow from the gap", "[topology][weights]") {
  CHECK(ConsensusRounds(0.5, 1e-3) == 10.0);  // 0.5^10 < 1e-3 < 0.5^9.
  CHECK(ConsensusRounds(1.0, 1e-6) == 1.0);
  CHECK(std::isinf(ConsensusRounds(0.0, 1e-6)));
  const double small_gap = 1e-3;
  CHECK(ConsensusRounds(small_gap, std::exp(-1.0)) == Approx(1.0 / small_gap).epsilon(1e-3));
}

TEST_CASE("local MH weights from degrees alone match the graph's row", "[topology][weights]") {
  const Graph g = MustMake("erdos:p=0.15", 80, 4);
  for (int i = 0; i < g.num_nodes(); ++i) {
    std::vector<int> degrees;
    for (int j : g.neighbours(i)) degrees.push_back(g.degree(j));
    const MixingRow local = LocalMetropolisHastingsRow(degrees);
    const MixingRow full = LocalMixingRow(g, i, WeightRule::kMetropolisHastings);
    CHECK(local.weights == full.weights);
    CHECK(local.self_weight == Approx(full.self_weight).margin(1e-15));
  }
  const std::vector<int> stale = {1, 7, 2};  // Any degrees >= 1 give a valid row.
  const MixingRow row = LocalMetropolisHastingsRow(stale);
  CHECK(row.self_weight > 0.0);
  CHECK(row.weights == std::vector<double>{0.25, 0.125, 0.25});
  CHECK(LocalMetropolisHastingsRow({}).self_weight == 1.0);
}

TEST_CASE("matrix checks explain what is wrong", "[topology][weights]") {
  Eigen::MatrixXd w(2, 2);
  w << 0.5, 0.5, 0.4, 0.6;
  CHECK_THAT(CheckMixingMatrix(w).message(), Catch::Contains("not symmetric"));
  w << 0.5, 0.4, 0.4, 0.5;
  CHECK_THAT(CheckMixingMatrix(w).message(), Catch::Contains("not doubly stochastic"));
  w << 1.5, -0.5, -0.5, 1.5;
  CHECK_THAT(CheckMixingMatrix(w).message(), Catch::Contains("negative"));
  CHECK_THAT(CheckMixingMatrix(Eigen::MatrixXd(2, 3)).message(), Catch::Contains("square"));
}

TEST_CASE("weight rules parse from config strings", "[topology][weights]") {
  CHECK(*ParseWeightRule("mh") == WeightRule::kMetropolisHastings);
  CHECK(*ParseWeightRule("max-degree") == WeightRule::kMaxDegree);
  CHECK(*ParseWeightRule("uniform") == WeightRule::kUniform);
  CHECK_THAT(ParseWeightRule("equal").error().message(), Catch::Contains("want mh, max-degree"));
}

}  // namespace
}  // namespace sotto::topology
