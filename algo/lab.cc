#include "algo/lab.h"

#include <algorithm>
#include <cmath>

#include "topology/graph.h"
#include "topology/mixing_weights.h"

namespace sotto::algo {

struct Lab::VirtualNode {
  std::unique_ptr<GossipAlgorithm> algorithm;
  std::unique_ptr<Model> model;
  std::unique_ptr<Sampler> sampler;
};

Lab::Lab(const LabOptions& options, const Dataset& train, const Dataset& test)
    : options_(options), train_(train), test_(test), straggler_rng_(options.seed, 0x5752A661ull) {}

Lab::~Lab() = default;

const GossipAlgorithm& Lab::node(int i) const { return *nodes_[static_cast<std::size_t>(i)].algorithm; }

Result<std::unique_ptr<Lab>> Lab::Create(const LabOptions& options, const Dataset& train,
                                         const Dataset& test,
                                         std::vector<std::vector<std::int64_t>> shards) {
  if (options.nodes < 1) return InvalidArgument("lab: nodes must be >= 1");
  if (static_cast<int>(shards.size()) != options.nodes) {
    return InvalidArgument("lab: " + std::to_string(shards.size()) + " shards for " +
                           std::to_string(options.nodes) + " nodes");
  }
  if (options.rounds < 0) return InvalidArgument("lab: rounds must be >= 0");
  if (options.batch_size < 1) return InvalidArgument("lab: batch_size must be >= 1");
  if (options.eval_every < 1) return InvalidArgument("lab: eval_every must be >= 1");
  if (!(options.straggler_probability >= 0 && options.straggler_probability < 1)) {
    return InvalidArgument("lab: straggler_probability must be in [0, 1)");
  }
  if (train.num_samples() == 0) return InvalidArgument("lab: training set is empty");
  if (test.num_features() != train.num_features()) {
    return InvalidArgument("lab: test set has " + std::to_string(test.num_features()) +
                           " features, training set " + std::to_string(train.num_features()));
  }
  for (std::size_t i = 0; i < shards.size(); ++i) {
    if (shards[i].empty()) return InvalidArgument("lab: node " + std::to_string(i) + " has an empty shard");
  }
  SOTTO_ASSIGN_OR_RETURN(topology::Graph graph,
                         topology::MakeGraph(options.topology, options.nodes, options.seed));
  const int num_classes = std::max(train.num_classes, test.num_classes);

  std::unique_ptr<Lab> lab(new Lab(options, train, test));
  SOTTO_ASSIGN_OR_RETURN(lab->eval_model_, MakeModel(options.model, train.num_features(), num_classes, options.l2));
  const std::int64_t dimension = lab->eval_model_->num_parameters();
  // Every node starts from the same x_0.
  std::vector<float> x0(static_cast<std::size_t>(dimension));
  Rng init_rng(options.seed, 0x1A17ull);
  lab->eval_model_->Initialize(x0, init_rng);

  const Rng root(options.seed, 0x5A3Bull);
  lab->nodes_.resize(shards.size());
  lab->neighbours_.resize(shards.size());
  const std::vector<topology::MixingRow> rows =
      topology::MixingRows(graph, topology::WeightRule::kMetropolisHastings);
  for (int i = 0; i < options.nodes; ++i) {
    const topology::MixingRow& row = rows[static_cast<std::size_t>(i)];
    NeighbourWeights weights;
    weights.self = row.self_weight;
    for (std::size_t k = 0; k < row.neighbours.size(); ++k) {
      weights.neighbours.emplace_back(PeerId(static_cast<std::uint64_t>(row.neighbours[k])), row.weights[k]);
    }
    lab->neighbours_[static_cast<std::size_t>(i)] = row.neighbours;
    auto& node = lab->nodes_[static_cast<std::size_t>(i)];
    SOTTO_ASSIGN_OR_RETURN(node.algorithm,
                           MakeGossipAlgorithm(options.gossip, PeerId(static_cast<std::uint64_t>(i)),
                                               dimension, std::move(weights)));
    node.algorithm->SetModel(x0);
    SOTTO_ASSIGN_OR_RETURN(node.model, MakeModel(options.model, train.num_features(), num_classes, options.l2));
    node.sampler = std::make_unique<Sampler>(std::move(shards[static_cast<std::size_t>(i)]),
                                             options.batch_size, options.sampling,
                                             root.Fork(static_cast<std::uint64_t>(i)));
  }
  return lab;
}

std::vector<float> Lab::AverageModel() const {
  const std::size_t d = nodes_.front().algorithm->model().size();
  std::vector<double> sum(d, 0.0);
  for (const auto& node : nodes_) {
    const auto x = node.algorithm->model();
    for (std::size_t k = 0; k < d; ++k) sum[k] += x[k];
  }
  std::vector<float> avg(d);
  const double inv = 1.0 / static_cast<double>(nodes_.size());
  for (std::size_t k = 0; k < d; ++k) avg[k] = static_cast<float>(sum[k] * inv);
  return avg;
}

Result<RoundMetrics> Lab::Step() {
  const std::size_t n = nodes_.size();
  const RoundId round(static_cast<std::uint64_t>(round_));
  std::vector<char> active(n, 1);
  if (options_.straggler_probability > 0) {
    for (auto& a : active) a = straggler_rng_.Uniform01() >= options_.straggler_probability;
  }
  RoundMetrics m;
  double loss_sum = 0, bits_sent = 0, message_bits = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!active[i]) continue;
    auto& node = nodes_[i];
    GradientOracle oracle = [&](std::span<const float> x, std::span<float> grad) {
      return node.model->LossAndGradient(x, train_, node.sampler->Next(), grad);
    };
    SOTTO_ASSIGN_OR_RETURN(double loss, node.algorithm->LocalStep(oracle, round));
    loss_sum += loss;
    double bits = 0;  // Summed over the links (one message for all, or one per link).
    for (int j : neighbours_[i])
      bits += 8.0 * static_cast<double>(node.algorithm->link_message(PeerId(j)).size());
    message_bits += neighbours_[i].empty()
                        ? 8.0 * static_cast<double>(node.algorithm->message().size())
                        : bits / static_cast<double>(neighbours_[i].size());
    bits_sent += bits;
    ++m.active_nodes;
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (!active[i]) continue;
    for (int j : neighbours_[i]) {
      const auto bytes = nodes_[i].algorithm->link_message(PeerId(j));
      const Status s = nodes_[static_cast<std::size_t>(j)].algorithm->Absorb(PeerId(i), bytes);
      // A D-PSGD straggler is not in the round and drops what arrives (kUnavailable).
      if (!s.ok() && s.code() != StatusCode::kUnavailable) return s.WithContext("lab");
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (active[i]) nodes_[i].algorithm->Mix();
  }
  ++round_;

  m.round = round_;
  const std::vector<float> avg = AverageModel();
  double l1 = 0, density = 0, consensus = 0, epochs = 0;
  for (const auto& node : nodes_) {
    const auto x = node.algorithm->model();
    std::size_t nnz = 0;
    double dist = 0, norm1 = 0;
    for (std::size_t k = 0; k < x.size(); ++k) {
      nnz += x[k] != 0.0f;
      norm1 += std::abs(x[k]);
      const double diff = static_cast<double>(x[k]) - avg[k];
      dist += diff * diff;
    }
    l1 += norm1;
    density += static_cast<double>(nnz) / static_cast<double>(x.size());
    consensus += dist;
    epochs += static_cast<double>(node.sampler->epoch());
  }
  const auto nd = static_cast<double>(n);
  m.train_loss = (m.active_nodes > 0 ? loss_sum / m.active_nodes : 0) + options_.gossip.l1 * l1 / nd;
  m.density = density / nd;
  m.consensus_distance = consensus / nd;
  m.epoch = epochs / nd;
  m.message_bits = m.active_nodes > 0 ? message_bits / m.active_nodes : 0;
  m.bits_sent_per_node = bits_sent / nd;
  cumulative_bits_ += m.bits_sent_per_node;
  m.cumulative_bits_per_node = cumulative_bits_;
  if (round_ % options_.eval_every == 0 || round_ == options_.rounds) {
    const Model::Evaluation e = eval_model_->Evaluate(avg, test_);
    m.test_loss = e.loss;
    m.test_accuracy = e.accuracy;
    if (options_.eval_nodes) {
      double acc = 0;
      for (const auto& node : nodes_) acc += eval_model_->Evaluate(node.algorithm->model(), test_).accuracy;
      m.node_accuracy_mean = acc / nd;
    }
  }
  return m;
}

Status Lab::Run(const std::function<void(const RoundMetrics&)>& observer) {
  while (round_ < options_.rounds) {
    SOTTO_ASSIGN_OR_RETURN(RoundMetrics m, Step());
    if (observer) observer(m);
    if (!std::isnan(m.test_accuracy) && m.test_accuracy >= options_.target_accuracy) break;
  }
  return Status::Ok();
}

}  // namespace sotto::algo
