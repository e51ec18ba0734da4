// bench/seed_methods: the aggregator-based methods of ALGORITHMS.md §4-§6 side by
// side on one a9a-like problem (synthetic sparse logistic regression, d = 123,
// feature density 0.1, unit-norm rows, l2-regularised), 20 nodes, same seed:
//   rr       DIANA-RR vs DIANA, Q-RR vs QSGD            (rand-k and dither)
//   nastya   Q-NASTYA / DIANA-NASTYA vs NASTYA and FedCOM (communication rounds)
//   induced  induced compressor in DCGD / DIANA vs EF / EF21 at equal bits, q = 1 and 0.5
//   coco     COCO-EF vs uncoded EF vs coded unbiased, stragglers p = 0, 0.1, 0.3
// Each method's step size(s) are the best of a small grid (fewest rounds to the
// target). Targets: ||grad f||^2 / ||grad f(x0)||^2 <= 1e-4 and
// (f - f*) / (f(x0) - f*) <= 1e-4, f* from an accelerated full-gradient run.
// Uplink bits only (exact compressed bytes); downlink is the same fp32 broadcast
// for every method and is not counted.
//
//   bench_seed_methods <out_dir>   writes seed_methods.json and per comparison
//                                  seed_methods_<name>.tsv / .gp (run.sh plots them)
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "algo/data_synthetic.h"
#include "algo/federated_lab.h"
#include "algo/normalize.h"
#include "algo/partition.h"

namespace {

using namespace sotto;
using namespace sotto::algo;

constexpr double kTarget = 1e-4;
constexpr double kLooseTarget = 1e-2;  // Reported too: constant-step methods without
                                       // variance reduction may stall above 1e-4.
constexpr int kNodes = 20;

struct Problem {
  Dataset train, test;
  Partition shards;
  double f_star = 0, f0 = 0;
};

struct Point {
  std::int64_t round;
  double bits, rel_grad, rel_gap;
};

struct Outcome {
  std::string label;
  FederatedOptions options;
  std::int64_t rounds_to_grad = -1, rounds_to_gap = -1, rounds_to_loose = -1;
  double bits_to_grad = -1, bits_to_gap = -1, bits_to_loose = -1;
  double final_rel_grad = 0, final_rel_gap = 0, final_accuracy = 0;
  double omega = 0, alpha = 0;
  std::string error;
  std::vector<Point> curve;
};

Problem MakeProblem() {
  SparseLogisticOptions so;
  so.num_samples = 12500;  // 10000 train = 20 x 500, 2500 test.
  so.num_features = 123;
  so.num_nonzeros = 20;
  so.feature_density = 0.1;
  so.weight_scale = 3.0;
  so.seed = 1;
  Problem p;
  auto data = MakeSparseLogistic(so).value().data;
  auto split = RandomTrainTestSplit(data, 0.2, 1).value();
  p.train = std::move(split.train);
  p.test = std::move(split.test);
  NormalizeRowsToUnitNorm(p.train);
  NormalizeRowsToUnitNorm(p.test);
  p.shards = PartitionIid(p.train.num_samples(), kNodes, 1).value();
  return p;
}

Outcome RunOne(const Problem& p, const std::string& label, const FederatedOptions& o) {
  Outcome out;
  out.label = label;
  out.options = o;
  auto lab = FederatedLab::Create(o, p.train, p.test, p.shards);
  if (!lab.ok()) {
    out.error = lab.error().ToString();
    return out;
  }
  out.omega = (*lab)->omega();
  out.alpha = (*lab)->alpha();
  for (std::int64_t r = 0; r < o.rounds; ++r) {
    auto m = (*lab)->Step();
    if (!m.ok()) {
      out.error = m.error().ToString();
      out.final_rel_gap = out.final_rel_grad = std::numeric_limits<double>::infinity();
      return out;
    }
    if (std::isnan(m->loss)) continue;
    const double gap = (m->loss - p.f_star) / (p.f0 - p.f_star);
    out.curve.push_back({m->round, m->cumulative_uplink_bits_per_node, m->relative_grad_norm_sq, gap});
    out.final_rel_grad = m->relative_grad_norm_sq;
    out.final_rel_gap = gap;
    out.final_accuracy = m->test_accuracy;
    if (out.rounds_to_grad < 0 && m->relative_grad_norm_sq <= kTarget) {
      out.rounds_to_grad = m->round;
      out.bits_to_grad = m->cumulative_uplink_bits_per_node;
    }
    if (out.rounds_to_loose < 0 && gap <= kLooseTarget) {
      out.rounds_to_loose = m->round;
      out.bits_to_loose = m->cumulative_uplink_bits_per_node;
    }
    if (out.rounds_to_gap < 0 && gap <= kTarget) {
      out.rounds_to_gap = m->round;
      out.bits_to_gap = m->cumulative_uplink_bits_per_node;
    }
    if (out.rounds_to_grad >= 0 && out.rounds_to_gap >= 0) break;
  }
  return out;
}

// Fewest rounds to the f - f* target; unreached runs rank by their final gap.
bool Better(const Outcome& a, const Outcome& b) {
  if (!a.error.empty()) return false;
  if (!b.error.empty()) return true;
  const auto key = [](const Outcome& o) {
    if (o.rounds_to_gap >= 0) return static_cast<double>(o.rounds_to_gap);
    if (o.rounds_to_loose >= 0) return 1e9 + static_cast<double>(o.rounds_to_loose) + o.final_rel_gap;
    return 1e12 * (1 + o.final_rel_gap);
  };
  return key(a) < key(b);
}

Outcome Tune(const Problem& p, const std::string& label, FederatedOptions o, const std::vector<double>& gammas,
             const std::vector<double>& etas = {1.0}) {
  Outcome best;
  bool have = false;
  for (double g : gammas) {
    for (double e : etas) {
      o.gamma = g;
      o.eta = e;
      Outcome r = RunOne(p, label, o);
      std::fprintf(stderr, "  %-34s gamma %-6g eta %-4g rounds->gap %6lld  final gap %.3g%s\n", label.c_str(), g, e,
                   static_cast<long long>(r.rounds_to_gap), r.final_rel_gap,
                   r.error.empty() ? "" : (" (" + r.error + ")").c_str());
      if (!have || Better(r, best)) {
        best = std::move(r);
        have = true;
      }
    }
  }
  return best;
}

std::string Json(const Outcome& r) {
  char buf[2048];
  std::snprintf(buf, sizeof buf,
                "{\"label\": \"%s\", \"method\": \"%s\", \"compressor\": \"%s\", \"gamma\": %g, \"eta\": %g, "
                "\"alpha\": %g, \"omega\": %g, \"batch_size\": %lld, \"participation\": %g, "
                "\"straggler_probability\": %g, \"redundancy\": %d, \"rounds_to_grad\": %lld, "
                "\"uplink_bits_per_node_to_grad\": %.0f, \"rounds_to_gap\": %lld, "
                "\"uplink_bits_per_node_to_gap\": %.0f, \"rounds_to_gap_1e-2\": %lld, "
                "\"uplink_bits_per_node_to_gap_1e-2\": %.0f, \"final_relative_grad_sq\": %.4g, "
                "\"final_relative_gap\": %.4g, \"final_test_accuracy\": %.4f, \"error\": \"%s\"}",
                r.label.c_str(), std::string(FederatedMethodName(r.options.method)).c_str(),
                r.options.compressor.c_str(), r.options.gamma, r.options.eta, r.alpha, r.omega,
                static_cast<long long>(r.options.batch_size), r.options.participation,
                r.options.straggler_probability, r.options.redundancy, static_cast<long long>(r.rounds_to_grad),
                r.bits_to_grad, static_cast<long long>(r.rounds_to_gap), r.bits_to_gap,
                static_cast<long long>(r.rounds_to_loose), r.bits_to_loose, r.final_rel_grad,
                r.final_rel_gap, r.final_accuracy, r.error.c_str());
  return buf;
}

// One TSV block per run (gnuplot `index`), and a gnuplot script for a two-panel PNG.
void WritePlot(const std::string& dir, const std::string& name, const std::string& title,
               const std::vector<Outcome>& runs) {
  std::ofstream tsv(dir + "/seed_methods_" + name + ".tsv");
  tsv << "# round\tuplink_bits_per_node\trelative_grad_sq\trelative_gap\n";
  for (const Outcome& r : runs) {
    tsv << "# " << r.label << "\n";
    for (const Point& q : r.curve) {
      tsv << q.round << '\t' << q.bits << '\t' << q.rel_grad << '\t' << std::max(q.rel_gap, 1e-12) << '\n';
    }
    tsv << "\n\n";
  }
  std::ofstream gp(dir + "/seed_methods_" + name + ".gp");
  gp << "set terminal pngcairo size 1400,560 font ',10'\n"
     << "set output '" << dir << "/seed_methods_" << name << ".png'\n"
     << "set multiplot layout 1,2 title '" << title << "'\n"
     << "set logscale y\nset format y '10^{%L}'\nset grid\nset key outside right\n"
     << "set ylabel '(f - f*) / (f(x_0) - f*)'\nset arrow from graph 0, first 1e-4 to graph 1, first 1e-4 nohead dt 2\n";
  const std::string file = dir + "/seed_methods_" + name + ".tsv";
  for (int panel = 0; panel < 2; ++panel) {
    gp << "set xlabel '" << (panel == 0 ? "communication rounds" : "uplink Mbit per node") << "'\n";
    gp << "set key " << (panel == 0 ? "off" : "outside right") << "\nplot ";
    for (std::size_t i = 0; i < runs.size(); ++i) {
      gp << (i ? ", " : "") << "'" << file << "' index " << i << " using "
         << (panel == 0 ? "1" : "($2/1e6)") << ":4 with lines lw 2 title '" << runs[i].label << "'";
    }
    gp << "\n";
  }
  gp << "unset multiplot\n";
}

FederatedOptions Base(FederatedMethod m, const std::string& compressor, std::int64_t rounds, std::int64_t batch,
                      std::int64_t eval_every) {
  FederatedOptions o;
  o.method = m;
  o.nodes = kNodes;
  o.seed = 1;
  o.compressor = compressor;
  o.rounds = rounds;
  o.batch_size = batch;
  o.eval_every = eval_every;
  o.model = "softmax";
  o.l2 = 1e-2;
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "bench/results";
  const auto start = std::chrono::steady_clock::now();
  Problem p = MakeProblem();
  {
    auto model = MakeModel("softmax", p.train.num_features(), 2, 1e-2).value();
    const ReferenceOptimum opt = MinimizeFullBatch(*model, p.train, 3000, 1e-13);
    std::vector<float> zero(static_cast<std::size_t>(model->num_parameters()), 0.0f);
    p.f_star = opt.loss;
    p.f0 = model->Evaluate(zero, p.train).loss;
    std::fprintf(stderr, "reference: f* = %.10f after %lld iterations (|grad|^2 %.3g), f(0) = %.6f\n", p.f_star,
                 static_cast<long long>(opt.iterations), opt.grad_norm_sq, p.f0);
  }
  std::vector<std::pair<std::string, std::vector<Outcome>>> all;

  // rr: one step per round, 10 fixed mini-batches of 50 per node (an epoch is 10 rounds).
  {
    std::vector<Outcome> runs;
    const std::vector<double> gammas = {1.0, 0.5, 0.25};
    for (const char* comp : {"randk:0.1", "dither:s=4"}) {
      for (FederatedMethod m : {FederatedMethod::kQsgd, FederatedMethod::kQrr, FederatedMethod::kDiana,
                                FederatedMethod::kDianaRr}) {
        runs.push_back(Tune(p, std::string(FederatedMethodName(m)) + " " + comp, Base(m, comp, 3000, 50, 10), gammas));
      }
    }
    all.emplace_back("rr", std::move(runs));
  }
  // nastya: one local epoch (10 steps on mini-batches of 50) per round.
  {
    std::vector<Outcome> runs;
    // eta in units of gamma * m (m = 10 local steps): eta = gamma m would be FedAvg.
    const std::vector<double> gammas = {0.5, 0.25};
    const std::vector<double> etas = {2.5, 5.0};
    runs.push_back(Tune(p, "nastya (fp32)", Base(FederatedMethod::kNastya, "identity", 300, 50, 1), gammas, etas));
    for (FederatedMethod m : {FederatedMethod::kQNastya, FederatedMethod::kDianaNastya, FederatedMethod::kFedCom}) {
      runs.push_back(Tune(p, std::string(FederatedMethodName(m)) + " randk:0.1", Base(m, "randk:0.1", 300, 50, 1),
                          gammas, etas));
    }
    all.emplace_back("nastya", std::move(runs));
  }
  // induced vs EF: full local gradients; induced top-5% + rand-5% sends about the
  // same number of values as top-10%.
  {
    std::vector<Outcome> runs;
    const std::vector<double> gammas = {4.0, 2.0, 1.0};
    for (double q : {1.0, 0.5}) {
      const std::string pq = q < 1 ? " q=0.5" : "";
      struct M {
        FederatedMethod m;
        const char* comp;
      };
      for (M m : {M{FederatedMethod::kDcgd, "induced:topk:0.05+randk:0.05"},
                  M{FederatedMethod::kDiana, "induced:topk:0.05+randk:0.05"}, M{FederatedMethod::kEf, "topk:0.1"},
                  M{FederatedMethod::kEf21, "topk:0.1"}}) {
        FederatedOptions o = Base(m.m, m.comp, 1000, 0, 10);
        o.participation = q;
        runs.push_back(Tune(p, std::string(FederatedMethodName(m.m)) + " " + m.comp + pq, o, gammas));
      }
    }
    all.emplace_back("induced", std::move(runs));
  }
  // coco: full part gradients, cyclic code with s = 1 (each part on 2 nodes).
  {
    std::vector<Outcome> runs;
    const std::vector<double> gammas = {4.0, 2.0, 1.0};
    for (double sp : {0.0, 0.1, 0.3}) {
      char ps[16];
      std::snprintf(ps, sizeof ps, " p=%g", sp);
      FederatedOptions coco = Base(FederatedMethod::kCocoEf, "topk:0.1", 1000, 0, 10);
      coco.straggler_probability = sp;
      coco.redundancy = 1;
      runs.push_back(Tune(p, std::string("coco-ef s=1 topk:0.1") + ps, coco, gammas));
      FederatedOptions uncoded = coco;
      uncoded.redundancy = 0;
      runs.push_back(Tune(p, std::string("uncoded ef topk:0.1") + ps, uncoded, gammas));
      FederatedOptions unbiased = coco;
      unbiased.method = FederatedMethod::kCodedUnbiased;
      unbiased.compressor = "randk:0.1";
      runs.push_back(Tune(p, std::string("coded randk:0.1 s=1") + ps, unbiased, gammas));
    }
    all.emplace_back("coco", std::move(runs));
  }

  std::ofstream json(dir + "/seed_methods.json");
  json << "{\n  \"problem\": {\"data\": \"synthetic a9a-like: 12500 samples (10000 train), d=123, density 0.1, "
          "20 true non-zeros, unit-norm rows\", \"model\": \"softmax (2 classes, 248 parameters)\", \"l2\": 0.01, "
          "\"nodes\": 20, \"f_star\": "
       << p.f_star << ", \"f0\": " << p.f0 << ", \"target\": " << kTarget
       << ", \"bits\": \"uplink only, exact compressed bytes; downlink (fp32 broadcast) not counted\"},\n";
  const char* titles[] = {"DIANA-RR vs DIANA, Q-RR vs QSGD (20 nodes, 10 batches of 50 per node)",
                          "NASTYA family: one local epoch per round", "induced compressor vs EF / EF21 (full gradients)",
                          "COCO-EF vs uncoded EF vs coded unbiased (stragglers p)"};
  for (std::size_t c = 0; c < all.size(); ++c) {
    json << "  \"" << all[c].first << "\": [\n";
    for (std::size_t i = 0; i < all[c].second.size(); ++i) {
      json << "    " << Json(all[c].second[i]) << (i + 1 < all[c].second.size() ? ",\n" : "\n");
    }
    json << "  ],\n";
    WritePlot(dir, all[c].first, titles[c], all[c].second);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  json << "  \"wall_seconds\": " << secs << "\n}\n";
  std::printf("%-40s %9s %9s %9s %9s %9s %9s %10s\n", "run", "R:g<1e-4", "Mb:g", "R:f<1e-2", "Mb:f<1e-2",
              "R:f<1e-4", "Mb:f<1e-4", "final gap");
  for (const auto& [name, runs] : all) {
    std::printf("[%s]\n", name.c_str());
    for (const Outcome& r : runs) {
      std::printf("%-40s %9lld %9.3f %9lld %9.3f %9lld %9.3f %10.3g  (gamma %g eta %g)\n", r.label.c_str(),
                  static_cast<long long>(r.rounds_to_grad), r.bits_to_grad / 1e6,
                  static_cast<long long>(r.rounds_to_loose), r.bits_to_loose / 1e6,
                  static_cast<long long>(r.rounds_to_gap), r.bits_to_gap / 1e6, r.final_rel_gap, r.options.gamma,
                  r.options.eta);
    }
  }
  std::printf("wall %.1f s\n", secs);
  return 0;
}
