#pragma once

// Transport: moves Envelopes between peers; the only way the daemon reaches other
// nodes. ZmqTransport (net/zmq_transport.h) is the production implementation;
// InprocTransport (tests/support/inproc_transport.h) serves tests.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>

#include "common/ids.h"
#include "common/status.h"
#include "net/envelope.h"

namespace sotto::net {

// Messages and bytes of one kind of traffic with one peer.
struct TrafficCount {
  std::uint64_t messages = 0;
  std::uint64_t bytes = 0;
};
using TrafficKey = std::pair<PeerId, MessageType>;

// What a transport has done since Start(). A snapshot; every field only grows.
struct TransportCounters {
  std::uint64_t messages_sent = 0;
  std::uint64_t bytes_sent = 0;  // Header + payload frames, without ZeroMQ framing.
  std::uint64_t messages_received = 0;  // Accepted (well-formed) messages only.
  std::uint64_t bytes_received = 0;
  std::uint64_t dropped_backpressure = 0;  // Refused by Send() or dropped at a full queue.
  std::uint64_t rejected_malformed = 0;    // Received but failed validation.
  std::uint64_t rejected_unauthenticated = 0;  // Handshakes refused by authentication.
  std::string last_reject_reason;          // Why the latest rejected message or peer was.
  // The same traffic, split by peer and message type (sent: by destination;
  // received: by authenticated sender, accepted messages only).
  std::map<TrafficKey, TrafficCount> sent_by;
  std::map<TrafficKey, TrafficCount> received_by;
  // Rejected messages and peers by a short, stable reason ("bad_routing_id",
  // "bad_frame_count", "bad_envelope", "sender_mismatch", "wrong_curve_key",
  // "handshake_failed", "not_allowed", "receive_failed"): a flood shows up here by kind.
  std::map<std::string, std::uint64_t> rejected_by_reason;
};

// Delivery is at-most-once. Order is kept per (sender, receiver) pair only.
//
// Thread safety: Send(), Connect(), Disconnect(), Stop(), counters() and
// local_endpoint() may be called from any thread. The receive handler runs on the
// transport's I/O thread and must not block or throw; the daemon just post()s the
// envelope onto its event loop. Stop() must not be called from the handler.
class Transport {
 public:
  // `from` is the authenticated-by-transport sender (it equals envelope.sender).
  using ReceiveHandler = std::function<void(PeerId from, Envelope envelope)>;

  virtual ~Transport() = default;
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Binds `listen_endpoint` (e.g. "tcp://0.0.0.0:7000", or "tcp://127.0.0.1:*" for
  // a free port) and starts delivering to `on_receive`.
  // Requires: called at most once, before any other method but counters().
  // Returns kInvalidArgument for a bad endpoint, kUnavailable if it cannot be bound.
  virtual Status Start(const std::string& listen_endpoint, ReceiveHandler on_receive) = 0;

  // The endpoint actually bound (with the real port when "*" was asked for);
  // empty before Start().
  virtual std::string local_endpoint() const = 0;

  // Opens (or re-points) the send path to `peer` at `endpoint`. Returns at once;
  // the connection is made in the background and envelopes sent meanwhile are
  // queued (up to the high-water mark). Connecting again to the same endpoint is a
  // no-op. Returns kInvalidArgument for a bad endpoint, kUnavailable when stopped.
  virtual Status Connect(PeerId peer, const std::string& endpoint) = 0;

  // Closes the send path to `peer`, dropping what is still queued. No-op if unknown.
  virtual void Disconnect(PeerId peer) = 0;

  // Queues `envelope` for `to` without blocking; the transport stamps
  // envelope.sender with its own id. Returns kUnavailable if `to` is not
  // connected, its send queue is full (back-pressure: the caller decides whether to
  // retry), or the transport is stopped; kInvalidArgument if the envelope is over
  // the limits. OK means queued, not delivered.
  virtual Status Send(PeerId to, Envelope envelope) = 0;

  // Stops delivering and closes every socket; unsent envelopes are dropped.
  // Returns promptly (bounded by a short linger). Idempotent.
  virtual void Stop() = 0;

  virtual TransportCounters counters() const = 0;

 protected:
  Transport() = default;
};

}  // namespace sotto::net
