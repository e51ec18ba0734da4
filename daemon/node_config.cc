#include "daemon/node_config.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "net/zmq_curve.h"

namespace sotto::daemon {

namespace {

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = text.find(',', start);
    std::string item =
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

constexpr std::size_t kMinDiscoverySecretBytes = 16;

net::DiscoveryOptions DiscoveryOptionsOf(const NodeConfig& c) {
  net::DiscoveryOptions o;
  o.mesh = c.discovery.mesh;
  o.secret = c.discovery.secret;
  o.port = static_cast<std::uint16_t>(c.discovery.port);
  o.broadcast = c.discovery.broadcast;
  o.fast_interval = std::chrono::milliseconds(c.discovery.interval_ms);
  o.slow_interval = std::chrono::milliseconds(c.discovery.slow_interval_ms);
  o.max_age = std::chrono::milliseconds(c.discovery.max_age_ms);
  // Beacon fast until the members we wait for (or at least one) were heard.
  o.min_peers = static_cast<std::size_t>(std::max(1, c.min_members - 1));
  return o;
}

// `bad(key, why)` builds the error naming the file and key.
template <typename Bad>
Status CheckDiscoveryConfig(const NodeConfig& c, const Bad& bad) {
  const auto& d = c.discovery;
  if (d.port < 1 || d.port > 65535) return bad("[discovery].port", "want 1-65535");
  if (!d.secret.empty() && !d.secret_file.empty()) {
    return bad("[discovery].secret", "give secret or secret_file, not both");
  }
  if (!d.secret.empty() && d.secret.size() < kMinDiscoverySecretBytes) {
    return bad("[discovery].secret",
               "want at least " + std::to_string(kMinDiscoverySecretBytes) + " characters");
  }
  const Status s = net::CheckDiscoveryOptions(DiscoveryOptionsOf(c));
  if (!s.ok()) return bad("[discovery]", s.message());
  if (d.enabled && c.advertise.empty()) {
    // Peers dial the endpoint a beacon carries: a wildcard listen address is no use to them.
    const std::string host = c.listen.substr(
        6, c.listen.rfind(':') == std::string::npos ? std::string::npos : c.listen.rfind(':') - 6);
    if (host == "*" || host == "0.0.0.0") {
      return bad("[node].advertise", "with discovery on and listen on '" + host +
                                         "', set the address peers should dial");
    }
  }
  return Status::Ok();
}

Result<NodeConfig> Read(TomlReader& reader) {
  NodeConfig c;
  std::string join;
  SOTTO_RETURN_IF_ERROR(reader.Get("node", "listen", &c.listen));
  SOTTO_RETURN_IF_ERROR(reader.Get("node", "advertise", &c.advertise));
  SOTTO_RETURN_IF_ERROR(reader.Get("node", "join", &join));
  SOTTO_RETURN_IF_ERROR(reader.Get("node", "data_dir", &c.data_dir));
  SOTTO_RETURN_IF_ERROR(reader.Get("node", "control", &c.control));
  SOTTO_RETURN_IF_ERROR(reader.Get("node", "log_level", &c.log_level));
  SOTTO_RETURN_IF_ERROR(reader.Get("node", "metrics", &c.metrics));
  SOTTO_RETURN_IF_ERROR(reader.Get("node", "seed", &c.seed));
  SOTTO_RETURN_IF_ERROR(reader.Get("membership", "probe_interval_ms", &c.probe_interval_ms));
  SOTTO_RETURN_IF_ERROR(reader.Get("membership", "probe_timeout_ms", &c.probe_timeout_ms));
  SOTTO_RETURN_IF_ERROR(reader.Get("membership", "suspicion_multiplier", &c.suspicion_multiplier));
  SOTTO_RETURN_IF_ERROR(reader.Get("membership", "indirect_checks", &c.indirect_checks));
  SOTTO_RETURN_IF_ERROR(reader.Get("membership", "gossip_interval_ms", &c.gossip_interval_ms));
  SOTTO_RETURN_IF_ERROR(reader.Get("membership", "gossip_nodes", &c.gossip_nodes));
  SOTTO_RETURN_IF_ERROR(
      reader.Get("membership", "push_pull_interval_ms", &c.push_pull_interval_ms));
  SOTTO_RETURN_IF_ERROR(reader.Get("gossip", "topology", &c.topology));
  SOTTO_RETURN_IF_ERROR(reader.Get("gossip", "round_timeout_ms", &c.round_timeout_ms));
  SOTTO_RETURN_IF_ERROR(reader.Get("gossip", "min_round_ms", &c.min_round_ms));
  SOTTO_RETURN_IF_ERROR(reader.Get("gossip", "per_link", &c.training.gossip.per_link));
  SOTTO_RETURN_IF_ERROR(reader.Get("gossip", "adaptive", &c.adaptive));
  SOTTO_RETURN_IF_ERROR(reader.Get("gossip", "adaptive_target_ms", &c.adaptive_target_ms));
  SOTTO_RETURN_IF_ERROR(reader.Get("gossip", "adaptive_min_density", &c.adaptive_min_density));
  SOTTO_RETURN_IF_ERROR(reader.Get("gossip", "adaptive_max_density", &c.adaptive_max_density));
  SOTTO_RETURN_IF_ERROR(
      reader.Get("gossip", "adaptive_step_exponent", &c.training.gossip.consensus_step_exponent));
  SOTTO_RETURN_IF_ERROR(
      reader.Get("gossip", "adaptive_max_step", &c.training.gossip.consensus_step_max));
  SOTTO_RETURN_IF_ERROR(reader.Get("gossip", "rounds", &c.rounds));
  SOTTO_RETURN_IF_ERROR(reader.Get("gossip", "min_members", &c.min_members));
  SOTTO_RETURN_IF_ERROR(reader.Get("gossip", "checkpoint_every", &c.checkpoint_every));
  SOTTO_RETURN_IF_ERROR(reader.Get("gossip", "eval_every", &c.eval_every));
  SOTTO_RETURN_IF_ERROR(reader.Get("gossip", "shard", &c.shard));
  SOTTO_RETURN_IF_ERROR(reader.Get("gossip", "shards", &c.shards));
  SOTTO_RETURN_IF_ERROR(reader.Get("security", "enabled", &c.security.enabled));
  SOTTO_RETURN_IF_ERROR(reader.Get("security", "secret_key_file", &c.security.secret_key_file));
  SOTTO_RETURN_IF_ERROR(reader.Get("security", "public_key_file", &c.security.public_key_file));
  SOTTO_RETURN_IF_ERROR(reader.Get("security", "allow_list_file", &c.security.allow_list_file));
  SOTTO_RETURN_IF_ERROR(reader.Get("faults", "drop", &c.faults.drop));
  SOTTO_RETURN_IF_ERROR(reader.Get("faults", "duplicate", &c.faults.duplicate));
  SOTTO_RETURN_IF_ERROR(reader.Get("faults", "delay", &c.faults.delay));
  SOTTO_RETURN_IF_ERROR(reader.Get("faults", "reorder", &c.faults.reorder));
  SOTTO_RETURN_IF_ERROR(reader.Get("faults", "seed", &c.faults.seed));
  std::string broadcast = "255.255.255.255";
  SOTTO_RETURN_IF_ERROR(reader.Get("discovery", "enabled", &c.discovery.enabled));
  SOTTO_RETURN_IF_ERROR(reader.Get("discovery", "port", &c.discovery.port));
  SOTTO_RETURN_IF_ERROR(reader.Get("discovery", "mesh", &c.discovery.mesh));
  SOTTO_RETURN_IF_ERROR(reader.Get("discovery", "secret", &c.discovery.secret));
  SOTTO_RETURN_IF_ERROR(reader.Get("discovery", "secret_file", &c.discovery.secret_file));
  SOTTO_RETURN_IF_ERROR(reader.Get("discovery", "broadcast", &broadcast));
  SOTTO_RETURN_IF_ERROR(reader.Get("discovery", "interval_ms", &c.discovery.interval_ms));
  SOTTO_RETURN_IF_ERROR(reader.Get("discovery", "slow_interval_ms", &c.discovery.slow_interval_ms));
  SOTTO_RETURN_IF_ERROR(reader.Get("discovery", "max_age_ms", &c.discovery.max_age_ms));
  SOTTO_RETURN_IF_ERROR(ReadTrainingSections(reader, &c.training));
  SOTTO_RETURN_IF_ERROR(reader.Finish());
  c.join = SplitList(join);
  c.discovery.broadcast = SplitList(broadcast);
  c.training.gossip.seed = c.seed;
  const std::string& src = reader.source();
  auto bad = [&](const std::string& key, const std::string& why) {
    return InvalidArgument(src + ": " + key + ": " + why);
  };
  if (!c.listen.starts_with("tcp://"))
    return bad("[node].listen", "want tcp://HOST:PORT, got '" + c.listen + "'");
  for (const auto& j : c.join) {
    if (!j.starts_with("tcp://"))
      return bad("[node].join", "want tcp://HOST:PORT, got '" + j + "'");
  }
  if (c.security.enabled) {
    if (c.security.secret_key_file.empty())
      return bad("[security].secret_key_file", "required when enabled");
    if (c.security.allow_list_file.empty())
      return bad("[security].allow_list_file", "required when enabled");
    for (const auto& j : c.join) {
      if (net::SplitCurveEndpoint(j).server_key.empty()) {
        return bad("[node].join",
                   "with security on, want tcp://HOST:PORT#<server public key>, got '" + j + "'");
      }
    }
  }
  SOTTO_RETURN_IF_ERROR(CheckDiscoveryConfig(c, bad));
  if (c.log_level != "trace" && c.log_level != "debug" && c.log_level != "info" &&
      c.log_level != "warn" && c.log_level != "error" && c.log_level != "off") {
    return bad("[node].log_level", "want trace, debug, info, warn, error or off");
  }
  if (c.probe_interval_ms < 10) return bad("[membership].probe_interval_ms", "must be >= 10");
  if (c.probe_timeout_ms < 1 || c.probe_timeout_ms >= c.probe_interval_ms) {
    return bad("[membership].probe_timeout_ms", "must be in [1, probe_interval_ms)");
  }
  if (c.suspicion_multiplier < 1) return bad("[membership].suspicion_multiplier", "must be >= 1");
  if (c.indirect_checks < 0) return bad("[membership].indirect_checks", "must be >= 0");
  if (c.gossip_interval_ms < 0)
    return bad("[membership].gossip_interval_ms", "must be >= 0 (0: off)");
  if (c.gossip_nodes < 0) return bad("[membership].gossip_nodes", "must be >= 0");
  if (c.push_pull_interval_ms < 0)
    return bad("[membership].push_pull_interval_ms", "must be >= 0 (0: off)");
  for (const auto& [key, p] :
       {std::pair{"drop", c.faults.drop}, std::pair{"duplicate", c.faults.duplicate},
        std::pair{"delay", c.faults.delay}, std::pair{"reorder", c.faults.reorder}}) {
    if (!(p >= 0 && p <= 1))
      return bad(std::string("[faults].") + key, "want a probability in [0, 1]");
  }
  if (c.min_members < 1) return bad("[gossip].min_members", "must be >= 1");
  if (c.round_timeout_ms < 1) return bad("[gossip].round_timeout_ms", "must be >= 1");
  if (c.min_round_ms < 0) return bad("[gossip].min_round_ms", "must be >= 0");
  if (c.training.gossip.per_link && c.training.gossip.algorithm == "dpsgd")
    return bad("[gossip].per_link", "needs choco or malcom (D-PSGD sends raw models)");
  if (c.adaptive) {
    if (c.training.gossip.algorithm == "dpsgd")
      return bad("[gossip].adaptive", "needs choco or malcom (D-PSGD sends raw models)");
    if (!TopKFraction(c.training.gossip.compressor)) {
      return bad(
          "[gossip].adaptive",
          "needs a compressor with a top-k fraction (e.g. chain:topk:0.01+dither:s=4), got '" +
              c.training.gossip.compressor + "'");
    }
    if (c.adaptive_target_ms < 0) return bad("[gossip].adaptive_target_ms", "must be >= 0");
    if (!(c.adaptive_min_density > 0 && c.adaptive_min_density <= c.adaptive_max_density &&
          c.adaptive_max_density <= 1)) {
      return bad("[gossip].adaptive_min_density",
                 "want 0 < adaptive_min_density <= adaptive_max_density <= 1");
    }
    if (!(c.training.gossip.consensus_step_exponent >= 0 &&
          c.training.gossip.consensus_step_exponent <= 2)) {
      return bad("[gossip].adaptive_step_exponent", "want 0 <= adaptive_step_exponent <= 2");
    }
    if (!(c.training.gossip.consensus_step_max >= 0 && c.training.gossip.consensus_step_max <= 1)) {
      return bad("[gossip].adaptive_max_step",
                 "want 0 <= adaptive_max_step <= 1 (0: never above consensus_step)");
    }
  }
  if (c.rounds < 0 || c.checkpoint_every < 0 || c.eval_every < 0) {
    return bad("[gossip]", "rounds, checkpoint_every and eval_every must be >= 0");
  }
  if (c.shards < 1 || c.shard < 0 || c.shard >= c.shards) {
    return bad("[gossip].shard", "want 0 <= shard < shards, got shard " + std::to_string(c.shard) +
                                     " of " + std::to_string(c.shards));
  }
  return c;
}

}  // namespace

namespace {

// [begin, end) of the number after the first "topk:" in `spec` (empty when it is
// "topk:k=N"), or nullopt without a "topk:".
std::optional<std::pair<std::size_t, std::size_t>> TopKNumberSpan(const std::string& spec) {
  const auto at = spec.find("topk:");
  if (at == std::string::npos) return std::nullopt;
  const std::size_t begin = at + 5;
  std::size_t end = begin;
  while (end < spec.size() && (std::isdigit(static_cast<unsigned char>(spec[end])) ||
                               spec[end] == '.' || spec[end] == 'e' || spec[end] == '-')) {
    ++end;
  }
  return std::pair{begin, end};
}

}  // namespace

std::optional<double> TopKFraction(const std::string& spec) {
  const auto span = TopKNumberSpan(spec);
  if (!span || span->first == span->second)
    return std::nullopt;  // topk:k=N names a count, not a fraction.
  const std::string number = spec.substr(span->first, span->second - span->first);
  char* parsed_end = nullptr;
  const double f = std::strtod(number.c_str(), &parsed_end);
  if (parsed_end != number.c_str() + number.size() || !(f > 0 && f <= 1)) return std::nullopt;
  return f;
}

std::string WithTopKFraction(const std::string& spec, double fraction) {
  const auto span = TopKNumberSpan(spec);
  if (!span) return spec;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", fraction);
  return spec.substr(0, span->first) + buf + spec.substr(span->second);
}

double AdaptiveTargetMs(std::int64_t configured_ms, double step_ms, double round_ms) {
  if (configured_ms > 0) return static_cast<double>(configured_ms);
  return std::max({1.0, step_ms, 0.5 * round_ms});
}

double NextAdaptiveDensity(double density, double excess_ms, double target_ms, double min,
                           double max, double additive, double* threshold) {
  const double ratio = target_ms / std::max(excess_ms, 0.01 * target_ms);
  if (ratio > 0.8 && ratio < 1.25) return std::clamp(density, min, max);
  if (ratio <= 0.8) {
    const double next = std::clamp(density * std::max(ratio, 0.5), min, max);
    *threshold = next;
    return next;
  }
  const double next =
      std::clamp(density < *threshold ? std::min(density * 1.25, std::max(*threshold, density))
                                      : density + additive,
                 min, max);
  if (next >= 2 * *threshold) *threshold = std::numeric_limits<double>::infinity();
  return next;
}

Result<NodeConfig> LoadNodeConfig(const std::string& path, const ConfigOverrides& overrides) {
  if (path.empty()) return ParseNodeConfig("", "(defaults)", overrides);
  SOTTO_ASSIGN_OR_RETURN(TomlReader reader, TomlReader::FromFile(path));
  return ReadWithOverrides<NodeConfig>(std::move(reader), overrides, &Read);
}

Result<NodeConfig> ParseNodeConfig(std::string_view text, const std::string& source_name,
                                   const ConfigOverrides& overrides) {
  SOTTO_ASSIGN_OR_RETURN(TomlReader reader, TomlReader::FromString(text, source_name));
  return ReadWithOverrides<NodeConfig>(std::move(reader), overrides, &Read);
}

Result<net::DiscoveryOptions> MakeDiscoveryOptions(const NodeConfig& config,
                                                   std::uint64_t rng_seed) {
  net::DiscoveryOptions o = DiscoveryOptionsOf(config);
  o.rng_seed = rng_seed;
  const std::string& path = config.discovery.secret_file;
  if (path.empty()) return o;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return NotFound("[discovery].secret_file '" + path + "': " + std::strerror(errno));
  }
  if ((st.st_mode & 077) != 0) {
    return InvalidArgument("[discovery].secret_file '" + path +
                           "' is readable by others: chmod 600 it");
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  o.secret = text.str();
  while (!o.secret.empty() &&
         (o.secret.back() == '\n' || o.secret.back() == '\r' || o.secret.back() == ' ')) {
    o.secret.pop_back();
  }
  if (!in || o.secret.size() < kMinDiscoverySecretBytes) {
    return InvalidArgument("[discovery].secret_file '" + path + "': want a secret of at least " +
                           std::to_string(kMinDiscoverySecretBytes) + " bytes");
  }
  return o;
}

std::vector<TomlReader::KeyInfo> NodeConfigKeys() {
  TomlReader reader = TomlReader::FromString("", "(defaults)").value();
  (void)Read(reader);
  return reader.keys();
}

}  // namespace sotto::daemon
