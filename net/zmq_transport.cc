#include "net/zmq_transport.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <zmq.h>
#include <zmq.hpp>

namespace sotto::net {
namespace {

namespace asio = boost::asio;

// Messages taken from the ROUTER per turn before queued sends get a chance.
constexpr int kReceiveBatch = 256;
constexpr auto kSaturationRecheck = std::chrono::milliseconds(5);

std::array<std::uint8_t, kRoutingIdBytes> RoutingId(PeerId id) {
  std::array<std::uint8_t, kRoutingIdBytes> out{};
  out[0] = 'S';
  for (std::size_t i = 0; i < 8; ++i) {
    out[1 + i] = static_cast<std::uint8_t>(id.value() >> (56 - 8 * i));
  }
  return out;
}

std::optional<PeerId> ParseRoutingId(const zmq::message_t& frame) {
  if (frame.size() != kRoutingIdBytes) return std::nullopt;
  const auto* p = static_cast<const std::uint8_t*>(frame.data());
  if (p[0] != 'S') return std::nullopt;
  std::uint64_t v = 0;
  for (std::size_t i = 1; i < kRoutingIdBytes; ++i) v = (v << 8) | p[i];
  return PeerId(v);
}

constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";
constexpr const char* kMonitorEndpoint = "inproc://sotto.router.monitor";
// Handshakes that fail before ZAP is asked (a plaintext client, garbage, a bad
// CURVE hello); ZAP refusals are counted by the ZAP handler itself.
constexpr int kHandshakeFailures = ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL;

// Stops watching a ZeroMQ-owned fd without closing it.
void Unwatch(std::optional<asio::posix::stream_descriptor>& fd) {
  if (!fd) return;
  fd->cancel();
  (void)fd->release();
  fd.reset();
}

// Cheap syntactic check so Connect() can reject obvious mistakes synchronously;
// ZeroMQ has the last word on the I/O thread. `endpoint` has no "#key" suffix.
Status CheckEndpoint(const std::string& endpoint) {
  for (const char* scheme : {"tcp://", "ipc://", "inproc://"}) {
    const std::size_t n = std::strlen(scheme);
    if (endpoint.size() > n && endpoint.compare(0, n, scheme) == 0) {
      if (n == 6 && endpoint.compare(0, 6, "tcp://") == 0 &&
          endpoint.find(':', n) == std::string::npos) {
        return InvalidArgument("endpoint '" + endpoint + "' has no port");
      }
      return Status();
    }
  }
  return InvalidArgument("endpoint '" + endpoint + "' is not tcp://, ipc:// or inproc://");
}

std::span<const std::uint8_t> Bytes(const zmq::message_t& m) {
  return {static_cast<const std::uint8_t*>(m.data()), m.size()};
}

}  // namespace

struct ZmqTransport::Impl {
  enum class State { kIdle, kRunning, kStopped };

  // Caller-visible state of one peer's send path.
  struct PeerSlot {
    std::string endpoint;
    std::uint64_t generation = 0;  // Which DEALER incarnation this slot refers to.
    std::size_t pending = 0;       // Posted to the I/O thread, not yet given to ZeroMQ.
    bool saturated = false;        // The DEALER reported its high-water mark.
  };

  // A DEALER; I/O thread only.
  struct Dealer {
    zmq::socket_t socket;
    std::uint64_t generation;
  };

  explicit Impl(ZmqTransportOptions o) : options(std::move(o)) {
    if (options.curve) {
      allowed_keys.insert(options.curve->allowed_keys.begin(), options.curve->allowed_keys.end());
    }
  }

  const ZmqTransportOptions options;
  std::unordered_set<std::string> allowed_keys;  // Z85; immutable after construction.

  mutable std::mutex mu;
  State state = State::kIdle;                  // Guarded by mu.
  std::string local_endpoint;                  // Guarded by mu.
  std::unordered_map<PeerId, PeerSlot> peers;  // Guarded by mu.
  // CURVE: the public key each peer must send with (see CheckSenderKey).
  std::unordered_map<PeerId, std::string> peer_keys;  // Guarded by mu.
  std::uint64_t next_generation = 1;           // Guarded by mu.
  PeerId self;  // Guarded by mu; set by Start() (before the I/O thread exists).
  TransportCounters counters;                  // Guarded by mu.

  // Declared before everything that uses it, so it is destroyed last.
  asio::io_context io{1};
  // I/O thread only (after Start() handed them over).
  zmq::context_t context;
  std::optional<zmq::socket_t> router;
  std::unordered_map<PeerId, Dealer> dealers;
  std::optional<asio::posix::stream_descriptor> router_fd;
  std::optional<zmq::socket_t> zap;  // CURVE only: the ZAP handler's REP socket.
  std::optional<asio::posix::stream_descriptor> zap_fd;
  std::optional<zmq::socket_t> monitor;  // CURVE only: the ROUTER's failed handshakes.
  std::optional<asio::posix::stream_descriptor> monitor_fd;
  asio::steady_timer recheck_timer{io};
  bool recheck_armed = false;
  ReceiveHandler handler;
  std::thread thread;

  void Reject(const char* kind, std::string reason) {
    std::lock_guard lock(mu);
    ++counters.rejected_malformed;
    ++counters.rejected_by_reason[kind];
    counters.last_reject_reason = std::move(reason);
  }

  // Answers ZAP requests (RFC 27) from our own ROUTER's CURVE handshakes: admits a
  // client whose public key is on the allow-list.
  void DrainZap() { Drain(zap, zap_fd, &Impl::DrainZap, &Impl::AnswerZap); }
  void DrainMonitor() { Drain(monitor, monitor_fd, &Impl::DrainMonitor, &Impl::ReadMonitorEvent); }

  // One monitor event: [event id (2 bytes) + value (4 bytes), endpoint].
  void ReadMonitorEvent() {
    zmq::message_t event, endpoint;
    try {
      if (!monitor->recv(event, zmq::recv_flags::dontwait)) return;
      if (event.more()) (void)monitor->recv(endpoint, zmq::recv_flags::dontwait);
    } catch (const zmq::error_t&) {
      return;
    }
    if (event.size() < 6) return;
    std::uint16_t id = 0;
    std::memcpy(&id, event.data(), sizeof id);
    if ((id & kHandshakeFailures) == 0) return;
    std::lock_guard lock(mu);
    ++counters.rejected_unauthenticated;
    ++counters.rejected_by_reason["handshake_failed"];
    counters.last_reject_reason =
        "refused a connection on " + endpoint.to_string() + ": handshake failed (not a CURVE client?)";
  }

  void AnswerZap() {
    // [version, request id, domain, address, routing id, mechanism, credentials...]
    std::vector<zmq::message_t> parts;
    try {
      bool more = true;
      while (more) {
        zmq::message_t part;
        if (!zap->recv(part, zmq::recv_flags::dontwait)) break;
        more = part.more();
        if (parts.size() < 8) parts.push_back(std::move(part));
      }
    } catch (const zmq::error_t&) {
      return;
    }
    if (parts.size() < 2) return;  // Cannot even answer; libzmq never sends this.
    std::string client_key;
    const bool curve = parts.size() == 7 && parts[5].to_string_view() == "CURVE" && parts[6].size() == 32;
    if (curve) {
      std::array<char, kCurveKeyChars + 1> z85{};
      if (zmq_z85_encode(z85.data(), static_cast<const std::uint8_t*>(parts[6].data()), 32) != nullptr) {
        client_key.assign(z85.data(), kCurveKeyChars);
      }
    }
    const bool allowed = !client_key.empty() && allowed_keys.count(client_key) > 0;
    if (!allowed) {
      const std::string address = parts.size() > 3 ? parts[3].to_string() : "?";
      std::lock_guard lock(mu);
      ++counters.rejected_unauthenticated;
      ++counters.rejected_by_reason["not_allowed"];
      counters.last_reject_reason =
          "refused CURVE client " + (client_key.empty() ? std::string("(no key)") : client_key) +
          " from " + address + ": not on the allow-list";
    }
    try {
      zap->send(zmq::str_buffer("1.0"), zmq::send_flags::sndmore);
      zap->send(parts[1], zmq::send_flags::sndmore);
      zap->send(allowed ? zmq::str_buffer("200") : zmq::str_buffer("400"), zmq::send_flags::sndmore);
      zap->send(allowed ? zmq::str_buffer("OK") : zmq::str_buffer("key not allowed"),
                zmq::send_flags::sndmore);
      zap->send(zmq::buffer(client_key), zmq::send_flags::sndmore);  // User-Id.
      zap->send(zmq::message_t(), zmq::send_flags::none);             // No metadata.
    } catch (const zmq::error_t&) {
    }
  }

  void DrainRouter() { Drain(router, router_fd, &Impl::DrainRouter, &Impl::ReceiveOne); }

  // Drains an edge-triggered socket: calls `take_one` while ZMQ_EVENTS says POLLIN,
  // then waits on the fd again (calling `again`). A long backlog is cut into
  // batches that re-post themselves, so queued sends are not starved.
  void Drain(std::optional<zmq::socket_t>& socket, std::optional<asio::posix::stream_descriptor>& fd,
             void (Impl::*again)(), void (Impl::*take_one)()) {
    for (int i = 0; i < kReceiveBatch; ++i) {
      if (!socket) return;
      int events = 0;
      try {
        events = socket->get(zmq::sockopt::events);
      } catch (const zmq::error_t&) {
        return;  // ETERM: shutting down.
      }
      if ((events & ZMQ_POLLIN) == 0) {
        fd->async_wait(asio::posix::descriptor_base::wait_read,
                       [this, again](const boost::system::error_code& ec) {
                         if (!ec) (this->*again)();
                       });
        return;
      }
      (this->*take_one)();
    }
    asio::post(io, [this, again] { (this->*again)(); });
  }

  void ReceiveOne() {
    // [routing id, header, payload?]. Read every part (ZeroMQ delivers a message
    // whole) but keep only the first three; more is malformed.
    std::array<zmq::message_t, 3> parts;
    std::size_t count = 0;
    bool more = true;
    try {
      while (more) {
        zmq::message_t part;
        if (!router->recv(part, zmq::recv_flags::dontwait)) break;
        more = part.more();
        if (count < parts.size()) parts[count] = std::move(part);
        ++count;
      }
    } catch (const zmq::error_t& e) {
      if (e.num() != ETERM) Reject("receive_failed", std::string("receive failed: ") + e.what());
      return;
    }
    if (count == 0) return;
    const std::optional<PeerId> from = ParseRoutingId(parts[0]);
    if (!from) {
      Reject("bad_routing_id", "routing id of " + std::to_string(parts[0].size()) + " bytes is not a sotto peer id");
      return;
    }
    if (count < 2 || count > 3) {
      Reject("bad_frame_count", "peer " + std::to_string(from->value()) + ": message has " +
             std::to_string(count - 1) + " frames, want 1 or 2");
      return;
    }
    Result<Envelope> envelope =
        DecodeEnvelope(Bytes(parts[1]), count == 3 ? Bytes(parts[2]) : std::span<const std::uint8_t>(),
                       options.limits);
    if (!envelope) {
      Reject("bad_envelope", "peer " + std::to_string(from->value()) + ": " + envelope.error().message());
      return;
    }
    if (envelope->sender != *from) {
      Reject("sender_mismatch", "peer " + std::to_string(from->value()) + ": envelope claims sender " +
             std::to_string(envelope->sender.value()));
      return;
    }
    if (options.curve && !CheckSenderKey(*from, parts[1])) return;
    {
      std::lock_guard lock(mu);
      const std::size_t bytes = parts[1].size() + (count == 3 ? parts[2].size() : 0);
      ++counters.messages_received;
      counters.bytes_received += bytes;
      auto& by = counters.received_by[{*from, envelope->type}];
      ++by.messages;
      by.bytes += bytes;
    }
    try {
      handler(*from, std::move(envelope).value());
    } catch (...) {
      // The handler must not throw (Transport contract); swallow so the I/O thread
      // survives a buggy one.
    }
  }

  // A node's DEALERs use the key pair its ROUTER serves with, and its advertised
  // endpoint carries that public key; so messages from peer P must come with the key
  // of P's endpoint. Connect() pins it; before that, the first key seen is pinned
  // (trust on first use, until Connect() says otherwise). Stops an allowed node from
  // speaking as another. Returns false (counted) on a mismatch.
  bool CheckSenderKey(PeerId from, zmq::message_t& frame) {
    std::string key;
    try {
      key = frame.gets("User-Id");  // Set by our ZAP handler: the client's public key.
    } catch (const zmq::error_t&) {
    }
    std::lock_guard lock(mu);
    const auto it = peer_keys.try_emplace(from, key).first;
    if (!key.empty() && it->second == key) return true;
    ++counters.rejected_unauthenticated;
    ++counters.rejected_by_reason["wrong_curve_key"];
    counters.last_reject_reason = "peer " + std::to_string(from.value()) + ": sent with CURVE key " +
                                  (key.empty() ? std::string("(none)") : key) + ", want " + it->second;
    return false;
  }

  void OpenDealer(PeerId peer, const std::string& endpoint, std::uint64_t generation) {
    CloseDealer(peer);
    try {
      zmq::socket_t socket(context, zmq::socket_type::dealer);
      const auto id = RoutingId(self);  // Written before this thread started.
      socket.set(zmq::sockopt::routing_id, zmq::buffer(id));
      socket.set(zmq::sockopt::sndhwm, options.send_hwm);
      socket.set(zmq::sockopt::rcvhwm, 1);  // We never read a DEALER.
      socket.set(zmq::sockopt::linger, static_cast<int>(options.linger.count()));
      socket.set(zmq::sockopt::reconnect_ivl_max, 5000);
      const CurveEndpoint split = SplitCurveEndpoint(endpoint);
      if (options.curve) {
        socket.set(zmq::sockopt::curve_serverkey, split.server_key);
        socket.set(zmq::sockopt::curve_publickey, options.curve->public_key);
        socket.set(zmq::sockopt::curve_secretkey, options.curve->secret_key);
      }
      socket.connect(split.address);
      dealers.emplace(peer, Dealer{std::move(socket), generation});
    } catch (const zmq::error_t& e) {
      std::lock_guard lock(mu);
      auto it = peers.find(peer);
      if (it != peers.end() && it->second.generation == generation) peers.erase(it);
    }
  }

  void CloseDealer(PeerId peer) {
    auto it = dealers.find(peer);
    if (it == dealers.end()) return;
    it->second.socket.close();
    dealers.erase(it);
  }

  void SendNow(PeerId to, std::uint64_t generation, MessageType type, EncodedEnvelope encoded) {
    {
      std::lock_guard lock(mu);
      auto it = peers.find(to);
      if (it != peers.end() && it->second.generation == generation && it->second.pending > 0) {
        --it->second.pending;
      }
    }
    auto it = dealers.find(to);
    if (it == dealers.end() || it->second.generation != generation) {
      std::lock_guard lock(mu);
      ++counters.dropped_backpressure;  // Disconnected or re-pointed meanwhile.
      return;
    }
    const std::size_t bytes = encoded.header.size() + encoded.payload.size();
    try {
      zmq::message_t header(encoded.header.data(), encoded.header.size());
      const bool has_payload = !encoded.payload.empty();
      const auto flags = has_payload ? zmq::send_flags::dontwait | zmq::send_flags::sndmore
                                     : zmq::send_flags::dontwait;
      if (!it->second.socket.send(header, flags)) {
        MarkSaturated(to, generation);
        return;
      }
      if (has_payload) {
        // Hand the vector to ZeroMQ without copying; it frees it when sent.
        auto* owned = new std::vector<std::uint8_t>(std::move(encoded.payload));
        zmq::message_t payload(
            owned->data(), owned->size(),
            [](void*, void* hint) { delete static_cast<std::vector<std::uint8_t>*>(hint); },
            owned);
        // Later parts of a message whose first part was accepted are never refused.
        (void)it->second.socket.send(payload, zmq::send_flags::dontwait);
      }
    } catch (const zmq::error_t&) {
      std::lock_guard lock(mu);
      ++counters.dropped_backpressure;
      return;
    }
    std::lock_guard lock(mu);
    ++counters.messages_sent;
    counters.bytes_sent += bytes;
    auto& by = counters.sent_by[{to, type}];
    ++by.messages;
    by.bytes += bytes;
  }

  void MarkSaturated(PeerId to, std::uint64_t generation) {
    {
      std::lock_guard lock(mu);
      ++counters.dropped_backpressure;
      auto it = peers.find(to);
      if (it != peers.end() && it->second.generation == generation) it->second.saturated = true;
    }
    ArmRecheck();
  }

  void ArmRecheck() {
    if (recheck_armed) return;
    recheck_armed = true;
    recheck_timer.expires_after(kSaturationRecheck);
    recheck_timer.async_wait([this](const boost::system::error_code& ec) {
      recheck_armed = false;
      if (!ec) Recheck();
    });
  }

  // Clears `saturated` for every DEALER that can take a message again.
  void Recheck() {
    bool still_full = false;
    std::unique_lock lock(mu);
    for (auto& [peer, slot] : peers) {
      if (!slot.saturated) continue;
      auto it = dealers.find(peer);
      if (it == dealers.end() || it->second.generation != slot.generation) {
        slot.saturated = false;
        continue;
      }
      int events = 0;
      try {
        events = it->second.socket.get(zmq::sockopt::events);
      } catch (const zmq::error_t&) {
        continue;
      }
      if ((events & ZMQ_POLLOUT) != 0) {
        slot.saturated = false;
      } else {
        still_full = true;
      }
    }
    lock.unlock();
    if (still_full) ArmRecheck();  // The timer's handler cleared recheck_armed.
  }

  // Runs on the I/O thread as its last act.
  void CloseAll() {
    recheck_timer.cancel();
    // The fds belong to ZeroMQ: never close them ourselves.
    Unwatch(router_fd);
    Unwatch(zap_fd);
    Unwatch(monitor_fd);
    if (monitor) {
      monitor->close();
      monitor.reset();
    }
    if (router) {
      router->close();
      router.reset();
    }
    for (auto& [peer, dealer] : dealers) dealer.socket.close();
    dealers.clear();
    // Last: the ROUTER may still have asked it something while closing.
    if (zap) {
      // Unbind first: a closed socket's inproc name is freed only when libzmq reaps
      // it, and a retried Start() binds the same name at once.
      try {
        zap->unbind(kZapEndpoint);
      } catch (const zmq::error_t&) {
      }
      zap->close();
      zap.reset();
    }
  }
};

ZmqTransport::ZmqTransport(ZmqTransportOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

Result<std::unique_ptr<ZmqTransport>> ZmqTransport::Create(ZmqTransportOptions options) {
  if (options.send_hwm <= 0 || options.receive_hwm <= 0) {
    return InvalidArgument("ZmqTransport: high-water marks must be positive");
  }
  if (options.max_pending_per_peer == 0) {
    return InvalidArgument("ZmqTransport: max_pending_per_peer must be positive");
  }
  if (options.linger.count() < 0) return InvalidArgument("ZmqTransport: negative linger");
  if (options.curve) {
    const Status s = ValidateCurveOptions(*options.curve);
    if (!s.ok()) return Status(s.code(), "ZmqTransport: CURVE: " + s.message());
  }
  return std::unique_ptr<ZmqTransport>(new ZmqTransport(std::move(options)));
}

ZmqTransport::~ZmqTransport() { Stop(); }

PeerId ZmqTransport::self() const {
  std::lock_guard lock(impl_->mu);
  return impl_->self;
}

Status ZmqTransport::Start(const std::string& listen_endpoint, ReceiveHandler on_receive) {
  Impl& s = *impl_;
  SOTTO_RETURN_IF_ERROR(CheckEndpoint(listen_endpoint));
  if (!SplitCurveEndpoint(listen_endpoint).server_key.empty()) {
    return InvalidArgument("listen endpoint '" + listen_endpoint + "' must not carry a key");
  }
  if (!on_receive) return InvalidArgument("ZmqTransport::Start: no receive handler");
  std::lock_guard lock(s.mu);
  if (s.state != Impl::State::kIdle) return InvalidArgument("ZmqTransport::Start called twice");
  // The ROUTER is made and bound here so errors come back to the caller; it then
  // migrates to the I/O thread (thread creation is the full fence ZeroMQ asks for).
  try {
    if (s.options.curve) {
      // The ZAP handler must be bound before the first handshake can happen.
      zmq::socket_t zap(s.context, zmq::socket_type::rep);
      zap.set(zmq::sockopt::linger, 0);
      zap.bind(kZapEndpoint);
      s.zap_fd.emplace(s.io, zap.get(zmq::sockopt::fd));
      s.zap.emplace(std::move(zap));
    }
    zmq::socket_t router(s.context, zmq::socket_type::router);
    if (s.options.curve) {
      router.set(zmq::sockopt::curve_server, true);
      router.set(zmq::sockopt::curve_secretkey, s.options.curve->secret_key);
      router.set(zmq::sockopt::zap_domain, "sotto");
    }
    router.set(zmq::sockopt::rcvhwm, s.options.receive_hwm);
    router.set(zmq::sockopt::linger, static_cast<int>(s.options.linger.count()));
    router.set(zmq::sockopt::router_handover, true);  // A restarted peer takes over its id.
    const std::size_t max_frame =
        std::max({s.options.limits.max_header_bytes, s.options.limits.max_payload_bytes,
                  kRoutingIdBytes});
    router.set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(max_frame));
    router.bind(listen_endpoint);
    s.local_endpoint = router.get(zmq::sockopt::last_endpoint);
    if (s.options.curve) s.local_endpoint = JoinCurveEndpoint(s.local_endpoint, s.options.curve->public_key);
    s.self = s.options.self.value() != 0 ? s.options.self : PeerIdFromEndpoint(s.local_endpoint);
    if (s.options.curve) {
      if (zmq_socket_monitor(router.handle(), kMonitorEndpoint, kHandshakeFailures) != 0) throw zmq::error_t();
      zmq::socket_t monitor(s.context, zmq::socket_type::pair);
      monitor.set(zmq::sockopt::linger, 0);
      monitor.connect(kMonitorEndpoint);
      s.monitor_fd.emplace(s.io, monitor.get(zmq::sockopt::fd));
      s.monitor.emplace(std::move(monitor));
    }
    s.router_fd.emplace(s.io, router.get(zmq::sockopt::fd));
    s.router.emplace(std::move(router));
  } catch (const zmq::error_t& e) {
    s.CloseAll();  // No I/O thread yet: releases the fds ZeroMQ owns, closes the ZAP socket.
    return Unavailable("cannot bind '" + listen_endpoint + "': " + e.what());
  } catch (const boost::system::system_error& e) {
    s.CloseAll();
    return Internal(std::string("cannot watch the ZeroMQ fd: ") + e.what());
  }
  s.handler = std::move(on_receive);
  s.state = Impl::State::kRunning;
  asio::post(s.io, [&s] { s.DrainRouter(); });
  if (s.zap) asio::post(s.io, [&s] { s.DrainZap(); });
  if (s.monitor) asio::post(s.io, [&s] { s.DrainMonitor(); });
  s.thread = std::thread([&s] {
    auto work = asio::make_work_guard(s.io);
    s.io.run();
  });
  return Status();
}

std::string ZmqTransport::local_endpoint() const {
  std::lock_guard lock(impl_->mu);
  return impl_->local_endpoint;
}

Status ZmqTransport::Connect(PeerId peer, const std::string& endpoint) {
  Impl& s = *impl_;
  const CurveEndpoint split = SplitCurveEndpoint(endpoint);
  SOTTO_RETURN_IF_ERROR(CheckEndpoint(split.address));
  if (s.options.curve) {
    if (split.server_key.empty()) {
      return InvalidArgument("endpoint '" + endpoint + "' has no #<server key> (CURVE is on)");
    }
    if (!s.allowed_keys.count(split.server_key) && split.server_key != s.options.curve->public_key) {
      return InvalidArgument("endpoint '" + endpoint + "': server key is not on the allow-list");
    }
  } else if (!split.server_key.empty()) {
    return InvalidArgument("endpoint '" + endpoint + "' carries a CURVE key but CURVE is off");
  }
  std::lock_guard lock(s.mu);
  if (s.state != Impl::State::kRunning) return Unavailable("ZmqTransport is not running");
  if (!split.server_key.empty()) s.peer_keys[peer] = split.server_key;
  auto [it, inserted] = s.peers.try_emplace(peer);
  Impl::PeerSlot& slot = it->second;
  if (!inserted && slot.endpoint == endpoint) return Status();
  slot = Impl::PeerSlot{endpoint, s.next_generation++, 0, false};
  // Posting under mu keeps the I/O thread's order equal to the callers' order.
  asio::post(s.io, [&s, peer, endpoint, generation = slot.generation] {
    s.OpenDealer(peer, endpoint, generation);
  });
  return Status();
}

void ZmqTransport::Disconnect(PeerId peer) {
  Impl& s = *impl_;
  std::lock_guard lock(s.mu);
  auto it = s.peers.find(peer);
  if (it == s.peers.end()) return;
  const std::uint64_t generation = it->second.generation;
  s.peers.erase(it);
  if (s.state != Impl::State::kRunning) return;
  asio::post(s.io, [&s, peer, generation] {
    auto d = s.dealers.find(peer);
    if (d != s.dealers.end() && d->second.generation == generation) s.CloseDealer(peer);
  });
}

Status ZmqTransport::Send(PeerId to, Envelope envelope) {
  Impl& s = *impl_;
  std::unique_lock lock(s.mu);
  if (s.state != Impl::State::kRunning) return Unavailable("ZmqTransport is not running");
  envelope.sender = s.self;
  const MessageType type = envelope.type;
  // Encode outside the lock: it copies the body and may be large.
  lock.unlock();
  SOTTO_ASSIGN_OR_RETURN(EncodedEnvelope encoded, EncodeEnvelope(std::move(envelope),
                                                                 s.options.limits));
  lock.lock();
  if (s.state != Impl::State::kRunning) return Unavailable("ZmqTransport is not running");
  auto it = s.peers.find(to);
  if (it == s.peers.end()) {
    return Unavailable("peer " + std::to_string(to.value()) + " is not connected");
  }
  Impl::PeerSlot& slot = it->second;
  if (slot.saturated || slot.pending >= s.options.max_pending_per_peer) {
    ++s.counters.dropped_backpressure;
    return Unavailable("peer " + std::to_string(to.value()) + ": send queue is full (" +
                       (slot.saturated ? "high-water mark reached" : "I/O thread behind") + ")");
  }
  ++slot.pending;
  asio::post(s.io, [&s, to, type, generation = slot.generation, e = std::move(encoded)]() mutable {
    s.SendNow(to, generation, type, std::move(e));
  });
  return Status();
}

void ZmqTransport::Stop() {
  Impl& s = *impl_;
  {
    std::lock_guard lock(s.mu);
    const bool was_running = s.state == Impl::State::kRunning;
    s.state = Impl::State::kStopped;
    s.peers.clear();
    if (!was_running) return;
    SOTTO_CHECK(std::this_thread::get_id() != s.thread.get_id())
        << "ZmqTransport::Stop() called on its own I/O thread";
    asio::post(s.io, [&s] {
      s.CloseAll();
      s.io.stop();
    });
  }
  s.thread.join();
  // Every socket is closed, so this returns once their (short) linger has passed.
  s.context.close();
}

TransportCounters ZmqTransport::counters() const {
  std::lock_guard lock(impl_->mu);
  return impl_->counters;
}

}  // namespace sotto::net
