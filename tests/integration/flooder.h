#pragma once

// Flooder: a hostile peer on loopback for the hostile-input test
// (tests/integration/hostile_test.cc) and benchmark (bench/hostile/run.sh, via
// bench/hostile/rogue.cc). Header-only; uses raw ZeroMQ sockets the way an attacker
// would, plus net/ and coding/ to make messages that are valid up to one lie.

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <deque>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <zmq.hpp>

#include "coding/compressor.h"
#include "common/clock.h"
#include "common/ids.h"
#include "common/random.h"
#include "net/envelope.h"
#include "net/membership.h"
#include "net/zmq_transport.h"

namespace sotto::testing {

// What the flooder sends. Every kind but kInsiderWrongDimension comes from an
// outsider: a DEALER that never joined the membership.
enum class FloodKind : int {
  kRandomBytes = 0,        // 1-3 frames of random bytes.
  kBadRoutingId,           // A valid envelope from a routing id that is not a sotto id.
  kTruncatedEnvelope,      // A valid header frame cut short.
  kBadVersionOrType,       // Well-formed msgpack, version or type unknown.
  kLyingSize,              // A bin header announcing more (or fewer) body bytes than follow.
  kSenderMismatch,         // Valid envelope whose sender field is not the routing id.
  kGarbageMembershipBody,  // ping/join/update with a body that is not a membership body.
  kHugeRound,              // Residual for round 2^63 from a non-member.
  kTooManyFrames,          // Four frames.
  kWrongDimension,         // Valid envelope + valid coding/ vector of the wrong dimension.
  kLargePayload,           // A valid envelope with a multi-MiB payload (within limits).
  kOversized,              // A frame above the receiver's ZMQ_MAXMSGSIZE (it disconnects us).
  kInsiderWrongDimension,  // Wrong-dimension residual from a member in good standing.
  kCount,
};

inline const char* FloodKindName(FloodKind k) {
  static constexpr std::array<const char*, static_cast<std::size_t>(FloodKind::kCount)> kNames = {
      "random_bytes",   "bad_routing_id",  "truncated_envelope", "bad_version_or_type", "lying_size",
      "sender_mismatch", "garbage_membership_body", "huge_round", "too_many_frames", "wrong_dimension",
      "large_payload",  "oversized_frame", "insider_wrong_dimension"};
  return kNames[static_cast<std::size_t>(k)];
}

// VmRSS of process `pid` in kB (from /proc/PID/status), or -1 if it is gone.
inline long ProcessRssKb(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      long kb = -1;
      in >> kb;
      return kb;
    }
    std::getline(in, key);
  }
  return -1;
}

struct FloodOptions {
  // The victim's ROUTER, "tcp://127.0.0.1:PORT".
  std::string target;
  // Seeds every random choice (kinds, sizes, bytes).
  std::uint64_t seed = 1;
  // The victim's model dimension: wrong-dimension vectors are never this size.
  std::size_t dimension = 7850;
  // Outsider messages per second (small kinds; the large ones have their own pace).
  double rate = 5000;
  // One kLargePayload every this long, of this many bytes.
  std::chrono::milliseconds large_every{500};
  std::size_t large_bytes = std::size_t{8} << 20;
  // One kOversized frame every this long (0 = never), of this many bytes (must exceed
  // the receiver's largest frame, 64 MiB by default).
  std::chrono::milliseconds oversized_every{2000};
  std::size_t oversized_bytes = (std::size_t{64} << 20) + 1;
  // Also join the mesh as a member (own ROUTER, real SWIM) and send wrong-dimension
  // residuals to every member, so they reach the decoder of whoever has us as a
  // neighbour. The insider's residuals carry round (latest round heard) + round_lead.
  bool insider = true;
  std::uint64_t round_lead = 1;
  std::chrono::milliseconds insider_every{20};
};

// Counts per kind.
struct FloodCounts {
  std::array<std::uint64_t, static_cast<std::size_t>(FloodKind::kCount)> sent{};
  std::array<std::uint64_t, static_cast<std::size_t>(FloodKind::kCount)> blocked{};  // Would block (HWM).
  std::uint64_t insider_received = 0;  // Envelopes the insider got from the mesh.
  bool insider_joined = false;
  std::uint64_t total_sent() const {
    std::uint64_t s = 0;
    for (auto v : sent) s += v;
    return s;
  }
};

// Usage: Flooder f(options); f.Run(30s); f.counts().
// Owns its ZeroMQ context and sockets; Run() uses them on the calling thread only.
// Not thread-safe.
class Flooder {
 public:
  explicit Flooder(FloodOptions options)
      : options_(std::move(options)), rng_(options_.seed, 0xF100D), outsider_(context_, zmq::socket_type::dealer),
        bad_id_(context_, zmq::socket_type::dealer) {
    outsider_id_ = PeerId(rng_.NextU64() | 1);
    const auto rid = RoutingId(outsider_id_);
    outsider_.set(zmq::sockopt::routing_id, zmq::buffer(rid));
    bad_id_.set(zmq::sockopt::routing_id, zmq::str_buffer("rogue!"));
    for (auto* s : {&outsider_, &bad_id_}) {
      s->set(zmq::sockopt::linger, 0);
      s->set(zmq::sockopt::sndhwm, 10000);
      s->connect(options_.target);
    }
    auto c = coding::MakeCompressor("dither:s=4");
    if (c) compressor_ = std::move(c.value());
  }

  // Floods for `duration`. Returns false if the insider could not start (the outsider
  // flood still ran).
  bool Run(std::chrono::milliseconds duration) {
    const auto start = std::chrono::steady_clock::now();
    const auto end = start + duration;
    bool ok = true;
    if (options_.insider) ok = StartInsider();
    auto next_large = start + options_.large_every;
    auto next_oversized = start + options_.oversized_every;
    auto next_insider = start;
    while (true) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= end) break;
      const double elapsed = std::chrono::duration<double>(now - start).count();
      const auto due = static_cast<std::uint64_t>(elapsed * options_.rate);
      for (int burst = 0; small_sent_ < due && burst < 256; ++burst, ++small_sent_) SendSmall();
      if (options_.large_every.count() > 0 && now >= next_large) {
        SendLarge();
        next_large += options_.large_every;
      }
      if (options_.oversized_every.count() > 0 && now >= next_oversized) {
        SendOversized();
        next_oversized += options_.oversized_every;
      }
      if (insider_) {
        PumpInsider();
        if (now >= next_insider) {
          SendInsiderResiduals();
          next_insider = now + options_.insider_every;
        }
      }
      if (small_sent_ >= due) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (insider_) {  // Leave politely so the mesh does not wait for our residuals.
      membership_->Leave(clock_.Now());
      FlushInsider();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      insider_->Stop();
    }
    return ok;
  }

  const FloodCounts& counts() const { return counts_; }
  PeerId outsider_id() const { return outsider_id_; }
  std::optional<PeerId> insider_id() const {
    return insider_ ? std::optional<PeerId>(insider_->self()) : std::nullopt;
  }

 private:
  static std::vector<std::uint8_t> RoutingId(PeerId id) {
    std::vector<std::uint8_t> r(net::kRoutingIdBytes);
    r[0] = 'S';
    for (int b = 0; b < 8; ++b) r[static_cast<std::size_t>(1 + b)] = static_cast<std::uint8_t>(id.value() >> (56 - 8 * b));
    return r;
  }

  // msgpack by hand, so headers can lie in ways EncodeEnvelope() refuses to write.
  static void PutUint(std::vector<std::uint8_t>* out, std::uint64_t v) {
    out->push_back(0xcf);
    for (int b = 7; b >= 0; --b) out->push_back(static_cast<std::uint8_t>(v >> (8 * b)));
  }
  static std::vector<std::uint8_t> RawHeader(std::uint64_t version, std::uint64_t type, std::uint64_t sender,
                                             std::uint64_t round, const std::vector<std::uint8_t>& body,
                                             std::uint32_t declared_body_bytes) {
    std::vector<std::uint8_t> h{0x95};
    PutUint(&h, version);
    PutUint(&h, type);
    PutUint(&h, sender);
    PutUint(&h, round);
    h.push_back(0xc6);  // bin32
    for (int b = 3; b >= 0; --b) h.push_back(static_cast<std::uint8_t>(declared_body_bytes >> (8 * b)));
    h.insert(h.end(), body.begin(), body.end());
    return h;
  }

  std::uint64_t Below(std::uint64_t n) { return n == 0 ? 0 : rng_.NextU64() % n; }
  std::vector<std::uint8_t> RandomBytes(std::size_t n) {
    std::vector<std::uint8_t> v(n);
    for (auto& b : v) b = static_cast<std::uint8_t>(rng_.NextU64());
    return v;
  }

  // A valid coding/ vector of a dimension that is not the victim's.
  std::vector<std::uint8_t> WrongDimensionVector() {
    std::size_t d = 1 + Below(2 * options_.dimension + 64);
    if (d == options_.dimension) ++d;
    std::vector<float> x(d), decoded(d);
    for (auto& v : x) v = static_cast<float>(static_cast<double>(Below(2001)) / 1000.0 - 1.0);
    std::vector<std::uint8_t> bytes;
    if (!compressor_ || !compressor_->Compress(x, {.seed = 1, .round = 0, .sender = 1}, &bytes, decoded).ok()) {
      return RandomBytes(64);
    }
    return bytes;
  }

  std::vector<std::uint8_t> ValidHeader(net::MessageType type, PeerId sender, std::uint64_t round,
                                        std::vector<std::uint8_t> body = {}, std::size_t payload_bytes = 0) {
    net::Envelope e;
    e.type = type;
    e.sender = sender;
    e.round = RoundId(round);
    e.body = std::move(body);
    e.payload.assign(payload_bytes, 0);
    auto enc = net::EncodeEnvelope(std::move(e));
    return enc ? std::move(enc.value().header) : RandomBytes(16);
  }

  void Send(zmq::socket_t& s, FloodKind kind, std::vector<std::vector<std::uint8_t>> frames) {
    const auto k = static_cast<std::size_t>(kind);
    try {
      for (std::size_t i = 0; i < frames.size(); ++i) {
        const auto flags = i + 1 < frames.size() ? zmq::send_flags::dontwait | zmq::send_flags::sndmore
                                                 : zmq::send_flags::dontwait;
        if (!s.send(zmq::buffer(frames[i]), flags)) {
          ++counts_.blocked[k];
          return;  // A partial multipart is dropped by ZeroMQ as a whole.
        }
      }
      ++counts_.sent[k];
    } catch (const zmq::error_t&) {
      ++counts_.blocked[k];
    }
  }

  void SendSmall() {
    const auto kind = static_cast<FloodKind>(Below(static_cast<std::uint64_t>(FloodKind::kLargePayload)));
    const std::uint64_t me = outsider_id_.value();
    switch (kind) {
      case FloodKind::kRandomBytes: {
        std::vector<std::vector<std::uint8_t>> frames;
        const auto n = 1 + Below(3);
        for (std::uint64_t i = 0; i < n; ++i) frames.push_back(RandomBytes(Below(4096)));
        return Send(outsider_, kind, std::move(frames));
      }
      case FloodKind::kBadRoutingId:
        return Send(bad_id_, kind, {ValidHeader(net::MessageType::kPing, outsider_id_, 1, RandomBytes(8))});
      case FloodKind::kTruncatedEnvelope: {
        auto h = ValidHeader(net::MessageType::kResidual, outsider_id_, Below(1000), RandomBytes(Below(64)), 16);
        h.resize(Below(h.size()));
        return Send(outsider_, kind, {std::move(h), RandomBytes(16)});
      }
      case FloodKind::kBadVersionOrType: {
        const bool bad_version = Below(2) == 0;
        const std::array<std::uint64_t, 4> versions{0, 2, 255, ~std::uint64_t{0}};
        const std::array<std::uint64_t, 4> types{0, net::kMaxMessageType + 1u, 255, ~std::uint64_t{0}};
        const auto body = RandomBytes(Below(32));
        return Send(outsider_, kind,
                    {RawHeader(bad_version ? versions[Below(4)] : net::kWireVersion,
                               bad_version ? static_cast<std::uint64_t>(net::MessageType::kPing) : types[Below(4)], me,
                               Below(100), body, static_cast<std::uint32_t>(body.size()))});
      }
      case FloodKind::kLyingSize: {
        const auto body = RandomBytes(Below(64));
        const std::array<std::uint32_t, 3> lies{static_cast<std::uint32_t>(body.size() + 1 + Below(100)),
                                                0xFFFFFFFFu, (1u << 20) + 1};
        auto h = RawHeader(net::kWireVersion, static_cast<std::uint64_t>(net::MessageType::kResidual), me, Below(100),
                           body, body.empty() ? lies[1] : (Below(4) == 0 ? 0u : lies[Below(3)]));
        return Send(outsider_, kind, {std::move(h)});
      }
      case FloodKind::kSenderMismatch:
        return Send(outsider_, kind,
                    {ValidHeader(net::MessageType::kResidual, PeerId(me ^ (1 + Below(1u << 20))), Below(100), {}, 8),
                     WrongDimensionVector()});
      case FloodKind::kGarbageMembershipBody: {
        const std::array<net::MessageType, 5> types{net::MessageType::kPing, net::MessageType::kJoin,
                                                    net::MessageType::kMembershipUpdate, net::MessageType::kAck,
                                                    net::MessageType::kPingReq};
        return Send(outsider_, kind, {ValidHeader(types[Below(5)], outsider_id_, 0, RandomBytes(Below(256)))});
      }
      case FloodKind::kHugeRound:
        return Send(outsider_, kind,
                    {ValidHeader(net::MessageType::kResidual, outsider_id_, std::uint64_t{1} << 63, {}, 8),
                     WrongDimensionVector()});
      case FloodKind::kTooManyFrames:
        return Send(outsider_, kind,
                    {ValidHeader(net::MessageType::kPing, outsider_id_, 0), RandomBytes(8), RandomBytes(8),
                     RandomBytes(8)});
      case FloodKind::kWrongDimension:
      default: {
        auto v = WrongDimensionVector();
        return Send(outsider_, FloodKind::kWrongDimension,
                    {ValidHeader(net::MessageType::kResidual, outsider_id_, Below(100), {}, v.size()), std::move(v)});
      }
    }
  }

  void SendLarge() {
    auto v = RandomBytes(options_.large_bytes);
    Send(outsider_, FloodKind::kLargePayload,
         {ValidHeader(net::MessageType::kResidual, outsider_id_, Below(100), {}, v.size()), std::move(v)});
  }

  void SendOversized() {
    std::vector<std::uint8_t> big(options_.oversized_bytes, 0x5a);
    Send(outsider_, FloodKind::kOversized, {ValidHeader(net::MessageType::kResidual, outsider_id_, 1, {}, 8), std::move(big)});
  }

  // The insider: a real member (own ROUTER via net::ZmqTransport, real SWIM via
  // net::Membership) whose only training traffic is wrong-dimension residuals.
  bool StartInsider() {
    auto t = net::ZmqTransport::Create({});
    if (!t) return false;
    insider_ = std::move(t.value());
    const auto s = insider_->Start("tcp://127.0.0.1:*", [this](PeerId, net::Envelope e) {
      std::lock_guard lock(mu_);
      if (inbox_.size() < 10000) inbox_.push_back(std::move(e));
    });
    if (!s.ok()) {
      insider_.reset();
      return false;
    }
    membership_ = std::make_unique<net::Membership>(insider_->self(), insider_->local_endpoint());
    membership_->Join({options_.target}, clock_.Now());
    FlushInsider();
    return true;
  }

  void FlushInsider() {
    for (auto& o : membership_->TakeOutgoing()) {
      (void)insider_->Connect(o.to, o.endpoint);
      (void)insider_->Send(o.to, std::move(o.envelope));
    }
    (void)membership_->TakeEvents();
  }

  void PumpInsider() {
    std::deque<net::Envelope> got;
    {
      std::lock_guard lock(mu_);
      got.swap(inbox_);
    }
    for (auto& e : got) {
      ++counts_.insider_received;
      if (net::Membership::IsMembershipMessage(e.type)) {
        (void)membership_->HandleEnvelope(e, clock_.Now());
      } else if (e.type == net::MessageType::kResidual) {
        latest_round_ = std::max(latest_round_, e.round.value());
      }
    }
    if (clock_.Now() >= membership_->NextDeadline()) membership_->Tick(clock_.Now());
    counts_.insider_joined = counts_.insider_joined || membership_->joined();
    FlushInsider();
  }

  void SendInsiderResiduals() {
    for (const auto& m : membership_->live_members()) {
      if (m.id == insider_->self()) continue;
      net::Envelope e;
      e.type = net::MessageType::kResidual;
      e.round = RoundId(latest_round_ + options_.round_lead);
      e.payload = WrongDimensionVector();
      (void)insider_->Connect(m.id, m.endpoint);
      const auto k = static_cast<std::size_t>(FloodKind::kInsiderWrongDimension);
      if (insider_->Send(m.id, std::move(e)).ok()) {
        ++counts_.sent[k];
      } else {
        ++counts_.blocked[k];
      }
    }
  }

  FloodOptions options_;
  Rng rng_;
  zmq::context_t context_;
  zmq::socket_t outsider_;  // Routing id 'S' + a random PeerId that never joins.
  zmq::socket_t bad_id_;    // Routing id that is not a sotto id.
  PeerId outsider_id_;
  std::unique_ptr<coding::Compressor> compressor_;
  std::uint64_t small_sent_ = 0;
  FloodCounts counts_;

  SteadyClock clock_;
  std::unique_ptr<net::ZmqTransport> insider_;
  std::unique_ptr<net::Membership> membership_;
  std::mutex mu_;
  std::deque<net::Envelope> inbox_;  // Filled on the insider transport's I/O thread.
  std::uint64_t latest_round_ = 0;
};

}  // namespace sotto::testing
