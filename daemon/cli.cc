#include "daemon/cli.h"

#include <cstdio>
#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "daemon/lab_command.h"

namespace sotto::daemon {

namespace {

int NotYetAvailable(const char* what) {
  std::fprintf(stderr, "sotto %s: not yet available in this build (exit %d)\n", what,
               kExitUnavailable);
  return kExitUnavailable;
}

}  // namespace

int RunCli(int argc, char** argv) {
  CLI::App app{"sotto: peer-to-peer training with compressed gossip", "sotto"};
  app.set_version_flag("--version", std::string("sotto ") + SOTTO_VERSION);
  app.require_subcommand(1);

  std::function<int()> action;

  auto* node = app.add_subcommand("node", "Run one training daemon and join a mesh");
  node->callback([&] { action = [] { return NotYetAvailable("node"); }; });

  auto* mesh = app.add_subcommand("mesh", "Launch N local nodes on 127.0.0.1 and watch them train");
  mesh->callback([&] { action = [] { return NotYetAvailable("mesh"); }; });

  auto* lab = app.add_subcommand("lab", "Simulate N nodes in one process (exact, deterministic)");
  std::string lab_config_path, lab_metrics, lab_summary, lab_progress;
  std::int64_t lab_rounds = -1;
  int lab_nodes = -1;
  std::int64_t lab_seed = -1;
  lab->add_option("-c,--config", lab_config_path, "Experiment file (configs/lab/*.toml)")->required();
  lab->add_option("--rounds", lab_rounds, "Override [lab].rounds");
  lab->add_option("-n,--nodes", lab_nodes, "Override [lab].nodes");
  lab->add_option("--seed", lab_seed, "Override [lab].seed");
  lab->add_option("--metrics", lab_metrics, "Write per-round metrics (JSONL) here; overrides [lab].metrics");
  lab->add_option("--summary", lab_summary, "Also write the summary as JSON here");
  lab->add_option("--progress", lab_progress, "auto, bar, lines or none; overrides [lab].progress");
  lab->callback([&] {
    action = [&]() -> int {
      auto config = LoadLabConfig(lab_config_path);
      if (!config) {
        std::fprintf(stderr, "sotto lab: %s\n", config.error().ToString().c_str());
        return kExitConfig;
      }
      if (lab_rounds >= 0) config->lab.rounds = lab_rounds;
      if (lab_nodes > 0) config->lab.nodes = lab_nodes;
      if (lab_seed >= 0) {
        config->lab.seed = static_cast<std::uint64_t>(lab_seed);
        config->lab.gossip.seed = config->lab.seed;
      }
      if (!lab_metrics.empty()) config->metrics_path = lab_metrics;
      if (!lab_progress.empty()) config->progress = lab_progress;
      return RunLab(*config, LabRunOutputs{lab_summary});
    };
  });

  auto* status = app.add_subcommand("status", "Ask a running node for its status");
  status->callback([&] { action = [] { return NotYetAvailable("status"); }; });

  auto* keygen = app.add_subcommand("keygen", "Write a CURVE key pair for mesh security");
  keygen->callback([&] { action = [] { return NotYetAvailable("keygen"); }; });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  return action ? action() : kExitUsage;
}

}  // namespace sotto::daemon
