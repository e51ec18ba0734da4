#include "daemon/fed_lab_command.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "algo/data_synthetic.h"
#include "algo/normalize.h"
#include "algo/partition.h"
#include "daemon/cli.h"
#include "daemon/lab_command.h"
#include "daemon/toml_reader.h"

namespace sotto::daemon {

namespace {

Result<FedLabConfig> Read(TomlReader reader) {
  FedLabConfig c;
  algo::FederatedOptions& f = c.fed;
  const char* kF = "federated";
  std::string method = "diana-rr", alpha_check = "error", code = "cyclic", decoding = "fixed";
  SOTTO_RETURN_IF_ERROR(reader.Get(kF, "method", &method));
  SOTTO_RETURN_IF_ERROR(reader.Get(kF, "nodes", &f.nodes));
  SOTTO_RETURN_IF_ERROR(reader.Get(kF, "rounds", &f.rounds));
  SOTTO_RETURN_IF_ERROR(reader.Get(kF, "seed", &f.seed));
  SOTTO_RETURN_IF_ERROR(reader.Get(kF, "compressor", &f.compressor));
  SOTTO_RETURN_IF_ERROR(reader.Get(kF, "gamma", &f.gamma));
  SOTTO_RETURN_IF_ERROR(reader.Get(kF, "eta", &f.eta));
  SOTTO_RETURN_IF_ERROR(reader.Get(kF, "alpha", &f.alpha));
  SOTTO_RETURN_IF_ERROR(reader.Get(kF, "alpha_check", &alpha_check));
  SOTTO_RETURN_IF_ERROR(reader.Get(kF, "batch_size", &f.batch_size));
  SOTTO_RETURN_IF_ERROR(reader.Get(kF, "participation", &f.participation));
  SOTTO_RETURN_IF_ERROR(reader.Get(kF, "straggler_probability", &f.straggler_probability));
  SOTTO_RETURN_IF_ERROR(reader.Get(kF, "redundancy", &f.redundancy));
  SOTTO_RETURN_IF_ERROR(reader.Get(kF, "code", &code));
  SOTTO_RETURN_IF_ERROR(reader.Get(kF, "decoding", &decoding));
  SOTTO_RETURN_IF_ERROR(reader.Get(kF, "eval_every", &f.eval_every));
  SOTTO_RETURN_IF_ERROR(reader.Get(kF, "eval_test", &f.eval_test));
  SOTTO_RETURN_IF_ERROR(reader.Get(kF, "target_relative_grad_sq", &f.target_relative_grad_sq));
  SOTTO_RETURN_IF_ERROR(reader.Get(kF, "metrics", &c.metrics_path));
  SOTTO_RETURN_IF_ERROR(reader.Get(kF, "progress", &c.progress));

  DataConfig& d = c.data;
  d.source = "synthetic";
  SOTTO_RETURN_IF_ERROR(reader.Get("data", "source", &d.source));
  SOTTO_RETURN_IF_ERROR(reader.Get("data", "path", &d.path));
  SOTTO_RETURN_IF_ERROR(reader.Get("data", "test_path", &d.test_path));
  SOTTO_RETURN_IF_ERROR(reader.Get("data", "max_train", &d.max_train));
  SOTTO_RETURN_IF_ERROR(reader.Get("data", "max_test", &d.max_test));
  SOTTO_RETURN_IF_ERROR(reader.Get("data", "partition", &d.partition));
  SOTTO_RETURN_IF_ERROR(reader.Get("data", "alpha", &d.alpha));
  SOTTO_RETURN_IF_ERROR(reader.Get("data", "normalize", &d.normalize));
  SOTTO_RETURN_IF_ERROR(reader.Get("data", "unit_rows", &c.unit_rows));
  SOTTO_RETURN_IF_ERROR(reader.Get("data", "synthetic_samples", &d.synthetic_samples));
  SOTTO_RETURN_IF_ERROR(reader.Get("data", "synthetic_features", &d.synthetic_features));
  SOTTO_RETURN_IF_ERROR(reader.Get("data", "synthetic_support", &d.synthetic_support));
  SOTTO_RETURN_IF_ERROR(reader.Get("data", "synthetic_density", &c.synthetic_density));
  SOTTO_RETURN_IF_ERROR(reader.Get("data", "synthetic_seed", &c.synthetic_seed));
  SOTTO_RETURN_IF_ERROR(reader.Get("data", "synthetic_weight_scale", &c.synthetic_weight_scale));

  SOTTO_RETURN_IF_ERROR(reader.Get("model", "kind", &f.model));
  SOTTO_RETURN_IF_ERROR(reader.Get("model", "l2", &f.l2));
  SOTTO_RETURN_IF_ERROR(reader.Finish());

  const std::string& src = reader.source();
  auto in = [&](const char* key, const Status& s) { return s.WithContext(src + ": [federated]." + key); };
  auto m = algo::ParseFederatedMethod(method);
  if (!m) return in("method", m.error());
  f.method = *m;
  if (alpha_check == "error") {
    f.alpha_check = algo::AlphaCheck::kError;
  } else if (alpha_check == "warn") {
    f.alpha_check = algo::AlphaCheck::kWarn;
  } else {
    return InvalidArgument(src + ": [federated].alpha_check: want error or warn, got '" + alpha_check + "'");
  }
  auto cs = algo::ParseGradientCodeScheme(code);
  if (!cs) return in("code", cs.error());
  f.code = *cs;
  auto dr = algo::ParseDecodingRule(decoding);
  if (!dr) return in("decoding", dr.error());
  f.decoding = *dr;
  if (f.nodes < 1) return InvalidArgument(src + ": [federated].nodes must be >= 1");
  if (!(c.synthetic_density > 0 && c.synthetic_density <= 1)) {
    return InvalidArgument(src + ": [data].synthetic_density must be in (0, 1]");
  }
  SOTTO_RETURN_IF_ERROR(CheckDataConfig(d, src));
  if (c.progress != "auto" && c.progress != "bar" && c.progress != "lines" && c.progress != "none") {
    return InvalidArgument(src + ": [federated].progress: want auto, bar, lines or none");
  }
  return c;
}

nlohmann::json NumberOrNull(double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); }

nlohmann::json MetricsJson(const algo::FederatedRoundMetrics& m) {
  nlohmann::json j;
  j["round"] = m.round;
  j["epoch"] = m.epoch;
  j["loss"] = NumberOrNull(m.loss);
  j["grad_norm_sq"] = NumberOrNull(m.grad_norm_sq);
  j["relative_grad_norm_sq"] = NumberOrNull(m.relative_grad_norm_sq);
  j["test_accuracy"] = NumberOrNull(m.test_accuracy);
  j["compression_error"] = m.compression_error;
  j["uplink_bits"] = m.uplink_bits;
  j["cumulative_uplink_bits_per_node"] = m.cumulative_uplink_bits_per_node;
  j["cumulative_downlink_bits_per_node"] = m.cumulative_downlink_bits_per_node;
  j["active_nodes"] = m.active_nodes;
  return j;
}

// Synthetic "a9a-like" data with the density knob `sotto lab` lacks; other sources
// go through LoadLabData.
Result<LabData> LoadFedData(const FedLabConfig& c) {
  LabConfig lab;
  lab.data = c.data;
  lab.lab.nodes = c.fed.nodes;
  lab.lab.seed = c.fed.seed;
  LabData out;
  if (c.data.source != "synthetic") {
    SOTTO_ASSIGN_OR_RETURN(out, LoadLabData(lab));
  } else {
    algo::SparseLogisticOptions so;
    so.num_samples = c.data.synthetic_samples;
    so.num_features = c.data.synthetic_features;
    so.num_nonzeros = c.data.synthetic_support;
    so.feature_density = c.synthetic_density;
    so.weight_scale = c.synthetic_weight_scale;
    so.seed = c.synthetic_seed >= 0 ? static_cast<std::uint64_t>(c.synthetic_seed) : c.fed.seed;
    SOTTO_ASSIGN_OR_RETURN(algo::SparseLogisticData synthetic, algo::MakeSparseLogistic(so));
    SOTTO_ASSIGN_OR_RETURN(algo::TrainTestSplit split, algo::RandomTrainTestSplit(synthetic.data, 0.2, c.fed.seed));
    out.train = std::move(split.train);
    out.test = std::move(split.test);
    if (c.data.normalize) {
      algo::StandardizeOptions sto;
      sto.center = false;  // Keep sparse features sparse.
      SOTTO_ASSIGN_OR_RETURN(algo::Standardizer scaler, algo::Standardizer::Fit(out.train, sto));
      SOTTO_RETURN_IF_ERROR(scaler.Apply(out.train));
      SOTTO_RETURN_IF_ERROR(scaler.Apply(out.test));
    }
  }
  if (c.unit_rows) {
    algo::NormalizeRowsToUnitNorm(out.train);
    algo::NormalizeRowsToUnitNorm(out.test);
  }
  if (out.shards.empty()) {  // Synthetic data: not partitioned yet.
    algo::PartitionOptions p;
    p.num_shards = c.fed.nodes;
    p.scheme = c.data.partition == "dirichlet" ? algo::PartitionScheme::kDirichlet : algo::PartitionScheme::kIid;
    p.alpha = c.data.alpha;
    p.seed = c.fed.seed;
    SOTTO_ASSIGN_OR_RETURN(out.shards, algo::PartitionDataset(out.train, p));
  }
  return out;
}

std::string Megabytes(double bits) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f MB", bits / 8e6);
  return buf;
}

}  // namespace

Result<FedLabConfig> LoadFedLabConfig(const std::string& path) {
  SOTTO_ASSIGN_OR_RETURN(TomlReader reader, TomlReader::FromFile(path));
  return Read(std::move(reader));
}

Result<FedLabConfig> ParseFedLabConfig(std::string_view text, const std::string& source_name) {
  SOTTO_ASSIGN_OR_RETURN(TomlReader reader, TomlReader::FromString(text, source_name));
  return Read(std::move(reader));
}

bool IsFedLabConfig(const std::string& path) {
  try {
    const toml::table t = toml::parse_file(path);
    return t.contains("federated");
  } catch (const std::exception&) {
    return false;
  }
}

int RunFedLab(const FedLabConfig& config, const FedLabRunOutputs& outputs) {
  const auto start = std::chrono::steady_clock::now();
  const algo::FederatedOptions& o = config.fed;
  auto data = LoadFedData(config);
  if (!data) {
    std::fprintf(stderr, "sotto fedlab: %s\n", data.error().ToString().c_str());
    return kExitDataErr;
  }
  auto lab = algo::FederatedLab::Create(o, data->train, data->test, std::move(data->shards));
  if (!lab) {
    std::fprintf(stderr, "sotto fedlab: %s\n", lab.error().ToString().c_str());
    return kExitConfig;
  }
  for (const std::string& w : (*lab)->warnings()) std::fprintf(stderr, "sotto fedlab: warning: %s\n", w.c_str());
  std::ofstream metrics;
  if (!config.metrics_path.empty()) {
    metrics.open(config.metrics_path, std::ios::trunc);
    if (!metrics) {
      std::fprintf(stderr, "sotto fedlab: cannot write metrics file '%s'\n", config.metrics_path.c_str());
      return kExitFailure;
    }
  }
  const std::string method(algo::FederatedMethodName(o.method));
  std::printf("sotto fedlab: %s, %d nodes + aggregator, compressor %s (omega %.3g), gamma %g, eta %g, alpha %g, "
              "on %s (%lld train / %lld test), model %s, l2 %g\n",
              method.c_str(), o.nodes, o.method == algo::FederatedMethod::kNastya ? "identity" : o.compressor.c_str(),
              (*lab)->omega(), o.gamma, o.eta, (*lab)->alpha(), config.data.source.c_str(),
              static_cast<long long>(data->train.num_samples()), static_cast<long long>(data->test.num_samples()),
              o.model.c_str(), o.l2);
  std::fflush(stdout);

  const bool tty = isatty(STDERR_FILENO) != 0;
  const std::string mode = config.progress == "auto" ? (tty ? "bar" : "lines") : config.progress;
  algo::FederatedRoundMetrics last, last_eval;
  std::int64_t round_at_target = -1;
  double bits_at_target = std::nan("");
  const Status run = (*lab)->Run([&](const algo::FederatedRoundMetrics& m) {
    last = m;
    if (metrics.is_open()) metrics << MetricsJson(m).dump() << '\n';
    const bool evaluated = !std::isnan(m.loss);
    if (evaluated) {
      last_eval = m;
      if (round_at_target < 0 && o.target_relative_grad_sq > 0 &&
          m.relative_grad_norm_sq <= o.target_relative_grad_sq) {
        round_at_target = m.round;
        bits_at_target = m.cumulative_uplink_bits_per_node;
      }
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if ((mode == "bar" && (evaluated || m.round % 10 == 0)) || (mode == "lines" && evaluated)) {
      std::fprintf(stderr, "%sround %lld/%lld  epoch %.2f  f %.6f  |grad|^2 rel %.3g  acc %.4f  uplink %s/node  %.1fs%s",
                   mode == "bar" ? "\r" : "", static_cast<long long>(m.round), static_cast<long long>(o.rounds),
                   m.epoch, last_eval.loss, last_eval.relative_grad_norm_sq,
                   std::isnan(last_eval.test_accuracy) ? 0.0 : last_eval.test_accuracy,
                   Megabytes(m.cumulative_uplink_bits_per_node).c_str(), secs, mode == "bar" ? " " : "\n");
      std::fflush(stderr);
    }
  });
  if (mode == "bar") std::fprintf(stderr, "\n");
  if (!run.ok()) {
    std::fprintf(stderr, "sotto fedlab: %s\n", run.ToString().c_str());
    return kExitFailure;
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("\nsummary\n");
  std::printf("  rounds              %lld (%.2f epochs)\n", static_cast<long long>(last.round), last.epoch);
  std::printf("  f(x)                %.8f\n", last_eval.loss);
  std::printf("  |grad f|^2          %.4g (relative %.4g)\n", last_eval.grad_norm_sq, last_eval.relative_grad_norm_sq);
  std::printf("  test accuracy       %.4f\n", last_eval.test_accuracy);
  std::printf("  uplink per node     %s (exact compressed bytes)\n", Megabytes(last.cumulative_uplink_bits_per_node).c_str());
  std::printf("  downlink per node   %s (fp32 broadcast, not compressed)\n",
              Megabytes(last.cumulative_downlink_bits_per_node).c_str());
  if (o.target_relative_grad_sq > 0) {
    if (round_at_target >= 0) {
      std::printf("  target %.3g reached at round %lld after %s uplink per node\n", o.target_relative_grad_sq,
                  static_cast<long long>(round_at_target), Megabytes(bits_at_target).c_str());
    } else {
      std::printf("  target %.3g not reached\n", o.target_relative_grad_sq);
    }
  }
  std::printf("  wall time           %.2f s\n", wall);
  if (!outputs.summary_path.empty()) {
    nlohmann::json s;
    s["method"] = method;
    s["compressor"] = o.compressor;
    s["nodes"] = o.nodes;
    s["gamma"] = o.gamma;
    s["eta"] = o.eta;
    s["alpha"] = (*lab)->alpha();
    s["omega"] = (*lab)->omega();
    s["rounds"] = last.round;
    s["epochs"] = last.epoch;
    s["loss"] = NumberOrNull(last_eval.loss);
    s["relative_grad_norm_sq"] = NumberOrNull(last_eval.relative_grad_norm_sq);
    s["test_accuracy"] = NumberOrNull(last_eval.test_accuracy);
    s["round_at_target"] = round_at_target;
    s["uplink_bits_per_node_at_target"] = NumberOrNull(bits_at_target);
    s["cumulative_uplink_bits_per_node"] = last.cumulative_uplink_bits_per_node;
    s["cumulative_downlink_bits_per_node"] = last.cumulative_downlink_bits_per_node;
    s["wall_seconds"] = wall;
    std::ofstream f(outputs.summary_path, std::ios::trunc);
    f << s.dump(2) << '\n';
  }
  return kExitOk;
}

int RunFedLabCommand(const std::string& config_path, const FedLabOverrides& overrides) {
  auto config = LoadFedLabConfig(config_path);
  if (!config) {
    std::fprintf(stderr, "sotto fedlab: %s\n", config.error().ToString().c_str());
    return kExitConfig;
  }
  if (overrides.rounds >= 0) config->fed.rounds = overrides.rounds;
  if (overrides.nodes > 0) config->fed.nodes = static_cast<int>(overrides.nodes);
  if (overrides.seed >= 0) config->fed.seed = static_cast<std::uint64_t>(overrides.seed);
  if (!overrides.metrics_path.empty()) config->metrics_path = overrides.metrics_path;
  if (!overrides.progress.empty()) config->progress = overrides.progress;
  return RunFedLab(*config, FedLabRunOutputs{overrides.summary_path});
}

}  // namespace sotto::daemon
