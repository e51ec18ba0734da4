// Benchmark: the real mesh against the lab. For D-PSGD, CHOCO-SGD and MALCOM-PSGD,
// runs `sotto mesh -n 8` on loopback until the nodes' mean test accuracy reaches the
// target, and `sotto lab` with the same algorithm settings; writes
// <out>/mesh.json and <out>/mesh.png (time and MB per node to the target, mesh vs lab).

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

namespace {

struct Run {
  std::string label;
  std::string flags;  // Algorithm flags shared by mesh and lab.
};

nlohmann::json ReadJson(const std::string& path) {
  std::ifstream in(path);
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  return j.is_object() ? j : nlohmann::json::object();  // A failed run leaves no summary.
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mesh vs lab benchmark"};
  std::string out = "bench/results";
  int nodes = 8;
  double target = 0.82;
  double timeout = 600;
  app.add_option("--out", out);
  app.add_option("-n,--nodes", nodes);
  app.add_option("--target", target);
  app.add_option("--timeout", timeout, "Per-run limit in seconds");
  CLI11_PARSE(app, argc, argv);
  const std::string src = SOTTO_SOURCE_DIR, bin = SOTTO_BINARY;
  const std::vector<Run> runs = {
      {"D-PSGD (fp32)", "--algorithm.name dpsgd --algorithm.l1 0"},
      {"CHOCO-SGD (top-1%, index+float)",
       "--algorithm.name choco --algorithm.compressor 'topk:0.01;coder=fp32' --algorithm.consensus_step 0.04 --algorithm.l1 0"},
      {"MALCOM-PSGD", "--algorithm.name malcom"},
  };
  nlohmann::json result;
  result["benchmark"] = "mesh";
  result["nodes"] = nodes;
  result["target_accuracy"] = target;
  std::string dat;
  int k = 0;
  for (const auto& r : runs) {
    const std::string mesh_summary = out + "/.mesh_" + std::to_string(k) + ".json";
    const std::string lab_summary = out + "/.lab_" + std::to_string(k) + ".json";
    const std::string mesh_cmd = bin + " mesh -n " + std::to_string(nodes) + " -c " + src +
                                 "/configs/mesh-local.toml --dir /tmp/sotto-bench-mesh-" + std::to_string(k) +
                                 " --rounds 20000 --target-accuracy " + std::to_string(target) + " --timeout " +
                                 std::to_string(timeout) + " --summary " + mesh_summary + " " + r.flags + " > /dev/null";
    std::printf("%s: mesh ...\n", r.label.c_str());
    std::fflush(stdout);
    const int mesh_rc = std::system(mesh_cmd.c_str());
    const std::string lab_cmd = bin + " lab -c " + src + "/configs/lab/quickstart.toml --lab.nodes " +
                                std::to_string(nodes) + " --lab.rounds 20000 --lab.eval_every 50 --lab.target_accuracy " +
                                std::to_string(target) + " --lab.progress none --summary " + lab_summary + " " + r.flags +
                                " > /dev/null";
    std::printf("%s: lab ...\n", r.label.c_str());
    std::fflush(stdout);
    const int lab_rc = std::system(lab_cmd.c_str());
    const auto mesh = ReadJson(mesh_summary), lab = ReadJson(lab_summary);
    std::remove(mesh_summary.c_str());
    std::remove(lab_summary.c_str());
    nlohmann::json row;
    row["label"] = r.label;
    row["flags"] = r.flags;
    row["mesh_exit"] = mesh_rc;
    row["lab_exit"] = lab_rc;
    double rss = 0, cpu = 0, rounds = 0;
    int n = 0;
    for (const auto& node : mesh.value("nodes", nlohmann::json::array())) {
      if (node["rss_mb"].is_number()) rss = std::max(rss, node["rss_mb"].get<double>());
      if (node["cpu_seconds"].is_number()) cpu += node["cpu_seconds"].get<double>();
      rounds += node.value("round", 0.0);
      ++n;
    }
    row["mesh_seconds_to_target"] = mesh.value("seconds_to_target", nlohmann::json());
    row["mesh_mb_sent_per_node_to_target"] = mesh.value("mb_sent_per_node_to_target", nlohmann::json());
    row["mesh_rounds_to_target"] = mesh.value("rounds_to_target", nlohmann::json());
    row["mesh_wall_seconds"] = mesh.value("wall_seconds", nlohmann::json());
    row["mesh_max_rss_mb_per_daemon"] = rss;
    row["mesh_mean_cpu_seconds_per_daemon"] = n ? cpu / n : 0.0;
    row["mesh_rounds_per_second"] = n && mesh.value("wall_seconds", 0.0) > 0 ? rounds / n / mesh.value("wall_seconds", 1.0) : 0.0;
    row["lab_round_at_target"] = lab.value("round_at_target", nlohmann::json());
    row["lab_mb_sent_per_node_to_target"] = lab.contains("bits_per_node_at_target") && lab["bits_per_node_at_target"].is_number()
                                                ? nlohmann::json(lab["bits_per_node_at_target"].get<double>() / 8e6)
                                                : nlohmann::json();
    row["lab_wall_seconds"] = lab.value("wall_seconds", nlohmann::json());
    result["runs"].push_back(row);
    auto v = [](const nlohmann::json& j) { return j.is_number() ? j.get<double>() : 0.0; };
    char line[256];
    std::snprintf(line, sizeof line, "%d \"%s\" %g %g %g\n", k, r.label.c_str(), v(row["mesh_seconds_to_target"]),
                  v(row["mesh_mb_sent_per_node_to_target"]), v(row["lab_mb_sent_per_node_to_target"]));
    dat += line;
    std::printf("  mesh: %s s, %s MB/node to %.2f; lab: round %s, %s MB/node; RSS %.1f MB\n",
                row["mesh_seconds_to_target"].dump().c_str(), row["mesh_mb_sent_per_node_to_target"].dump().c_str(),
                target, row["lab_round_at_target"].dump().c_str(), row["lab_mb_sent_per_node_to_target"].dump().c_str(), rss);
    ++k;
  }
  std::ofstream(out + "/mesh.json") << result.dump(2) << '\n';
  std::ofstream(out + "/.mesh.dat") << dat;
  std::ofstream gp(out + "/.mesh.gp");
  gp << "set terminal pngcairo size 1000,450\nset output '" << out << "/mesh.png'\n"
     << "set multiplot layout 1,2 title 'Fashion-MNIST softmax, " << nodes << " nodes on loopback, to " << target << " accuracy'\n"
     << "set style data histograms\nset style fill solid 0.8\nset boxwidth 0.8\nset xtics rotate by -15\nset grid y\n"
     << "set logscale y\nset ylabel 'MB sent per node'\nset title 'bytes'\n"
     << "plot '" << out << "/.mesh.dat' using 4:xtic(2) title 'mesh', '' using 5 title 'lab'\n"
     << "unset logscale y\nset ylabel 'seconds'\nset title 'mesh wall time to target'\n"
     << "plot '" << out << "/.mesh.dat' using 3:xtic(2) title 'mesh' lc 3\nunset multiplot\n";
  gp.close();
  if (std::system(("gnuplot '" + out + "/.mesh.gp' 2>/dev/null").c_str()) != 0) std::fprintf(stderr, "gnuplot failed\n");
  std::remove((out + "/.mesh.dat").c_str());
  std::remove((out + "/.mesh.gp").c_str());
  std::printf("wrote %s/mesh.json and %s/mesh.png\n", out.c_str(), out.c_str());
  return 0;
}
