#pragma once

// NodeConfig: everything `sotto node` needs (configs/node.toml documents every key);
// every key is also a flag (--section.key), which overrides the file.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "daemon/keygen.h"
#include "daemon/lab_config.h"
#include "net/discovery.h"

namespace sotto::daemon {

struct NodeConfig {
  // [node]
  std::string listen = "tcp://127.0.0.1:*";  // ROUTER bind; "*" picks a free port.
  std::string advertise;                     // What peers dial; "" = the bound endpoint.
  std::vector<std::string> join;             // Seed endpoints (any members); empty = first node.
  std::string data_dir;                      // Checkpoints and the default control socket.
  std::string control;                       // Control socket path; "" = <data_dir>/control.sock.
  std::string log_level = "info";            // trace, debug, info, warn, error, off.
  std::string metrics;                       // Prometheus over HTTP, "HOST:PORT"; "" = off.
  std::uint64_t seed = 1;                    // Seeds sampling, init and dither.
  // [membership]
  std::int64_t probe_interval_ms = 1000;
  std::int64_t probe_timeout_ms = 500;
  int suspicion_multiplier = 4;
  int indirect_checks = 3;
  std::int64_t gossip_interval_ms = 200;  // News goes to gossip_nodes members this often (0: off).
  int gossip_nodes = 3;
  std::int64_t push_pull_interval_ms = 10000;  // Full-state sync with a random member (0: off).
  // [gossip]
  std::string topology = "ring";         // View-based: ring, exp, regular:d=4, complete.
  std::int64_t round_timeout_ms = 2000;  // Mix with what arrived after this long.
  std::int64_t min_round_ms = 0;         // Pace rounds to at least this long.
  // Adaptive compression (CHOCO/MALCOM with a topk:F compressor): F follows the
  // slowest neighbour link's measured delivery time (see daemon/node.cc).
  bool adaptive = false;
  std::int64_t adaptive_target_ms = 0;  // Delivery time to aim for; 0 = half the round's wall time.
  double adaptive_min_density = 0.001;
  double adaptive_max_density = 0.25;
  std::int64_t rounds = 0;              // Stop training after this many (0: never).
  int min_members = 1;                  // Wait for this many live members before training.
  std::int64_t checkpoint_every = 100;  // Rounds between checkpoints (0: only on exit).
  std::int64_t eval_every = 50;         // Rounds between test evaluations (0: never).
  int shard = 0;                        // This node's shard of the data ...
  int shards = 1;                       // ... split this many ways.
  // [security]: CURVE encryption and allow-list authentication (net/zmq_curve.h).
  SecurityConfig security;
  // [faults]: for tests and chaos drills only. The send path drops, duplicates,
  // delays and reorders envelopes with these probabilities (net/faulty_transport.h).
  struct Faults {
    double drop = 0, duplicate = 0, delay = 0, reorder = 0;
    std::uint64_t seed = 1;
    bool any() const { return drop > 0 || duplicate > 0 || delay > 0 || reorder > 0; }
  } faults;
  // [discovery]: find members on the LAN by UDP broadcast beacons (net/discovery.h).
  struct Discovery {
    bool enabled = false;
    std::int64_t port = net::kDefaultDiscoveryPort;
    std::string mesh = "sotto";  // Only nodes of the same mesh name join each other.
    std::string secret;          // HMAC key of the beacons ("" = unauthenticated).
    std::string secret_file;     // ... or read from this owner-only file.
    std::vector<std::string> broadcast = {"255.255.255.255"};  // IPv4 destinations.
    std::int64_t interval_ms = 1000;        // Beacon period while alone or short of members.
    std::int64_t slow_interval_ms = 10000;  // ... and once enough members were heard.
    std::int64_t max_age_ms = 30000;        // Refuse beacons older (or newer) than this.
  } discovery;
  // [data], [model], [algorithm]
  TrainingConfig training;
};

// The F of the first "topk:F" in a compressor spec (a fraction in (0, 1]), or none.
std::optional<double> TopKFraction(const std::string& spec);
// `spec` with that F replaced by `fraction` ("%.4g").
std::string WithTopKFraction(const std::string& spec, double fraction);

// Adaptive compression's control law (daemon/node.cc): the next top-k fraction when
// the slowest neighbour link took `excess_ms` beyond its base round trip to deliver
// against `target_ms`. The ratio r = target / excess (excess floored at 1 % of the
// target): inside the dead band 0.8 < r < 1.25 the fraction stays; over the target
// (r <= 0.8) it shrinks by r held to >= 0.5 and *threshold becomes the new fraction;
// under the target it grows -- by 1.25x while below *threshold (slow start; +inf
// until the first shrink), by `additive` once at or above it, and *threshold clears
// when the fraction reaches twice it (the link got faster). Additive increase with
// multiplicative decrease (TCP's congestion avoidance) brings nodes that share links
// to equal fractions (Chiu & Jain 1989); growing by a factor does not, and left
// neighbours of a ring at fractions 5x apart, which per-link steps (the smaller end's)
// then punish. The result is held to [min, max]. Requires target_ms > 0.
double NextAdaptiveDensity(double density, double excess_ms, double target_ms, double min,
                           double max, double additive, double* threshold);
// The delivery excess adaptive compression aims for: `configured_ms` if > 0, else
// half the round's wall time `round_ms`, at least the local step's `step_ms` and 1 ms
// (see daemon/node.cc, Node::Adapt).
double AdaptiveTargetMs(std::int64_t configured_ms, double step_ms, double round_ms);

Result<NodeConfig> LoadNodeConfig(const std::string& path, const ConfigOverrides& overrides = {});
Result<NodeConfig> ParseNodeConfig(std::string_view text, const std::string& source_name,
                                   const ConfigOverrides& overrides = {});
std::vector<TomlReader::KeyInfo> NodeConfigKeys();

// Returns the options of net::Discovery for `config`, reading [discovery].secret_file.
// Returns kNotFound / kInvalidArgument for a missing, group- or world-readable, or
// empty secret file. rng_seed seeds the beacon jitter and nonces.
Result<net::DiscoveryOptions> MakeDiscoveryOptions(const NodeConfig& config,
                                                   std::uint64_t rng_seed);

}  // namespace sotto::daemon
