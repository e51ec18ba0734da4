#pragma once

// ZmqTransport: the production Transport over ZeroMQ (ARCHITECTURE.md "Processes
// and sockets"). ZeroMQ, msgpack and Boost.Asio stay inside zmq_transport.cc.

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "common/ids.h"
#include "common/status.h"
#include "net/envelope.h"
#include "net/transport.h"
#include "net/zmq_curve.h"

namespace sotto::net {

struct ZmqTransportOptions {
  // Our id: the routing id of every DEALER we open, so receivers know who sent.
  // 0 means PeerIdFromEndpoint(local_endpoint()) once bound: handy with port "*",
  // but only right when the bound address is the advertised one (not 0.0.0.0).
  PeerId self;
  // ZMQ_SNDHWM of each per-peer DEALER (messages). When reached, sends to that peer
  // are refused (kUnavailable) until the queue drains.
  int send_hwm = 1000;
  // ZMQ_RCVHWM of the ROUTER (messages per connected peer). Memory a hostile peer
  // can pin is about receive_hwm * the largest frame allowed by `limits`: size the
  // two together.
  int receive_hwm = 1000;
  // ZMQ_LINGER on close: how long Stop()/Disconnect() may spend flushing.
  std::chrono::milliseconds linger{50};
  // Envelopes handed to the I/O thread but not yet given to ZeroMQ, per peer.
  // Send() refuses beyond this, so a producer faster than the I/O thread cannot
  // grow memory without bound.
  std::size_t max_pending_per_peer = 1000;
  // Bounds for decoding what we receive (and for encoding what we send). The ROUTER's
  // ZMQ_MAXMSGSIZE is set from them: a peer sending a larger frame is disconnected.
  EnvelopeLimits limits;
  // CURVE encryption and authentication (the model is described in net/zmq_curve.h).
  // Unset: plaintext, anyone may connect. Set: the ROUTER is a CURVE server whose
  // ZAP handler admits only allowed client keys; local_endpoint() ends in
  // "#<our public key>"; Connect() wants "address#<server key>" with an allowed key.
  std::optional<CurveOptions> curve;
};

// A bound ROUTER receives everything; one DEALER per peer sends, with our PeerId as
// its routing id. All sockets live on ONE I/O thread owned by the transport.
//
// Event loop: that thread runs a private boost::asio::io_context. The ROUTER is
// driven through ZMQ_FD + ZMQ_EVENTS with a posix::stream_descriptor: the fd is
// edge-triggered, so every wake-up drains while ZMQ_EVENTS has ZMQ_POLLIN (in
// bounded batches, re-posting itself so sends are not starved). Other threads hand
// work over with asio::post(), whose own wake-up replaces an inproc:// PAIR. Why
// Asio rather than zmq::poll with a timeout: no polling latency or idle wake-ups,
// and the same primitives the daemon's loop uses. The DEALERs are never read, so
// their fds are not watched; a DEALER that hit its high-water mark is rechecked
// (ZMQ_EVENTS & ZMQ_POLLOUT) by a 5 ms timer that runs only while one is full.
//
// Send() encodes on the caller's thread, checks per-peer back-pressure under a
// mutex and posts; the I/O thread sends with ZMQ_DONTWAIT. Nothing ever blocks on
// the network: a full queue is reported as kUnavailable (or counted as dropped when
// it fills between Send() and the I/O thread).
//
// Receiving: frames are [routing id, header, payload?]. A routing id that is not a
// PeerId, a sender field differing from it, too many frames or a bad envelope are
// counted in rejected_malformed (with last_reject_reason) and dropped.
//
// With CURVE, a ZAP handler (a REP socket at inproc://zeromq.zap.01 in the
// transport's own context) and a monitor of the ROUTER's failed handshakes run on
// the same I/O thread, driven like the ROUTER. Each refused connection (key not
// allowed, plaintext or broken handshake) counts in rejected_unauthenticated, as
// does a message whose CURVE key is not its sender's (net/zmq_curve.h).
//
// Lifetime: Create(), Start(), then any calls; Stop() (or the destructor) closes the
// sockets on the I/O thread with a short linger and joins it.
// Thread safety: as Transport; every public method may be called from any thread
// except Stop() and the destructor, which must not run on the I/O thread (i.e. not
// inside the receive handler).
class ZmqTransport final : public Transport {
 public:
  // Returns kInvalidArgument for nonsensical options (non-positive HWMs, malformed
  // or mismatched CURVE keys, ...), kUnavailable if CURVE is asked for but libzmq
  // lacks it.
  static Result<std::unique_ptr<ZmqTransport>> Create(ZmqTransportOptions options);
  ~ZmqTransport() override;

  Status Start(const std::string& listen_endpoint, ReceiveHandler on_receive) override;
  std::string local_endpoint() const override;
  Status Connect(PeerId peer, const std::string& endpoint) override;
  void Disconnect(PeerId peer) override;
  Status Send(PeerId to, Envelope envelope) override;
  void Stop() override;
  TransportCounters counters() const override;

  // Our id (see ZmqTransportOptions::self); 0 until Start() when derived.
  PeerId self() const;

 private:
  struct Impl;
  explicit ZmqTransport(ZmqTransportOptions options);
  std::unique_ptr<Impl> impl_;
};

// Routing ids on the wire: a 'S' byte, then the PeerId as 8 big-endian bytes.
// (ZeroMQ reserves routing ids that start with a zero byte.)
inline constexpr std::size_t kRoutingIdBytes = 9;

}  // namespace sotto::net
