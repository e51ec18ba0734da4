#include "topology/topology_spec.h"

#include <string>

#include <catch2/catch.hpp>

#include "topology/graph.h"

namespace sotto::topology {
namespace {

std::string ErrorOf(const std::string& text) {
  const Result<TopologySpec> spec = ParseTopologySpec(text);
  REQUIRE_FALSE(spec.has_value());
  CHECK(spec.error().code() == StatusCode::kInvalidArgument);
  return spec.error().message();
}

TEST_CASE("topology specs parse and round-trip", "[topology][spec]") {
  const std::string text =
      GENERATE("ring", "torus", "torus:r=4,c=8", "hypercube", "exp", "regular:d=4", "erdos:p=0.1",
               "complete", "star", "edges:0-1,1-2,2-0");
  const Result<TopologySpec> spec = ParseTopologySpec(text);
  INFO(text << ": " << spec.status().ToString());
  REQUIRE(spec.has_value());
  CHECK(ToString(*spec) == text);
  CHECK(*ParseTopologySpec(ToString(*spec)) == *spec);
}

TEST_CASE("topology specs tolerate blanks and aliases", "[topology][spec]") {
  const TopologySpec spec = *ParseTopologySpec("  regular : d = 6 ");
  CHECK(spec.family == TopologyFamily::kRegular);
  CHECK(spec.degree == 6);
  CHECK(ParseTopologySpec("exponential")->family == TopologyFamily::kExponential);
  CHECK(ParseTopologySpec("erdos:p=1")->probability == 1.0);
}

TEST_CASE("bad topology specs give clear errors", "[topology][spec]") {
  CHECK_THAT(ErrorOf(""), Catch::Contains("empty name"));
  CHECK_THAT(ErrorOf("banana"), Catch::Contains("unknown family \"banana\"; want one of ring"));
  CHECK_THAT(ErrorOf("regular"), Catch::Contains("missing degree (write regular:d=4)"));
  CHECK_THAT(ErrorOf("regular:"), Catch::Contains("nothing after ':'"));
  CHECK_THAT(ErrorOf("regular:d=four"), Catch::Contains("d must be an integer >= 1"));
  CHECK_THAT(ErrorOf("regular:d=0"), Catch::Contains("d must be an integer >= 1"));
  CHECK_THAT(ErrorOf("regular:k=4"), Catch::Contains("unknown parameter \"k\" for regular"));
  CHECK_THAT(ErrorOf("regular:d"), Catch::Contains("is not KEY=VALUE"));
  CHECK_THAT(ErrorOf("erdos"), Catch::Contains("write erdos:p=0.1"));
  CHECK_THAT(ErrorOf("erdos:p=1.5"), Catch::Contains("p must be a number in (0, 1]"));
  CHECK_THAT(ErrorOf("erdos:p=0"), Catch::Contains("p must be a number in (0, 1]"));
  CHECK_THAT(ErrorOf("erdos:p=nan"), Catch::Contains("p must be a number in (0, 1]"));
  CHECK_THAT(ErrorOf("ring:d=2"), Catch::Contains("unknown parameter \"d\" for ring"));
  CHECK_THAT(ErrorOf("torus:r=2,c=8"), Catch::Contains("sides must be integers >= 3"));
  CHECK_THAT(ErrorOf("torus:r=4"), Catch::Contains("give both sides"));
  CHECK_THAT(ErrorOf("edges:"), Catch::Contains("empty edge list"));
  CHECK_THAT(ErrorOf("edges:0-1,1+2"), Catch::Contains("bad edge \"1+2\""));
  // The whole spec is quoted so the user can find it in the config.
  CHECK_THAT(ErrorOf("regular:d=x"), Catch::StartsWith("topology \"regular:d=x\": "));
}

TEST_CASE("MakeGraph reports spec errors and builds inline edge lists", "[topology][spec]") {
  CHECK_THAT(MakeGraph("hypercub", 8, 1).error().message(), Catch::Contains("unknown family"));
  const Result<Graph> g = MakeGraph("edges:0-1, 1-2, 2-3", 4, 1);
  REQUIRE(g.has_value());
  CHECK(g->num_edges() == 3);
  CHECK_THAT(MakeGraph("edges:0-1,2-3", 4, 1).error().message(), Catch::Contains("not connected"));
  CHECK_THAT(MakeGraph("edges:0-1,1-9", 4, 1).error().message(),
             Catch::Contains("node outside 0..3"));
  CHECK_THAT(MakeGraph("edges:0-1,1-1", 2, 1).error().message(), Catch::Contains("self loop"));
}

}  // namespace
}  // namespace sotto::topology
