#include "net/envelope.h"

#include <exception>
#include <string>

#include <msgpack.hpp>

namespace sotto::net {
namespace {

constexpr std::size_t kHeaderFields = 5;

std::string TypeName(msgpack::type::object_type type) {
  switch (type) {
    case msgpack::type::NIL: return "nil";
    case msgpack::type::BOOLEAN: return "bool";
    case msgpack::type::POSITIVE_INTEGER: return "uint";
    case msgpack::type::NEGATIVE_INTEGER: return "negative int";
    case msgpack::type::FLOAT32: return "float32";
    case msgpack::type::FLOAT64: return "float64";
    case msgpack::type::STR: return "str";
    case msgpack::type::BIN: return "bin";
    case msgpack::type::ARRAY: return "array";
    case msgpack::type::MAP: return "map";
    case msgpack::type::EXT: return "ext";
  }
  return "unknown";
}

Result<std::uint64_t> UintField(const msgpack::object& o, const char* name) {
  if (o.type != msgpack::type::POSITIVE_INTEGER) {
    return Corrupted(std::string("envelope field '") + name + "' is " + TypeName(o.type) +
                     ", want uint");
  }
  return o.via.u64;
}

}  // namespace

const char* MessageTypeName(MessageType type) {
  switch (type) {
    case MessageType::kPing: return "ping";
    case MessageType::kPingReq: return "ping_req";
    case MessageType::kAck: return "ack";
    case MessageType::kJoin: return "join";
    case MessageType::kJoinAck: return "join_ack";
    case MessageType::kLeave: return "leave";
    case MessageType::kMembershipUpdate: return "membership_update";
    case MessageType::kResidual: return "residual";
    case MessageType::kModelRequest: return "model_request";
    case MessageType::kModelChunk: return "model_chunk";
    case MessageType::kStatus: return "status";
  }
  return "unknown";
}

Result<EncodedEnvelope> EncodeEnvelope(Envelope envelope, const EnvelopeLimits& limits) {
  if (envelope.version < kMinWireVersion || envelope.version > kWireVersion) {
    return InvalidArgument("envelope version " + std::to_string(envelope.version) +
                           " is not supported by this build");
  }
  const auto type = static_cast<std::uint8_t>(envelope.type);
  if (type == 0 || type > kMaxMessageType) {
    return InvalidArgument("envelope type " + std::to_string(type) + " is unknown");
  }
  if (envelope.body.size() > limits.max_body_bytes) {
    return InvalidArgument("envelope body has " + std::to_string(envelope.body.size()) +
                           " bytes, limit " + std::to_string(limits.max_body_bytes));
  }
  if (envelope.payload.size() > limits.max_payload_bytes) {
    return InvalidArgument("envelope payload has " + std::to_string(envelope.payload.size()) +
                           " bytes, limit " + std::to_string(limits.max_payload_bytes));
  }
  msgpack::sbuffer buffer(envelope.body.size() + 32);
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  packer.pack_array(kHeaderFields);
  packer.pack_uint8(envelope.version);
  packer.pack_uint8(type);
  packer.pack_uint64(envelope.sender.value());
  packer.pack_uint64(envelope.round.value());
  packer.pack_bin(static_cast<std::uint32_t>(envelope.body.size()));
  packer.pack_bin_body(reinterpret_cast<const char*>(envelope.body.data()),
                       static_cast<std::uint32_t>(envelope.body.size()));
  if (buffer.size() > limits.max_header_bytes) {
    return InvalidArgument("envelope header has " + std::to_string(buffer.size()) +
                           " bytes, limit " + std::to_string(limits.max_header_bytes));
  }
  EncodedEnvelope out;
  const auto* data = reinterpret_cast<const std::uint8_t*>(buffer.data());
  out.header.assign(data, data + buffer.size());
  out.payload = std::move(envelope.payload);
  return out;
}

Result<Envelope> DecodeEnvelope(std::span<const std::uint8_t> header,
                                std::span<const std::uint8_t> payload,
                                const EnvelopeLimits& limits) {
  if (header.empty()) return Corrupted("envelope header frame is empty");
  if (header.size() > limits.max_header_bytes) {
    return Corrupted("envelope header has " + std::to_string(header.size()) + " bytes, limit " +
                     std::to_string(limits.max_header_bytes));
  }
  if (payload.size() > limits.max_payload_bytes) {
    return Corrupted("envelope payload has " + std::to_string(payload.size()) + " bytes, limit " +
                     std::to_string(limits.max_payload_bytes));
  }
  // The unpack limits bound every allocation msgpack-c makes before we look at the
  // object: no maps or ext, short arrays and strings, no bin longer than the frame
  // (the body limit is checked below, with a clearer message).
  const msgpack::unpack_limit unpack_limits(/*array=*/16, /*map=*/0, /*str=*/256,
                                            /*bin=*/header.size(), /*ext=*/0,
                                            /*depth_limit=*/2);
  msgpack::object_handle handle;
  std::size_t offset = 0;
  try {
    handle = msgpack::unpack(reinterpret_cast<const char*>(header.data()), header.size(), offset,
                             nullptr, nullptr, unpack_limits);
  } catch (const msgpack::insufficient_bytes&) {
    return Corrupted("envelope header is truncated (" + std::to_string(header.size()) + " bytes)");
  } catch (const std::exception& e) {
    return Corrupted(std::string("envelope header is not valid msgpack: ") + e.what());
  }
  if (offset != header.size()) {
    return Corrupted("envelope header has " + std::to_string(header.size() - offset) +
                     " trailing bytes");
  }
  const msgpack::object& root = handle.get();
  if (root.type != msgpack::type::ARRAY) {
    return Corrupted("envelope header is " + TypeName(root.type) + ", want array");
  }
  if (root.via.array.size != kHeaderFields) {
    return Corrupted("envelope header has " + std::to_string(root.via.array.size) +
                     " fields, want 5");
  }
  const msgpack::object* f = root.via.array.ptr;
  SOTTO_ASSIGN_OR_RETURN(const std::uint64_t version, UintField(f[0], "version"));
  if (version < kMinWireVersion || version > kWireVersion) {
    return Corrupted("envelope version " + std::to_string(version) + " is not supported (want " +
                     std::to_string(kMinWireVersion) + ".." + std::to_string(kWireVersion) + ")");
  }
  SOTTO_ASSIGN_OR_RETURN(const std::uint64_t type, UintField(f[1], "type"));
  if (type == 0 || type > kMaxMessageType) {
    return Corrupted("envelope type " + std::to_string(type) + " is unknown");
  }
  SOTTO_ASSIGN_OR_RETURN(const std::uint64_t sender, UintField(f[2], "sender"));
  SOTTO_ASSIGN_OR_RETURN(const std::uint64_t round, UintField(f[3], "round"));
  if (f[4].type != msgpack::type::BIN) {
    return Corrupted("envelope field 'body' is " + TypeName(f[4].type) + ", want bin");
  }
  if (f[4].via.bin.size > limits.max_body_bytes) {
    return Corrupted("envelope body has " + std::to_string(f[4].via.bin.size) +
                     " bytes, limit " + std::to_string(limits.max_body_bytes));
  }
  Envelope envelope;
  envelope.version = static_cast<std::uint8_t>(version);
  envelope.type = static_cast<MessageType>(type);
  envelope.sender = PeerId(sender);
  envelope.round = RoundId(round);
  const auto* body = reinterpret_cast<const std::uint8_t*>(f[4].via.bin.ptr);
  envelope.body.assign(body, body + f[4].via.bin.size);
  envelope.payload.assign(payload.begin(), payload.end());
  return envelope;
}

Result<Envelope> DecodeEnvelopeFrames(std::span<const std::vector<std::uint8_t>> frames,
                                      const EnvelopeLimits& limits) {
  if (frames.empty() || frames.size() > 2) {
    return Corrupted("message has " + std::to_string(frames.size()) + " frames, want 1 or 2");
  }
  if (frames.size() == 2) return DecodeEnvelope(frames[0], frames[1], limits);
  return DecodeEnvelope(frames[0], {}, limits);
}

PeerId PeerIdFromEndpoint(std::string_view endpoint) {
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64.
  for (const char c : endpoint) {
    h ^= static_cast<std::uint8_t>(c);
    h *= 0x100000001b3ull;
  }
  // splitmix64 finaliser: FNV's low bits mix poorly for near-identical strings (ports).
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return PeerId(h == 0 ? 1 : h);
}

}  // namespace sotto::net
