#include "topology/membership_view.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "common/random.h"

namespace sotto::topology {
namespace {

std::vector<std::uint64_t> RandomIds(Rng& rng, int n) {
  std::set<std::uint64_t> ids;
  while (static_cast<int>(ids.size()) < n) ids.insert(rng.NextU64());
  return {ids.begin(), ids.end()};
}

Graph MustView(const std::vector<std::uint64_t>& ids, const std::string& spec, std::uint64_t seed) {
  Result<Graph> g = GraphFromView(ids, spec, seed);
  INFO(spec << " on " << ids.size() << " members: " << g.status().ToString());
  REQUIRE(g.has_value());
  return *g;
}

TEST_CASE("every member derives the same graph from the view", "[topology][view]") {
  const std::string spec = GENERATE("ring", "exp", "regular:d=4", "regular:d=6", "complete");
  Rng rng(11);
  const std::vector<std::uint64_t> ids = RandomIds(rng, 40);
  const Graph g = MustView(ids, spec, 5);
  CHECK(g.IsConnected());
  CHECK(g.IsSymmetric());
  for (std::size_t k = 0; k < ids.size(); ++k) {
    // Each member works from its own copy of the list.
    const std::vector<std::uint64_t> copy(ids.begin(), ids.end());
    const Result<std::vector<std::uint64_t>> mine = NeighboursInView(copy, ids[k], spec, 5);
    REQUIRE(mine.has_value());
    std::vector<std::uint64_t> want;
    for (int j : g.neighbours(static_cast<int>(k)))
      want.push_back(ids[static_cast<std::size_t>(j)]);
    CHECK(*mine == want);
    CHECK(std::is_sorted(mine->begin(), mine->end()));
  }
  CHECK(MustView(ids, spec, 5).Edges() == g.Edges());
}

TEST_CASE("view graphs have the documented degrees", "[topology][view]") {
  Rng rng(3);
  const std::vector<std::uint64_t> ids = RandomIds(rng, 256);
  const Graph ring = MustView(ids, "ring", 1);
  CHECK(ring.MinDegree() == 2);
  CHECK(ring.MaxDegree() == 2);
  const Graph regular = MustView(ids, "regular:d=4", 1);
  const double mean4 = 2.0 * static_cast<double>(regular.num_edges()) / 256;
  CHECK(mean4 > 3.7);
  CHECK(mean4 <= 4.0);
  CHECK(regular.MinDegree() >= 3);
  const Graph exp = MustView(ids, "exp", 1);
  const double mean_exp = 2.0 * static_cast<double>(exp.num_edges()) / 256;
  CHECK(mean_exp > 0.8 * 2 * 8);
  CHECK(mean_exp < 1.3 * 2 * 8);
  CHECK(MustView(ids, "complete", 1).num_edges() == 256 * 255 / 2);
  // The seed moves members around the hash ring.
  CHECK(MustView(ids, "ring", 2).Edges() != ring.Edges());
}

TEST_CASE("small views are sensible", "[topology][view]") {
  const std::string spec = GENERATE("ring", "exp", "regular:d=4", "complete");
  INFO(spec);
  const std::vector<std::uint64_t> one = {42};
  CHECK(MustView(one, spec, 1).num_edges() == 0);
  const std::vector<std::uint64_t> two = {3, 42};
  CHECK(MustView(two, spec, 1).num_edges() == 1);
  CHECK(*NeighboursInView(two, 42, spec, 1) == std::vector<std::uint64_t>{3});
  const std::vector<std::uint64_t> three = {3, 9, 42};
  CHECK(MustView(three, spec, 1).num_edges() == 3);
  // regular:d=4 on at most 5 members is the complete graph.
  const std::vector<std::uint64_t> five = {1, 2, 3, 4, 5};
  if (spec == "regular:d=4") CHECK(MustView(five, spec, 1).num_edges() == 10);
}

TEST_CASE("the view graph stays connected and rewires locally under churn", "[topology][view]") {
  const std::string spec = GENERATE("ring", "exp", "regular:d=4");
  INFO(spec);
  Rng rng(std::hash<std::string>()(spec));
  std::vector<std::uint64_t> ids = RandomIds(rng, 60);
  Graph graph = MustView(ids, spec, 9);
  double total_changes = 0;
  const int events = 150;
  for (int e = 0; e < events; ++e) {
    std::vector<std::uint64_t> next = ids;
    const bool join = next.size() <= 3 || rng.UniformInt(2) == 0;
    if (join) {
      next.push_back(rng.NextU64());
      std::sort(next.begin(), next.end());
    } else {
      next.erase(next.begin() + static_cast<std::ptrdiff_t>(rng.UniformInt(next.size())));
    }
    const Graph after = MustView(next, spec, 9);
    REQUIRE(after.IsConnected());
    const EdgeChanges changes = CompareViewGraphs(ids, graph, next, after);
    if (spec == "ring" && std::min(ids.size(), next.size()) >= 3) CHECK(changes.total() == 3);
    total_changes += static_cast<double>(changes.total());
    ids = std::move(next);
    graph = after;
  }
  const double mean = total_changes / events;
  if (spec == "regular:d=4") CHECK(mean < 9.0);  // About 3 + 3k = 6 (k = 1 chord).
  if (spec == "exp") CHECK(mean < 4 * std::log2(60.0));
}

TEST_CASE("bad views and specs give clear errors", "[topology][view]") {
  const std::vector<std::uint64_t> ids = {1, 5, 9, 12};
  const std::vector<std::uint64_t> unsorted = {1, 9, 5};
  const std::vector<std::uint64_t> repeated = {1, 5, 5};
  const std::vector<std::uint64_t> empty;
  CHECK_THAT(GraphFromView(unsorted, "ring", 1).error().message(),
             Catch::Contains("not strictly increasing at position 2 (9, 5)"));
  CHECK_THAT(GraphFromView(repeated, "ring", 1).error().message(),
             Catch::Contains("not strictly increasing"));
  CHECK_THAT(GraphFromView(empty, "ring", 1).error().message(), Catch::Contains("empty"));
  CHECK_THAT(GraphFromView(ids, "torus", 1).error().message(),
             Catch::Contains("not supported for a membership view"));
  CHECK_THAT(GraphFromView(ids, "rign", 1).error().message(), Catch::Contains("unknown family"));
  const Result<std::vector<std::uint64_t>> stranger = NeighboursInView(ids, 7, "ring", 1);
  REQUIRE_FALSE(stranger.has_value());
  CHECK(stranger.error().code() == StatusCode::kNotFound);
}

TEST_CASE("edge changes compare graphs by member id", "[topology][view]") {
  const std::vector<std::uint64_t> before = {10, 20, 30};
  const std::vector<std::uint64_t> after = {10, 20, 30, 40};
  Graph a(3), b(4);
  a.AddEdge(0, 1);
  a.AddEdge(1, 2);
  b.AddEdge(0, 1);
  b.AddEdge(2, 3);
  const EdgeChanges changes = CompareViewGraphs(before, a, after, b);
  CHECK(changes.added == 1);
  CHECK(changes.removed == 1);
}

}  // namespace
}  // namespace sotto::topology
