#include <cmath>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "algo/data_synthetic.h"
#include "algo/federated_lab.h"
#include "algo/federated_order.h"
#include "algo/partition.h"

namespace sotto::algo {
namespace {

constexpr int kNodes = 4;
constexpr double kL2 = 0.05;

// A small strongly convex problem: l2-regularised logistic regression, d = 10.
struct Problem {
  Dataset data;
  Partition shards;
  ReferenceOptimum optimum;
  double initial_loss = 0;
};

const Problem& SmallProblem() {
  static const Problem* problem = [] {
    auto* p = new Problem;
    SparseLogisticOptions so;
    so.num_samples = 240;
    so.num_features = 10;
    so.num_nonzeros = 5;
    so.seed = 3;
    p->data = MakeSparseLogistic(so).value().data;
    p->shards = PartitionIid(p->data.num_samples(), kNodes, 3).value();
    auto model = MakeModel("softmax", p->data.num_features(), 2, kL2).value();
    p->optimum = MinimizeFullBatch(*model, p->data, 5000, 1e-14);
    std::vector<float> zero(static_cast<std::size_t>(model->num_parameters()), 0.0f);
    p->initial_loss = model->Evaluate(zero, p->data).loss;
    return p;
  }();
  return *problem;
}

FederatedOptions Options(FederatedMethod method) {
  FederatedOptions o;
  o.method = method;
  o.nodes = kNodes;
  o.l2 = kL2;
  o.seed = 7;
  o.batch_size = 1;
  o.compressor = "randk:0.5";
  o.eval_every = 1000000;
  o.eval_test = false;
  return o;
}

struct Outcome {
  double gap = 0;  // (f(x) - f*) / (f(0) - f*).
  double distance_sq = 0;  // ||x - x*||^2 / ||x*||^2.
  std::vector<FederatedRoundMetrics> metrics;
  std::unique_ptr<FederatedLab> lab;
};

Outcome Run(const FederatedOptions& o) {
  const Problem& p = SmallProblem();
  auto lab = FederatedLab::Create(o, p.data, p.data, p.shards);
  if (!lab.ok()) FAIL(lab.error().ToString());
  Outcome out;
  const Status s = (*lab)->Run([&](const FederatedRoundMetrics& m) { out.metrics.push_back(m); });
  if (!s.ok()) FAIL(s.ToString());
  const FederatedRoundMetrics& last = out.metrics.back();
  out.gap = (last.loss - p.optimum.loss) / (p.initial_loss - p.optimum.loss);
  double d = 0, n = 0;
  for (std::size_t j = 0; j < p.optimum.x.size(); ++j) {
    const double e = (*lab)->model()[j] - p.optimum.x[j];
    d += e * e;
    n += static_cast<double>(p.optimum.x[j]) * p.optimum.x[j];
  }
  out.distance_sq = d / n;
  out.lab = std::move(lab).value();
  return out;
}

TEST_CASE("the reference optimum is a stationary point", "[algo][federated]") {
  const Problem& p = SmallProblem();
  CHECK(p.optimum.grad_norm_sq < 1e-8);
  CHECK(p.optimum.loss < p.initial_loss);
}

TEST_CASE("every aggregator method converges to the optimum of l2 logistic regression",
          "[algo][federated]") {
  // Constant step sizes, as in the papers. Methods without variance reduction stop
  // in a neighbourhood of x* that shrinks with gamma (compression and sampling
  // variance at x*); DIANA-type shifts, NASTYA with full local epochs, EF with full
  // gradients and EF21 reach x* up to an O(gamma^2) (RR) or zero term.
  struct Case {
    FederatedMethod method;
    double gamma, eta;
    std::int64_t batch, rounds;
    std::string compressor;
    double tolerance;  // On the relative optimality gap (f - f*) / (f(0) - f*).
  };
  // 60 samples per node in 10 mini-batches of 6: 10 rounds are one epoch for the one-step methods.
  const Case c = GENERATE(values<Case>({
      {FederatedMethod::kQsgd, 0.05, 0, 6, 3000, "randk:0.5", 2e-2},
      {FederatedMethod::kQrr, 0.05, 0, 6, 3000, "randk:0.5", 2e-2},
      {FederatedMethod::kDiana, 0.05, 0, 6, 3000, "randk:0.5", 3e-2},
      {FederatedMethod::kDiana, 0.2, 0, 0, 2000, "randk:0.5", 1e-6},
      {FederatedMethod::kDianaRr, 0.05, 0, 6, 3000, "randk:0.5", 1e-4},
      {FederatedMethod::kNastya, 0.01, 1.0, 1, 500, "identity", 5e-4},
      {FederatedMethod::kQNastya, 0.01, 0.5, 1, 500, "randk:0.5", 1e-2},
      {FederatedMethod::kDianaNastya, 0.01, 0.5, 1, 500, "randk:0.5", 5e-4},
      {FederatedMethod::kFedCom, 0.01, 0.5, 1, 500, "randk:0.5", 2e-2},
      {FederatedMethod::kDcgd, 0.2, 0, 0, 2000, "randk:0.5", 3e-3},
      {FederatedMethod::kDcgd, 0.2, 0, 0, 2000, "induced:topk:0.25+randk:0.25", 3e-3},
      {FederatedMethod::kEf, 0.2, 0, 0, 2000, "topk:0.25", 3e-4},
      {FederatedMethod::kEf21, 0.5, 0, 0, 2000, "topk:0.25", 1e-6},
  }));
  FederatedOptions o = Options(c.method);
  o.gamma = c.gamma;
  o.eta = c.eta;
  o.batch_size = c.batch;
  o.rounds = c.rounds;
  o.compressor = c.compressor;
  const Outcome r = Run(o);
  INFO(FederatedMethodName(c.method) << " " << c.compressor << ": gap " << r.gap << ", ||x - x*||^2 rel "
                                     << r.distance_sq);
  CHECK(r.gap < c.tolerance);
  CHECK(r.gap > -1e-6);
  CHECK(r.distance_sq < 100 * c.tolerance);
}

TEST_CASE("DIANA-RR's shifts drive the compression error to zero at the optimum, Q-RR's does not",
          "[algo][federated]") {
  FederatedOptions o = Options(FederatedMethod::kDianaRr);
  o.gamma = 0.01;
  o.rounds = 12000;  // 200 epochs of 60 one-sample components.
  const Outcome diana = Run(o);
  o.method = FederatedMethod::kQrr;
  const Outcome qrr = Run(o);
  // Mean compression error ||Q(v) - v||^2 over the first and the last epoch.
  auto epoch_mean = [](const std::vector<FederatedRoundMetrics>& m, std::size_t first) {
    double s = 0;
    for (std::size_t k = first; k < first + 60; ++k) s += m[k].compression_error;
    return s / 60;
  };
  const double diana_first = epoch_mean(diana.metrics, 60);
  const double diana_last = epoch_mean(diana.metrics, diana.metrics.size() - 60);
  const double qrr_last = epoch_mean(qrr.metrics, qrr.metrics.size() - 60);
  INFO("DIANA-RR error: epoch 2 " << diana_first << ", last " << diana_last << "; Q-RR last " << qrr_last);
  CHECK(diana_last < 1e-3 * diana_first);
  CHECK(diana_last < 1e-3 * qrr_last);
  CHECK(diana.gap < 1e-1 * qrr.gap);
  CHECK(qrr_last > 1e-3);  // Individual gradients do not vanish at x*.
  CHECK(diana.lab->shifts_per_node() == 60);
}

TEST_CASE("DIANA-NASTYA's shift removes the compression error that Q-NASTYA keeps", "[algo][federated]") {
  FederatedOptions o = Options(FederatedMethod::kDianaNastya);
  o.gamma = 0.01;
  o.eta = 0.5;
  o.rounds = 500;
  const Outcome diana = Run(o);
  o.method = FederatedMethod::kQNastya;
  const Outcome q = Run(o);
  INFO("last-round error: DIANA-NASTYA " << diana.metrics.back().compression_error << ", Q-NASTYA "
                                         << q.metrics.back().compression_error);
  CHECK(diana.metrics.back().compression_error < 1e-2 * diana.metrics[1].compression_error);
  CHECK(diana.metrics.back().compression_error < 5e-2 * q.metrics.back().compression_error);
  CHECK(diana.gap < 0.2 * q.gap);
}

TEST_CASE("federated random reshuffling visits every sample exactly once per epoch", "[algo][federated]") {
  SECTION("the order alone") {
    FederatedOrder order(17, FederatedSampling::kReshuffle, Rng(5));
    for (int epoch = 0; epoch < 5; ++epoch) {
      std::vector<int> seen(17, 0);
      for (int j = 0; j < 17; ++j) ++seen[static_cast<std::size_t>(order.Next())];
      for (int s : seen) CHECK(s == 1);
    }
  }
  SECTION("in the lab, one-step and local-epoch methods") {
    const FederatedMethod method = GENERATE(FederatedMethod::kQrr, FederatedMethod::kDianaRr,
                                            FederatedMethod::kQNastya, FederatedMethod::kNastya);
    FederatedOptions o = Options(method);
    o.gamma = 0.01;
    o.eta = 0.5;
    o.batch_size = method == FederatedMethod::kQrr ? 4 : 1;  // 15 batches of 4 per node.
    const std::int64_t per_epoch = (method == FederatedMethod::kQrr || method == FederatedMethod::kDianaRr) ? (o.batch_size == 4 ? 15 : 60) : 1;
    o.rounds = 3 * per_epoch;
    const Outcome r = Run(o);
    for (std::int64_t v : r.lab->sample_visits()) CHECK(v == 3);
    CHECK(r.metrics.back().epoch == Approx(3.0));
  }
  SECTION("with replacement some samples are missed in an epoch") {
    FederatedOptions o = Options(FederatedMethod::kQsgd);
    o.gamma = 0.01;
    o.rounds = 60;
    const Outcome r = Run(o);
    int missed = 0;
    for (std::int64_t v : r.lab->sample_visits()) missed += v == 0 ? 1 : 0;
    CHECK(missed > 0);
  }
}

TEST_CASE("alpha above 1/(1+omega) is an error, or a warning when asked", "[algo][federated]") {
  const Problem& p = SmallProblem();
  FederatedOptions o = Options(FederatedMethod::kDiana);
  o.compressor = "randk:0.25";  // omega = 3 on d = 22 (k = 6: omega = 22/6 - 1).
  o.alpha = 0.9;
  auto bad = FederatedLab::Create(o, p.data, p.data, p.shards);
  REQUIRE(!bad.ok());
  CHECK(bad.error().message().find("1/(1+omega)") != std::string::npos);
  o.alpha_check = AlphaCheck::kWarn;
  auto warned = FederatedLab::Create(o, p.data, p.data, p.shards);
  REQUIRE(warned.ok());
  CHECK((*warned)->warnings().size() == 1);
  o.alpha = -1;
  auto automatic = FederatedLab::Create(o, p.data, p.data, p.shards);
  REQUIRE(automatic.ok());
  CHECK((*automatic)->alpha() == Approx(1.0 / (1.0 + (*automatic)->omega())));
}

TEST_CASE("unbiased methods refuse a contractive compressor", "[algo][federated]") {
  const Problem& p = SmallProblem();
  FederatedOptions o = Options(FederatedMethod::kQsgd);
  o.compressor = "topk:0.1";
  auto r = FederatedLab::Create(o, p.data, p.data, p.shards);
  REQUIRE(!r.ok());
  CHECK(r.error().message().find("unbiased") != std::string::npos);
  o.method = FederatedMethod::kEf;
  CHECK(FederatedLab::Create(o, p.data, p.data, p.shards).ok());
}

TEST_CASE("partial participation still converges, with fewer bits per round", "[algo][federated]") {
  const FederatedMethod method = GENERATE(FederatedMethod::kDcgd, FederatedMethod::kDiana, FederatedMethod::kEf21);
  FederatedOptions o = Options(method);
  o.batch_size = 0;
  o.rounds = 3000;
  o.gamma = method == FederatedMethod::kEf21 ? 0.3 : 0.2;
  o.compressor = method == FederatedMethod::kEf21 ? "topk:0.25" : "induced:topk:0.25+randk:0.25";
  o.participation = 0.5;
  const Outcome r = Run(o);
  INFO(FederatedMethodName(method) << " with q = 0.5: gap " << r.gap);
  CHECK(r.gap < (method == FederatedMethod::kDcgd ? 2e-2 : 1e-3));
  double active = 0;
  for (const auto& m : r.metrics) active += m.active_nodes;
  CHECK(active / static_cast<double>(r.metrics.size()) == Approx(2.0).margin(0.1));
}

TEST_CASE("uplink bits are counted from the compressor's bytes", "[algo][federated]") {
  FederatedOptions o = Options(FederatedMethod::kNastya);
  o.gamma = 0.01;
  o.eta = 1;
  o.rounds = 3;
  const Outcome r = Run(o);
  // Identity codec: 22 floats plus a header per message, 4 messages per round.
  const double per_message = r.metrics[0].uplink_bits / kNodes;
  CHECK(per_message >= 22 * 32);
  CHECK(per_message < 22 * 32 + 64 * 8);
  CHECK(r.metrics.back().cumulative_uplink_bits_per_node == Approx(3 * per_message));
  CHECK(r.metrics.back().cumulative_downlink_bits_per_node == Approx(3 * 22 * 32));
}

}  // namespace
}  // namespace sotto::algo
