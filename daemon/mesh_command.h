#pragma once

// `sotto mesh -n N`: launches N `sotto node` processes on 127.0.0.1 (free ports),
// each with its shard of the data, joined into one mesh through the first; shows a
// live progress line from their control sockets, stops them all cleanly at the end
// or on Ctrl-C, and prints a summary table.

#include <string>

#include "daemon/lab_config.h"

namespace sotto::daemon {

struct MeshOptions {
  int nodes = 8;
  std::string config_path;   // Node config for every node ("" = built-in defaults).
  std::string run_dir;       // Where node data and logs go ("" = runs/mesh-<time>).
  ConfigOverrides overrides; // --section.key flags, passed to every node.
  double timeout_s = 0;      // Give up after this long (0 = no limit).
  std::string summary_path;  // Also write the summary as JSON here.
  double target_accuracy = 0; // Stop once the nodes' mean test accuracy reaches this (0 = off).
};

int RunMesh(const MeshOptions& options);

}  // namespace sotto::daemon
