#include "topology/membership_view.h"

#include <algorithm>
#include <iterator>
#include <string>
#include <utility>

#include "common/random.h"
#include "topology/topology_spec.h"

namespace sotto::topology {
namespace {

constexpr std::uint32_t kPositionTag = 0x706f73;  // "pos"
constexpr std::uint32_t kChordTag = 0x63686f;     // "cho"

std::uint32_t Lo(std::uint64_t v) { return static_cast<std::uint32_t>(v); }
std::uint32_t Hi(std::uint64_t v) { return static_cast<std::uint32_t>(v >> 32); }

std::uint64_t Join(const PhiloxBlock& b) { return (std::uint64_t{b[1]} << 32) | b[0]; }

// Rendezvous score of member `to` for chord `slot` of member `from`.
std::uint64_t ChordScore(std::uint64_t seed, std::uint64_t from, std::uint32_t slot,
                         std::uint64_t to) {
  const std::uint64_t key = seed ^ (std::uint64_t{kChordTag} << 32 | slot) * 0x9E3779B97F4A7C15ull;
  return Join(Philox4x32({Lo(from), Hi(from), Lo(to), Hi(to)}, key));
}

// Members in hash-ring order: (position, index into the sorted ids).
std::vector<std::pair<std::uint64_t, int>> RingOrder(std::span<const std::uint64_t> ids,
                                                     std::uint64_t seed) {
  std::vector<std::pair<std::uint64_t, int>> ring;
  ring.reserve(ids.size());
  for (std::size_t k = 0; k < ids.size(); ++k) {
    ring.emplace_back(HashRingPosition(ids[k], seed), static_cast<int>(k));
  }
  std::sort(ring.begin(), ring.end());  // Ties (2^-64) broken by id order: still deterministic.
  return ring;
}

void AddRing(const std::vector<std::pair<std::uint64_t, int>>& ring, Graph& g) {
  for (std::size_t k = 0; k + 1 < ring.size(); ++k) g.AddEdge(ring[k].second, ring[k + 1].second);
  if (ring.size() >= 3) g.AddEdge(ring.back().second, ring.front().second);
}

// Chord-style fingers: the first member at or after p + 2^64 / 2^m, for m = 1, 2, ...
// until the finger is the ring successor (smaller distances all give it too).
void AddFingers(const std::vector<std::pair<std::uint64_t, int>>& ring, Graph& g) {
  const std::size_t n = ring.size();
  for (std::size_t k = 0; k < n; ++k) {
    const std::uint64_t p = ring[k].first;
    const std::size_t next = (k + 1) % n;
    for (int m = 1; m < 64; ++m) {
      const std::uint64_t target = p + (std::uint64_t{1} << (64 - m));  // Wraps mod 2^64.
      auto it = std::lower_bound(ring.begin(), ring.end(), std::make_pair(target, 0));
      const std::size_t at = it == ring.end() ? 0 : static_cast<std::size_t>(it - ring.begin());
      if (at == next) break;
      g.AddEdge(ring[k].second, ring[at].second);
    }
  }
}

void AddRendezvousChords(std::span<const std::uint64_t> ids, int chords, std::uint64_t seed,
                         Graph& g) {
  const int n = static_cast<int>(ids.size());
  for (int i = 0; i < n; ++i) {
    for (int slot = 0; slot < chords; ++slot) {
      int best = -1;
      std::uint64_t best_score = 0;
      for (int j = 0; j < n; ++j) {
        if (j == i) continue;
        const std::uint64_t score =
            ChordScore(seed, ids[static_cast<std::size_t>(i)], static_cast<std::uint32_t>(slot),
                       ids[static_cast<std::size_t>(j)]);
        if (best < 0 || score > best_score) {
          best = j;
          best_score = score;
        }
      }
      g.AddEdge(i, best);
    }
  }
}

}  // namespace

std::uint64_t HashRingPosition(std::uint64_t id, std::uint64_t seed) {
  return Join(Philox4x32({Lo(id), Hi(id), kPositionTag, 0}, seed));
}

Result<Graph> GraphFromView(std::span<const std::uint64_t> sorted_member_ids,
                            std::string_view spec_text, std::uint64_t seed) {
  const std::string what = "view topology \"" + std::string(spec_text) + "\"";
  if (sorted_member_ids.empty()) return InvalidArgument(what + ": empty membership view");
  for (std::size_t k = 1; k < sorted_member_ids.size(); ++k) {
    if (sorted_member_ids[k - 1] >= sorted_member_ids[k]) {
      return InvalidArgument(what + ": member ids not strictly increasing at position " +
                             std::to_string(k) + " (" + std::to_string(sorted_member_ids[k - 1]) +
                             ", " + std::to_string(sorted_member_ids[k]) + ")");
    }
  }
  SOTTO_ASSIGN_OR_RETURN(const TopologySpec spec, ParseTopologySpec(spec_text));
  const int n = static_cast<int>(sorted_member_ids.size());
  Graph g(n);
  const auto ring = RingOrder(sorted_member_ids, seed);
  switch (spec.family) {
    case TopologyFamily::kRing:
      AddRing(ring, g);
      return g;
    case TopologyFamily::kExponential:
      AddRing(ring, g);
      AddFingers(ring, g);
      return g;
    case TopologyFamily::kRegular:
      if (n <= spec.degree + 1) {
        for (int i = 0; i < n; ++i) {
          for (int j = i + 1; j < n; ++j) g.AddEdge(i, j);
        }
        return g;
      }
      AddRing(ring, g);
      AddRendezvousChords(sorted_member_ids, (spec.degree - 1) / 2, seed, g);
      return g;
    case TopologyFamily::kComplete:
      for (int i = 0; i < n; ++i) {
        for (int j = i + 1; j < n; ++j) g.AddEdge(i, j);
      }
      return g;
    default:
      return InvalidArgument(what +
                             ": not supported for a membership view (one join would "
                             "rewire most edges); use ring, exp, regular:d=K or complete");
  }
}

Result<std::vector<std::uint64_t>> NeighboursInView(
    std::span<const std::uint64_t> sorted_member_ids, std::uint64_t self, std::string_view spec,
    std::uint64_t seed) {
  const auto it = std::lower_bound(sorted_member_ids.begin(), sorted_member_ids.end(), self);
  SOTTO_ASSIGN_OR_RETURN(const Graph g, GraphFromView(sorted_member_ids, spec, seed));
  if (it == sorted_member_ids.end() || *it != self) {
    return NotFound("member " + std::to_string(self) + " is not in the view of " +
                    std::to_string(sorted_member_ids.size()) + " members");
  }
  std::vector<std::uint64_t> out;
  for (int j : g.neighbours(static_cast<int>(it - sorted_member_ids.begin()))) {
    out.push_back(sorted_member_ids[static_cast<std::size_t>(j)]);
  }
  return out;
}

EdgeChanges CompareViewGraphs(std::span<const std::uint64_t> before_ids, const Graph& before,
                              std::span<const std::uint64_t> after_ids, const Graph& after) {
  const auto id_edges = [](std::span<const std::uint64_t> ids, const Graph& g) {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> edges;
    for (const auto& [a, b] : g.Edges()) {
      edges.emplace_back(ids[static_cast<std::size_t>(a)], ids[static_cast<std::size_t>(b)]);
    }
    std::sort(edges.begin(), edges.end());  // Ids ascend with index, so a < b holds already.
    return edges;
  };
  const auto old_edges = id_edges(before_ids, before);
  const auto new_edges = id_edges(after_ids, after);
  std::vector<std::pair<std::uint64_t, std::uint64_t>> diff;
  EdgeChanges changes;
  std::set_difference(new_edges.begin(), new_edges.end(), old_edges.begin(), old_edges.end(),
                      std::back_inserter(diff));
  changes.added = diff.size();
  diff.clear();
  std::set_difference(old_edges.begin(), old_edges.end(), new_edges.begin(), new_edges.end(),
                      std::back_inserter(diff));
  changes.removed = diff.size();
  return changes;
}

}  // namespace sotto::topology
