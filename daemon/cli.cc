#include "daemon/cli.h"

#include <cstdio>
#include <functional>
#include <string>

#include <CLI/CLI.hpp>

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
  lab->callback([&] { action = [] { return NotYetAvailable("lab"); }; });

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
