#pragma once

// Graph: an undirected simple graph on nodes 0..n-1, and the generators of the
// topology families sotto gossips over. Pure: no I/O.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace sotto::topology {

// Undirected, no self loops, no parallel edges. Adjacency lists are sorted.
// Thread safety: const methods are thread-safe.
class Graph {
 public:
  Graph() = default;
  explicit Graph(int num_nodes) : adjacency_(num_nodes) {}

  int num_nodes() const { return static_cast<int>(adjacency_.size()); }
  const std::vector<int>& neighbours(int node) const { return adjacency_[node]; }
  int degree(int node) const { return static_cast<int>(adjacency_[node].size()); }
  std::size_t num_edges() const;
  bool HasEdge(int a, int b) const;
  bool IsConnected() const;

  // Adds the edge a-b (ignored when a == b or already present).
  // Requires: 0 <= a, b < num_nodes() (SOTTO_CHECKed).
  void AddEdge(int a, int b);

  // Every edge once as (a, b) with a < b, sorted lexicographically.
  std::vector<std::pair<int, int>> Edges() const;
  // reachable[v] is true when v is in the connected component of `node`.
  // Requires: 0 <= node < num_nodes().
  std::vector<bool> ReachableFrom(int node) const;
  int MaxDegree() const;
  int MinDegree() const;
  // True when every adjacency list is sorted, loop-free, duplicate-free and
  // mirrored (b in N(a) iff a in N(b)). Always true for a Graph built with AddEdge;
  // tests use it as an independent check.
  bool IsSymmetric() const;

 private:
  std::vector<std::vector<int>> adjacency_;
};

// Builds a graph of `num_nodes` nodes from a spec: "ring", "torus", "hypercube",
// "exp", "regular:d=4", "erdos:p=0.1", "complete", "star". `seed` drives the random
// families. kInvalidArgument with a clear message for a bad spec or size.
//
// The grammar and the per-family size rules are in topology/topology_spec.h and
// topology/generators.h. Also accepted: "torus:r=4,c=8" (r*c must equal num_nodes)
// and an inline edge list "edges:0-1,1-2,2-0" (see topology/edge_list.h for files).
// Small sizes: 1 node is a single isolated node for every family; 2 nodes are one
// edge for every deterministic family (a ring of 2 degenerates to that edge).
// The result is always connected (random families redraw until it is).
Result<Graph> MakeGraph(std::string_view spec, int num_nodes, std::uint64_t seed);

}  // namespace sotto::topology
