#include "net/discovery.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "common/sha256.h"
#include "net/envelope.h"
#include "net/membership.h"

// The beacon codec, its checks and the replay guard without a socket; the Discovery
// runtime over 127.0.0.1 only (unicast to itself, never a broadcast). Broadcast across
// hosts is tested in network namespaces by tests/integration/discovery_netns.sh.

namespace sotto::net {
namespace {

constexpr std::uint64_t kNowMs = 1'800'000'000'000;  // Some wall-clock time (2027).

Beacon MakeBeacon() {
  Beacon b;
  b.mesh = "lab-a";
  b.endpoint = "tcp://10.1.2.3:7000";
  b.id = PeerIdFromEndpoint(b.endpoint);
  b.timestamp_ms = kNowMs - 250;
  b.nonce = 0x0123456789abcdefull;
  return b;
}

BeaconCheck Check(std::string secret = "s3cret") { return BeaconCheck{"lab-a", std::move(secret)}; }

// Decodes and returns the reject reason; fails the test if the beacon is accepted.
BeaconReject Refusal(const std::vector<std::uint8_t>& bytes, const BeaconCheck& check,
                     std::uint64_t now_ms = kNowMs, StatusCode want_code = StatusCode::kCorrupted) {
  BeaconReject why = BeaconReject::kReplayed;
  const auto r = DecodeBeacon(bytes, check, now_ms, &why);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code() == want_code);
  CHECK(r.error().message().find(BeaconRejectName(why)) != std::string::npos);
  return why;
}

TEST_CASE("a beacon round-trips through encode and decode", "[net][discovery]") {
  SECTION("with a mesh secret") {
    const Beacon b = MakeBeacon();
    const auto bytes = EncodeBeacon(b, "s3cret");
    CHECK(bytes.size() == kBeaconHeaderBytes + b.mesh.size() + b.endpoint.size() + kBeaconTagBytes);
    const auto got = DecodeBeacon(bytes, Check(), kNowMs);
    REQUIRE(got.has_value());
    CHECK(*got == b);
  }
  SECTION("without a secret, and with a CURVE key in a maximal endpoint") {
    Beacon b = MakeBeacon();
    b.mesh = std::string(kMaxMeshNameBytes, 'm');
    b.endpoint = "tcp://10.1.2.3:7000#" + std::string(kMaxBeaconEndpointBytes - 20, 'k');
    const auto bytes = EncodeBeacon(b, "");
    CHECK(bytes.size() == kMaxBeaconBytes);
    const auto got = DecodeBeacon(bytes, BeaconCheck{b.mesh, ""}, kNowMs);
    REQUIRE(got.has_value());
    CHECK(*got == b);
  }
  SECTION("the layout is the documented one") {
    const auto bytes = EncodeBeacon(MakeBeacon(), "s3cret");
    CHECK(std::string(bytes.begin(), bytes.begin() + 4) == "SOTB");
    CHECK(bytes[4] == kBeaconVersion);
    CHECK(bytes[5] == 1);  // Tagged with a secret.
    CHECK(bytes[6] == 5);  // "lab-a".
    CHECK(bytes[8] + 256 * bytes[9] == 19);  // "tcp://10.1.2.3:7000".
    CHECK(std::string(bytes.begin() + 34, bytes.begin() + 39) == "lab-a");
    CHECK(EncodeBeacon(MakeBeacon(), "")[5] == 0);
  }
}

TEST_CASE("beacons of another mesh or secret are refused with a reason", "[net][discovery]") {
  const auto bytes = EncodeBeacon(MakeBeacon(), "s3cret");
  CHECK(Refusal(bytes, Check("other secret")) == BeaconReject::kBadTag);
  CHECK(Refusal(bytes, BeaconCheck{"lab-b", "s3cret"}, kNowMs, StatusCode::kInvalidArgument) ==
        BeaconReject::kWrongMesh);
  // A mesh with a secret and one without never mix, whichever way round.
  CHECK(Refusal(bytes, Check(""), kNowMs, StatusCode::kInvalidArgument) == BeaconReject::kSecretMismatch);
  CHECK(Refusal(EncodeBeacon(MakeBeacon(), ""), Check(), kNowMs, StatusCode::kInvalidArgument) ==
        BeaconReject::kSecretMismatch);
  // A forger without the secret who sets the flag and a tag keyed by a guess fails too.
  CHECK(Refusal(EncodeBeacon(MakeBeacon(), "guess"), Check()) == BeaconReject::kBadTag);
}

TEST_CASE("stale and future beacons are refused", "[net][discovery]") {
  Beacon b = MakeBeacon();
  const BeaconCheck check = Check();  // max_age 30 s.
  b.timestamp_ms = kNowMs - 30'000;
  CHECK(DecodeBeacon(EncodeBeacon(b, "s3cret"), check, kNowMs).has_value());  // Edge: exactly max_age.
  b.timestamp_ms = kNowMs - 30'001;
  CHECK(Refusal(EncodeBeacon(b, "s3cret"), check, kNowMs, StatusCode::kInvalidArgument) == BeaconReject::kStale);
  b.timestamp_ms = kNowMs + 60'000;
  CHECK(Refusal(EncodeBeacon(b, "s3cret"), check, kNowMs, StatusCode::kInvalidArgument) == BeaconReject::kStale);
  // A captured beacon replayed an hour later.
  CHECK(Refusal(EncodeBeacon(MakeBeacon(), "s3cret"), check, kNowMs + 3'600'000,
                StatusCode::kInvalidArgument) == BeaconReject::kStale);
}

TEST_CASE("truncated, padded and garbage datagrams are refused", "[net][discovery]") {
  const auto bytes = EncodeBeacon(MakeBeacon(), "s3cret");
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    const std::vector<std::uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    const BeaconReject why = Refusal(cut, Check());
    INFO("cut to " << n << " bytes");
    CHECK((why == (n < 4 ? BeaconReject::kBadMagic : BeaconReject::kTruncated)));
  }
  auto padded = bytes;
  padded.push_back(0);
  CHECK(Refusal(padded, Check()) == BeaconReject::kMalformed);
  CHECK(Refusal(std::vector<std::uint8_t>(100, 0xff), Check()) == BeaconReject::kBadMagic);
  auto v2 = bytes;
  v2[4] = 2;
  CHECK(Refusal(v2, Check()) == BeaconReject::kBadVersion);
  auto big_endpoint = bytes;  // Length fields beyond the limits are refused before use.
  big_endpoint[8] = 0xff;
  big_endpoint[9] = 0xff;
  CHECK(Refusal(big_endpoint, Check()) == BeaconReject::kMalformed);
  auto flags = bytes;
  flags[5] = 0x81;
  CHECK(Refusal(flags, Check()) == BeaconReject::kMalformed);
}

TEST_CASE("every single bit flip of a beacon is refused", "[net][discovery]") {
  const auto bytes = EncodeBeacon(MakeBeacon(), "s3cret");
  std::size_t refused = 0;
  for (std::size_t bit = 0; bit < 8 * bytes.size(); ++bit) {
    auto flipped = bytes;
    flipped[bit / 8] = static_cast<std::uint8_t>(flipped[bit / 8] ^ (1u << (bit % 8)));
    BeaconReject why{};
    const auto r = DecodeBeacon(flipped, Check(), kNowMs, &why);
    INFO("bit " << bit << " of byte " << bit / 8);
    CHECK_FALSE(r.has_value());
    refused += r.has_value() ? 0 : 1;
  }
  CHECK(refused == 8 * bytes.size());
  // Without a secret the empty-key tag still catches damage in transit.
  const auto open = EncodeBeacon(MakeBeacon(), "");
  auto damaged = open;
  damaged[40] ^= 0x04;  // Inside the endpoint.
  CHECK(Refusal(damaged, Check("")) == BeaconReject::kBadTag);
}

TEST_CASE("unprintable fields and a zero id are refused", "[net][discovery]") {
  CHECK_FALSE(CheckBeaconFields("lab a", "tcp://h:1", PeerId(1)).ok());
  CHECK_FALSE(CheckBeaconFields("", "tcp://h:1", PeerId(1)).ok());
  CHECK_FALSE(CheckBeaconFields("lab", "tcp://h:1\n", PeerId(1)).ok());
  CHECK_FALSE(CheckBeaconFields("lab", std::string(kMaxBeaconEndpointBytes + 1, 'x'), PeerId(1)).ok());
  CHECK_FALSE(CheckBeaconFields("lab", "tcp://h:1", PeerId(0)).ok());
  CHECK(CheckBeaconFields("lab", "tcp://h:1", PeerId(1)).ok());
  // A forged beacon with a zero id and a valid tag (no secret) is malformed.
  auto bytes = EncodeBeacon(MakeBeacon(), "");
  for (std::size_t i = 10; i < 18; ++i) bytes[i] = 0;
  const std::size_t signed_size = bytes.size() - kBeaconTagBytes;
  const Sha256Digest tag = HmacSha256({}, std::span<const std::uint8_t>(bytes.data(), signed_size));
  std::copy(tag.begin(), tag.end(), bytes.begin() + static_cast<std::ptrdiff_t>(signed_size));
  CHECK(Refusal(bytes, Check("")) == BeaconReject::kMalformed);
}

TEST_CASE("the replay guard wants strictly newer beacons from each sender", "[net][discovery]") {
  BeaconReplayGuard guard(2);
  Beacon a = MakeBeacon();
  CHECK(guard.Accept(a).ok());
  CHECK(guard.Accept(a).code() == StatusCode::kInvalidArgument);  // Exact replay.
  a.nonce += 1;
  CHECK_FALSE(guard.Accept(a).ok());  // A new nonce does not make an old timestamp new.
  a.timestamp_ms += 1;
  CHECK(guard.Accept(a).ok());
  Beacon b = MakeBeacon();
  b.id = PeerId(2);
  CHECK(guard.Accept(b).ok());  // Another sender has its own history.
  Beacon c = MakeBeacon();
  c.id = PeerId(3);
  c.timestamp_ms = a.timestamp_ms + 10;
  CHECK(guard.Accept(c).ok());  // Full (2 senders): forgets b, heard longest ago.
  CHECK(guard.Accept(b).ok());
  CHECK_FALSE(guard.Accept(c).ok());
}

TEST_CASE("discovery options are validated and Create does no I/O", "[net][discovery]") {
  DiscoveryOptions o;
  CHECK(CheckDiscoveryOptions(o).ok());
  auto bad = o;
  bad.broadcast = {"10.0.0.300"};
  CHECK(CheckDiscoveryOptions(bad).code() == StatusCode::kInvalidArgument);
  bad = o;
  bad.broadcast = {};
  CHECK_FALSE(CheckDiscoveryOptions(bad).ok());
  bad = o;
  bad.port = 0;
  CHECK_FALSE(CheckDiscoveryOptions(bad).ok());
  bad = o;
  bad.slow_interval = std::chrono::milliseconds(500);
  CHECK_FALSE(CheckDiscoveryOptions(bad).ok());
  bad = o;
  bad.mesh = "two words";
  CHECK_FALSE(CheckDiscoveryOptions(bad).ok());
  CHECK_FALSE(Discovery::Create(o, PeerId(1), "").has_value());
  CHECK_FALSE(Discovery::Create(o, PeerId(0), "tcp://10.0.0.1:7000").has_value());
  // Created but never started: destruction (Stop) opens and joins nothing.
  auto d = Discovery::Create(o, PeerId(1), "tcp://10.0.0.1:7000");
  REQUIRE(d.has_value());
  CHECK((*d)->counters().beacons_sent == 0);
  CHECK((*d)->Start({}).code() == StatusCode::kInvalidArgument);  // No handler: refused before any socket.
}

TEST_CASE("JoinThrough merges two nodes that each started alone, as a beacon makes them",
          "[net][discovery][membership]") {
  const std::string ea = "tcp://10.1.2.1:7000", eb = "tcp://10.1.2.2:7000";
  Membership a(PeerIdFromEndpoint(ea), ea), b(PeerIdFromEndpoint(eb), eb);
  const Clock::TimePoint t0{};
  a.Join({}, t0);
  b.Join({}, t0);
  a.JoinThrough(ea, t0);  // Our own endpoint (our own beacon): nothing to do.
  CHECK(a.TakeOutgoing().empty());
  a.JoinThrough(eb, t0);  // a heard b's beacon.
  // Deliver until quiet: join -> join_ack.
  for (int hop = 0; hop < 4; ++hop) {
    for (auto* from : {&a, &b}) {
      for (auto& o : from->TakeOutgoing()) {
        Membership& to = o.to == a.self() ? a : b;
        REQUIRE(o.to == to.self());
        REQUIRE(to.HandleEnvelope(o.envelope, t0).ok());
      }
    }
  }
  CHECK(a.live_members().size() == 2);
  CHECK(b.live_members().size() == 2);
  REQUIRE(a.member(b.self()).has_value());
  CHECK(a.member(b.self())->endpoint == eb);
  a.Leave(t0);
  a.TakeOutgoing();
  a.JoinThrough(eb, t0);  // After Leave(): ignored.
  CHECK(a.TakeOutgoing().empty());
}

// A UDP socket on 127.0.0.1 that sends datagrams to one loopback port.
class LoopbackSender {
 public:
  LoopbackSender() : fd_(::socket(AF_INET, SOCK_DGRAM, 0)) { REQUIRE(fd_ >= 0); }
  ~LoopbackSender() { ::close(fd_); }
  LoopbackSender(const LoopbackSender&) = delete;
  LoopbackSender& operator=(const LoopbackSender&) = delete;

  // Returns a UDP port that was free on 127.0.0.1 a moment ago (bind port 0, read it back).
  static std::uint16_t FreePort() {
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a = Loopback(0);
    socklen_t len = sizeof a;
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    ::close(fd);
    return ntohs(a.sin_port);
  }

  void Send(std::uint16_t port, const std::vector<std::uint8_t>& bytes) {
    const sockaddr_in to = Loopback(port);
    REQUIRE(::sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to) ==
            static_cast<ssize_t>(bytes.size()));
  }

 private:
  static sockaddr_in Loopback(std::uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    return a;
  }
  int fd_;
};

std::uint64_t NowMs() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

// Polls `done` until it holds or 10 s pass (a generous bound on a loaded machine;
// it only waits for an event that must come, it never hopes a race away).
bool WaitUntil(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

TEST_CASE("Discovery hears itself, hands on new members once per repeat_after, and refuses "
          "replays and forgeries (127.0.0.1 only)", "[net][discovery][loopback]") {
  const std::uint16_t port = LoopbackSender::FreePort();
  DiscoveryOptions o;
  o.mesh = "lab-a";
  o.secret = "s3cret";
  o.port = port;
  o.bind_address = "127.0.0.1";
  o.broadcast = {"127.0.0.1"};  // Unicast to our own socket: the "LAN" is loopback.
  o.fast_interval = std::chrono::milliseconds(20);
  o.slow_interval = std::chrono::milliseconds(60000);
  o.repeat_after = std::chrono::hours(1);
  const std::string self_endpoint = "tcp://127.0.0.1:7000";
  auto made = Discovery::Create(o, PeerIdFromEndpoint(self_endpoint), self_endpoint);
  REQUIRE(made.has_value());
  Discovery& d = **made;

  std::mutex mu;
  std::vector<Beacon> heard;
  std::vector<std::string> heard_from;  // Checked on this thread: Catch2 assertions are not thread-safe.
  std::vector<std::string> refusals;
  Discovery::Handlers h;
  h.on_beacon = [&](const Beacon& b, const std::string& from) {
    std::lock_guard lock(mu);
    heard.push_back(b);
    heard_from.push_back(from);
  };
  h.on_reject = [&](const Status& why, const std::string&) {
    std::lock_guard lock(mu);
    refusals.push_back(why.message());
  };
  REQUIRE(d.Start(h).ok());
  CHECK(d.Start(h).code() == StatusCode::kInvalidArgument);  // Twice.
  const auto refused = [&](std::size_t n) {
    return WaitUntil([&] { std::lock_guard lock(mu); return refusals.size() >= n; });
  };

  // Our own beacons come back and are ignored; alone, we beacon at the fast interval.
  REQUIRE(WaitUntil([&] { return d.counters().own_beacons >= 3; }));
  CHECK(d.counters().fast);
  CHECK(d.counters().beacons_accepted == 0);

  LoopbackSender peer;
  Beacon b = MakeBeacon();
  b.endpoint = "tcp://127.0.0.1:7001";
  b.id = PeerIdFromEndpoint(b.endpoint);
  b.timestamp_ms = NowMs();
  const auto first = EncodeBeacon(b, "s3cret");
  peer.Send(port, first);
  REQUIRE(WaitUntil([&] { std::lock_guard lock(mu); return heard.size() == 1; }));
  {
    std::lock_guard lock(mu);
    CHECK(heard[0] == b);
    CHECK(heard_from[0].rfind("127.0.0.1:", 0) == 0);
  }
  peer.Send(port, first);  // Replayed verbatim.
  REQUIRE(refused(1));
  b.timestamp_ms += 1;
  peer.Send(port, EncodeBeacon(b, "s3cret"));  // Newer: accepted, but paced (repeat_after).
  peer.Send(port, EncodeBeacon(b, "wrong secret"));
  // Datagrams are handled in order on one thread: once the forgery is refused, the
  // paced beacon before it has been handled too.
  REQUIRE(refused(2));
  {
    std::lock_guard lock(mu);
    CHECK(refusals[0].find("replayed") != std::string::npos);
    CHECK(refusals[1].find("bad_tag") != std::string::npos);
    CHECK(heard.size() == 1);
  }
  peer.Send(port, {1, 2, 3});
  REQUIRE(refused(3));

  // One peer heard (min_peers 1): the next beacon is scheduled at the slow interval.
  REQUIRE(WaitUntil([&] { return !d.counters().fast; }));
  const DiscoveryCounters c = d.counters();
  CHECK(c.peers_heard == 1);
  CHECK(c.beacons_accepted == 2);
  CHECK(c.rejected == 3);
  CHECK(c.rejected_by_reason.at("replayed") == 1);
  CHECK(c.rejected_by_reason.at("bad_tag") == 1);
  CHECK(c.rejected_by_reason.at("bad_magic") == 1);
  CHECK(c.send_errors == 0);
  CHECK(c.last_reject_reason.find("from 127.0.0.1:") == 0);
  d.Stop();
  d.Stop();  // Idempotent.
  const std::uint64_t sent = d.counters().beacons_sent;
  CHECK(sent >= 3);
}

}  // namespace
}  // namespace sotto::net
