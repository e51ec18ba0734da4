#include "topology/generators.h"

#include <cmath>
#include <set>
#include <string>

#include <catch2/catch.hpp>

#include "topology/graph.h"

namespace sotto::topology {
namespace {

Graph MustMake(const std::string& spec, int n, std::uint64_t seed = 1) {
  Result<Graph> g = MakeGraph(spec, n, seed);
  INFO(spec << " on " << n << " nodes: " << g.status().ToString());
  REQUIRE(g.has_value());
  return *g;
}

void RequireDegrees(const Graph& g, int lo, int hi) {
  CHECK(g.MinDegree() == lo);
  CHECK(g.MaxDegree() == hi);
}

TEST_CASE("every generator gives a connected symmetric graph", "[topology][generators]") {
  const auto [spec, n] = GENERATE(table<std::string, int>(
      {{"ring", 3},         {"ring", 10},        {"ring", 1024},        {"torus", 9},
       {"torus", 12},       {"torus", 64},       {"torus", 1024},       {"hypercube", 4},
       {"hypercube", 64},   {"exp", 3},          {"exp", 10},           {"exp", 64},
       {"exp", 1000},       {"regular:d=3", 10}, {"regular:d=4", 64},   {"regular:d=6", 101},
       {"regular:d=2", 50}, {"erdos:p=0.3", 30}, {"erdos:p=0.05", 400}, {"complete", 5},
       {"complete", 64},    {"star", 3},         {"star", 64}}));
  const Graph g = MustMake(spec, n);
  INFO(spec << " on " << n);
  CHECK(g.num_nodes() == n);
  CHECK(g.IsConnected());
  CHECK(g.IsSymmetric());
}

TEST_CASE("generators have the documented degrees and edge counts", "[topology][generators]") {
  SECTION("ring") {
    const Graph g = MustMake("ring", 10);
    RequireDegrees(g, 2, 2);
    CHECK(g.num_edges() == 10);
    CHECK(g.HasEdge(9, 0));
  }
  SECTION("torus picks the squarest factorisation") {
    const Graph g = MustMake("torus", 32);  // 4 x 8
    RequireDegrees(g, 4, 4);
    CHECK(g.num_edges() == 64);
    CHECK(g.HasEdge(0, 7));   // Row wrap.
    CHECK(g.HasEdge(0, 24));  // Column wrap.
    CHECK(MustMake("torus:r=3,c=5", 15).num_edges() == 30);
  }
  SECTION("hypercube") {
    const Graph g = MustMake("hypercube", 16);
    RequireDegrees(g, 4, 4);
    CHECK(g.HasEdge(5, 13));
  }
  SECTION("exponential: i +- 2^k mod n") {
    for (int n : {3, 10, 16, 33, 64}) {
      const Graph g = MustMake("exp", n);
      for (int i = 0; i < n; ++i) {
        std::set<int> want;
        for (int step = 1; step < n; step *= 2) {
          want.insert((i + step) % n);
          want.insert(((i - step) % n + n) % n);
        }
        want.erase(i);
        CHECK(static_cast<std::size_t>(g.degree(i)) == want.size());
        for (int j : want) CHECK(g.HasEdge(i, j));
      }
    }
    RequireDegrees(MustMake("exp", 16), 7, 7);
  }
  SECTION("random regular is regular, seeded and reproducible") {
    for (int d : {3, 4, 5, 8}) {
      const Graph a = MustMake("regular:d=" + std::to_string(d), 40, 7);
      RequireDegrees(a, d, d);
      CHECK(a.Edges() == MustMake("regular:d=" + std::to_string(d), 40, 7).Edges());
      CHECK(a.Edges() != MustMake("regular:d=" + std::to_string(d), 40, 8).Edges());
    }
    RequireDegrees(MustMake("regular:d=4", 5), 4, 4);  // d = n-1: complete.
  }
  SECTION("erdos-renyi is seeded and has about p*n(n-1)/2 edges") {
    const Graph a = MustMake("erdos:p=0.2", 100, 3);
    CHECK(a.Edges() == MustMake("erdos:p=0.2", 100, 3).Edges());
    CHECK(std::abs(static_cast<double>(a.num_edges()) - 990.0) < 5 * std::sqrt(990.0));
  }
  SECTION("complete and star") {
    RequireDegrees(MustMake("complete", 7), 6, 6);
    const Graph s = MustMake("star", 7);
    CHECK(s.degree(0) == 6);
    for (int i = 1; i < 7; ++i) CHECK(s.degree(i) == 1);
  }
}

TEST_CASE("tiny graphs are sensible for every family", "[topology][generators]") {
  const std::string spec = GENERATE("ring", "torus", "hypercube", "exp", "regular:d=4",
                                    "erdos:p=0.1", "complete", "star");
  INFO(spec);
  const Graph one = MustMake(spec, 1);
  CHECK(one.num_nodes() == 1);
  CHECK(one.num_edges() == 0);
  CHECK(one.IsConnected());
  const Graph two = MustMake(spec, 2);
  CHECK(two.num_edges() == 1);
  CHECK(two.HasEdge(0, 1));
}

TEST_CASE("three nodes: the ring is a triangle, bad sizes are explained",
          "[topology][generators]") {
  CHECK(MustMake("ring", 3).num_edges() == 3);
  CHECK(MustMake("exp", 3).num_edges() == 3);
  CHECK(MustMake("star", 3).num_edges() == 2);
  CHECK(MustMake("regular:d=2", 3).num_edges() == 3);
  const Result<Graph> cube = MakeGraph("hypercube", 3, 1);
  REQUIRE_FALSE(cube.has_value());
  CHECK(cube.error().code() == StatusCode::kInvalidArgument);
  CHECK_THAT(cube.error().message(), Catch::Contains("power of 2"));
  CHECK_THAT(MakeGraph("torus", 3, 1).error().message(), Catch::Contains("r x c"));
}

TEST_CASE("size errors name the problem and a way out", "[topology][generators]") {
  const auto message = [](const std::string& spec, int n) {
    const Result<Graph> g = MakeGraph(spec, n, 1);
    REQUIRE_FALSE(g.has_value());
    CHECK(g.error().code() == StatusCode::kInvalidArgument);
    return g.error().message();
  };
  CHECK_THAT(message("torus", 14), Catch::Contains("nearest valid sizes are 12 and 15"));
  CHECK_THAT(message("torus", 13), Catch::Contains("topology \"torus\""));
  CHECK_THAT(message("hypercube", 12), Catch::Contains("nearest: 8 or 16"));
  CHECK_THAT(message("regular:d=3", 9), Catch::Contains("n*d must be even"));
  CHECK_THAT(message("regular:d=9", 8), Catch::Contains("d must be < n"));
  CHECK_THAT(message("regular:d=1", 6), Catch::Contains("disconnected"));
  CHECK_THAT(message("erdos:p=0.001", 200), Catch::Contains("ln(n)/n"));
  CHECK_THAT(message("torus:r=4,c=8", 30), Catch::Contains("r*c = 32"));
  CHECK_THAT(message("ring", 0), Catch::Contains("at least 1 node"));
  CHECK_THAT(message("ring", -3), Catch::Contains("at least 1 node"));
}

TEST_CASE("one-peer exponential uses one new peer per round and averages exactly",
          "[topology][generators]") {
  for (int n : {2, 5, 12, 16, 64}) {
    const int period = OnePeerExponentialPeriod(n);
    Eigen::MatrixXd product = Eigen::MatrixXd::Identity(n, n);
    for (std::uint64_t t = 0; t < static_cast<std::uint64_t>(period); ++t) {
      const Eigen::MatrixXd w = OnePeerExponentialMatrix(n, t);
      CHECK((w.rowwise().sum().array() - 1.0).abs().maxCoeff() < 1e-12);
      CHECK((w.colwise().sum().array() - 1.0).abs().maxCoeff() < 1e-12);
      for (int i = 0; i < n; ++i) {
        const OnePeerRound r = OnePeerExponential(i, n, t);
        CHECK(r.send_to != i);
        CHECK(OnePeerExponential(r.send_to, n, t).receive_from == i);
        if (t > 0) CHECK(r.send_to != OnePeerExponential(i, n, t - 1).send_to);
      }
      product = w * product;
    }
    if ((n & (n - 1)) == 0) {
      const Eigen::MatrixXd average = Eigen::MatrixXd::Constant(n, n, 1.0 / n);
      CHECK((product - average).cwiseAbs().maxCoeff() < 1e-12);
    }
  }
  const OnePeerRound alone = OnePeerExponential(0, 1, 5);
  CHECK(alone.self_weight == 1.0);
  CHECK(alone.peer_weight == 0.0);
}

}  // namespace
}  // namespace sotto::topology
