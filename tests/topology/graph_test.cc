#include "topology/graph.h"

#include <catch2/catch.hpp>

namespace sotto::topology {
namespace {

TEST_CASE("graph edges are undirected, sorted and deduplicated", "[topology][graph]") {
  Graph g(5);
  g.AddEdge(3, 1);
  g.AddEdge(1, 3);
  g.AddEdge(1, 0);
  g.AddEdge(2, 2);  // Self loops are ignored.
  CHECK(g.num_edges() == 2);
  CHECK(g.neighbours(1) == std::vector<int>{0, 3});
  CHECK(g.HasEdge(3, 1));
  CHECK_FALSE(g.HasEdge(2, 2));
  CHECK_FALSE(g.HasEdge(0, 7));
  CHECK(g.Edges() == std::vector<std::pair<int, int>>{{0, 1}, {1, 3}});
  CHECK(g.IsSymmetric());
  CHECK_FALSE(g.IsConnected());
  CHECK(g.ReachableFrom(3) == std::vector<bool>{true, true, false, true, false});
  g.AddEdge(2, 3);
  g.AddEdge(4, 0);
  CHECK(g.IsConnected());
  CHECK(g.MaxDegree() == 2);
  CHECK(g.MinDegree() == 1);
}

TEST_CASE("empty and single-node graphs are connected", "[topology][graph]") {
  CHECK(Graph().IsConnected());
  CHECK(Graph(1).IsConnected());
  CHECK_FALSE(Graph(2).IsConnected());
}

}  // namespace
}  // namespace sotto::topology
