#pragma once

// Generators of the graph families sotto gossips over, on nodes 0..n-1, plus the
// one-peer time-varying exponential schedule. MakeGraph (topology/graph.h) is the
// string-driven front end; these are the typed functions behind it. Pure: no I/O.

#include <cstdint>

#include <Eigen/Core>

#include "common/status.h"
#include "topology/graph.h"

namespace sotto::topology {

// Small sizes, for every generator: n = 1 is one isolated node; n = 2 is one edge
// (the only connected simple graph on two nodes). All Requires: n >= 1.

// Ring: i - (i+1) mod n. Degree 2 for n >= 3.
Graph RingGraph(int n);

// rows x cols torus: (r, c) - (r, c+1) and (r+1, c), wrapping. Degree 4.
// Returns kInvalidArgument unless rows, cols >= 3 (a side of 2 would double edges).
Result<Graph> TorusGraph(int rows, int cols);

// Torus on n nodes, choosing rows <= cols with rows >= 3 as close to sqrt(n) as
// possible (64 -> 8 x 8, 32 -> 4 x 8). Returns kInvalidArgument, naming the nearest
// valid sizes, when n has no such factorisation (primes, 2p, n < 9); n = 1, 2 as above.
Result<Graph> TorusGraph(int n);

// Hypercube: i - (i xor 2^k). Degree log2(n). kInvalidArgument unless n is a power of 2.
Result<Graph> HypercubeGraph(int n);

// Exponential graph (Ying et al., NeurIPS 2021, static form): i - (i +- 2^k) mod n
// for every 2^k < n. Degree 2*ceil(log2 n) - 1 when n is a power of two (i + n/2 and
// i - n/2 coincide), about 2*log2(n) otherwise.
Graph ExponentialGraph(int n);

// Uniformly-ish random connected d-regular graph (Steger-Wormald pairing with
// restarts, redrawn until connected), deterministic in `seed`. d = n - 1 gives the
// complete graph; d = 2 a random Hamiltonian cycle (a random 2-regular graph is
// rarely connected). kInvalidArgument when d < 1, d >= n, n*d is odd, or d = 1 with n > 2.
Result<Graph> RandomRegularGraph(int n, int d, std::uint64_t seed);

// Erdős–Rényi G(n, p) conditioned on being connected: redraws (up to 200 times,
// deterministic in `seed`) until connected. kInvalidArgument for p outside (0, 1],
// or when no draw is connected, with the connectivity threshold ln(n)/n in the message.
Result<Graph> ErdosRenyiGraph(int n, double p, std::uint64_t seed);

Graph CompleteGraph(int n);

// Star with hub 0. Degrees n-1 and 1.
Graph StarGraph(int n);

// One-peer exponential graph (Ying et al. 2021, Sec. 3): in round t every node i
// sends to i + 2^k and receives from i - 2^k (mod n), k = t mod ceil(log2 n), and
// mixes x_i <- (x_i + x_{i-2^k}) / 2. Each round uses a single peer, different from
// the previous round's; W(t) = (I + P^(2^k)) / 2 is doubly stochastic but not
// symmetric, and for n a power of 2 the product of log2(n) consecutive rounds
// is exactly the average J/n.
struct OnePeerRound {
  int send_to = 0;
  int receive_from = 0;
  double self_weight = 1.0;  // 0.5, or 1 when n = 1 (nobody to mix with).
  double peer_weight = 0.0;  // Weight of receive_from's value.
};

// Requires: 0 <= node < n.
OnePeerRound OnePeerExponential(int node, int n, std::uint64_t round);

// The dense W(t) of the schedule above (row i: weights node i gives to values).
Eigen::MatrixXd OnePeerExponentialMatrix(int n, std::uint64_t round);

// Period of the schedule: ceil(log2 n) (at least 1).
int OnePeerExponentialPeriod(int n);

}  // namespace sotto::topology
