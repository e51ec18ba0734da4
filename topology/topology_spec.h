#pragma once

// TopologySpec: the parsed form of a topology string from a config file or the
// command line ("ring", "regular:d=4", ...). Pure parsing, no I/O; MakeGraph
// (topology/graph.h) and GraphFromView (topology/membership_view.h) consume it.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace sotto::topology {

enum class TopologyFamily {
  kRing,         // "ring": node i - i+1 (mod n).
  kTorus,        // "torus" or "torus:r=4,c=8": 2-D wrap-around grid.
  kHypercube,    // "hypercube": i - i xor 2^k; needs n a power of 2.
  kExponential,  // "exp": i - i +- 2^k (mod n) for 2^k < n.
  kRegular,      // "regular:d=4": random d-regular (seeded).
  kErdosRenyi,   // "erdos:p=0.1": G(n, p) conditioned on being connected (seeded).
  kComplete,     // "complete".
  kStar,         // "star": node 0 is the hub.
  kEdgeList,     // "edges:0-1,1-2,2-0": explicit, inline.
};

// Grammar: NAME [":" KEY "=" VALUE {"," KEY "=" VALUE}], or "edges:" A "-" B {"," A "-" B}.
// Surrounding whitespace is ignored everywhere; names and keys are lower case.
struct TopologySpec {
  TopologyFamily family = TopologyFamily::kRing;
  int degree = 0;            // kRegular: d >= 1.
  double probability = 0.0;  // kErdosRenyi: p in (0, 1].
  int rows = 0;              // kTorus: 0 means "choose the most square r x c".
  int cols = 0;
  std::vector<std::pair<int, int>> edges;  // kEdgeList: as written (not deduplicated).

  friend bool operator==(const TopologySpec&, const TopologySpec&) = default;
};

// Returns the spec, or kInvalidArgument naming the offending part and what was
// expected, e.g. `topology "regular": missing d (write regular:d=4)`.
Result<TopologySpec> ParseTopologySpec(std::string_view text);

// The canonical text of a spec ("regular:d=4"); ParseTopologySpec(ToString(s)) == s.
std::string ToString(const TopologySpec& spec);

// The family names accepted by ParseTopologySpec, for help texts and errors.
const char* TopologyFamilyNames();

}  // namespace sotto::topology
