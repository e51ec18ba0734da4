#include "daemon/lab_config.h"

namespace sotto::daemon {

Status ReadTrainingSections(TomlReader& reader, TrainingConfig* config) {
  DataConfig& d = config->data;
  SOTTO_RETURN_IF_ERROR(reader.Get("data", "source", &d.source));
  SOTTO_RETURN_IF_ERROR(reader.Get("data", "path", &d.path));
  SOTTO_RETURN_IF_ERROR(reader.Get("data", "test_path", &d.test_path));
  SOTTO_RETURN_IF_ERROR(reader.Get("data", "max_train", &d.max_train));
  SOTTO_RETURN_IF_ERROR(reader.Get("data", "max_test", &d.max_test));
  SOTTO_RETURN_IF_ERROR(reader.Get("data", "partition", &d.partition));
  SOTTO_RETURN_IF_ERROR(reader.Get("data", "alpha", &d.alpha));
  SOTTO_RETURN_IF_ERROR(reader.Get("data", "normalize", &d.normalize));
  SOTTO_RETURN_IF_ERROR(reader.Get("data", "synthetic_samples", &d.synthetic_samples));
  SOTTO_RETURN_IF_ERROR(reader.Get("data", "synthetic_features", &d.synthetic_features));
  SOTTO_RETURN_IF_ERROR(reader.Get("data", "synthetic_support", &d.synthetic_support));

  SOTTO_RETURN_IF_ERROR(reader.Get("model", "kind", &config->model));
  SOTTO_RETURN_IF_ERROR(reader.Get("model", "l2", &config->l2));

  algo::GossipOptions& g = config->gossip;
  std::string sampler = "reshuffle", schedule = "constant", prox_order = "before", scale = "auto";
  SOTTO_RETURN_IF_ERROR(reader.Get("algorithm", "name", &g.algorithm));
  SOTTO_RETURN_IF_ERROR(reader.Get("algorithm", "lr", &g.learning_rate));
  SOTTO_RETURN_IF_ERROR(reader.Get("algorithm", "lr_schedule", &schedule));
  SOTTO_RETURN_IF_ERROR(reader.Get("algorithm", "batch_size", &config->batch_size));
  SOTTO_RETURN_IF_ERROR(reader.Get("algorithm", "sampler", &sampler));
  SOTTO_RETURN_IF_ERROR(reader.Get("algorithm", "consensus_step", &g.consensus_step));
  SOTTO_RETURN_IF_ERROR(reader.Get("algorithm", "l1", &g.l1));
  SOTTO_RETURN_IF_ERROR(reader.Get("algorithm", "prox_order", &prox_order));
  SOTTO_RETURN_IF_ERROR(reader.Get("algorithm", "compressor", &g.compressor));
  SOTTO_RETURN_IF_ERROR(reader.Get("algorithm", "scale", &scale));
  SOTTO_RETURN_IF_ERROR(reader.Get("algorithm", "momentum", &g.momentum));

  const std::string& src = reader.source();
  auto in = [&](const char* key, const Status& s) { return s.WithContext(src + ": " + key); };
  auto sm = algo::ParseSamplingMode(sampler);
  if (!sm) return in("[algorithm].sampler", sm.error());
  config->sampling = *sm;
  auto ls = algo::ParseLearningRateSchedule(schedule);
  if (!ls) return in("[algorithm].lr_schedule", ls.error());
  g.schedule = *ls;
  auto po = algo::ParseProxOrder(prox_order);
  if (!po) return in("[algorithm].prox_order", po.error());
  g.prox_order = *po;
  if (scale == "auto") {
    g.scale = algo::CompressionScale::kAuto;
  } else if (scale == "none") {
    g.scale = algo::CompressionScale::kNone;
  } else {
    return InvalidArgument(src + ": [algorithm].scale: want auto or none, got '" + scale + "'");
  }
  if (config->batch_size < 1) return InvalidArgument(src + ": [algorithm].batch_size: must be >= 1");
  return CheckDataConfig(d, src);
}

Status CheckDataConfig(const DataConfig& d, const std::string& source_name) {
  if (d.source != "fashion-mnist" && d.source != "synthetic" && d.source != "libsvm") {
    return InvalidArgument(source_name + ": [data].source: want fashion-mnist, synthetic or libsvm, got '" +
                           d.source + "'");
  }
  if (d.partition != "iid" && d.partition != "dirichlet") {
    return InvalidArgument(source_name + ": [data].partition: want iid or dirichlet, got '" + d.partition + "'");
  }
  return Status::Ok();
}

namespace {

Result<LabConfig> Read(TomlReader& reader) {
  LabConfig c;
  algo::LabOptions& l = c.lab;
  SOTTO_RETURN_IF_ERROR(reader.Get("lab", "nodes", &l.nodes));
  SOTTO_RETURN_IF_ERROR(reader.Get("lab", "rounds", &l.rounds));
  SOTTO_RETURN_IF_ERROR(reader.Get("lab", "seed", &l.seed));
  SOTTO_RETURN_IF_ERROR(reader.Get("lab", "topology", &l.topology));
  SOTTO_RETURN_IF_ERROR(reader.Get("lab", "straggler_probability", &l.straggler_probability));
  SOTTO_RETURN_IF_ERROR(reader.Get("lab", "eval_every", &l.eval_every));
  SOTTO_RETURN_IF_ERROR(reader.Get("lab", "eval_nodes", &l.eval_nodes));
  SOTTO_RETURN_IF_ERROR(reader.Get("lab", "target_accuracy", &l.target_accuracy));
  SOTTO_RETURN_IF_ERROR(reader.Get("lab", "metrics", &c.metrics_path));
  SOTTO_RETURN_IF_ERROR(reader.Get("lab", "progress", &c.progress));
  TrainingConfig t;
  t.batch_size = l.batch_size;
  SOTTO_RETURN_IF_ERROR(ReadTrainingSections(reader, &t));
  SOTTO_RETURN_IF_ERROR(reader.Finish());
  c.data = t.data;
  l.model = t.model;
  l.l2 = t.l2;
  l.gossip = t.gossip;
  l.gossip.seed = l.seed;
  l.batch_size = t.batch_size;
  l.sampling = t.sampling;
  if (c.progress != "auto" && c.progress != "bar" && c.progress != "lines" && c.progress != "none") {
    return InvalidArgument(reader.source() + ": [lab].progress: want auto, bar, lines or none");
  }
  return c;
}

}  // namespace

Result<LabConfig> LoadLabConfig(const std::string& path, const ConfigOverrides& overrides) {
  if (path.empty()) return ParseLabConfig("", "(defaults)", overrides);
  SOTTO_ASSIGN_OR_RETURN(TomlReader reader, TomlReader::FromFile(path));
  return ReadWithOverrides<LabConfig>(std::move(reader), overrides, &Read);
}

Result<LabConfig> ParseLabConfig(std::string_view text, const std::string& source_name,
                                 const ConfigOverrides& overrides) {
  SOTTO_ASSIGN_OR_RETURN(TomlReader reader, TomlReader::FromString(text, source_name));
  return ReadWithOverrides<LabConfig>(std::move(reader), overrides, &Read);
}

std::vector<TomlReader::KeyInfo> LabConfigKeys() {
  TomlReader reader = TomlReader::FromString("", "(defaults)").value();
  (void)Read(reader);
  return reader.keys();
}

}  // namespace sotto::daemon
