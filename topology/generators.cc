#include "topology/generators.h"

#include <cmath>
#include <string>
#include <vector>

#include "common/check.h"
#include "common/random.h"

namespace sotto::topology {
namespace {

constexpr int kMaxRegularAttempts = 200;
constexpr int kMaxErdosRenyiAttempts = 200;

bool IsPowerOfTwo(int n) { return n >= 1 && (n & (n - 1)) == 0; }

// The smallest-sided factorisation r x c, 3 <= r <= c, with r as large as possible.
int TorusRows(int n) {
  for (int r = static_cast<int>(std::sqrt(static_cast<double>(n))); r >= 3; --r) {
    if (n % r == 0 && n / r >= 3) return r;
  }
  return 0;
}

// Trivial graphs shared by all families: 1 node, or 2 nodes and their edge.
Graph TrivialGraph(int n) {
  Graph g(n);
  if (n == 2) g.AddEdge(0, 1);
  return g;
}

// One Steger-Wormald pairing: repeatedly joins two random free "points" of distinct,
// not yet adjacent vertices. Returns false when it gets stuck (restart needed).
bool TryPairRegular(int n, int d, Rng& rng, Graph& g) {
  std::vector<int> points;
  points.reserve(static_cast<std::size_t>(n) * static_cast<std::size_t>(d));
  for (int v = 0; v < n; ++v) points.insert(points.end(), static_cast<std::size_t>(d), v);
  const auto take = [&](std::size_t i, std::size_t j) {
    g.AddEdge(points[i], points[j]);
    if (i < j) std::swap(i, j);  // Remove the larger index first so swap-pop stays valid.
    points[i] = points.back();
    points.pop_back();
    points[j] = points.back();
    points.pop_back();
  };
  const auto suitable = [&](std::size_t i, std::size_t j) {
    return points[i] != points[j] && !g.HasEdge(points[i], points[j]);
  };
  while (!points.empty()) {
    bool paired = false;
    for (int attempt = 0; attempt < 64 && !paired; ++attempt) {
      const std::size_t i = rng.UniformInt(points.size());
      const std::size_t j = rng.UniformInt(points.size());
      if (suitable(i, j)) {
        take(i, j);
        paired = true;
      }
    }
    if (paired) continue;
    // Few points left: enumerate the pairs that still fit and pick one at random.
    std::vector<std::pair<std::size_t, std::size_t>> options;
    for (std::size_t i = 0; i < points.size(); ++i) {
      for (std::size_t j = i + 1; j < points.size(); ++j) {
        if (suitable(i, j)) options.emplace_back(i, j);
      }
    }
    if (options.empty()) return false;
    const auto [i, j] = options[rng.UniformInt(options.size())];
    take(i, j);
  }
  return true;
}

}  // namespace

Graph RingGraph(int n) {
  SOTTO_CHECK(n >= 1) << "ring of " << n << " nodes";
  Graph g(n);
  for (int i = 0; i + 1 < n; ++i) g.AddEdge(i, i + 1);
  if (n >= 3) g.AddEdge(n - 1, 0);
  return g;
}

Result<Graph> TorusGraph(int rows, int cols) {
  if (rows < 3 || cols < 3) {
    return InvalidArgument("torus " + std::to_string(rows) + " x " + std::to_string(cols) +
                           ": both sides must be >= 3");
  }
  Graph g(rows * cols);
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      const int v = r * cols + c;
      g.AddEdge(v, r * cols + (c + 1) % cols);
      g.AddEdge(v, ((r + 1) % rows) * cols + c);
    }
  }
  return g;
}

Result<Graph> TorusGraph(int n) {
  SOTTO_CHECK(n >= 1) << "torus of " << n << " nodes";
  if (n <= 2) return TrivialGraph(n);
  const int rows = TorusRows(n);
  if (rows == 0) {
    int below = n - 1, above = n + 1;
    while (below >= 9 && TorusRows(below) == 0) --below;
    while (TorusRows(above) == 0) ++above;
    std::string msg = "torus of " + std::to_string(n) +
                      " nodes: n must factor as r x c with r, c >= 3; nearest valid sizes are ";
    msg += below >= 9 ? std::to_string(below) + " and " + std::to_string(above)
                      : std::to_string(above);
    msg += " (or use ring / regular:d=4)";
    return InvalidArgument(msg);
  }
  return TorusGraph(rows, n / rows);
}

Result<Graph> HypercubeGraph(int n) {
  SOTTO_CHECK(n >= 1) << "hypercube of " << n << " nodes";
  if (!IsPowerOfTwo(n)) {
    int lower = 1;
    while (lower * 2 < n) lower *= 2;
    return InvalidArgument("hypercube of " + std::to_string(n) +
                           " nodes: n must be a power of 2 (nearest: " + std::to_string(lower) +
                           " or " + std::to_string(lower * 2) + ")");
  }
  Graph g(n);
  for (int i = 0; i < n; ++i) {
    for (int bit = 1; bit < n; bit <<= 1) g.AddEdge(i, i ^ bit);
  }
  return g;
}

Graph ExponentialGraph(int n) {
  SOTTO_CHECK(n >= 1) << "exponential graph of " << n << " nodes";
  Graph g(n);
  for (int i = 0; i < n; ++i) {
    for (long step = 1; step < n; step <<= 1) g.AddEdge(i, static_cast<int>((i + step) % n));
  }
  return g;
}

Result<Graph> RandomRegularGraph(int n, int d, std::uint64_t seed) {
  SOTTO_CHECK(n >= 1) << "regular graph of " << n << " nodes";
  if (d < 1) return InvalidArgument("regular:d=" + std::to_string(d) + ": d must be >= 1");
  if (n <= 2) return TrivialGraph(n);
  const std::string what = "regular:d=" + std::to_string(d) + " on " + std::to_string(n) + " nodes";
  if (d >= n) return InvalidArgument(what + ": d must be < n (use complete)");
  if ((static_cast<long>(n) * d) % 2 != 0) {
    return InvalidArgument(what + ": n*d must be even (no d-regular graph exists)");
  }
  if (d == 1)
    return InvalidArgument(what + ": a 1-regular graph on more than 2 nodes is disconnected");
  if (d == n - 1) return CompleteGraph(n);
  Rng rng(seed, /*stream=*/0x7265677531ull);
  if (d == 2) {
    std::vector<int> order(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
    rng.Shuffle(order.begin(), order.end());
    Graph g(n);
    for (std::size_t k = 0; k < order.size(); ++k)
      g.AddEdge(order[k], order[(k + 1) % order.size()]);
    return g;
  }
  for (int attempt = 0; attempt < kMaxRegularAttempts; ++attempt) {
    Graph g(n);
    if (TryPairRegular(n, d, rng, g) && g.IsConnected()) return g;
  }
  return Internal(what + ": no connected graph after " + std::to_string(kMaxRegularAttempts) +
                  " attempts");
}

Result<Graph> ErdosRenyiGraph(int n, double p, std::uint64_t seed) {
  SOTTO_CHECK(n >= 1) << "Erdos-Renyi graph of " << n << " nodes";
  if (!(p > 0.0) || p > 1.0) {
    return InvalidArgument("erdos:p=" + std::to_string(p) + ": p must be in (0, 1]");
  }
  if (n <= 2) return TrivialGraph(n);
  Rng rng(seed, /*stream=*/0x6572646f73ull);
  for (int attempt = 0; attempt < kMaxErdosRenyiAttempts; ++attempt) {
    Graph g(n);
    for (int i = 0; i < n; ++i) {
      for (int j = i + 1; j < n; ++j) {
        if (rng.Uniform01() < p) g.AddEdge(i, j);
      }
    }
    if (g.IsConnected()) return g;
  }
  const double threshold = std::log(static_cast<double>(n)) / n;
  return InvalidArgument(
      "erdos:p=" + std::to_string(p) + " on " + std::to_string(n) +
      " nodes: no connected draw in " + std::to_string(kMaxErdosRenyiAttempts) +
      " tries; connectivity needs p well above ln(n)/n = " + std::to_string(threshold));
}

Graph CompleteGraph(int n) {
  SOTTO_CHECK(n >= 1) << "complete graph of " << n << " nodes";
  Graph g(n);
  for (int i = 0; i < n; ++i) {
    for (int j = i + 1; j < n; ++j) g.AddEdge(i, j);
  }
  return g;
}

Graph StarGraph(int n) {
  SOTTO_CHECK(n >= 1) << "star of " << n << " nodes";
  Graph g(n);
  for (int i = 1; i < n; ++i) g.AddEdge(0, i);
  return g;
}

int OnePeerExponentialPeriod(int n) {
  int period = 0;
  while ((1L << period) < n) ++period;
  return period < 1 ? 1 : period;
}

OnePeerRound OnePeerExponential(int node, int n, std::uint64_t round) {
  SOTTO_CHECK(n >= 1 && node >= 0 && node < n) << "node " << node << " of " << n;
  if (n == 1) return OnePeerRound{0, 0, 1.0, 0.0};
  const auto k = static_cast<int>(round % static_cast<std::uint64_t>(OnePeerExponentialPeriod(n)));
  const int step = static_cast<int>((1L << k) % n);
  return OnePeerRound{(node + step) % n, (node - step + n) % n, 0.5, 0.5};
}

Eigen::MatrixXd OnePeerExponentialMatrix(int n, std::uint64_t round) {
  Eigen::MatrixXd w = Eigen::MatrixXd::Zero(n, n);
  for (int i = 0; i < n; ++i) {
    const OnePeerRound r = OnePeerExponential(i, n, round);
    w(i, i) += r.self_weight;
    w(i, r.receive_from) += r.peer_weight;
  }
  return w;
}

}  // namespace sotto::topology
