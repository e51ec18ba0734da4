#pragma once

// `sotto fedlab` (or `sotto lab` on a config with a [federated] section): runs the
// aggregator-based methods of algo/federated_lab.h (a star: n nodes and one
// aggregating server) from a TOML experiment (configs/lab/fed-*.toml), writes
// per-round metrics as JSONL, shows progress and prints a summary.

#include <cstdint>
#include <string>
#include <string_view>

#include "algo/federated_lab.h"
#include "common/status.h"
#include "daemon/lab_config.h"

namespace sotto::daemon {

struct FedLabConfig {
  algo::FederatedOptions fed;
  // [data]: the keys of `sotto lab` (DataConfig) plus the synthetic ones below.
  DataConfig data;
  // Synthetic data: probability that a feature is non-zero (LIBSVM-like sparsity;
  // "a9a-like": ~0.1) and the seed of the generator (default: [federated].seed).
  double synthetic_density = 1.0;
  std::int64_t synthetic_seed = -1;
  // Synthetic data: scale of the true weights (larger: less label noise).
  double synthetic_weight_scale = 1.0;
  // Scale every sample to unit l2 norm (after standardisation, if any): then each
  // logistic loss term is (1/4)-smooth, so gamma can be set from L as in the papers.
  bool unit_rows = false;
  // JSONL metrics file ("" for none); one object per round.
  std::string metrics_path;
  // "auto", "bar", "lines" or "none" (as `sotto lab`).
  std::string progress = "auto";
};

// Reads `path` strictly (unknown keys are errors; see configs/lab/fed-*.toml).
// Errors: kNotFound, or kInvalidArgument naming the file, the key and the problem.
Result<FedLabConfig> LoadFedLabConfig(const std::string& path);
Result<FedLabConfig> ParseFedLabConfig(std::string_view text, const std::string& source_name);

// True if the TOML file at `path` has a [federated] section (so `sotto lab` can
// dispatch to RunFedLab). False for unreadable files (LoadLabConfig then reports).
bool IsFedLabConfig(const std::string& path);

struct FedLabRunOutputs {
  std::string summary_path;  // Optional JSON summary.
};

// Runs the experiment; returns a process exit code (daemon/cli.h), errors on stderr.
int RunFedLab(const FedLabConfig& config, const FedLabRunOutputs& outputs);

// Command-line overrides of `sotto fedlab` / `sotto lab` (negative or empty: keep the file's).
struct FedLabOverrides {
  std::int64_t rounds = -1;
  std::int64_t nodes = -1;
  std::int64_t seed = -1;
  std::string metrics_path;
  std::string progress;
  std::string summary_path;
};

// Loads `config_path`, applies `overrides` and runs: the whole CLI action.
// Returns kExitConfig (message on stderr) for a bad file, else as RunFedLab.
int RunFedLabCommand(const std::string& config_path, const FedLabOverrides& overrides);

}  // namespace sotto::daemon
