#pragma once

// `sotto lab`: loads data, partitions it, runs algo::Lab, writes metrics (JSONL),
// shows progress and prints a summary.

#include <string>

#include "daemon/lab_config.h"

namespace sotto::daemon {

// Loads the data the config names and splits it into per-node shards.
struct LabData {
  algo::Dataset train;
  algo::Dataset test;
  std::vector<std::vector<std::int64_t>> shards;
};
Result<LabData> LoadLabData(const LabConfig& config);

// Optional summary file (JSON) in addition to the printed summary.
struct LabRunOutputs {
  std::string summary_path;
};

// Runs the experiment; returns a process exit code (daemon/cli.h) and prints
// errors to stderr.
int RunLab(const LabConfig& config, const LabRunOutputs& outputs);

}  // namespace sotto::daemon
