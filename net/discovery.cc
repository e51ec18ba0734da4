#include "net/discovery.h"

#include <algorithm>
#include <array>
#include <mutex>
#include <thread>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/random.h"
#include "common/sha256.h"

namespace sotto::net {

namespace asio = boost::asio;
using udp = asio::ip::udp;

namespace {

constexpr std::array<std::uint8_t, 4> kMagic = {'S', 'O', 'T', 'B'};
constexpr std::uint8_t kFlagTagged = 0x01;

std::span<const std::uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

bool Printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

void PutLe(std::vector<std::uint8_t>* out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

std::uint64_t GetLe(std::span<const std::uint8_t> in, std::size_t at, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= std::uint64_t{in[at + static_cast<std::size_t>(i)]} << (8 * i);
  return v;
}

Sha256Digest Tag(std::string_view secret, std::span<const std::uint8_t> signed_bytes) {
  return HmacSha256(AsBytes(secret), signed_bytes);
}

std::uint64_t WallClockMs() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

}  // namespace

const char* BeaconRejectName(BeaconReject reason) {
  switch (reason) {
    case BeaconReject::kTruncated: return "truncated";
    case BeaconReject::kBadMagic: return "bad_magic";
    case BeaconReject::kBadVersion: return "bad_version";
    case BeaconReject::kMalformed: return "malformed";
    case BeaconReject::kWrongMesh: return "wrong_mesh";
    case BeaconReject::kSecretMismatch: return "secret_mismatch";
    case BeaconReject::kBadTag: return "bad_tag";
    case BeaconReject::kStale: return "stale";
    case BeaconReject::kReplayed: return "replayed";
  }
  return "unknown";
}

Status CheckBeaconFields(std::string_view mesh, std::string_view endpoint, PeerId id) {
  if (mesh.empty() || mesh.size() > kMaxMeshNameBytes || !Printable(mesh)) {
    return InvalidArgument("discovery: mesh name must be 1-" + std::to_string(kMaxMeshNameBytes) +
                           " printable ASCII characters without spaces, got '" + std::string(mesh) + "'");
  }
  if (endpoint.empty() || endpoint.size() > kMaxBeaconEndpointBytes || !Printable(endpoint)) {
    return InvalidArgument("discovery: endpoint must be 1-" + std::to_string(kMaxBeaconEndpointBytes) +
                           " printable ASCII characters, got '" + std::string(endpoint) + "'");
  }
  if (id.value() == 0) return InvalidArgument("discovery: node id must be nonzero");
  return Status::Ok();
}

std::vector<std::uint8_t> EncodeBeacon(const Beacon& beacon, std::string_view secret) {
  SOTTO_CHECK(CheckBeaconFields(beacon.mesh, beacon.endpoint, beacon.id).ok())
      << "EncodeBeacon: " << CheckBeaconFields(beacon.mesh, beacon.endpoint, beacon.id).ToString();
  std::vector<std::uint8_t> out(kMagic.begin(), kMagic.end());
  out.reserve(kBeaconHeaderBytes + beacon.mesh.size() + beacon.endpoint.size() + kBeaconTagBytes);
  out.push_back(kBeaconVersion);
  out.push_back(secret.empty() ? 0 : kFlagTagged);
  out.push_back(static_cast<std::uint8_t>(beacon.mesh.size()));
  out.push_back(0);
  PutLe(&out, beacon.endpoint.size(), 2);
  PutLe(&out, beacon.id.value(), 8);
  PutLe(&out, beacon.timestamp_ms, 8);
  PutLe(&out, beacon.nonce, 8);
  out.insert(out.end(), beacon.mesh.begin(), beacon.mesh.end());
  out.insert(out.end(), beacon.endpoint.begin(), beacon.endpoint.end());
  const Sha256Digest tag = Tag(secret, out);
  out.insert(out.end(), tag.begin(), tag.end());
  return out;
}

Result<Beacon> DecodeBeacon(std::span<const std::uint8_t> d, const BeaconCheck& check,
                            std::uint64_t now_ms, BeaconReject* reason) {
  const auto reject = [&](BeaconReject why, std::string detail) -> Status {
    if (reason != nullptr) *reason = why;
    std::string message = std::string("beacon ") + BeaconRejectName(why) + ": " + detail;
    const bool corrupt = why == BeaconReject::kTruncated || why == BeaconReject::kBadMagic ||
                         why == BeaconReject::kBadVersion || why == BeaconReject::kMalformed ||
                         why == BeaconReject::kBadTag;
    return corrupt ? Corrupted(std::move(message)) : InvalidArgument(std::move(message));
  };
  if (d.size() < kMagic.size() || !std::equal(kMagic.begin(), kMagic.end(), d.begin())) {
    return reject(BeaconReject::kBadMagic, "not a sotto beacon (" + std::to_string(d.size()) + " bytes)");
  }
  if (d.size() < kBeaconHeaderBytes + kBeaconTagBytes) {
    return reject(BeaconReject::kTruncated, std::to_string(d.size()) + " bytes, want at least " +
                                                std::to_string(kBeaconHeaderBytes + kBeaconTagBytes));
  }
  if (d[4] != kBeaconVersion) {
    return reject(BeaconReject::kBadVersion, "version " + std::to_string(d[4]) + ", this build reads " +
                                                 std::to_string(kBeaconVersion));
  }
  const std::uint8_t flags = d[5];
  const std::size_t mesh_size = d[6];
  const std::size_t endpoint_size = GetLe(d, 8, 2);
  if ((flags & ~kFlagTagged) != 0 || d[7] != 0 || mesh_size == 0 || mesh_size > kMaxMeshNameBytes ||
      endpoint_size == 0 || endpoint_size > kMaxBeaconEndpointBytes) {
    return reject(BeaconReject::kMalformed, "flags " + std::to_string(flags) + ", mesh name of " +
                                                std::to_string(mesh_size) + " bytes, endpoint of " +
                                                std::to_string(endpoint_size) + " bytes");
  }
  const std::size_t want = kBeaconHeaderBytes + mesh_size + endpoint_size + kBeaconTagBytes;
  if (d.size() < want) {
    return reject(BeaconReject::kTruncated, std::to_string(d.size()) + " bytes, its lengths say " +
                                                std::to_string(want));
  }
  if (d.size() > want) {
    return reject(BeaconReject::kMalformed, std::to_string(d.size() - want) + " bytes after the tag");
  }
  Beacon b;
  b.id = PeerId(GetLe(d, 10, 8));
  b.timestamp_ms = GetLe(d, 18, 8);
  b.nonce = GetLe(d, 26, 8);
  const auto* text = reinterpret_cast<const char*>(d.data());
  b.mesh.assign(text + kBeaconHeaderBytes, mesh_size);
  b.endpoint.assign(text + kBeaconHeaderBytes + mesh_size, endpoint_size);
  if (!CheckBeaconFields(b.mesh, b.endpoint, b.id).ok()) {
    return reject(BeaconReject::kMalformed, "zero id or unprintable mesh name or endpoint");
  }
  // Mesh before tag: "wrong mesh" is the more useful diagnosis of a misconfigured LAN,
  // and refusing earlier reveals nothing (the mesh name is not secret).
  if (b.mesh != check.mesh) {
    return reject(BeaconReject::kWrongMesh, "mesh '" + b.mesh + "', we are '" + check.mesh + "'");
  }
  const bool tagged = (flags & kFlagTagged) != 0;
  if (tagged != !check.secret.empty()) {
    return reject(BeaconReject::kSecretMismatch,
                  tagged ? "sender uses a mesh secret and we have none" : "sender has no mesh secret");
  }
  const std::size_t signed_size = want - kBeaconTagBytes;
  const Sha256Digest tag = Tag(check.secret, d.first(signed_size));
  if (!ConstantTimeEqual(tag, d.subspan(signed_size))) {
    return reject(BeaconReject::kBadTag, "HMAC does not verify (another secret, or altered)");
  }
  const std::uint64_t max_age = static_cast<std::uint64_t>(std::max<std::int64_t>(0, check.max_age.count()));
  const std::uint64_t age = now_ms > b.timestamp_ms ? now_ms - b.timestamp_ms : b.timestamp_ms - now_ms;
  if (age > max_age) {
    return reject(BeaconReject::kStale, "timestamp " + std::to_string(age) + " ms " +
                                            (now_ms > b.timestamp_ms ? "old" : "in the future") +
                                            ", accepting " + std::to_string(max_age));
  }
  return b;
}

Status BeaconReplayGuard::Accept(const Beacon& beacon) {
  auto it = last_timestamp_ms_.find(beacon.id);
  if (it != last_timestamp_ms_.end()) {
    if (beacon.timestamp_ms <= it->second) {
      return InvalidArgument("beacon replayed: timestamp " + std::to_string(beacon.timestamp_ms) +
                             " not after the last accepted " + std::to_string(it->second));
    }
    it->second = beacon.timestamp_ms;
    return Status::Ok();
  }
  if (max_senders_ == 0) return Status::Ok();
  if (last_timestamp_ms_.size() >= max_senders_) {
    // Forget the sender heard longest ago; a forgotten sender's replays are then
    // refused only by the timestamp window.
    const auto oldest = std::min_element(last_timestamp_ms_.begin(), last_timestamp_ms_.end(),
                                         [](const auto& a, const auto& b) { return a.second < b.second; });
    last_timestamp_ms_.erase(oldest);
  }
  last_timestamp_ms_.emplace(beacon.id, beacon.timestamp_ms);
  return Status::Ok();
}

Status CheckDiscoveryOptions(const DiscoveryOptions& o) {
  if (o.mesh.empty() || o.mesh.size() > kMaxMeshNameBytes || !Printable(o.mesh)) {
    return InvalidArgument("mesh: want 1-" + std::to_string(kMaxMeshNameBytes) +
                           " printable ASCII characters without spaces, got '" + o.mesh + "'");
  }
  if (o.port == 0) return InvalidArgument("port: must be in 1-65535");
  boost::system::error_code bind_ec;
  (void)asio::ip::make_address_v4(o.bind_address, bind_ec);
  if (bind_ec) return InvalidArgument("bind address: '" + o.bind_address + "' is not an IPv4 address");
  if (o.broadcast.empty()) return InvalidArgument("broadcast: want at least one IPv4 address");
  for (const auto& a : o.broadcast) {
    boost::system::error_code ec;
    (void)asio::ip::make_address_v4(a, ec);
    if (ec) return InvalidArgument("broadcast: '" + a + "' is not an IPv4 address");
  }
  if (o.fast_interval.count() < 10) return InvalidArgument("interval: must be >= 10 ms");
  if (o.slow_interval < o.fast_interval) return InvalidArgument("slow interval: must be >= interval");
  if (o.max_age.count() < 1) return InvalidArgument("max_age: must be >= 1 ms");
  if (o.repeat_after.count() < 0) return InvalidArgument("repeat_after: must be >= 0");
  return Status::Ok();
}

// Everything below runs on the discovery thread, except Start(), Stop() and counters().
struct Discovery::Impl {
  Impl(DiscoveryOptions o, PeerId self_id, std::string ep)
      : options(std::move(o)), self(self_id), endpoint(std::move(ep)), rng(options.rng_seed, 0xD15C0),
        socket(io), timer(io) {}

  void ScheduleBeacon(std::chrono::milliseconds wait);
  void SendBeacons();
  void Receive();
  void OnDatagram(std::size_t size);
  bool Fast(std::chrono::steady_clock::time_point now);

  const DiscoveryOptions options;
  const PeerId self;
  const std::string endpoint;
  Handlers handlers;
  Rng rng;
  BeaconReplayGuard replay;
  std::uint64_t last_timestamp_ms = 0;
  std::unordered_map<PeerId, std::chrono::steady_clock::time_point> heard;      // Last beacon.
  std::unordered_map<PeerId, std::chrono::steady_clock::time_point> delivered;  // Last handed on.
  std::vector<udp::endpoint> targets;

  asio::io_context io;
  udp::socket socket;
  asio::steady_timer timer;
  std::array<std::uint8_t, kMaxBeaconBytes + 1> rx{};  // +1: an oversized datagram shows.
  udp::endpoint rx_from;
  std::thread thread;

  mutable std::mutex mu;  // Guards state and counters.
  enum class State { kIdle, kRunning, kStopped } state = State::kIdle;
  DiscoveryCounters counters;
};

bool Discovery::Impl::Fast(std::chrono::steady_clock::time_point now) {
  const auto ttl = 3 * options.slow_interval;
  std::erase_if(heard, [&](const auto& e) { return now - e.second > ttl; });
  std::erase_if(delivered, [&](const auto& e) { return now - e.second > ttl; });
  const bool fast = heard.size() < options.min_peers;
  std::lock_guard lock(mu);
  counters.peers_heard = heard.size();
  counters.fast = fast;
  return fast;
}

void Discovery::Impl::ScheduleBeacon(std::chrono::milliseconds wait) {
  timer.expires_after(wait);
  timer.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    SendBeacons();
    const auto base = Fast(std::chrono::steady_clock::now()) ? options.fast_interval : options.slow_interval;
    const double jitter = 0.75 + 0.5 * rng.Uniform01();
    ScheduleBeacon(std::chrono::milliseconds(
        static_cast<std::int64_t>(jitter * static_cast<double>(base.count()))));
  });
}

void Discovery::Impl::SendBeacons() {
  for (const auto& to : targets) {
    // One beacon per destination, each with a fresh timestamp: a host reached by two
    // destinations (255.255.255.255 and 10.1.2.255) must not see the second as a replay.
    Beacon b;
    b.mesh = options.mesh;
    b.id = self;
    b.endpoint = endpoint;
    b.timestamp_ms = last_timestamp_ms = std::max(WallClockMs(), last_timestamp_ms + 1);
    b.nonce = rng.NextU64();
    const std::vector<std::uint8_t> bytes = EncodeBeacon(b, options.secret);
    boost::system::error_code ec;
    socket.send_to(asio::buffer(bytes), to, 0, ec);
    std::lock_guard lock(mu);
    if (ec) {
      ++counters.send_errors;
      counters.last_send_error = to.address().to_string() + ": " + ec.message();
    } else {
      ++counters.beacons_sent;
    }
  }
}

void Discovery::Impl::Receive() {
  socket.async_receive_from(asio::buffer(rx), rx_from, [this](const boost::system::error_code& ec, std::size_t n) {
    if (ec == asio::error::operation_aborted || !socket.is_open()) return;
    if (!ec) OnDatagram(n);
    Receive();
  });
}

void Discovery::Impl::OnDatagram(std::size_t size) {
  const std::string from = rx_from.address().to_string() + ":" + std::to_string(rx_from.port());
  BeaconCheck check{options.mesh, options.secret, options.max_age};
  BeaconReject why = BeaconReject::kMalformed;
  Result<Beacon> beacon = DecodeBeacon(std::span<const std::uint8_t>(rx.data(), size), check, WallClockMs(), &why);
  Status refused = beacon ? Status::Ok() : beacon.error();
  if (beacon && beacon->id == self) {
    std::lock_guard lock(mu);
    ++counters.datagrams_received;
    ++counters.own_beacons;
    return;
  }
  if (beacon) {
    refused = replay.Accept(*beacon);
    why = BeaconReject::kReplayed;
  }
  {
    std::lock_guard lock(mu);
    ++counters.datagrams_received;
    if (!refused.ok()) {
      ++counters.rejected;
      ++counters.rejected_by_reason[BeaconRejectName(why)];
      counters.last_reject_reason = "from " + from + ": " + refused.message();
    } else {
      ++counters.beacons_accepted;
    }
  }
  if (!refused.ok()) {
    if (handlers.on_reject) handlers.on_reject(refused, from);
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  heard[beacon->id] = now;
  auto last = delivered.find(beacon->id);
  if (last != delivered.end() && now - last->second < options.repeat_after) return;
  delivered[beacon->id] = now;
  handlers.on_beacon(*beacon, from);
}

Result<std::unique_ptr<Discovery>> Discovery::Create(DiscoveryOptions options, PeerId self,
                                                     std::string endpoint) {
  SOTTO_RETURN_IF_ERROR(CheckDiscoveryOptions(options).WithContext("discovery"));
  SOTTO_RETURN_IF_ERROR(CheckBeaconFields(options.mesh, endpoint, self));
  auto impl = std::make_unique<Impl>(std::move(options), self, std::move(endpoint));
  for (const auto& a : impl->options.broadcast) {
    impl->targets.emplace_back(asio::ip::make_address_v4(a), impl->options.port);
  }
  return std::unique_ptr<Discovery>(new Discovery(std::move(impl)));
}

Discovery::Discovery(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Discovery::~Discovery() { Stop(); }

Status Discovery::Start(Handlers handlers) {
  Impl& s = *impl_;
  if (!handlers.on_beacon) return InvalidArgument("Discovery::Start: no on_beacon handler");
  std::lock_guard lock(s.mu);
  if (s.state != Impl::State::kIdle) return InvalidArgument("Discovery::Start called twice");
  const std::string where = "discovery: udp " + s.options.bind_address + ":" + std::to_string(s.options.port);
  try {
    s.socket.open(udp::v4());
    s.socket.set_option(asio::socket_base::reuse_address(true));
    s.socket.set_option(asio::socket_base::broadcast(true));
    s.socket.bind(udp::endpoint(asio::ip::make_address_v4(s.options.bind_address), s.options.port));
    s.socket.non_blocking(true);  // A full send buffer drops a beacon; never blocks the thread.
  } catch (const boost::system::system_error& e) {
    boost::system::error_code ignored;
    s.socket.close(ignored);
    return Unavailable(where + ": " + e.what());
  }
  s.handlers = std::move(handlers);
  s.state = Impl::State::kRunning;
  // The first beacon goes out when the thread starts; then the timer paces them.
  asio::post(s.io, [&s] {
    s.Receive();
    s.ScheduleBeacon(std::chrono::milliseconds(0));
  });
  s.thread = std::thread([&s] { s.io.run(); });
  return Status::Ok();
}

void Discovery::Stop() {
  Impl& s = *impl_;
  {
    std::lock_guard lock(s.mu);
    const bool was_running = s.state == Impl::State::kRunning;
    s.state = Impl::State::kStopped;
    if (!was_running) return;
    SOTTO_CHECK(std::this_thread::get_id() != s.thread.get_id())
        << "Discovery::Stop() called on its own thread";
    asio::post(s.io, [&s] {
      boost::system::error_code ignored;
      s.timer.cancel();
      s.socket.close(ignored);
      s.io.stop();
    });
  }
  s.thread.join();
}

DiscoveryCounters Discovery::counters() const {
  std::lock_guard lock(impl_->mu);
  return impl_->counters;
}

}  // namespace sotto::net
