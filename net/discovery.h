#pragma once

// LAN discovery: nodes of one mesh find each other on a subnet without a seed address,
// by UDP broadcast beacons that carry the mesh name and each node's endpoint. Sits in
// net/ beside the transport; Boost.Asio stays inside discovery.cc. The daemon joins
// through what it hears (Membership::JoinThrough); the beacon codec is pure and public
// so tests and tools can build and check beacons without a socket.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/ids.h"
#include "common/status.h"

namespace sotto::net {

inline constexpr std::uint16_t kDefaultDiscoveryPort = 7947;

// Beacon wire format, version 1 (integers little-endian):
//
//   offset  size  field
//   0       4     magic "SOTB"
//   4       1     version (1)
//   5       1     flags: bit 0 = tagged with a mesh secret; other bits must be 0
//   6       1     M, mesh name length (1 .. kMaxMeshNameBytes)
//   7       1     reserved, 0
//   8       2     E, endpoint length (1 .. kMaxBeaconEndpointBytes)
//   10      8     sender node id (PeerId, nonzero)
//   18      8     timestamp: sender's wall clock, ms since the Unix epoch
//   26      8     nonce (random)
//   34      M     mesh name (printable ASCII)
//   34+M    E     endpoint (printable ASCII; "tcp://HOST:PORT", maybe "#<curve key>")
//   34+M+E  32    tag: HMAC-SHA256(secret, every byte before the tag)
//
// Without a secret the tag is keyed with the empty string: it still catches damaged
// datagrams, but anyone can forge it. Then only the mesh name keeps two meshes
// apart, which is a convenience, not security.
inline constexpr std::uint8_t kBeaconVersion = 1;
inline constexpr std::size_t kMaxMeshNameBytes = 64;
inline constexpr std::size_t kMaxBeaconEndpointBytes = 512;
inline constexpr std::size_t kBeaconHeaderBytes = 34;
inline constexpr std::size_t kBeaconTagBytes = 32;
inline constexpr std::size_t kMaxBeaconBytes =
    kBeaconHeaderBytes + kMaxMeshNameBytes + kMaxBeaconEndpointBytes + kBeaconTagBytes;

// What one beacon says.
struct Beacon {
  std::string mesh;                // The sender's mesh name.
  PeerId id;                       // The sender's node id.
  std::string endpoint;            // Where the sender's ROUTER listens, as peers dial it.
  std::uint64_t timestamp_ms = 0;  // Sender's wall clock, ms since the Unix epoch.
  std::uint64_t nonce = 0;         // Random; makes two beacons of one millisecond differ.

  friend bool operator==(const Beacon&, const Beacon&) = default;
};

// Why a received beacon was refused. Names (BeaconRejectName) are stable: they key
// DiscoveryCounters::rejected_by_reason.
enum class BeaconReject : std::uint8_t {
  kTruncated,       // Shorter than its own length fields say ("truncated").
  kBadMagic,        // Not a sotto beacon at all ("bad_magic").
  kBadVersion,      // A version this build does not read ("bad_version").
  kMalformed,       // Bad lengths, flags, characters, zero id, trailing bytes ("malformed").
  kWrongMesh,       // Another mesh's beacon ("wrong_mesh").
  kSecretMismatch,  // One side has a mesh secret and the other has none ("secret_mismatch").
  kBadTag,          // Tag does not verify: another secret, or altered ("bad_tag").
  kStale,           // Timestamp further than max_age from our clock ("stale").
  kReplayed,        // Not newer than the last accepted beacon of its sender ("replayed").
};
const char* BeaconRejectName(BeaconReject reason);

// Returns the beacon's bytes, tagged with HMAC-SHA256 keyed by `secret` ("" = no
// secret; see the format above). Requires: 1 <= mesh size <= kMaxMeshNameBytes,
// 1 <= endpoint size <= kMaxBeaconEndpointBytes, both printable ASCII, id nonzero
// (CheckBeaconFields() says why not).
std::vector<std::uint8_t> EncodeBeacon(const Beacon& beacon, std::string_view secret);

// Returns kInvalidArgument if EncodeBeacon() could not encode these fields.
Status CheckBeaconFields(std::string_view mesh, std::string_view endpoint, PeerId id);

// What a receiver accepts.
struct BeaconCheck {
  std::string mesh;    // Only beacons of this mesh.
  std::string secret;  // The mesh secret; "" accepts only untagged beacons.
  // Accept timestamps within this distance of our clock, either way: older beacons
  // could be replays, and clocks of one LAN are assumed to agree to this.
  std::chrono::milliseconds max_age{30000};
};

// Decodes and verifies one datagram; `now_ms` is our wall clock (ms since the
// epoch). Returns the beacon, or kCorrupted (undecodable or a tag that does not
// verify) / kInvalidArgument (wrong mesh, secret mismatch, stale) with a message
// saying why; `*reason`, when given, is then set to the reason. Never trusts a length
// field before checking it against the datagram's size.
Result<Beacon> DecodeBeacon(std::span<const std::uint8_t> datagram, const BeaconCheck& check,
                            std::uint64_t now_ms, BeaconReject* reason = nullptr);

// Refuses replays within the max_age window: a sender's beacons must come with
// strictly increasing timestamps (Discovery sends them so), so a captured beacon
// played back is refused even while its timestamp is still fresh. Remembers at most
// `max_senders` senders, forgetting the oldest first. Not thread-safe.
class BeaconReplayGuard {
 public:
  explicit BeaconReplayGuard(std::size_t max_senders = 4096) : max_senders_(max_senders) {}

  // Returns OK and remembers the beacon if it is newer than the last one accepted from
  // its sender; else kInvalidArgument ("replayed").
  Status Accept(const Beacon& beacon);

 private:
  std::size_t max_senders_;
  std::unordered_map<PeerId, std::uint64_t> last_timestamp_ms_;
};

struct DiscoveryOptions {
  // Mesh name and secret: beacons of other meshes, or keyed with another secret, are
  // dropped. The secret is the HMAC-SHA256 key; "" sends and accepts untagged beacons.
  std::string mesh = "sotto";
  std::string secret;
  // UDP port beacons are sent to and received on (all nodes of a mesh use the same).
  // The socket binds bind_address:port with SO_REUSEADDR, so several nodes of one host
  // share it. Broadcasts arrive only at a socket bound to 0.0.0.0 (tests bind 127.0.0.1).
  std::uint16_t port = kDefaultDiscoveryPort;
  std::string bind_address = "0.0.0.0";
  // IPv4 destinations of each beacon: the limited broadcast 255.255.255.255 (out of the
  // interface of the default route), subnet broadcasts such as 10.1.2.255, or unicast
  // addresses of hosts on networks that drop broadcast.
  std::vector<std::string> broadcast = {"255.255.255.255"};
  // Beacon every fast_interval while fewer than min_peers other members were heard
  // within the last 3 * slow_interval, else every slow_interval. Each wait is
  // jittered by +-25 % so nodes started together do not beacon in lockstep.
  std::chrono::milliseconds fast_interval{1000};
  std::chrono::milliseconds slow_interval{10000};
  std::size_t min_peers = 1;
  // Accept window for timestamps (BeaconCheck::max_age).
  std::chrono::milliseconds max_age{30000};
  // One member's beacons reach the handler at most once per this long (the daemon
  // joins through an unknown member on each: this paces retries and logs).
  std::chrono::milliseconds repeat_after{5000};
  // Seeds the jitter and the nonces.
  std::uint64_t rng_seed = 1;
};

// Returns kInvalidArgument naming the bad option (for config validation).
Status CheckDiscoveryOptions(const DiscoveryOptions& options);

struct DiscoveryCounters {
  std::uint64_t beacons_sent = 0;
  std::uint64_t send_errors = 0;       // Per destination; last_send_error says why.
  std::uint64_t datagrams_received = 0;
  std::uint64_t beacons_accepted = 0;  // Valid beacons of other members.
  std::uint64_t own_beacons = 0;       // Our own, looped back by the kernel: ignored.
  std::uint64_t rejected = 0;
  std::map<std::string, std::uint64_t> rejected_by_reason;  // By BeaconRejectName().
  std::string last_reject_reason;  // "from 10.1.2.3: ..." for the latest refusal.
  std::string last_send_error;
  std::size_t peers_heard = 0;     // Distinct members heard within 3 * slow_interval.
  bool fast = true;                // Beaconing at fast_interval.
};

// The beacon socket and its timer. Runs its own small I/O thread (a private
// boost::asio::io_context): beacons are tiny and rare, so sharing the daemon's loop
// buys nothing, and net/ headers stay free of Asio.
//
//   auto d = Discovery::Create(options, self_id, advertised_endpoint);   // no I/O yet
//   (*d)->Start({.on_beacon = [&](const Beacon& b, const std::string& from) {
//                  post(loop, [=] { if (!known(b.id)) membership.JoinThrough(b.endpoint); });
//                }});
//   ...
//   (*d)->Stop();   // or destroy it
//
// Lifetime: Create(), Start() once, Stop() (idempotent; the destructor calls it).
// Thread safety: counters() may be called from any thread; Stop() and the destructor
// from any thread but the discovery thread (i.e. not inside a handler). Handlers run
// on the discovery thread and must not block: post the work elsewhere.
class Discovery {
 public:
  struct Handlers {
    // A valid beacon of another member of our mesh; `from` is the datagram's source
    // address ("10.1.2.3:7947"). Paced per member by DiscoveryOptions::repeat_after.
    std::function<void(const Beacon& beacon, const std::string& from)> on_beacon;
    // A refused datagram (optional), for a debug log; it is already counted.
    std::function<void(const Status& why, const std::string& from)> on_reject;
  };

  // Returns kInvalidArgument for bad options or an endpoint a beacon cannot carry.
  static Result<std::unique_ptr<Discovery>> Create(DiscoveryOptions options, PeerId self,
                                                   std::string endpoint);
  ~Discovery();
  Discovery(const Discovery&) = delete;
  Discovery& operator=(const Discovery&) = delete;

  // Binds the UDP socket, sends the first beacon at once and starts the thread.
  // Returns kUnavailable if the socket cannot be opened or bound, kInvalidArgument
  // without an on_beacon handler or when called twice.
  Status Start(Handlers handlers);

  // Closes the socket and joins the thread. Idempotent.
  void Stop();

  DiscoveryCounters counters() const;

 private:
  struct Impl;
  explicit Discovery(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sotto::net
