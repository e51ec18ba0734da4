#pragma once

// Explicit topologies: a graph from a list of edges, either already parsed or
// from the text of an edge-list file. The caller reads the file (topology/ does
// no I/O) and passes its contents; errors carry line numbers.

#include <span>
#include <string_view>
#include <utility>

#include "common/status.h"
#include "topology/graph.h"

namespace sotto::topology {

// Builds the graph on `num_nodes` nodes with `edges`. Both orientations of an edge
// and repeats are merged. Returns kInvalidArgument for a node outside
// [0, num_nodes), a self loop, or a disconnected result (naming a node that
// node 0 cannot reach). Requires: num_nodes >= 1.
Result<Graph> GraphFromEdges(int num_nodes, std::span<const std::pair<int, int>> edges);

// Parses the text of an edge-list file:
//
//   # comment (also after an edge)
//   nodes 8        optional; must come before the first edge; else n = max index + 1
//   0 1            one edge per line: two node indices separated by blanks, ',' or '-'
//   1 2
//
// and builds the graph as GraphFromEdges. `num_nodes` > 0 fixes n (a "nodes" line
// must then agree); 0 lets the file decide. Errors are kInvalidArgument and read
// "edge list line 3: expected two node indices, got \"0 1 2\"".
Result<Graph> ParseEdgeList(std::string_view text, int num_nodes = 0);

}  // namespace sotto::topology
