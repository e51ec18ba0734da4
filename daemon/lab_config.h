#pragma once

// LabConfig: everything `sotto lab` needs, read from a TOML file
// (configs/lab/quickstart.toml documents every key); any key can also be given as a
// flag --section.key=value, which overrides the file. The [data], [model] and
// [algorithm] sections are shared with `sotto node` (daemon/node_config.h).

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "algo/lab.h"
#include "common/status.h"
#include "daemon/toml_reader.h"

namespace sotto::daemon {

struct DataConfig {
  // "fashion-mnist", "synthetic" or "libsvm".
  std::string source = "fashion-mnist";
  // Fashion-MNIST directory, or LIBSVM training file.
  std::string path;
  // LIBSVM test file (optional: else a random fifth of the training file).
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

// The [data], [model] and [algorithm] sections.
struct TrainingConfig {
  DataConfig data;
  std::string model = "softmax";
  double l2 = 0.0;
  algo::GossipOptions gossip;
  std::int64_t batch_size = 64;
  algo::SamplingMode sampling = algo::SamplingMode::kReshuffle;
};

// Checks [data].source and [data].partition; errors name `source_name` and the key.
Status CheckDataConfig(const DataConfig& data, const std::string& source_name);

// Reads the three sections and checks their values (not unknown keys: Finish() does).
Status ReadTrainingSections(TomlReader& reader, TrainingConfig* config);

struct LabConfig {
  algo::LabOptions lab;
  DataConfig data;
  // JSONL metrics file ("" for none); one object per round.
  std::string metrics_path;
  // Progress on stderr: "auto" (a bar when stderr is a terminal, else a line per
  // evaluation), "bar", "lines" or "none".
  std::string progress = "auto";
};

// Flag overrides: "section.key" -> value as typed on the command line.
using ConfigOverrides = std::map<std::string, std::string>;

// Reads `path` ("" for defaults only), applies `overrides`, checks every key.
Result<LabConfig> LoadLabConfig(const std::string& path, const ConfigOverrides& overrides = {});
Result<LabConfig> ParseLabConfig(std::string_view text, const std::string& source_name,
                                 const ConfigOverrides& overrides = {});
// The keys of a lab config, with types and defaults (to make flags and docs).
std::vector<TomlReader::KeyInfo> LabConfigKeys();

// Reads a config with `read` after applying `overrides` (by the key types that
// `read` itself asks for). Shared by the lab and node configs.
template <typename Config>
Result<Config> ReadWithOverrides(TomlReader reader, const ConfigOverrides& overrides,
                                 Result<Config> (*read)(TomlReader&)) {
  if (!overrides.empty()) {
    TomlReader probe = reader;
    (void)read(probe);  // Discovers the keys and their types.
    for (const auto& [name, value] : overrides) {
      bool found = false;
      for (const auto& k : probe.keys()) {
        if (k.section + "." + k.key != name) continue;
        SOTTO_RETURN_IF_ERROR(reader.Override(k.section, k.key, k.type, value));
        found = true;
      }
      if (!found) return InvalidArgument("unknown flag --" + name);
    }
  }
  return read(reader);
}

}  // namespace sotto::daemon
