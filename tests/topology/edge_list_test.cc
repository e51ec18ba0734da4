#include "topology/edge_list.h"

#include <string>

#include <catch2/catch.hpp>

namespace sotto::topology {
namespace {

std::string ErrorOf(const std::string& text, int num_nodes = 0) {
  const Result<Graph> g = ParseEdgeList(text, num_nodes);
  REQUIRE_FALSE(g.has_value());
  CHECK(g.error().code() == StatusCode::kInvalidArgument);
  return g.error().message();
}

TEST_CASE("edge-list files parse with comments, separators and repeats", "[topology][edges]") {
  const std::string text =
      "# a 5-node path plus a chord\n"
      "nodes 5\n"
      "\n"
      "0 1\n"
      "1,2   # comma\n"
      "2-3\n"
      "3\t4\r\n"
      "1 0\n"  // The other orientation: merged.
      "0 4\n";
  const Result<Graph> g = ParseEdgeList(text);
  INFO(g.status().ToString());
  REQUIRE(g.has_value());
  CHECK(g->num_nodes() == 5);
  CHECK(g->num_edges() == 5);
  CHECK(g->HasEdge(4, 0));
  // Without a "nodes" line n is the largest index + 1.
  CHECK(ParseEdgeList("0 1\n1 2")->num_nodes() == 3);
  CHECK(ParseEdgeList("0 1\n", 2)->num_edges() == 1);
}

TEST_CASE("edge-list errors carry line numbers", "[topology][edges]") {
  CHECK(ErrorOf("0 1\n1 2\n2 x\n") == "edge list line 3: expected two node indices, got \"2 x\"");
  CHECK_THAT(ErrorOf("0 1\n\n1 2 3\n"), Catch::Contains("line 3: expected two node indices"));
  CHECK_THAT(ErrorOf("0 1\n1 1\n"), Catch::Contains("line 2: self loop 1-1"));
  CHECK_THAT(ErrorOf("nodes 3\n0 1\n1 3\n"),
             Catch::Contains("line 3: edge 1-3 names a node outside 0..2"));
  CHECK_THAT(ErrorOf("0 1\n1 5\n", 4), Catch::Contains("line 2: edge 1-5"));
  CHECK_THAT(ErrorOf("0 1\nnodes 2\n"), Catch::Contains("line 2: \"nodes\" must come before"));
  CHECK_THAT(ErrorOf("nodes 4\n0 1\n", 5),
             Catch::Contains("file says 4 nodes, the caller expects 5"));
  CHECK_THAT(ErrorOf("nodes 0\n"), Catch::Contains("line 1: want \"nodes N\""));
  CHECK_THAT(ErrorOf("0 -1\n"), Catch::Contains("line 1: expected two node indices"));
  CHECK_THAT(ErrorOf("0 1\n2 3\n"), Catch::Contains("not connected (node 2 cannot reach node 0)"));
  CHECK_THAT(ErrorOf("# nothing\n"), Catch::Contains("no edges"));
}

}  // namespace
}  // namespace sotto::topology
