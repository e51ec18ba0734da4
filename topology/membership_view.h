#pragma once

// Neighbour choice from a membership view, for the mesh under churn. Every node
// holds the same list of live member ids (spread by the membership gossip) and
// derives the same graph from it locally: no coordinator, no extra messages.
//
// Construction (deterministic in the member list and `seed`):
//   * Each member gets a position hash(seed, id) on a 64-bit hash ring
//     (consistent hashing); members are linked to their ring successor.
//   * "ring":         that ring only. Degree 2.
//   * "regular:d=D":  the ring plus k = ceil((D-2)/2) chords per member; chord s of
//                     member i goes to the member j != i maximising
//                     hash(seed, i, s, j) (rendezvous hashing). Degree is D on
//                     average for even D (2 + k out-chords + ~k in-chords),
//                     not exactly D: exact regularity would need global rewiring.
//                     Views of at most D+1 members give the complete graph.
//   * "exp":          the ring plus Chord-style fingers: member at position p links
//                     to the first member at or after p + 2^64/2^m, m = 1, 2, ...
//                     About 2*log2(n) neighbours; the hashed analogue of the
//                     exponential graph i -> i + 2^k.
//   * "complete":     everyone.
//   Other families (torus, hypercube, star, erdos, edges) depend on exact counts or
//   global ranks, so one join would rewire most of the graph: kInvalidArgument.
//
// Rewiring caused by one join or leave (edges added + removed, expected;
// measured by bench/topology, see bench/results/topology.json):
//   * ring:        exactly 3 (the new member splits one ring edge into two; a
//                  leave merges two into one), for views of >= 4 members.
//   * regular:d=D: about 3 + 3k (k = ceil((D-2)/2)): the ring's 3, the member's own k
//                  chords, and the ~k chords of others whose rendezvous winner
//                  changes (each a removal plus an addition). 6 for D = 4,
//                  independent of n.
//   * exp:         O(log n): the member's own ~2 log2 n fingers plus the fingers of
//                  others that pointed into the arc it takes over or leaves.
//   * complete:    n - 1.
// Compare: re-drawing MakeGraph("regular:d=4") or ranking "exp" by sorted id on
// every change rewires a constant fraction of all edges.
//
// Graph indices are positions in `sorted_member_ids`. Functions are pure and
// thread-safe. Cost: O(n log n) for ring and exp, O(n^2 k) hash evaluations for
// regular (about 10 ms at n = 1024, d = 4).

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "topology/graph.h"

namespace sotto::topology {

// The graph every member derives from the view. Node k of the result is member
// sorted_member_ids[k]. Returns kInvalidArgument when the ids are empty or not
// strictly increasing, or for an unsupported spec (see above). The result is
// connected (it contains the hash ring).
Result<Graph> GraphFromView(std::span<const std::uint64_t> sorted_member_ids, std::string_view spec,
                            std::uint64_t seed);

// The neighbour ids of `self` (ascending) in GraphFromView(...). kNotFound when
// `self` is not a member; otherwise as GraphFromView.
Result<std::vector<std::uint64_t>> NeighboursInView(
    std::span<const std::uint64_t> sorted_member_ids, std::uint64_t self, std::string_view spec,
    std::uint64_t seed);

// Position of member `id` on the hash ring for `seed` (exposed for tests and tools).
std::uint64_t HashRingPosition(std::uint64_t id, std::uint64_t seed);

// Edges that differ between two view graphs, compared by member ids (an edge is
// the same edge when it joins the same two ids).
struct EdgeChanges {
  std::size_t added = 0;
  std::size_t removed = 0;
  std::size_t total() const { return added + removed; }
};

// Requires: `before` and `after` were built from `before_ids` and `after_ids`.
EdgeChanges CompareViewGraphs(std::span<const std::uint64_t> before_ids, const Graph& before,
                              std::span<const std::uint64_t> after_ids, const Graph& after);

}  // namespace sotto::topology
