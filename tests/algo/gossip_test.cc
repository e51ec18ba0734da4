#include <cmath>
#include <memory>
#include <numeric>
#include <vector>

#include <catch2/catch.hpp>

#include "algo/compressed_gossip.h"
#include "algo/gossip_algorithm.h"
#include "coding/compressor.h"
#include "common/random.h"
#include "topology/graph.h"
#include "topology/mixing_weights.h"

namespace sotto::algo {
namespace {

// N algorithms on a graph with Metropolis-Hastings weights, gossip only (zero gradients).
struct GossipOnly {
  GossipOnly(const GossipOptions& options, const std::string& topology, int n, std::int64_t d)
      : graph(topology::MakeGraph(topology, n, 1).value()) {
    Rng rng(11);
    const auto rows = topology::MixingRows(graph, topology::WeightRule::kMetropolisHastings);
    for (int i = 0; i < n; ++i) {
      NeighbourWeights w;
      w.self = rows[static_cast<std::size_t>(i)].self_weight;
      for (std::size_t k = 0; k < rows[static_cast<std::size_t>(i)].neighbours.size(); ++k) {
        w.neighbours.emplace_back(PeerId(rows[static_cast<std::size_t>(i)].neighbours[k]),
                                  rows[static_cast<std::size_t>(i)].weights[k]);
      }
      nodes.push_back(MakeGossipAlgorithm(options, PeerId(i), d, w).value());
      std::vector<float> x(static_cast<std::size_t>(d));
      for (auto& v : x) v = static_cast<float>(rng.Normal());
      nodes.back()->SetModel(x);
    }
  }

  void Round(std::uint64_t t) {
    GradientOracle zero = [](std::span<const float>, std::span<float> g) {
      std::fill(g.begin(), g.end(), 0.0f);
      return 0.0;
    };
    for (auto& node : nodes) REQUIRE(node->LocalStep(zero, RoundId(t)).ok());
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      for (int j : graph.neighbours(static_cast<int>(i))) {
        REQUIRE(nodes[static_cast<std::size_t>(j)]
                    ->Absorb(PeerId(i), nodes[i]->link_message(PeerId(j)))
                    .ok());
        if (announce) {
          nodes[static_cast<std::size_t>(j)]->SetNeighbourStep(
              PeerId(i), nodes[i]->link_consensus_step(PeerId(j)));
        }
      }
    }
    for (auto& node : nodes) node->Mix();
  }

  std::vector<double> Mean() const {
    std::vector<double> mean(nodes[0]->model().size(), 0.0);
    for (const auto& node : nodes) {
      for (std::size_t k = 0; k < mean.size(); ++k)
        mean[k] += node->model()[k] / static_cast<double>(nodes.size());
    }
    return mean;
  }

  double ConsensusDistance() const {
    const auto mean = Mean();
    double dist = 0;
    for (const auto& node : nodes) {
      for (std::size_t k = 0; k < mean.size(); ++k) dist += std::pow(node->model()[k] - mean[k], 2);
    }
    return dist / static_cast<double>(nodes.size());
  }

  topology::Graph graph;
  std::vector<std::unique_ptr<GossipAlgorithm>> nodes;
  bool announce = false;  // Receivers learn each link's step (as the daemon's messages carry it).
};

TEST_CASE("uncompressed gossip reaches consensus at the rate the spectral gap predicts",
          "[algo][gossip]") {
  const std::string topology = GENERATE(as<std::string>{}, "ring", "torus", "exp");
  const int n = 16;
  GossipOptions options;
  options.algorithm = "dpsgd";
  GossipOnly g(options, topology, n, 64);
  const double gap = topology::SpectralGap(
      topology::MixingMatrix(g.graph, topology::WeightRule::kMetropolisHastings));
  const double lambda2 = 1 - gap;
  const double d0 = g.ConsensusDistance();
  const auto mean0 = g.Mean();
  // Enough rounds for the slowest mode to dominate, few enough to stay far above
  // float round-off: lambda_2^(2t) ~ 1e-6.
  const int rounds = static_cast<int>(std::ceil(std::log(1e-6) / (2 * std::log(lambda2))));
  double prev = d0, rate = 0;
  for (int t = 0; t < rounds; ++t) {
    g.Round(static_cast<std::uint64_t>(t));
    const double now = g.ConsensusDistance();
    rate = now / prev;
    prev = now;
  }
  INFO(topology << ": spectral gap " << gap << ", last per-round contraction " << rate);
  // Never slower than the bound, and the slowest mode dominates late: the per-round
  // contraction of the squared distance tends to lambda_2^2.
  CHECK(prev <= d0 * std::pow(lambda2, 2 * rounds) * 1.0001 + 1e-12);
  CHECK(rate == Approx(lambda2 * lambda2).epsilon(0.05));
  const auto mean = g.Mean();
  for (std::size_t k = 0; k < mean.size(); ++k) CHECK(mean[k] == Approx(mean0[k]).margin(1e-4));
}

TEST_CASE("choco with exact compression and gamma 1 is plain gossip", "[algo][gossip]") {
  GossipOptions exact;
  exact.algorithm = "choco";
  exact.compressor = "identity";
  exact.consensus_step = 1.0;
  GossipOptions plain;
  plain.algorithm = "dpsgd";
  GossipOnly a(exact, "ring", 8, 20), b(plain, "ring", 8, 20);
  for (int t = 0; t < 10; ++t) {
    a.Round(static_cast<std::uint64_t>(t));
    b.Round(static_cast<std::uint64_t>(t));
  }
  for (std::size_t i = 0; i < a.nodes.size(); ++i) {
    for (std::size_t k = 0; k < 20; ++k)
      CHECK(a.nodes[i]->model()[k] == Approx(b.nodes[i]->model()[k]).margin(1e-5));
  }
}

TEST_CASE("compressed gossip preserves the mean and reaches consensus", "[algo][gossip]") {
  const std::string compressor =
      GENERATE(as<std::string>{}, "dither:s=16", "topk:0.1", "dither:s=4");
  GossipOptions options;
  options.algorithm = "choco";
  options.compressor = compressor;
  options.consensus_step = compressor.starts_with("topk") ? 0.1 : 0.5;
  GossipOnly g(options, "ring", 8, 200);
  const auto mean0 = g.Mean();
  const double d0 = g.ConsensusDistance();
  for (int t = 0; t < 600; ++t) g.Round(static_cast<std::uint64_t>(t));
  INFO(compressor << ": consensus distance " << d0 << " -> " << g.ConsensusDistance());
  CHECK(g.ConsensusDistance() < 1e-3 * d0);
  const auto mean = g.Mean();
  for (std::size_t k = 0; k < mean.size(); ++k) CHECK(mean[k] == Approx(mean0[k]).margin(1e-3));
}

TEST_CASE("the consensus step follows the compressor's delta when the compressor changes",
          "[algo][gossip]") {
  GossipOptions options;
  options.algorithm = "malcom";
  options.compressor = "chain:topk:0.01+dither:s=4";
  options.consensus_step = 0.05;
  options.consensus_step_exponent = 1.0;  // CHOCO's linear rule (the default is 0.7).
  const std::int64_t d = 7850;
  auto node =
      MakeGossipAlgorithm(options, PeerId(1), d, NeighbourWeights{0.5, {{PeerId(2), 0.5}}}).value();
  const auto delta = [&](const std::string& spec) {
    return coding::MakeCompressor(spec).value()->Delta(static_cast<std::size_t>(d));
  };
  CHECK(node->consensus_step() == 0.05);
  REQUIRE(node->SetCompressor("chain:topk:0.001+dither:s=4").ok());
  const double expect = 0.05 * delta("chain:topk:0.001+dither:s=4") / delta(options.compressor);
  CHECK(node->consensus_step() == Approx(expect));
  CHECK(node->consensus_step() < 0.02);
  REQUIRE(node->SetCompressor("chain:topk:0.25+dither:s=4").ok());
  CHECK(node->consensus_step() == 0.05);  // Never above the configured step.
  REQUIRE(node->SetCompressor(options.compressor).ok());
  CHECK(node->consensus_step() == 0.05);
  CHECK_FALSE(node->SetCompressor("topk:2").ok());
  CHECK(node->consensus_step() == 0.05);  // A bad spec changes nothing.
}

TEST_CASE("with an exponent and a ceiling the consensus step also grows with a denser compressor",
          "[algo][gossip]") {
  CHECK(ScaledConsensusStep(0.1, 0.01, 0.05, 0.6, 0.5) == Approx(0.1 * std::pow(5.0, 0.6)));
  CHECK(ScaledConsensusStep(0.1, 0.01, 0.001, 0.6, 0.5) == Approx(0.1 * std::pow(0.1, 0.6)));
  CHECK(ScaledConsensusStep(0.1, 0.01, 0.2, 0.6, 0.5) == 0.5);  // The ceiling.
  CHECK(ScaledConsensusStep(0.1, 0.01, 0.2, 0.6, 0.0) ==
        0.1);  // No ceiling given: never above gamma_0.
  CHECK(ScaledConsensusStep(0.5, 0.01, 1.0, 1.0, 1.0) == 1.0);             // Never above 1.
  CHECK(ScaledConsensusStep(0.1, 0.01, 0.001, 1.0, 0.0) == Approx(0.01));  // The linear default.
  CHECK(ScaledConsensusStep(0.1, 0.0, 0.001, 1.0, 0.0) == 0.1);            // No delta to scale by.

  GossipOptions options;
  options.algorithm = "malcom";
  options.compressor = "chain:topk:0.01+dither:s=256";
  options.consensus_step = 0.1;
  options.consensus_step_exponent = 0.6;
  options.consensus_step_max = 0.5;
  const std::int64_t d = 7850;
  auto node =
      MakeGossipAlgorithm(options, PeerId(1), d, NeighbourWeights{0.5, {{PeerId(2), 0.5}}}).value();
  const auto delta = [&](const std::string& spec) {
    return coding::MakeCompressor(spec).value()->Delta(static_cast<std::size_t>(d));
  };
  REQUIRE(node->SetCompressor("chain:topk:0.05+dither:s=256").ok());
  const double up =
      0.1 * std::pow(delta("chain:topk:0.05+dither:s=256") / delta(options.compressor), 0.6);
  CHECK(node->consensus_step() == Approx(std::min(up, 0.5)));
  CHECK(node->consensus_step() > 0.15);
  REQUIRE(node->SetCompressor("chain:topk:0.001+dither:s=256").ok());
  CHECK(node->consensus_step() < 0.1);
  CHECK(node->consensus_step() >
        0.1 * delta("chain:topk:0.001+dither:s=256") / delta(options.compressor));
  REQUIRE(node->SetCompressor(options.compressor).ok());
  CHECK(node->consensus_step() == Approx(0.1));

  options.consensus_step_exponent = -1;
  CHECK(MakeGossipAlgorithm(options, PeerId(1), d, NeighbourWeights{0.5, {{PeerId(2), 0.5}}})
            .error()
            .code() == StatusCode::kInvalidArgument);
  options.consensus_step_exponent = 0.6;
  options.consensus_step_max = 1.5;
  CHECK(MakeGossipAlgorithm(options, PeerId(1), d, NeighbourWeights{0.5, {{PeerId(2), 0.5}}})
            .error()
            .code() == StatusCode::kInvalidArgument);
}

TEST_CASE("compressed gossip reaches consensus while every node changes its compressor each round",
          "[algo][gossip]") {
  GossipOptions options;
  options.algorithm = "malcom";
  options.compressor = "chain:topk:0.01+dither:s=4";
  options.consensus_step = 0.05;
  GossipOnly fixed(options, "ring", 8, 2000), changing(options, "ring", 8, 2000);
  const double d0 = changing.ConsensusDistance();
  Rng rng(5);
  for (int t = 0; t < 400; ++t) {
    for (auto& node : changing.nodes) {  // Each node its own top-k fraction in [0.001, 0.25].
      const double f = 0.001 * std::pow(250.0, rng.Uniform01());
      REQUIRE(node->SetCompressor("chain:topk:" + std::to_string(f) + "+dither:s=4").ok());
    }
    changing.Round(static_cast<std::uint64_t>(t));
    fixed.Round(static_cast<std::uint64_t>(t));
  }
  INFO("consensus distance " << d0 << " -> fixed top-1% " << fixed.ConsensusDistance()
                             << ", changing " << changing.ConsensusDistance());
  // The public copies stay consistent across changes, so the changing mesh contracts
  // like a mesh with the mean of the fractions, far below where it started.
  CHECK(changing.ConsensusDistance() < 0.05 * d0);
  CHECK(changing.ConsensusDistance() < 2 * fixed.ConsensusDistance());
}

TEST_CASE("nodes with different consensus steps keep the mesh's average when they announce them",
          "[algo][gossip]") {
  GossipOptions options;
  options.algorithm = "choco";
  options.l1 = 0;
  options.compressor = "chain:topk:0.01+dither:s=256";
  options.consensus_step = 0.1;
  options.consensus_step_exponent = 0.7;
  options.consensus_step_max = 0.5;
  const int n = 8;
  GossipOnly announced(options, "ring", n, 3000), silent(options, "ring", n, 3000);
  // Each node its own top-k fraction, so its own gamma (0.03 .. 0.5).
  const double fractions[n] = {0.002, 0.05, 0.01, 0.2, 0.003, 0.1, 0.02, 0.3};
  for (auto* g : {&announced, &silent}) {
    for (int i = 0; i < n; ++i) {
      REQUIRE(g->nodes[static_cast<std::size_t>(i)]
                  ->SetCompressor("chain:topk:" + std::to_string(fractions[i]) + "+dither:s=256")
                  .ok());
    }
  }
  CHECK(announced.nodes[0]->consensus_step() < 0.05);
  CHECK(announced.nodes[7]->consensus_step() == 0.5);
  const auto mean0 = announced.Mean();
  const double d0 = announced.ConsensusDistance();
  GradientOracle zero = [](std::span<const float>, std::span<float> g) {
    std::fill(g.begin(), g.end(), 0.0f);
    return 0.0;
  };
  for (std::uint64_t t = 0; t < 400; ++t) {
    for (auto* g : {&announced, &silent}) {
      for (auto& node : g->nodes) REQUIRE(node->LocalStep(zero, RoundId(t)).ok());
      for (std::size_t i = 0; i < g->nodes.size(); ++i) {
        for (int j : g->graph.neighbours(static_cast<int>(i))) {
          REQUIRE(g->nodes[static_cast<std::size_t>(j)]
                      ->Absorb(PeerId(i), g->nodes[i]->message())
                      .ok());
          if (g == &announced) {
            g->nodes[static_cast<std::size_t>(j)]->SetNeighbourStep(PeerId(i),
                                                                    g->nodes[i]->consensus_step());
          }
        }
      }
      for (auto& node : g->nodes) node->Mix();
    }
  }
  const auto drift = [&](const GossipOnly& g) {
    const auto mean = g.Mean();
    double d = 0;
    for (std::size_t k = 0; k < mean.size(); ++k) d = std::max(d, std::abs(mean[k] - mean0[k]));
    return d;
  };
  INFO("largest change of the average: announced "
       << drift(announced) << ", silent " << drift(silent) << "; consensus distance " << d0
       << " -> " << announced.ConsensusDistance() << " (silent " << silent.ConsensusDistance()
       << ")");
  CHECK(drift(announced) < 1e-4);  // Float rounding only: each link mixes with one step.
  // Per-node steps preserve the average weighted by 1 / gamma_i, not the average; with
  // these fractions and steps (gamma_i up to 15x apart) the silent mesh even diverges.
  CHECK(drift(silent) > 100 * drift(announced));
  CHECK(silent.ConsensusDistance() > d0);
  // The announced mesh contracts (the top-0.2 % node, 6 of 3000 entries a round with
  // gamma 0.032, is what limits it: ~0.13 d0 from round 300 on).
  CHECK(announced.ConsensusDistance() < 0.2 * d0);
}

TEST_CASE("per-link compression keeps the mean, and each link carries its own compressor",
          "[algo][gossip]") {
  GossipOptions options;
  options.algorithm = "choco";
  options.compressor = "chain:topk:0.002+dither:s=256";
  options.consensus_step = 0.03;
  options.consensus_step_exponent = 0.7;
  options.consensus_step_max = 0.5;
  options.per_link = true;
  const int n = 8;
  const std::int64_t d = 3000;
  GossipOnly mixed(options, "ring", n, d), sparse(options, "ring", n, d);
  mixed.announce = sparse.announce = true;
  // Half the ring's links dense (top-20 %), the other half at the node's top-0.2 %; the
  // two directions of link {i, i+1} for even i differ (20 % one way, 5 % back).
  for (int i = 0; i < n; i += 2) {
    const int j = (i + 1) % n;
    auto& a = mixed.nodes[static_cast<std::size_t>(i)];
    auto& b = mixed.nodes[static_cast<std::size_t>(j)];
    REQUIRE(a->SetLinkCompressor(PeerId(j), "chain:topk:0.2+dither:s=256").ok());
    REQUIRE(b->SetLinkCompressor(PeerId(i), "chain:topk:0.05+dither:s=256").ok());
  }
  CHECK(mixed.nodes[0]->per_link());
  CHECK(mixed.nodes[0]->PublicCopy().empty());  // No one public copy.
  CHECK(mixed.nodes[0]->link_consensus_step(PeerId(1)) == 0.5);
  CHECK(mixed.nodes[0]->link_consensus_step(PeerId(7)) == 0.03);
  CHECK(mixed.nodes[1]->link_consensus_step(PeerId(0)) > 0.03);
  CHECK(mixed.nodes[1]->link_consensus_step(PeerId(0)) < 0.5);
  CHECK(mixed.nodes[0]->SetLinkCompressor(PeerId(4), "topk:0.1").code() ==
        StatusCode::kInvalidArgument);  // Not a neighbour.
  CHECK(mixed.nodes[0]->SetLinkCompressor(PeerId(1), "topk:2").code() ==
        StatusCode::kInvalidArgument);                           // A bad spec...
  CHECK(mixed.nodes[0]->link_consensus_step(PeerId(1)) == 0.5);  // ... changes nothing.

  const auto mean0 = mixed.Mean();
  const double d0 = mixed.ConsensusDistance();
  mixed.Round(0);
  sparse.Round(0);
  // Each link's message is compressed on its own: 20 % of 3000 entries against 0.2 %.
  INFO("first messages of node 0: " << mixed.nodes[0]->link_message(PeerId(1)).size() << " and "
                                    << mixed.nodes[0]->link_message(PeerId(7)).size() << " bytes");
  CHECK(mixed.nodes[0]->link_message(PeerId(1)).size() >
        15 * mixed.nodes[0]->link_message(PeerId(7)).size());
  CHECK(mixed.nodes[1]->link_message(PeerId(0)).size() >
        5 * mixed.nodes[1]->link_message(PeerId(2)).size());
  for (std::uint64_t t = 1; t < 300; ++t) {
    mixed.Round(t);
    sparse.Round(t);
  }
  // Every receiver's copy of a link is bit for bit what the sender holds for it.
  for (int i = 0; i < n; ++i) {
    for (int j : mixed.graph.neighbours(i)) {
      const auto held = mixed.nodes[static_cast<std::size_t>(j)]->NeighbourCopy(PeerId(i));
      const auto sent = mixed.nodes[static_cast<std::size_t>(i)]->LinkPublicCopy(PeerId(j));
      REQUIRE(held.size() == sent.size());
      CHECK(std::equal(held.begin(), held.end(), sent.begin()));
    }
  }
  const auto mean = mixed.Mean();
  double drift = 0;
  for (std::size_t k = 0; k < mean.size(); ++k)
    drift = std::max(drift, std::abs(mean[k] - mean0[k]));
  INFO("consensus distance " << d0 << " -> mixed links " << mixed.ConsensusDistance()
                             << ", all links sparse " << sparse.ConsensusDistance()
                             << "; largest change of the average " << drift);
  CHECK(drift < 1e-4);  // Each link's term enters its two ends with opposite signs.
  CHECK(mixed.ConsensusDistance() < 0.5 * d0);
  // The dense links pay: the mesh contracts further than with every link sparse.
  CHECK(mixed.ConsensusDistance() < 0.7 * sparse.ConsensusDistance());

  // SetCompressor puts every link back on the node's compressor.
  REQUIRE(mixed.nodes[0]->SetCompressor("chain:topk:0.01+dither:s=256").ok());
  CHECK(mixed.nodes[0]->link_consensus_step(PeerId(1)) ==
        Approx(mixed.nodes[0]->link_consensus_step(PeerId(7))));
  CHECK(mixed.nodes[0]->link_compressor_delta(PeerId(1)) ==
        mixed.nodes[0]->link_compressor_delta(PeerId(7)));

  // A saved state has no one public copy; loading it starts every link from the model.
  const AlgorithmState state = mixed.nodes[2]->SaveState();
  CHECK(state.public_copy.empty());
  REQUIRE(state.mixed.size() == state.model.size());
  REQUIRE(mixed.nodes[2]->LoadState(state).ok());
  for (int j : mixed.graph.neighbours(2)) {
    const auto out = mixed.nodes[2]->LinkPublicCopy(PeerId(j));
    CHECK(std::equal(out.begin(), out.end(), state.model.begin()));
  }

  // Without per_link there are no link compressors.
  GossipOptions node_wide = options;
  node_wide.per_link = false;
  GossipOnly plain(node_wide, "ring", 4, 50);
  CHECK_FALSE(plain.nodes[0]->per_link());
  CHECK(plain.nodes[0]->SetLinkCompressor(PeerId(1), "topk:0.1").code() ==
        StatusCode::kInvalidArgument);
  CHECK(plain.nodes[0]->link_message(PeerId(1)).data() == plain.nodes[0]->message().data());
}

TEST_CASE("malformed and foreign messages change nothing", "[algo][gossip]") {
  GossipOptions options;
  options.algorithm = "malcom";
  GossipOnly g(options, "ring", 4, 50);
  g.Round(0);
  const std::vector<float> before(g.nodes[0]->model().begin(), g.nodes[0]->model().end());
  std::vector<std::uint8_t> junk(37, 0xAB);
  CHECK(g.nodes[0]->Absorb(PeerId(1), junk).code() == StatusCode::kCorrupted);
  CHECK(g.nodes[0]->Absorb(PeerId(1), {}).code() == StatusCode::kCorrupted);
  CHECK(g.nodes[0]->Absorb(PeerId(2), g.nodes[2]->message()).code() ==
        StatusCode::kInvalidArgument);  // Not a neighbour on a ring of 4.
  g.nodes[0]->Mix();
  GossipOptions reference = options;
  GossipOnly h(reference, "ring", 4, 50);
  h.Round(0);
  h.nodes[0]->Mix();
  for (std::size_t k = 0; k < before.size(); ++k)
    CHECK(g.nodes[0]->model()[k] == h.nodes[0]->model()[k]);
}

TEST_CASE("the prox step keeps malcom models sparse", "[algo][gossip]") {
  std::vector<float> x{-3.0f, -0.5f, 0.0f, 0.2f, 1.5f};
  SoftThreshold(x, 1.0f);
  CHECK(x == std::vector<float>{-2.0f, 0.0f, 0.0f, 0.0f, 0.5f});
}

TEST_CASE("bad gossip options are clear errors", "[algo][gossip]") {
  NeighbourWeights w;
  GossipOptions o;
  o.algorithm = "gossip-magic";
  auto r = MakeGossipAlgorithm(o, PeerId(0), 10, w);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message().find("unknown algorithm 'gossip-magic'") != std::string::npos);
  o.algorithm = "malcom";
  o.compressor = "zip:9";
  CHECK(MakeGossipAlgorithm(o, PeerId(0), 10, w).error().code() == StatusCode::kInvalidArgument);
  o.compressor = "dither:s=16";
  w.self = 0.5;
  CHECK(MakeGossipAlgorithm(o, PeerId(0), 10, w).error().message().find("sum to") !=
        std::string::npos);
  o.algorithm = "choco";
  o.l1 = 0.1;
  w.self = 1;
  CHECK_FALSE(MakeGossipAlgorithm(o, PeerId(0), 10, w).ok());
}

}  // namespace
}  // namespace sotto::algo

namespace sotto::algo {
namespace {

TEST_CASE("algorithm state round-trips and a newcomer starts from a neighbour's copy",
          "[algo][gossip]") {
  GossipOptions o;
  o.algorithm = "malcom";
  o.momentum = 0.5;
  NeighbourWeights w{0.5, {{PeerId(1), 0.5}}};
  auto a = MakeGossipAlgorithm(o, PeerId(0), 30, w).value();
  GradientOracle ones = [](std::span<const float>, std::span<float> g) {
    std::fill(g.begin(), g.end(), 1.0f);
    return 1.0;
  };
  REQUIRE(a->LocalStep(ones, RoundId(0)).ok());
  a->Mix();
  const AlgorithmState saved = a->SaveState();
  CHECK(saved.model.size() == 30);
  CHECK(saved.public_copy.size() == 30);
  CHECK(saved.velocity.size() == 30);
  auto b = MakeGossipAlgorithm(o, PeerId(0), 30, w).value();
  REQUIRE(b->LoadState(saved).ok());
  CHECK(b->SaveState().model == saved.model);
  CHECK(b->SaveState().mixed == saved.mixed);
  // Both continue identically.
  REQUIRE(a->LocalStep(ones, RoundId(1)).ok());
  REQUIRE(b->LocalStep(ones, RoundId(1)).ok());
  CHECK(std::vector<std::uint8_t>(a->message().begin(), a->message().end()) ==
        std::vector<std::uint8_t>(b->message().begin(), b->message().end()));
  AlgorithmState wrong;
  wrong.model.resize(29);
  CHECK(b->LoadState(wrong).code() == StatusCode::kInvalidArgument);
  // A newcomer given only a model: x_hat = s = x, so its first residual is zero.
  auto c = MakeGossipAlgorithm(o, PeerId(2), 30, w).value();
  AlgorithmState model_only;
  model_only.model = saved.model;
  REQUIRE(c->LoadState(model_only).ok());
  CHECK(c->SaveState().public_copy == saved.model);
  CHECK(c->AbsorbsLateMessages());
}

TEST_CASE("a weight change re-bases the running sum", "[algo][gossip]") {
  GossipOptions o;
  o.algorithm = "choco";
  o.compressor = "identity";
  NeighbourWeights w{0.5, {{PeerId(1), 0.5}}};
  auto a = MakeGossipAlgorithm(o, PeerId(0), 4, w).value();
  auto b = MakeGossipAlgorithm(o, PeerId(1), 4, NeighbourWeights{0.5, {{PeerId(0), 0.5}}}).value();
  b->SetModel(std::vector<float>{4, 4, 4, 4});
  GradientOracle zero = [](std::span<const float>, std::span<float> g) {
    std::fill(g.begin(), g.end(), 0.0f);
    return 0.0;
  };
  REQUIRE(a->LocalStep(zero, RoundId(0)).ok());
  REQUIRE(b->LocalStep(zero, RoundId(0)).ok());
  REQUIRE(a->Absorb(PeerId(1), b->message()).ok());
  CHECK(a->SaveState().mixed[0] == 2.0f);    // 0.5 * 0 + 0.5 * 4.
  a->SetWeights(NeighbourWeights{1.0, {}});  // Neighbour gone.
  CHECK(a->SaveState().mixed[0] == 0.0f);    // s = x_hat.
  a->Mix();
  CHECK(a->model()[0] == 0.0f);  // Nothing pulls it any more.
  CHECK_FALSE(MakeGossipAlgorithm(GossipOptions{.algorithm = "dpsgd"}, PeerId(0), 4, w)
                  .value()
                  ->AbsorbsLateMessages());
}

}  // namespace
}  // namespace sotto::algo

namespace sotto::algo {
namespace {

TEST_CASE("a weight change recomputes the running sum from the copies of the neighbours that stay",
          "[algo][gossip]") {
  GossipOptions o;
  o.algorithm = "choco";
  o.compressor = "identity";
  GradientOracle zero = [](std::span<const float>, std::span<float> g) {
    std::fill(g.begin(), g.end(), 0.0f);
    return 0.0;
  };
  auto a = MakeGossipAlgorithm(o, PeerId(0), 3,
                               NeighbourWeights{0.5, {{PeerId(1), 0.25}, {PeerId(2), 0.25}}})
               .value();
  auto b = MakeGossipAlgorithm(o, PeerId(1), 3, NeighbourWeights{0.5, {{PeerId(0), 0.5}}}).value();
  auto c = MakeGossipAlgorithm(o, PeerId(2), 3, NeighbourWeights{0.5, {{PeerId(0), 0.5}}}).value();
  a->SetModel(std::vector<float>{2, 2, 2});
  b->SetModel(std::vector<float>{4, 4, 4});
  c->SetModel(std::vector<float>{8, 8, 8});
  for (auto* n : {a.get(), b.get(), c.get()}) REQUIRE(n->LocalStep(zero, RoundId(0)).ok());
  REQUIRE(a->Absorb(PeerId(1), b->message()).ok());
  REQUIRE(a->Absorb(PeerId(2), c->message()).ok());
  CHECK(a->SaveState().mixed[0] == Approx(0.5 * 2 + 0.25 * 4 + 0.25 * 8));
  // c leaves: s = 0.5 x_hat_a + 0.5 x_hat_b exactly (re-basing to x_hat_a would give 2).
  a->SetWeights(NeighbourWeights{0.5, {{PeerId(1), 0.5}}});
  CHECK(a->SaveState().mixed[0] == Approx(3.0));
  // A later residual of b moves the same copy on.
  b->SetModel(std::vector<float>{6, 6, 6});
  REQUIRE(b->LocalStep(zero, RoundId(1)).ok());
  REQUIRE(a->Absorb(PeerId(1), b->message()).ok());
  CHECK(a->SaveState().mixed[1] == Approx(0.5 * 2 + 0.5 * 6));
  // A newcomer d: its copy starts as x_hat_a (unknown); b's copy is kept.
  a->SetWeights(NeighbourWeights{0.5, {{PeerId(1), 0.25}, {PeerId(3), 0.25}}});
  CHECK(a->SaveState().mixed[2] == Approx(0.5 * 2 + 0.25 * 6 + 0.25 * 2));
  // Messages from a departed neighbour are refused and change nothing.
  CHECK_FALSE(a->Absorb(PeerId(2), c->message()).ok());
  CHECK(a->SaveState().mixed[2] == Approx(0.5 * 2 + 0.25 * 6 + 0.25 * 2));
}

}  // namespace
}  // namespace sotto::algo
