#include <cmath>
#include <filesystem>
#include <vector>

#include <catch2/catch.hpp>

#include "algo/data_idx.h"
#include "algo/lab.h"
#include "algo/partition.h"

namespace sotto::algo {
namespace {

const FashionMnist* SmallFashionMnist() {
  static const FashionMnist* data = [] () -> const FashionMnist* {
    auto r = LoadFashionMnist(kFashionMnistDir, 4000, 1000);
    return r.ok() ? new FashionMnist(std::move(r).value()) : nullptr;
  }();
  return data;
}

LabOptions SmallOptions(const std::string& algorithm) {
  LabOptions o;
  o.nodes = 8;
  o.rounds = 200;
  o.eval_every = 100;
  o.batch_size = 16;
  o.topology = "ring";
  o.gossip.algorithm = algorithm;
  o.gossip.learning_rate = 0.1;
  o.gossip.consensus_step = algorithm == "choco" ? 0.1 : 0.5;
  o.gossip.compressor = algorithm == "choco" ? "topk:0.1" : "dither:s=16";
  o.gossip.l1 = algorithm == "malcom" ? 1e-5 : 0.0;
  return o;
}

std::vector<RoundMetrics> RunLab(const LabOptions& o, const FashionMnist& data) {
  auto shards = PartitionIid(data.train.num_samples(), o.nodes, o.seed);
  REQUIRE(shards.ok());
  auto lab = Lab::Create(o, data.train, data.test, std::move(shards).value());
  REQUIRE(lab.ok());
  std::vector<RoundMetrics> out;
  REQUIRE((*lab)->Run([&](const RoundMetrics& m) { out.push_back(m); }).ok());
  return out;
}

TEST_CASE("every algorithm learns fashion-mnist well above chance", "[algo][lab]") {
  const FashionMnist* data = SmallFashionMnist();
  if (data == nullptr) {
    WARN("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist): skipped");
    return;
  }
  const std::string algorithm = GENERATE(as<std::string>{}, "dpsgd", "choco", "malcom");
  const auto metrics = RunLab(SmallOptions(algorithm), *data);
  REQUIRE(metrics.size() == 200);
  const RoundMetrics& last = metrics.back();
  INFO(algorithm << ": accuracy " << last.test_accuracy << ", bits/node " << last.cumulative_bits_per_node);
  CHECK(last.test_accuracy > 0.65);  // Chance is 0.1.
  CHECK(last.train_loss < metrics.front().train_loss);
  CHECK(last.cumulative_bits_per_node > 0);
  CHECK(std::isnan(metrics[10].test_accuracy));  // Evaluated only every eval_every rounds.
}

TEST_CASE("compressed gossip sends far fewer bits than float gossip", "[algo][lab]") {
  const FashionMnist* data = SmallFashionMnist();
  if (data == nullptr) return;
  LabOptions malcom = SmallOptions("malcom"), dpsgd = SmallOptions("dpsgd");
  malcom.rounds = dpsgd.rounds = 20;
  const double malcom_bits = RunLab(malcom, *data).back().cumulative_bits_per_node;
  const double dpsgd_bits = RunLab(dpsgd, *data).back().cumulative_bits_per_node;
  INFO("malcom " << malcom_bits << " bits, dpsgd " << dpsgd_bits);
  CHECK(malcom_bits < 0.25 * dpsgd_bits);
  // D-PSGD's size is exact: 2 neighbours x (8-byte header + 4 bytes per parameter) per round.
  CHECK(dpsgd_bits == 20 * 2 * 8.0 * (8 + 4 * 7850));
}

TEST_CASE("the same seed gives identical metrics and another seed does not", "[algo][lab]") {
  const FashionMnist* data = SmallFashionMnist();
  if (data == nullptr) return;
  LabOptions o = SmallOptions("malcom");
  o.rounds = 30;
  o.eval_every = 10;
  o.straggler_probability = 0.2;
  const auto a = RunLab(o, *data);
  const auto b = RunLab(o, *data);
  REQUIRE(a.size() == b.size());
  for (std::size_t k = 0; k < a.size(); ++k) {
    CHECK(a[k].train_loss == b[k].train_loss);
    CHECK(a[k].cumulative_bits_per_node == b[k].cumulative_bits_per_node);
    CHECK(a[k].consensus_distance == b[k].consensus_distance);
    CHECK(a[k].active_nodes == b[k].active_nodes);
  }
  o.seed = 2;
  o.gossip.seed = 2;
  const auto c = RunLab(o, *data);
  CHECK(c.back().train_loss != a.back().train_loss);
}

TEST_CASE("stragglers sit rounds out and training goes on", "[algo][lab]") {
  const FashionMnist* data = SmallFashionMnist();
  if (data == nullptr) return;
  LabOptions o = SmallOptions(GENERATE(as<std::string>{}, "dpsgd", "malcom"));
  o.straggler_probability = 0.3;
  const auto m = RunLab(o, *data);
  double active = 0;
  for (const auto& r : m) active += r.active_nodes;
  CHECK(active / static_cast<double>(m.size()) == Approx(8 * 0.7).epsilon(0.1));
  CHECK(m.back().test_accuracy > 0.6);
}

TEST_CASE("bad lab options are clear errors", "[algo][lab]") {
  Dataset train, test;
  train.features.resize(4, 3);
  train.features.setZero();
  train.labels = {0, 1, 0, 1};
  train.num_classes = 2;
  test = train;
  LabOptions o;
  o.nodes = 2;
  auto wrong_shards = Lab::Create(o, train, test, {{0, 1}});
  REQUIRE_FALSE(wrong_shards.ok());
  CHECK(wrong_shards.error().message() == "lab: 1 shards for 2 nodes");
  auto empty = Lab::Create(o, train, test, {{0, 1}, {}});
  CHECK(empty.error().message() == "lab: node 1 has an empty shard");
  o.topology = "moebius";
  CHECK_FALSE(Lab::Create(o, train, test, {{0, 1}, {2, 3}}).ok());
}

}  // namespace
}  // namespace sotto::algo

#include "algo/data_synthetic.h"

namespace sotto::algo {
namespace {

TEST_CASE("malcom recovers the support of a sparse logistic truth", "[algo][lab][sparse]") {
  SparseLogisticOptions so;
  so.num_samples = 4000;
  so.num_features = 40;
  so.num_nonzeros = 5;
  so.weight_scale = 2.0;
  so.seed = 3;
  auto synthetic = MakeSparseLogistic(so);
  REQUIRE(synthetic.ok());
  const Dataset& data = synthetic->data;
  LabOptions o;
  o.nodes = 8;
  o.rounds = 1500;
  o.eval_every = 500;
  o.batch_size = 32;
  o.topology = "ring";
  o.gossip.algorithm = "malcom";
  o.gossip.compressor = "dither:s=16";
  o.gossip.consensus_step = 0.3;
  o.gossip.learning_rate = 0.1;
  o.gossip.l1 = 0.05;
  auto shards = PartitionIid(data.num_samples(), o.nodes, 1);
  REQUIRE(shards.ok());
  auto lab = Lab::Create(o, data, data, std::move(shards).value());
  REQUIRE(lab.ok());
  REQUIRE((*lab)->Run(nullptr).ok());
  // Softmax with two classes: the logistic weights are column 1 minus column 0.
  const std::vector<float> x = (*lab)->AverageModel();
  std::vector<double> w(static_cast<std::size_t>(so.num_features));
  for (std::size_t j = 0; j < w.size(); ++j) w[j] = x[2 * j + 1] - x[2 * j];
  std::vector<std::int64_t> found;
  for (std::size_t j = 0; j < w.size(); ++j) {
    if (std::abs(w[j]) > 0.1) found.push_back(static_cast<std::int64_t>(j));
  }
  std::vector<std::int64_t> truth = synthetic->support;
  std::sort(truth.begin(), truth.end());
  INFO("found " << found.size() << " features, truth " << truth.size());
  CHECK(found == truth);
  for (std::int64_t j : truth) CHECK(w[static_cast<std::size_t>(j)] * synthetic->true_weights[j] > 0);  // Right signs.
  // The prox step makes the off-support weights exactly zero on the nodes' models.
  int zeros = 0;
  const auto node_model = (*lab)->node(0).model();
  for (std::size_t j = 0; j < w.size(); ++j) {
    if (!std::binary_search(truth.begin(), truth.end(), static_cast<std::int64_t>(j))) {
      zeros += node_model[2 * j] == 0.0f && node_model[2 * j + 1] == 0.0f;
    }
  }
  INFO("exactly zero off-support features on node 0: " << zeros << " of " << w.size() - truth.size());
  CHECK(zeros > static_cast<int>(w.size() - truth.size()) / 2);
}

}  // namespace
}  // namespace sotto::algo
