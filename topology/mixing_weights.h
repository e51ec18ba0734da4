#pragma once

// Mixing weights W for gossip on a Graph: symmetric, doubly stochastic, supported
// on the edges plus the diagonal; and the spectral gap that sets the consensus rate.

#include <span>
#include <string_view>
#include <vector>

#include <Eigen/Core>

#include "common/status.h"
#include "topology/graph.h"

namespace sotto::topology {

enum class WeightRule {
  kMetropolisHastings,  // w_ij = 1 / (1 + max(deg_i, deg_j)); needs only the two degrees.
  kMaxDegree,           // w_ij = 1 / (1 + max_k deg_k).
  kUniform,             // w_ij = 1 / (1 + deg_i) on regular graphs (else falls back to MH).
};

// Metropolis-Hastings weight of edge i-j from the two endpoint degrees only.
inline double MetropolisHastingsWeight(int degree_i, int degree_j) {
  return 1.0 / (1.0 + (degree_i > degree_j ? degree_i : degree_j));
}

// The dense n x n mixing matrix.
Eigen::MatrixXd MixingMatrix(const Graph& graph, WeightRule rule);

// 1 - |lambda_2(W)|, with |lambda_2| the second largest eigenvalue modulus of a
// symmetric W.
double SpectralGap(const Eigen::MatrixXd& w);

// --- Additions (all pure; const inputs; thread-safe) ---

// Parses "mh" / "metropolis-hastings", "max-degree", "uniform". kInvalidArgument otherwise.
Result<WeightRule> ParseWeightRule(std::string_view text);

// One row of W without the dense matrix: what node i needs to mix. Neighbours are
// in the graph's (sorted) order; self_weight + sum(weights) == 1.
struct MixingRow {
  std::vector<int> neighbours;
  std::vector<double> weights;  // weights[k] = w_{i, neighbours[k]}.
  double self_weight = 1.0;     // w_ii.
};

// Row `node` of MixingMatrix(graph, rule) in O(deg) for Metropolis-Hastings and
// uniform (O(n) for max-degree, which needs the global maximum: pass it as
// `max_degree` to skip that scan, e.g. when building every row).
// Requires: 0 <= node < graph.num_nodes().
MixingRow LocalMixingRow(const Graph& graph, int node, WeightRule rule, int max_degree = -1);

// All rows, in O(edges): the sparse form of W for large simulations (the lab).
std::vector<MixingRow> MixingRows(const Graph& graph, WeightRule rule);

// Metropolis-Hastings row from degrees alone, for a daemon that knows only its
// own degree and its neighbours' (carried in the gossip):
// w_ij = 1/(1 + max(deg_i, deg_j)), w_ii = 1 - sum_j w_ij. In the result,
// neighbours[k] = k indexes `neighbour_degrees`. Uses own degree
// = neighbour_degrees.size() (what the node really has), so the row always sums
// to 1 with non-negative weights, even while a neighbour's degree is stale.
// Requires: every neighbour degree >= 1.
MixingRow LocalMetropolisHastingsRow(std::span<const int> neighbour_degrees);

// Largest |W - W^T| entry, and largest |row sum - 1| / |column sum - 1|.
double AsymmetryOf(const Eigen::MatrixXd& w);
double StochasticityErrorOf(const Eigen::MatrixXd& w);

// OK when W is square, symmetric, doubly stochastic and non-negative within `tol`;
// else kInvalidArgument saying which property fails by how much.
Status CheckMixingMatrix(const Eigen::MatrixXd& w, double tol = 1e-12);

// Spectral gap of MixingMatrix(graph, rule). Dense eigenvalues (Eigen's
// SelfAdjointEigenSolver, eigenvalues only): about 1 s at n = 1024.
double SpectralGapOf(const Graph& graph, WeightRule rule);

// The consensus rate the gap implies. For symmetric doubly stochastic W,
// ||W^t x - xbar|| <= (1 - gap)^t ||x - xbar||, so reaching a relative consensus
// error `epsilon` takes ceil(ln(1/epsilon) / -ln(1 - gap)) rounds (~ ln(1/eps)/gap
// for small gaps). Returns 1 for gap >= 1 (one round averages exactly) and
// +infinity for gap <= 0 (disconnected: never). Requires: 0 < epsilon < 1.
double ConsensusRounds(double spectral_gap, double epsilon);

}  // namespace sotto::topology
