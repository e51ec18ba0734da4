#include "topology/mixing_weights.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include <Eigen/Eigenvalues>

#include "common/check.h"

namespace sotto::topology {
namespace {

// Off-diagonal weight of edge i-j under `rule`; max_degree is the graph's.
double EdgeWeight(const Graph& graph, int i, int j, WeightRule rule, int max_degree) {
  switch (rule) {
    case WeightRule::kMetropolisHastings:
      return MetropolisHastingsWeight(graph.degree(i), graph.degree(j));
    case WeightRule::kMaxDegree:
      return 1.0 / (1.0 + max_degree);
    case WeightRule::kUniform:
      // 1/(1+deg_i) is symmetric only when deg_i == deg_j, where it equals MH; on
      // other edges the documented fallback is MH too. So kUniform is MH throughout.
      return MetropolisHastingsWeight(graph.degree(i), graph.degree(j));
  }
  return 0.0;
}

}  // namespace

Result<WeightRule> ParseWeightRule(std::string_view text) {
  if (text == "mh" || text == "metropolis-hastings" || text == "metropolis") {
    return WeightRule::kMetropolisHastings;
  }
  if (text == "max-degree" || text == "maxdegree") return WeightRule::kMaxDegree;
  if (text == "uniform") return WeightRule::kUniform;
  return InvalidArgument("mixing weights \"" + std::string(text) +
                         "\": want mh, max-degree or uniform");
}

MixingRow LocalMixingRow(const Graph& graph, int node, WeightRule rule, int max_degree) {
  SOTTO_CHECK(node >= 0 && node < graph.num_nodes()) << "node " << node;
  if (rule == WeightRule::kMaxDegree && max_degree < 0) max_degree = graph.MaxDegree();
  MixingRow row;
  row.neighbours = graph.neighbours(node);
  row.weights.reserve(row.neighbours.size());
  double sum = 0.0;
  for (int j : row.neighbours) {
    row.weights.push_back(EdgeWeight(graph, node, j, rule, max_degree));
    sum += row.weights.back();
  }
  row.self_weight = 1.0 - sum;
  return row;
}

std::vector<MixingRow> MixingRows(const Graph& graph, WeightRule rule) {
  const int max_degree = graph.MaxDegree();
  std::vector<MixingRow> rows;
  rows.reserve(static_cast<std::size_t>(graph.num_nodes()));
  for (int i = 0; i < graph.num_nodes(); ++i)
    rows.push_back(LocalMixingRow(graph, i, rule, max_degree));
  return rows;
}

MixingRow LocalMetropolisHastingsRow(std::span<const int> neighbour_degrees) {
  const int own_degree = static_cast<int>(neighbour_degrees.size());
  MixingRow row;
  double sum = 0.0;
  for (std::size_t k = 0; k < neighbour_degrees.size(); ++k) {
    SOTTO_CHECK(neighbour_degrees[k] >= 1) << "neighbour degree " << neighbour_degrees[k];
    row.neighbours.push_back(static_cast<int>(k));
    row.weights.push_back(MetropolisHastingsWeight(own_degree, neighbour_degrees[k]));
    sum += row.weights.back();
  }
  row.self_weight = 1.0 - sum;  // >= 1/(1+deg_i) > 0: each weight <= 1/(1+deg_i).
  return row;
}

Eigen::MatrixXd MixingMatrix(const Graph& graph, WeightRule rule) {
  const int n = graph.num_nodes();
  const int max_degree = graph.MaxDegree();
  Eigen::MatrixXd w = Eigen::MatrixXd::Zero(n, n);
  for (int i = 0; i < n; ++i) {
    const MixingRow row = LocalMixingRow(graph, i, rule, max_degree);
    for (std::size_t k = 0; k < row.neighbours.size(); ++k)
      w(i, row.neighbours[k]) = row.weights[k];
    w(i, i) = row.self_weight;
  }
  return w;
}

double SpectralGap(const Eigen::MatrixXd& w) {
  SOTTO_CHECK(w.rows() == w.cols() && w.rows() >= 1) << "W is " << w.rows() << " x " << w.cols();
  if (w.rows() == 1) return 1.0;
  // Eigenvalues only (ascending): the largest is 1 for a stochastic W; the second
  // largest modulus is the larger of |next largest| and |smallest|.
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(w, Eigen::EigenvaluesOnly);
  SOTTO_CHECK(solver.info() == Eigen::Success) << "eigenvalue solver failed";
  const Eigen::VectorXd& ev = solver.eigenvalues();
  const Eigen::Index n = ev.size();
  const double slem = std::max(std::abs(ev(n - 2)), std::abs(ev(0)));
  return std::clamp(1.0 - slem, 0.0, 1.0);
}

double SpectralGapOf(const Graph& graph, WeightRule rule) {
  return SpectralGap(MixingMatrix(graph, rule));
}

double AsymmetryOf(const Eigen::MatrixXd& w) {
  if (w.rows() != w.cols()) return std::numeric_limits<double>::infinity();
  return (w - w.transpose()).cwiseAbs().maxCoeff();
}

double StochasticityErrorOf(const Eigen::MatrixXd& w) {
  const double rows = (w.rowwise().sum().array() - 1.0).abs().maxCoeff();
  const double cols = (w.colwise().sum().array() - 1.0).abs().maxCoeff();
  return std::max(rows, cols);
}

Status CheckMixingMatrix(const Eigen::MatrixXd& w, double tol) {
  if (w.rows() != w.cols() || w.rows() == 0) {
    return InvalidArgument("W is " + std::to_string(w.rows()) + " x " + std::to_string(w.cols()) +
                           ", want square and non-empty");
  }
  if (const double a = AsymmetryOf(w); a > tol) {
    return InvalidArgument("W is not symmetric: max |w_ij - w_ji| = " + std::to_string(a));
  }
  if (const double s = StochasticityErrorOf(w); s > tol) {
    return InvalidArgument("W is not doubly stochastic: max |row or column sum - 1| = " +
                           std::to_string(s));
  }
  if (const double m = w.minCoeff(); m < -tol) {
    return InvalidArgument("W has a negative entry " + std::to_string(m));
  }
  return Status::Ok();
}

double ConsensusRounds(double spectral_gap, double epsilon) {
  SOTTO_CHECK(epsilon > 0.0 && epsilon < 1.0) << "epsilon " << epsilon;
  if (spectral_gap >= 1.0) return 1.0;
  if (spectral_gap <= 0.0) return std::numeric_limits<double>::infinity();
  return std::ceil(std::log(epsilon) / std::log1p(-spectral_gap));
}

}  // namespace sotto::topology
