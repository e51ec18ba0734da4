#pragma once

// Graph: an undirected simple graph on nodes 0..n-1, and the generators of the
// topology families sotto gossips over. Pure: no I/O.

#include <cstdint>
#include <string>
#include <string_view>
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
  void AddEdge(int a, int b);

 private:
  std::vector<std::vector<int>> adjacency_;
};

// Builds a graph of `num_nodes` nodes from a spec: "ring", "torus", "hypercube",
// "exp", "regular:d=4", "erdos:p=0.1", "complete", "star". `seed` drives the random
// families. kInvalidArgument with a clear message for a bad spec or size.
Result<Graph> MakeGraph(std::string_view spec, int num_nodes, std::uint64_t seed);

}  // namespace sotto::topology
