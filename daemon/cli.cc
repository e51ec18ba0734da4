#include "daemon/cli.h"

#include <cstdio>
#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "daemon/lab_command.h"
#include "daemon/lab_config.h"

namespace sotto::daemon {

namespace {

// A short flag that sets one config key (e.g. --rounds for lab.rounds).
void AddAlias(CLI::App* app, const std::string& flag, const std::string& key,
              ConfigOverrides* overrides) {
  app->add_option_function<std::string>(
      flag, [overrides, key](const std::string& v) { (*overrides)[key] = v; },
      "Same as --" + key);
}

// One flag per config key: --section.key VALUE overrides the file.
void AddConfigFlags(CLI::App* app, const std::vector<TomlReader::KeyInfo>& keys,
                    ConfigOverrides* overrides) {
  for (const auto& k : keys) {
    const std::string name = k.section + "." + k.key;
    app->add_option_function<std::string>(
           "--" + name, [overrides, name](const std::string& v) { (*overrides)[name] = v; },
           k.type + " (default " + k.default_value + ")")
        ->group("Config keys (override the file)");
  }
}

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
  std::string lab_config_path, lab_summary;
  ConfigOverrides lab_overrides;
  lab->add_option("-c,--config", lab_config_path, "Experiment file (configs/lab/*.toml)")->required();
  lab->add_option("--summary", lab_summary, "Also write the summary as JSON here");
  AddAlias(lab, "-n,--nodes", "lab.nodes", &lab_overrides);
  AddAlias(lab, "--rounds", "lab.rounds", &lab_overrides);
  AddAlias(lab, "--seed", "lab.seed", &lab_overrides);
  AddAlias(lab, "--metrics", "lab.metrics", &lab_overrides);
  AddAlias(lab, "--progress", "lab.progress", &lab_overrides);
  AddConfigFlags(lab, LabConfigKeys(), &lab_overrides);
  lab->callback([&] {
    action = [&]() -> int {
      auto config = LoadLabConfig(lab_config_path, lab_overrides);
      if (!config) {
        std::fprintf(stderr, "sotto lab: %s\n", config.error().ToString().c_str());
        return kExitConfig;
      }
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
