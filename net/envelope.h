#pragma once

// Envelope: the one message type net/ moves between peers, and its wire format.
// Sits at the bottom of net/: the transports and membership build on it.
//
// Wire format (ARCHITECTURE.md "Wire"): frame 1 is the msgpack array
//   [version:uint, type:uint, sender:uint64, round:uint64, body:bin]
// with nothing after it; frame 2, present only when the payload is non-empty, is the
// raw payload bytes (large vectors travel there, not as msgpack arrays).

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/ids.h"
#include "common/status.h"

namespace sotto::net {

// The version this build writes. DecodeEnvelope() accepts exactly the versions in
// [kMinWireVersion, kWireVersion].
inline constexpr std::uint8_t kWireVersion = 1;
inline constexpr std::uint8_t kMinWireVersion = 1;

// What an envelope carries. The numeric values are on the wire: never renumber,
// only append (and raise kMaxMessageType).
enum class MessageType : std::uint8_t {
  // Membership (net/membership.h); bodies are encoded by net/ itself.
  kPing = 1,            // Probe: "are you alive?"
  kPingReq = 2,         // Ask a member to probe a third one for us (indirect probe).
  kAck = 3,             // Answer to kPing (forwarded for kPingReq).
  kJoin = 4,            // A node asks a member to let it in; carries its state.
  kJoinAck = 5,         // The member's full state, in reply to kJoin.
  kLeave = 6,           // Graceful leave announcement.
  kMembershipUpdate = 7,  // Only piggybacked membership updates.
  // Training traffic; bodies and payloads are opaque to net/ (the daemon fills them).
  kResidual = 8,        // A compressed model difference (coding/ wire format in payload).
  kModelRequest = 9,    // A joining node asks for the full model.
  kModelChunk = 10,     // One chunk of a full model.
  kStatus = 11,         // Free for daemon-level control/status exchange.
};
inline constexpr std::uint8_t kMaxMessageType = 11;

// "ping", "residual", ...; "unknown" for values outside the enum.
const char* MessageTypeName(MessageType type);

// One message. A plain value; copying copies the byte vectors.
struct Envelope {
  std::uint8_t version = kWireVersion;
  MessageType type = MessageType::kPing;
  PeerId sender;
  RoundId round;
  std::vector<std::uint8_t> body;     // Small, type-specific bytes (often msgpack).
  std::vector<std::uint8_t> payload;  // Optional large raw frame; empty = absent.

  friend bool operator==(const Envelope&, const Envelope&) = default;
};

// Bounds every decoder checks before it allocates. Peers are untrusted: keep these
// as small as the deployment allows. The defaults fit a 16M-parameter float model
// chunk in one payload.
struct EnvelopeLimits {
  // Largest header frame (the msgpack array) accepted or produced.
  std::size_t max_header_bytes = 1 << 20;
  // Largest body inside the header.
  std::size_t max_body_bytes = (1 << 20) - 64;
  // Largest raw payload frame.
  std::size_t max_payload_bytes = std::size_t{64} << 20;
};

// The frames of one encoded envelope.
struct EncodedEnvelope {
  std::vector<std::uint8_t> header;   // Frame 1: the msgpack array.
  std::vector<std::uint8_t> payload;  // Frame 2 when non-empty; not sent when empty.
};

// Encodes `envelope`, moving its payload into the result (no copy of large vectors).
// Returns kInvalidArgument if a field is outside `limits` or the version/type is not
// one this build knows.
Result<EncodedEnvelope> EncodeEnvelope(Envelope envelope, const EnvelopeLimits& limits = {});

// Decodes one envelope from its header frame and (possibly empty) payload frame.
// Validates everything: the header is exactly one well-formed msgpack array of five
// fields of the right types with no trailing bytes, the version and type are known,
// and every size is within `limits`. Returns kCorrupted with a message saying which
// check failed. Never throws, never aborts, on any input.
Result<Envelope> DecodeEnvelope(std::span<const std::uint8_t> header,
                                std::span<const std::uint8_t> payload,
                                const EnvelopeLimits& limits = {});

// As above, from the list of frames of one wire message (identity frames already
// stripped). Returns kCorrupted unless there are one or two frames.
Result<Envelope> DecodeEnvelopeFrames(std::span<const std::vector<std::uint8_t>> frames,
                                      const EnvelopeLimits& limits = {});

// A stable 64-bit PeerId derived from an endpoint string (FNV-1a, then a 64-bit
// finaliser; never 0). sotto's convention: a node's id is PeerIdFromEndpoint() of its
// advertised endpoint, so a seed's id is known from its address alone; a restarted
// node on the same address keeps its id and refutes its old record (membership.h).
PeerId PeerIdFromEndpoint(std::string_view endpoint);

}  // namespace sotto::net
