// Standalone `sotto fedlab` until the subcommand is wired into daemon/cli.cc:
//   sotto_fedlab -c configs/lab/fed-diana-rr.toml [--rounds N] [--metrics m.jsonl] [--summary s.json]
//   sotto_fedlab --validate     loads every configs/lab/fed-*.toml strictly
#include <cstdio>
#include <filesystem>
#include <string>

#include <CLI/CLI.hpp>

#include "daemon/cli.h"
#include "daemon/fed_lab_command.h"

int main(int argc, char** argv) {
  using namespace sotto::daemon;
  CLI::App app{"sotto fedlab: aggregator-based methods (star) in one process", "sotto_fedlab"};
  std::string config_path, metrics, summary, progress;
  std::int64_t rounds = -1, seed = -1;
  bool validate = false;
  app.add_option("-c,--config", config_path, "Experiment file (configs/lab/fed-*.toml)");
  app.add_option("--rounds", rounds, "Override [federated].rounds");
  app.add_option("--seed", seed, "Override [federated].seed");
  app.add_option("--metrics", metrics, "Write per-round metrics (JSONL) here");
  app.add_option("--summary", summary, "Also write the summary as JSON here");
  app.add_option("--progress", progress, "auto, bar, lines or none");
  app.add_flag("--validate", validate, "Load every configs/lab/fed-*.toml and exit");
  CLI11_PARSE(app, argc, argv);
  if (validate) {
    int bad = 0, count = 0;
    for (const auto& e : std::filesystem::directory_iterator(std::string(SOTTO_SOURCE_DIR) + "/configs/lab")) {
      const std::string name = e.path().filename().string();
      if (!name.starts_with("fed-") || e.path().extension() != ".toml") continue;
      ++count;
      auto c = LoadFedLabConfig(e.path().string());
      if (!c) {
        ++bad;
        std::fprintf(stderr, "%s\n", c.error().ToString().c_str());
      }
    }
    std::printf("%d fed configs, %d bad\n", count, bad);
    return bad == 0 ? kExitOk : kExitConfig;
  }
  if (config_path.empty()) {
    std::fprintf(stderr, "sotto fedlab: -c CONFIG is required\n");
    return kExitUsage;
  }
  return RunFedLabCommand(config_path, FedLabOverrides{rounds, -1, seed, metrics, progress, summary});
}
