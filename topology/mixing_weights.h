#pragma once

// Mixing weights W for gossip on a Graph: symmetric, doubly stochastic, supported
// on the edges plus the diagonal; and the spectral gap that sets the consensus rate.

#include <string_view>

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

}  // namespace sotto::topology
