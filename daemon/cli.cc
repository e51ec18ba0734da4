#include "daemon/cli.h"

#include <cstdio>
#include <fstream>
#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "daemon/config_reference.h"
#include "daemon/lab_command.h"
#include "daemon/control_client.h"
#include "daemon/fed_lab_command.h"
#include "daemon/keygen.h"
#include "daemon/lab_config.h"
#include "daemon/mesh_command.h"
#include "daemon/node.h"
#include "daemon/node_config.h"
#include "daemon/plot_command.h"

namespace sotto::daemon {

namespace {

// A short flag that sets one config key (e.g. --rounds for lab.rounds).
void AddAlias(CLI::App* app, const std::string& flag, const std::string& key,
              ConfigOverrides* overrides) {
  app->add_option_function<std::string>(
         flag, [overrides, key](const std::string& v) { (*overrides)[key] = v; },
         "Same as --" + key)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
}

// One flag per config key: --section.key VALUE overrides the file.
void AddConfigFlags(CLI::App* app, const std::vector<TomlReader::KeyInfo>& keys,
                    ConfigOverrides* overrides) {
  for (const auto& k : keys) {
    const std::string name = k.section + "." + k.key;
    app->add_option_function<std::string>(
           "--" + name, [overrides, name](const std::string& v) { (*overrides)[name] = v; },
           k.type + " (default " + k.default_value + ")")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)
        ->group("Config keys (override the file)");
  }
}

}  // namespace

int RunCli(int argc, char** argv) {
  CLI::App app{"sotto: peer-to-peer training with compressed gossip", "sotto"};
  app.set_version_flag("--version", std::string("sotto ") + SOTTO_VERSION);
  app.require_subcommand(1);

  std::function<int()> action;

  auto* node = app.add_subcommand("node", "Run one training daemon and join a mesh");
  std::string node_config_path;
  ConfigOverrides node_overrides;
  node->add_option("-c,--config", node_config_path, "Node config (configs/node.toml)");
  node->add_option_function<std::vector<std::string>>(
      "--join",
      [&node_overrides](const std::vector<std::string>& seeds) {
        std::string all;
        for (const auto& seed : seeds) all += (all.empty() ? "" : ",") + seed;
        node_overrides["node.join"] = all;
      },
      "Seed member to join through (repeatable); same as --node.join A,B");
  AddAlias(node, "--listen", "node.listen", &node_overrides);
  AddAlias(node, "--data-dir", "node.data_dir", &node_overrides);
  AddAlias(node, "--log-level", "node.log_level", &node_overrides);
  AddAlias(node, "--metrics", "node.metrics", &node_overrides);
  node->add_flag_function("--discover", [&node_overrides](std::int64_t) { node_overrides["discovery.enabled"] = "true"; },
                          "Find members on the LAN by UDP beacons; same as --discovery.enabled true");
  AddConfigFlags(node, NodeConfigKeys(), &node_overrides);
  node->callback([&] {
    action = [&]() -> int {
      auto config = LoadNodeConfig(node_config_path, node_overrides);
      if (!config) {
        std::fprintf(stderr, "sotto node: %s\n", config.error().ToString().c_str());
        return kExitConfig;
      }
      return RunNode(*config);
    };
  });

  auto* mesh = app.add_subcommand("mesh", "Launch N local nodes on 127.0.0.1 and watch them train");
  MeshOptions mesh_options;
  mesh->add_option("-n,--nodes", mesh_options.nodes, "How many nodes")->capture_default_str();
  mesh->add_option("-c,--config", mesh_options.config_path, "Node config for every node (configs/mesh-local.toml)");
  mesh->add_option("--dir", mesh_options.run_dir, "Run directory for node data and logs (default runs/mesh-<time>)");
  mesh->add_option("--timeout", mesh_options.timeout_s, "Stop after this many seconds (0: none)");
  mesh->add_option("--summary", mesh_options.summary_path, "Also write the summary as JSON here");
  mesh->add_option("--target-accuracy", mesh_options.target_accuracy,
                   "Stop once the nodes' mean test accuracy reaches this (0: off)");
  AddAlias(mesh, "--rounds", "gossip.rounds", &mesh_options.overrides);
  AddConfigFlags(mesh, NodeConfigKeys(), &mesh_options.overrides);
  mesh->callback([&] { action = [&] { return RunMesh(mesh_options); }; });

  auto* fedlab = app.add_subcommand(
      "fedlab", "Aggregator methods in one process: Q-RR, DIANA-RR, NASTYA family, EF/EF21, COCO-EF");
  std::string fed_config;
  FedLabOverrides fed_over;
  fedlab->add_option("-c,--config", fed_config, "Experiment file (configs/lab/fed-*.toml)")->required();
  fedlab->add_option("--rounds", fed_over.rounds, "Override [federated].rounds");
  fedlab->add_option("-n,--nodes", fed_over.nodes, "Override [federated].nodes");
  fedlab->add_option("--seed", fed_over.seed, "Override [federated].seed");
  fedlab->add_option("--metrics", fed_over.metrics_path, "Per-round metrics (JSONL)");
  fedlab->add_option("--summary", fed_over.summary_path, "Summary JSON");
  fedlab->add_option("--progress", fed_over.progress, "auto, bar, lines or none");
  fedlab->callback([&] { action = [&] { return RunFedLabCommand(fed_config, fed_over); }; });

  // Control-socket clients.
  std::string ctl_path, ctl_dir;
  bool ctl_json = false;
  auto add_target = [&](CLI::App* sub) {
    sub->add_option("--control", ctl_path, "The node's control socket");
    sub->add_option("--data-dir", ctl_dir, "The node's data directory (its control.sock)");
  };
  auto control = [&](const char* cmd, bool members) -> int {
    auto path = ControlPath(ctl_path, ctl_dir);
    if (!path) {
      std::fprintf(stderr, "sotto %s: %s\n", cmd, path.error().message().c_str());
      return kExitUsage;
    }
    auto answer = ControlRequest(*path, cmd);
    if (!answer) {
      std::fprintf(stderr, "sotto %s: %s\n", cmd, answer.error().message().c_str());
      return kExitUnavailable;
    }
    if (answer->contains("error")) {
      std::fprintf(stderr, "sotto %s: %s\n", cmd, (*answer)["error"].dump().c_str());
      return kExitFailure;
    }
    if (ctl_json) {
      std::printf("%s\n", answer->dump(2).c_str());
    } else if (std::string(cmd) == "leave") {
      std::printf("%s\n", answer->value("message", "ok").c_str());
    } else {
      std::printf("%s", (members ? FormatMembers(*answer) : FormatStatus(*answer)).c_str());
    }
    return kExitOk;
  };
  auto* status = app.add_subcommand("status", "Ask a running node for its status");
  add_target(status);
  status->add_flag("--json", ctl_json, "Print the raw JSON");
  status->callback([&] { action = [&] { return control("status", false); }; });
  auto* members = app.add_subcommand("members", "List the members a node sees (like serf members)");
  add_target(members);
  members->add_flag("--json", ctl_json, "Print the raw JSON");
  members->callback([&] { action = [&] { return control("members", true); }; });
  auto* leave = app.add_subcommand("leave", "Ask a node to checkpoint, leave the mesh gracefully and exit");
  add_target(leave);
  leave->callback([&] { action = [&] { return control("leave", false); }; });

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
      if (IsFedLabConfig(lab_config_path)) {  // An aggregator experiment: same runner as fedlab.
        FedLabOverrides o;
        o.summary_path = lab_summary;
        return RunFedLabCommand(lab_config_path, o);
      }
      auto config = LoadLabConfig(lab_config_path, lab_overrides);
      if (!config) {
        std::fprintf(stderr, "sotto lab: %s\n", config.error().ToString().c_str());
        return kExitConfig;
      }
      return RunLab(*config, LabRunOutputs{lab_summary});
    };
  });

  auto* plot = app.add_subcommand("plot", "Plot JSONL metrics (lab/fedlab --metrics) to a PNG with gnuplot");
  PlotOptions plot_options;
  plot->add_option("runs", plot_options.inputs, "Metrics files, one line per run (legend: file stem)")
      ->required();
  plot->add_option("-o,--output", plot_options.output, "PNG to write")->capture_default_str();
  plot->add_option("--title", plot_options.title, "Figure title (default: the run names)");
  plot->add_option("--width", plot_options.width_px, "Width in pixels")->capture_default_str();
  plot->add_option("--height", plot_options.height_px, "Height in pixels")->capture_default_str();
  plot->add_option("--script", plot_options.script_path, "Also keep the gnuplot script here");
  plot->callback([&] { action = [&] { return RunPlotCommand(plot_options); }; });

  auto* keygen = app.add_subcommand(
      "keygen", "Write a CURVE key pair for mesh security: PREFIX.key (secret, 0600) and PREFIX.pub");
  std::string keygen_prefix = "sotto";
  keygen->add_option("-o,--output", keygen_prefix, "Output prefix")->capture_default_str();
  keygen->callback([&] { action = [&] { return RunKeygen(keygen_prefix); }; });

  auto* reference = app.add_subcommand(
      "config-reference", "Print the configuration reference (Markdown) of every config key: flag, type, default, meaning");
  std::string reference_source;
  reference->add_option("--source", reference_source,
                        "Directory holding configs/node.toml and configs/lab/quickstart.toml (the commented examples; "
                        "default: . if it has them, else " SOTTO_DATA_DIR ")");
  reference->callback([&] {
    action = [&]() -> int {
      std::string dir = reference_source;
      if (dir.empty()) dir = std::ifstream("configs/node.toml") ? "." : SOTTO_DATA_DIR;
      auto md = BuildConfigReference(dir);
      if (!md) {
        std::fprintf(stderr, "sotto config-reference: %s\n", md.error().message().c_str());
        return kExitUnavailable;
      }
      std::fputs(md->c_str(), stdout);
      return kExitOk;
    };
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  return action ? action() : kExitUsage;
}

}  // namespace sotto::daemon
