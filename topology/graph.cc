#include "topology/graph.h"

#include <algorithm>

#include "common/check.h"
#include "topology/edge_list.h"
#include "topology/generators.h"
#include "topology/topology_spec.h"

namespace sotto::topology {

std::size_t Graph::num_edges() const {
  std::size_t twice = 0;
  for (const auto& list : adjacency_) twice += list.size();
  return twice / 2;
}

bool Graph::HasEdge(int a, int b) const {
  if (a < 0 || b < 0 || a >= num_nodes() || b >= num_nodes()) return false;
  const auto& list = adjacency_[static_cast<std::size_t>(a)];
  return std::binary_search(list.begin(), list.end(), b);
}

std::vector<bool> Graph::ReachableFrom(int node) const {
  SOTTO_CHECK(node >= 0 && node < num_nodes()) << "node " << node;
  std::vector<bool> seen(static_cast<std::size_t>(num_nodes()), false);
  std::vector<int> stack = {node};
  seen[static_cast<std::size_t>(node)] = true;
  while (!stack.empty()) {
    const int v = stack.back();
    stack.pop_back();
    for (int u : adjacency_[static_cast<std::size_t>(v)]) {
      if (!seen[static_cast<std::size_t>(u)]) {
        seen[static_cast<std::size_t>(u)] = true;
        stack.push_back(u);
      }
    }
  }
  return seen;
}

bool Graph::IsConnected() const {
  if (num_nodes() <= 1) return true;
  const std::vector<bool> reached = ReachableFrom(0);
  return std::find(reached.begin(), reached.end(), false) == reached.end();
}

void Graph::AddEdge(int a, int b) {
  SOTTO_CHECK(a >= 0 && b >= 0 && a < num_nodes() && b < num_nodes())
      << "edge " << a << "-" << b << " outside a graph of " << num_nodes() << " nodes";
  if (a == b) return;
  auto insert = [this](int from, int to) {
    auto& list = adjacency_[static_cast<std::size_t>(from)];
    const auto it = std::lower_bound(list.begin(), list.end(), to);
    if (it != list.end() && *it == to) return false;
    list.insert(it, to);
    return true;
  };
  if (insert(a, b)) insert(b, a);
}

std::vector<std::pair<int, int>> Graph::Edges() const {
  std::vector<std::pair<int, int>> edges;
  edges.reserve(num_edges());
  for (int a = 0; a < num_nodes(); ++a) {
    for (int b : adjacency_[static_cast<std::size_t>(a)]) {
      if (a < b) edges.emplace_back(a, b);
    }
  }
  return edges;
}

int Graph::MaxDegree() const {
  int d = 0;
  for (int v = 0; v < num_nodes(); ++v) d = std::max(d, degree(v));
  return d;
}

int Graph::MinDegree() const {
  if (num_nodes() == 0) return 0;
  int d = degree(0);
  for (int v = 1; v < num_nodes(); ++v) d = std::min(d, degree(v));
  return d;
}

bool Graph::IsSymmetric() const {
  for (int a = 0; a < num_nodes(); ++a) {
    const auto& list = adjacency_[static_cast<std::size_t>(a)];
    for (std::size_t k = 0; k < list.size(); ++k) {
      const int b = list[k];
      if (b < 0 || b >= num_nodes() || b == a) return false;
      if (k > 0 && list[k - 1] >= b) return false;
      const auto& back = adjacency_[static_cast<std::size_t>(b)];
      if (!std::binary_search(back.begin(), back.end(), a)) return false;
    }
  }
  return true;
}

Result<Graph> MakeGraph(std::string_view spec_text, int num_nodes, std::uint64_t seed) {
  SOTTO_ASSIGN_OR_RETURN(const TopologySpec spec, ParseTopologySpec(spec_text));
  if (num_nodes < 1) {
    return InvalidArgument("topology \"" + std::string(spec_text) +
                           "\": need at least 1 node, got " + std::to_string(num_nodes));
  }
  const auto with_context = [&](Result<Graph> g) -> Result<Graph> {
    if (g.has_value()) return g;
    return g.error().WithContext("topology \"" + std::string(spec_text) + "\"");
  };
  switch (spec.family) {
    case TopologyFamily::kRing:
      return RingGraph(num_nodes);
    case TopologyFamily::kTorus:
      if (spec.rows == 0) return with_context(TorusGraph(num_nodes));
      if (spec.rows * spec.cols != num_nodes) {
        return InvalidArgument("topology \"" + std::string(spec_text) +
                               "\": r*c = " + std::to_string(spec.rows * spec.cols) +
                               " but there are " + std::to_string(num_nodes) + " nodes");
      }
      return with_context(TorusGraph(spec.rows, spec.cols));
    case TopologyFamily::kHypercube:
      return with_context(HypercubeGraph(num_nodes));
    case TopologyFamily::kExponential:
      return ExponentialGraph(num_nodes);
    case TopologyFamily::kRegular:
      return with_context(RandomRegularGraph(num_nodes, spec.degree, seed));
    case TopologyFamily::kErdosRenyi:
      return with_context(ErdosRenyiGraph(num_nodes, spec.probability, seed));
    case TopologyFamily::kComplete:
      return CompleteGraph(num_nodes);
    case TopologyFamily::kStar:
      return StarGraph(num_nodes);
    case TopologyFamily::kEdgeList:
      return with_context(GraphFromEdges(num_nodes, spec.edges));
  }
  return Internal("unhandled topology family");
}

}  // namespace sotto::topology
