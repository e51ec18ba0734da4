#include "daemon/lab_command.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "algo/data_idx.h"
#include "algo/data_libsvm.h"
#include "algo/data_synthetic.h"
#include "algo/normalize.h"
#include "algo/partition.h"
#include "daemon/cli.h"

namespace sotto::daemon {

namespace {

nlohmann::json NumberOrNull(double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); }

nlohmann::json MetricsJson(const algo::RoundMetrics& m) {
  nlohmann::json j;
  j["round"] = m.round;
  j["epoch"] = m.epoch;
  j["train_loss"] = m.train_loss;
  j["test_loss"] = NumberOrNull(m.test_loss);
  j["test_accuracy"] = NumberOrNull(m.test_accuracy);
  j["node_accuracy_mean"] = NumberOrNull(m.node_accuracy_mean);
  j["density"] = m.density;
  j["consensus_distance"] = m.consensus_distance;
  j["message_bits"] = m.message_bits;
  j["bits_sent_per_node"] = m.bits_sent_per_node;
  j["cumulative_bits_per_node"] = m.cumulative_bits_per_node;
  j["active_nodes"] = m.active_nodes;
  return j;
}

std::string Megabytes(double bits) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f MB", bits / 8e6);
  return buf;
}

// Holds out a random fifth of `all` as the test set.
Status SplitTrainTest(const algo::Dataset& all, std::uint64_t seed, LabData* out) {
  SOTTO_ASSIGN_OR_RETURN(algo::TrainTestSplit split, algo::RandomTrainTestSplit(all, 0.2, seed));
  out->train = std::move(split.train);
  out->test = std::move(split.test);
  return Status::Ok();
}

}  // namespace

Result<LabData> LoadLabData(const LabConfig& config) {
  const DataConfig& d = config.data;
  LabData out;
  if (d.source == "fashion-mnist") {
    SOTTO_ASSIGN_OR_RETURN(algo::FashionMnist fm,
                           algo::LoadFashionMnist(d.path.empty() ? algo::kFashionMnistDir : d.path,
                                                  d.max_train, d.max_test));
    out.train = std::move(fm.train);
    out.test = std::move(fm.test);
  } else if (d.source == "synthetic") {
    // A sparse logistic problem with a known truth; the last fifth is the test set.
    algo::SparseLogisticOptions so;
    so.num_samples = d.synthetic_samples;
    so.num_features = d.synthetic_features;
    so.num_nonzeros = d.synthetic_support;
    so.seed = config.lab.seed;
    SOTTO_ASSIGN_OR_RETURN(algo::SparseLogisticData synthetic, algo::MakeSparseLogistic(so));
    SOTTO_RETURN_IF_ERROR(SplitTrainTest(synthetic.data, config.lab.seed, &out));
  } else {  // libsvm
    if (d.path.empty()) return InvalidArgument("[data].path: a libsvm source needs a file");
    if (!d.test_path.empty()) {
      SOTTO_ASSIGN_OR_RETURN(algo::LibsvmTrainTest tt, algo::ReadLibsvmTrainTest(d.path, d.test_path));
      out.train = std::move(tt.train);
      out.test = std::move(tt.test);
    } else {
      SOTTO_ASSIGN_OR_RETURN(algo::LibsvmData all, algo::ReadLibsvmFile(d.path));
      SOTTO_RETURN_IF_ERROR(SplitTrainTest(all.data, config.lab.seed, &out));
    }
  }
  if (d.source != "fashion-mnist") {
    if (d.max_train >= 0 && d.max_train < out.train.num_samples()) {
      out.train.features.conservativeResize(d.max_train, Eigen::NoChange);
      out.train.labels.resize(static_cast<std::size_t>(d.max_train));
    }
    if (d.max_test >= 0 && d.max_test < out.test.num_samples()) {
      out.test.features.conservativeResize(d.max_test, Eigen::NoChange);
      out.test.labels.resize(static_cast<std::size_t>(d.max_test));
    }
  }
  if (d.normalize) {
    algo::StandardizeOptions so;
    so.center = d.source != "libsvm";  // Keep sparse data sparse.
    SOTTO_ASSIGN_OR_RETURN(algo::Standardizer scaler, algo::Standardizer::Fit(out.train, so));
    SOTTO_RETURN_IF_ERROR(scaler.Apply(out.train));
    SOTTO_RETURN_IF_ERROR(scaler.Apply(out.test));
  }
  algo::PartitionOptions p;
  p.num_shards = config.lab.nodes;
  p.scheme = d.partition == "dirichlet" ? algo::PartitionScheme::kDirichlet : algo::PartitionScheme::kIid;
  p.alpha = d.alpha;
  p.seed = config.lab.seed;
  SOTTO_ASSIGN_OR_RETURN(out.shards, algo::PartitionDataset(out.train, p));
  return out;
}

int RunLab(const LabConfig& config, const LabRunOutputs& outputs) {
  const auto start = std::chrono::steady_clock::now();
  auto data = LoadLabData(config);
  if (!data) {
    std::fprintf(stderr, "sotto lab: %s\n", data.error().ToString().c_str());
    return kExitDataErr;
  }
  auto lab = algo::Lab::Create(config.lab, data->train, data->test, std::move(data->shards));
  if (!lab) {
    std::fprintf(stderr, "sotto lab: %s\n", lab.error().ToString().c_str());
    return kExitConfig;
  }
  std::ofstream metrics;
  if (!config.metrics_path.empty()) {
    metrics.open(config.metrics_path, std::ios::trunc);
    if (!metrics) {
      std::fprintf(stderr, "sotto lab: cannot write metrics file '%s'\n", config.metrics_path.c_str());
      return kExitFailure;
    }
  }
  const algo::LabOptions& o = config.lab;
  std::printf("sotto lab: %d nodes, %s, %s on %s (%lld train / %lld test), model %s, compressor %s\n",
              o.nodes, o.topology.c_str(), o.gossip.algorithm.c_str(), config.data.source.c_str(),
              static_cast<long long>(data->train.num_samples()),
              static_cast<long long>(data->test.num_samples()), o.model.c_str(),
              o.gossip.algorithm == "dpsgd" ? "fp32" : o.gossip.compressor.c_str());
  std::fflush(stdout);

  const bool tty = isatty(STDERR_FILENO) != 0;
  const std::string mode = config.progress == "auto" ? (tty ? "bar" : "lines") : config.progress;
  double last_accuracy = std::nan(""), best_accuracy = 0, bits_at_target = std::nan("");
  std::int64_t round_at_target = -1;
  algo::RoundMetrics last;
  const Status run = (*lab)->Run([&](const algo::RoundMetrics& m) {
    last = m;
    if (metrics.is_open()) metrics << MetricsJson(m).dump() << '\n';
    const bool evaluated = !std::isnan(m.test_accuracy);
    if (evaluated) {
      last_accuracy = m.test_accuracy;
      best_accuracy = std::max(best_accuracy, m.test_accuracy);
      if (round_at_target < 0 && m.test_accuracy >= o.target_accuracy) {
        round_at_target = m.round;
        bits_at_target = m.cumulative_bits_per_node;
      }
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (mode == "bar" && (evaluated || m.round % 10 == 0)) {
      const int width = 24;
      const int filled = static_cast<int>(width * static_cast<double>(m.round) / static_cast<double>(o.rounds));
      std::fprintf(stderr, "\r[%.*s%*s] round %lld/%lld  loss %.4f  acc %.4f  %s/node  %.1f rounds/s ",
                   filled, "########################", width - filled, "",
                   static_cast<long long>(m.round), static_cast<long long>(o.rounds), m.train_loss,
                   std::isnan(last_accuracy) ? 0.0 : last_accuracy,
                   Megabytes(m.cumulative_bits_per_node).c_str(), static_cast<double>(m.round) / secs);
      std::fflush(stderr);
    } else if (mode == "lines" && evaluated) {
      std::fprintf(stderr, "round %lld/%lld  loss %.4f  test accuracy %.4f  density %.3f  consensus %.3g  %s/node  %.1fs\n",
                   static_cast<long long>(m.round), static_cast<long long>(o.rounds), m.train_loss,
                   m.test_accuracy, m.density, m.consensus_distance,
                   Megabytes(m.cumulative_bits_per_node).c_str(), secs);
    }
  });
  if (mode == "bar") std::fprintf(stderr, "\n");
  if (!run.ok()) {
    std::fprintf(stderr, "sotto lab: %s\n", run.ToString().c_str());
    return kExitFailure;
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("\nsummary\n");
  std::printf("  rounds              %lld\n", static_cast<long long>(last.round));
  std::printf("  test accuracy       %.4f (best %.4f)\n", last_accuracy, best_accuracy);
  std::printf("  train loss          %.4f\n", last.train_loss);
  std::printf("  model density       %.4f\n", last.density);
  std::printf("  consensus distance  %.4g\n", last.consensus_distance);
  std::printf("  sent per node       %s (%.0f bits/message on average last round)\n",
              Megabytes(last.cumulative_bits_per_node).c_str(), last.message_bits);
  if (o.target_accuracy <= 1) {
    if (round_at_target >= 0) {
      std::printf("  target %.3f reached at round %lld after %s per node\n", o.target_accuracy,
                  static_cast<long long>(round_at_target), Megabytes(bits_at_target).c_str());
    } else {
      std::printf("  target %.3f not reached\n", o.target_accuracy);
    }
  }
  std::printf("  wall time           %.2f s (%.1f rounds/s)\n", wall, static_cast<double>(last.round) / wall);
  if (!config.metrics_path.empty()) std::printf("  metrics             %s\n", config.metrics_path.c_str());
  if (!outputs.summary_path.empty()) {
    nlohmann::json s;
    s["algorithm"] = o.gossip.algorithm;
    s["compressor"] = o.gossip.algorithm == "dpsgd" ? "fp32" : o.gossip.compressor;
    s["model"] = o.model;
    s["nodes"] = o.nodes;
    s["topology"] = o.topology;
    s["rounds"] = last.round;
    s["test_accuracy"] = NumberOrNull(last_accuracy);
    s["best_accuracy"] = best_accuracy;
    s["target_accuracy"] = o.target_accuracy;
    s["round_at_target"] = round_at_target;
    s["bits_per_node_at_target"] = NumberOrNull(bits_at_target);
    s["cumulative_bits_per_node"] = last.cumulative_bits_per_node;
    s["density"] = last.density;
    s["wall_seconds"] = wall;
    std::ofstream f(outputs.summary_path, std::ios::trunc);
    f << s.dump(2) << '\n';
  }
  return kExitOk;
}

}  // namespace sotto::daemon
