#pragma once

// LabConfig: everything `sotto lab` needs, read from a TOML file
// (configs/lab/*.toml documents every key) and overridden by flags.

#include <cstdint>
#include <string>

#include "algo/lab.h"
#include "common/status.h"

namespace sotto::daemon {

struct DataConfig {
  // "fashion-mnist", "synthetic" or "libsvm".
  std::string source = "fashion-mnist";
  // Fashion-MNIST directory, or LIBSVM training file.
  std::string path;
  // LIBSVM test file (optional: else a held-out split of the training file).
  std::string test_path;
  // Use at most this many training / test samples (-1: all).
  std::int64_t max_train = -1;
  std::int64_t max_test = -1;
  // "iid" or "dirichlet", and the Dirichlet concentration.
  std::string partition = "iid";
  double alpha = 0.5;
  // Standardise features with the training set's mean and deviation.
  bool normalize = false;
  // Synthetic data: samples, features, non-zeros of the true weight vector.
  std::int64_t synthetic_samples = 4000;
  std::int64_t synthetic_features = 200;
  std::int64_t synthetic_support = 10;
};

struct LabConfig {
  algo::LabOptions lab;
  DataConfig data;
  // JSONL metrics file ("" for none); one object per round.
  std::string metrics_path;
  // Progress on stderr: "auto" (a bar when stderr is a terminal, else a line per
  // evaluation), "bar", "lines" or "none".
  std::string progress = "auto";
};

// Reads `path` (every key checked; unknown keys are errors).
Result<LabConfig> LoadLabConfig(const std::string& path);
Result<LabConfig> ParseLabConfig(std::string_view text, const std::string& source_name);

}  // namespace sotto::daemon
