// Benchmark: bits per node to reach a test accuracy, per algorithm, on the lab.
//
//   bench_bits_to_accuracy --out bench/results [--model softmax|mlp] [--quick]
//
// Runs each experiment config (configs/lab/b2a-*.toml) in-process through the same
// code as `sotto lab`, records accuracy vs cumulative bits, and writes
// <out>/bits_to_accuracy_<model>.json, a gnuplot data file per run and, when gnuplot
// is installed, <out>/bits_to_accuracy_<model>.png.

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "algo/lab.h"
#include "daemon/lab_command.h"
#include "daemon/lab_config.h"

namespace {

struct Curve {
  std::string label;
  std::string config;
  std::vector<std::pair<double, double>> points;  // (cumulative bits per node, accuracy)
  std::int64_t round_at_target = -1;
  double bits_at_target = NAN;
  double final_accuracy = NAN;
  double wall_seconds = 0;
  double mean_message_bits = 0;
  std::string error;  // Why the run stopped early, if it did.
  sotto::daemon::LabConfig settings;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bits-to-accuracy benchmark"};
  std::string out_dir = "bench/results", model = "softmax", source_dir = SOTTO_SOURCE_DIR;
  double target = -1;
  std::int64_t rounds = -1;
  app.add_option("--out", out_dir, "Output directory");
  app.add_option("--model", model, "softmax or mlp");
  app.add_option("--target", target, "Target accuracy (default 0.82 softmax, 0.85 mlp)");
  app.add_option("--rounds", rounds, "Override the rounds of every config");
  CLI11_PARSE(app, argc, argv);
  if (target < 0) target = model == "mlp" ? 0.85 : 0.82;

  const std::vector<std::pair<std::string, std::string>> runs = {
      {"D-PSGD (fp32)", "b2a-" + model + "-dpsgd.toml"},
      {"CHOCO-SGD (QSGD-16, fixed width)", "b2a-" + model + "-choco-qsgd.toml"},
      {"CHOCO-SGD (top-1%, index+float)", "b2a-" + model + "-choco-topk.toml"},
      {"MALCOM-PSGD", "b2a-" + model + "-malcom.toml"},
  };
  std::vector<Curve> curves;
  const auto bench_start = std::chrono::steady_clock::now();
  for (const auto& [label, file] : runs) {
    Curve c;
    c.label = label;
    c.config = "configs/lab/" + file;
    auto config = sotto::daemon::LoadLabConfig(source_dir + "/" + c.config);
    if (!config) {
      std::fprintf(stderr, "%s\n", config.error().ToString().c_str());
      return 1;
    }
    if (rounds > 0) config->lab.rounds = rounds;
    config->lab.target_accuracy = target;
    c.settings = *config;
    auto data = sotto::daemon::LoadLabData(*config);
    if (!data) {
      std::fprintf(stderr, "%s\n", data.error().ToString().c_str());
      return 1;
    }
    auto lab = sotto::algo::Lab::Create(config->lab, data->train, data->test, std::move(data->shards));
    if (!lab) {
      std::fprintf(stderr, "%s\n", lab.error().ToString().c_str());
      return 1;
    }
    const auto start = std::chrono::steady_clock::now();
    double message_bits = 0;
    std::int64_t n = 0;
    const auto status = (*lab)->Run([&](const sotto::algo::RoundMetrics& m) {
      message_bits += m.message_bits;
      ++n;
      if (std::isnan(m.test_accuracy)) return;
      c.points.emplace_back(m.cumulative_bits_per_node, m.test_accuracy);
      c.final_accuracy = m.test_accuracy;
      if (c.round_at_target < 0 && m.test_accuracy >= target) {
        c.round_at_target = m.round;
        c.bits_at_target = m.cumulative_bits_per_node;
      }
    });
    if (!status.ok()) {  // Diverged (NaN) or failed: recorded, the others still run.
      std::fprintf(stderr, "%s: %s\n", label.c_str(), status.ToString().c_str());
      c.error = status.ToString();
    }
    c.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    c.mean_message_bits = n > 0 ? message_bits / static_cast<double>(n) : 0;
    std::printf("%-36s target %s at round %lld, %.3f MB/node, final acc %.4f, %.1f s\n", label.c_str(),
                c.round_at_target >= 0 ? "reached" : "NOT reached",
                static_cast<long long>(c.round_at_target), c.bits_at_target / 8e6, c.final_accuracy,
                c.wall_seconds);
    std::fflush(stdout);
    curves.push_back(std::move(c));
  }
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - bench_start).count();

  nlohmann::json j;
  j["benchmark"] = "bits_to_accuracy";
  j["model"] = model;
  j["target_accuracy"] = target;
  j["total_wall_seconds"] = total;
  const double choco_qsgd = curves[1].bits_at_target, dpsgd = curves[0].bits_at_target;
  for (const Curve& c : curves) {
    nlohmann::json r;
    r["label"] = c.label;
    r["config"] = c.config;
    r["algorithm"] = c.settings.lab.gossip.algorithm;
    r["compressor"] = c.settings.lab.gossip.algorithm == "dpsgd" ? "fp32" : c.settings.lab.gossip.compressor;
    r["nodes"] = c.settings.lab.nodes;
    r["topology"] = c.settings.lab.topology;
    r["lr"] = c.settings.lab.gossip.learning_rate;
    r["batch_size"] = c.settings.lab.batch_size;
    r["consensus_step"] = c.settings.lab.gossip.consensus_step;
    r["l1"] = c.settings.lab.gossip.l1;
    r["reached"] = c.round_at_target >= 0;
    r["round_at_target"] = c.round_at_target;
    r["bits_per_node_at_target"] = std::isnan(c.bits_at_target) ? nlohmann::json(nullptr) : nlohmann::json(c.bits_at_target);
    r["mean_message_bits"] = c.mean_message_bits;
    r["final_accuracy"] = c.final_accuracy;
    r["wall_seconds"] = c.wall_seconds;
    if (!c.error.empty()) r["error"] = c.error;
    if (!std::isnan(c.bits_at_target)) {
      r["ratio_to_choco_qsgd"] = c.bits_at_target / choco_qsgd;
      r["ratio_to_dpsgd"] = c.bits_at_target / dpsgd;
    }
    j["runs"].push_back(r);
  }
  const std::string base = out_dir + "/bits_to_accuracy_" + model;
  std::ofstream(base + ".json") << j.dump(2) << '\n';
  std::string plot = "set terminal pngcairo size 900,560\nset output '" + base + ".png'\n";
  plot += "set logscale x\nset xlabel 'cumulative bits sent per node'\nset ylabel 'test accuracy (average model)'\n";
  plot += "set title 'Fashion-MNIST " + model + ", " + std::to_string(curves[0].settings.lab.nodes) +
          " nodes, " + curves[0].settings.lab.topology + "'\nset key bottom right\nset grid\n";
  plot += "set arrow from graph 0, first " + std::to_string(target) + " to graph 1, first " + std::to_string(target) + " nohead dt 2\n";
  plot += "plot ";
  for (std::size_t k = 0; k < curves.size(); ++k) {
    const std::string dat = base + "_" + std::to_string(k) + ".dat";
    std::ofstream f(dat);
    for (const auto& [bits, acc] : curves[k].points) f << bits << ' ' << acc << '\n';
    plot += (k ? ", " : "") + ("'" + dat + "' with linespoints title '" + curves[k].label + "'");
  }
  std::ofstream(base + ".gp") << plot << '\n';
  if (std::system(("gnuplot '" + base + ".gp' 2>/dev/null").c_str()) != 0) {
    std::fprintf(stderr, "gnuplot not available: wrote %s.gp only\n", base.c_str());
  }
  for (std::size_t k = 0; k < curves.size(); ++k) std::remove((base + "_" + std::to_string(k) + ".dat").c_str());
  std::remove((base + ".gp").c_str());
  std::printf("wrote %s.json and %s.png (%.1f s)\n", base.c_str(), base.c_str(), total);
  return 0;
}
