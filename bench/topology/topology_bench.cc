// Topology benchmark: spectral gap vs n for each graph family (MH and max-degree
// weights), and edges rewired per join / leave for the membership-view
// constructions against naive re-generation. Writes JSON plus two TSV files for
// gnuplot. Usage: topology_bench OUT_DIR [--quick]

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/random.h"
#include "topology/graph.h"
#include "topology/membership_view.h"
#include "topology/mixing_weights.h"

namespace sotto::topology {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

const char* RuleName(WeightRule rule) {
  return rule == WeightRule::kMetropolisHastings ? "mh" : "max-degree";
}

// Spectral gap of every family at every n. Irregular families also get max-degree
// weights (on regular graphs every rule gives the same W).
nlohmann::json GapTable(const std::vector<int>& sizes, std::ofstream& tsv) {
  nlohmann::json rows = nlohmann::json::array();
  const std::vector<std::string> families = {"ring",        "torus",           "hypercube", "exp",
                                             "regular:d=4", "erdos",           "complete",  "star",
                                             "view:exp",    "view:regular:d=4"};
  tsv << "# family\trule\tn\tgap\trounds_1e-6\tmean_degree\n";
  for (const std::string& family : families) {
    // MH rows first, then max-degree ones, so gnuplot's lines stay unbroken.
    std::ostringstream mh_rows, max_degree_rows;
    for (int n : sizes) {
      Result<Graph> graph = Internal("unset");
      std::string spec = family;
      if (family.rfind("view:", 0) == 0) {
        std::vector<std::uint64_t> ids(static_cast<std::size_t>(n));
        for (int k = 0; k < n; ++k)
          ids[static_cast<std::size_t>(k)] = 1000 + 7 * static_cast<std::uint64_t>(k);
        graph = GraphFromView(ids, family.substr(5), 1);
      } else {
        if (family == "erdos") {  // p = 2 ln(n) / n: twice the connectivity threshold.
          char p[32];
          std::snprintf(p, sizeof(p), "erdos:p=%.6g", std::min(1.0, 2.0 * std::log(n) / n));
          spec = p;
        }
        graph = MakeGraph(spec, n, 1);
      }
      if (!graph.has_value()) {
        std::cerr << "skip " << spec << " n=" << n << ": " << graph.error().ToString() << "\n";
        continue;
      }
      const bool regular = graph->MinDegree() == graph->MaxDegree();
      for (WeightRule rule : {WeightRule::kMetropolisHastings, WeightRule::kMaxDegree}) {
        if (regular && rule != WeightRule::kMetropolisHastings) continue;
        const auto start = Clock::now();
        const double gap = SpectralGapOf(*graph, rule);
        const double seconds = SecondsSince(start);
        const double rounds = ConsensusRounds(gap, 1e-6);
        const double mean_degree = 2.0 * static_cast<double>(graph->num_edges()) / n;
        rows.push_back({{"family", family},
                        {"spec", spec},
                        {"rule", RuleName(rule)},
                        {"n", n},
                        {"spectral_gap", gap},
                        {"consensus_rounds_1e-6", rounds},
                        {"mean_degree", mean_degree},
                        {"eigen_seconds", seconds}});
        (rule == WeightRule::kMetropolisHastings ? mh_rows : max_degree_rows)
            << family << "\t" << RuleName(rule) << "\t" << n << "\t" << gap << "\t" << rounds
            << "\t" << mean_degree << "\n";
        std::cerr << spec << " " << RuleName(rule) << " n=" << n << " gap=" << gap << " ("
                  << seconds << " s)\n";
      }
    }
    tsv << mh_rows.str() << "\n" << max_degree_rows.str() << "\n\n";  // An index per family.
  }
  return rows;
}

// A construction maps a sorted member list to a graph.
struct Construction {
  std::string name;
  std::string spec;
  bool from_view;  // GraphFromView; else MakeGraph on the rank order of the ids.
};

Result<Graph> Build(const Construction& c, const std::vector<std::uint64_t>& ids,
                    std::uint64_t seed) {
  if (c.from_view) return GraphFromView(ids, c.spec, seed);
  return MakeGraph(c.spec, static_cast<int>(ids.size()), seed);
}

struct Stats {
  double sum = 0;
  std::size_t max = 0;
  int count = 0;
  void Add(std::size_t v) {
    sum += static_cast<double>(v);
    max = std::max(max, v);
    ++count;
  }
  double mean() const { return count ? sum / count : 0.0; }
};

// Alternates random joins and leaves around size n and counts edges added+removed.
nlohmann::json RewiringTable(const std::vector<int>& sizes, int events, std::ofstream& tsv) {
  const std::vector<Construction> constructions = {
      {"view:ring", "ring", true},
      {"view:exp", "exp", true},
      {"view:regular:d=4", "regular:d=4", true},
      {"view:regular:d=8", "regular:d=8", true},
      {"view:complete", "complete", true},
      {"rank:ring", "ring", false},
      {"rank:exp", "exp", false},
      {"redraw:regular:d=4", "regular:d=4", false},
  };
  nlohmann::json rows = nlohmann::json::array();
  tsv << "# construction\tn\tjoin_mean\tjoin_max\tleave_mean\tleave_max\tedges\n";
  for (const Construction& c : constructions) {
    for (int n : sizes) {
      if (c.spec == "complete" && n > 256) continue;
      Rng rng(42, static_cast<std::uint64_t>(n));
      std::set<std::uint64_t> members;
      while (static_cast<int>(members.size()) < n) members.insert(rng.NextU64());
      std::vector<std::uint64_t> ids(members.begin(), members.end());
      Result<Graph> before = Build(c, ids, 7);
      if (!before.has_value()) {
        std::cerr << "skip " << c.name << ": " << before.error().ToString() << "\n";
        continue;
      }
      Stats join, leave;
      bool connected = true;
      const auto start = Clock::now();
      for (int e = 0; e < events; ++e) {
        // Join when at or below n, else leave: the size oscillates between n and n+1.
        const bool is_join = static_cast<int>(ids.size()) <= n;
        std::vector<std::uint64_t> next = ids;
        if (is_join) {
          next.push_back(rng.NextU64());
          std::sort(next.begin(), next.end());
        } else {
          next.erase(next.begin() + static_cast<std::ptrdiff_t>(rng.UniformInt(next.size())));
        }
        Result<Graph> after = Build(c, next, 7);
        if (!after.has_value()) {
          std::cerr << c.name << ": " << after.error().ToString() << "\n";
          break;
        }
        connected = connected && after->IsConnected();
        const std::size_t changed = CompareViewGraphs(ids, *before, next, *after).total();
        (is_join ? join : leave).Add(changed);
        ids = std::move(next);
        before = std::move(after);
      }
      const double edges = static_cast<double>(before->num_edges());
      rows.push_back({{"construction", c.name},
                      {"n", n},
                      {"events", join.count + leave.count},
                      {"join_mean", join.mean()},
                      {"join_max", join.max},
                      {"leave_mean", leave.mean()},
                      {"leave_max", leave.max},
                      {"edges", edges},
                      {"always_connected", connected},
                      {"seconds", SecondsSince(start)}});
      tsv << c.name << "\t" << n << "\t" << join.mean() << "\t" << join.max << "\t" << leave.mean()
          << "\t" << leave.max << "\t" << edges << "\n";
      std::cerr << c.name << " n=" << n << " join " << join.mean() << " leave " << leave.mean()
                << " of " << edges << " edges\n";
    }
    tsv << "\n\n";
  }
  return rows;
}

int Main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: topology_bench OUT_DIR [--quick]\n";
    return 2;
  }
  const std::string out = argv[1];
  const bool quick = argc > 2 && std::string(argv[2]) == "--quick";
  const std::vector<int> gap_sizes =
      quick ? std::vector<int>{16, 64} : std::vector<int>{16, 32, 64, 128, 256, 512, 1024};
  const std::vector<int> churn_sizes =
      quick ? std::vector<int>{64} : std::vector<int>{64, 256, 1024};
  const auto start = Clock::now();
  std::ofstream gap_tsv(out + "/topology_gap.tsv");
  std::ofstream churn_tsv(out + "/topology_rewiring.tsv");
  nlohmann::json result;
  result["benchmark"] = "topology";
  result["notes"] =
      "spectral_gap = 1 - |lambda_2(W)| (dense SelfAdjointEigenSolver); "
      "consensus_rounds_1e-6 = ceil(ln(1e-6)/ln(1-gap)); erdos uses p = 2 ln(n)/n; "
      "view:* = GraphFromView on member ids, rank:* = MakeGraph on the sorted-id order, "
      "redraw:* = MakeGraph re-drawn on every change; rewiring = edges added + removed "
      "per event, the size alternating between n and n+1";
  result["spectral_gap"] = GapTable(gap_sizes, gap_tsv);
  result["rewiring"] = RewiringTable(churn_sizes, quick ? 20 : 60, churn_tsv);
  result["total_seconds"] = SecondsSince(start);
  std::ofstream(out + "/topology.json") << result.dump(2) << "\n";
  std::cerr << "total " << SecondsSince(start) << " s\n";
  return 0;
}

}  // namespace
}  // namespace sotto::topology

int main(int argc, char** argv) { return sotto::topology::Main(argc, argv); }
