// Envelope encoding: round trips, and hostile bytes rejected with clear errors.

#include <cstdint>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "common/random.h"
#include "net/envelope.h"

namespace sotto::net {
namespace {

Envelope Sample() {
  Envelope e;
  e.type = MessageType::kResidual;
  e.sender = PeerId(0x0123456789abcdefull);
  e.round = RoundId(42);
  e.body = {1, 2, 3, 0, 255};
  e.payload.assign(1000, 7);
  return e;
}

// A header written by hand, for fields of the wrong kind (msgpack bytes).
std::vector<std::uint8_t> Header(std::vector<std::uint8_t> bytes) { return bytes; }

Status DecodeError(const std::vector<std::uint8_t>& header, const EnvelopeLimits& limits = {}) {
  Result<Envelope> r = DecodeEnvelope(header, {}, limits);
  REQUIRE_FALSE(r.has_value());
  return r.error();
}

TEST_CASE("an envelope survives encoding and decoding unchanged", "[net][envelope]") {
  Envelope e = Sample();
  SECTION("with a payload frame") {}
  SECTION("without a payload frame") { e.payload.clear(); }
  SECTION("with an empty body and the largest ids") {
    e.body.clear();
    e.sender = PeerId(~0ull);
    e.round = RoundId(~0ull);
  }
  const Envelope original = e;
  Result<EncodedEnvelope> encoded = EncodeEnvelope(e);
  REQUIRE(encoded.has_value());
  CHECK(encoded->payload.size() == original.payload.size());
  Result<Envelope> decoded = DecodeEnvelope(encoded->header, encoded->payload);
  REQUIRE(decoded.has_value());
  CHECK(*decoded == original);

  std::vector<std::vector<std::uint8_t>> frames{encoded->header};
  if (!encoded->payload.empty()) frames.push_back(encoded->payload);
  Result<Envelope> from_frames = DecodeEnvelopeFrames(frames);
  REQUIRE(from_frames.has_value());
  CHECK(*from_frames == original);
}

TEST_CASE("every message type round-trips and has a name", "[net][envelope]") {
  for (std::uint8_t t = 1; t <= kMaxMessageType; ++t) {
    Envelope e = Sample();
    e.type = static_cast<MessageType>(t);
    Result<EncodedEnvelope> encoded = EncodeEnvelope(e);
    REQUIRE(encoded.has_value());
    Result<Envelope> decoded = DecodeEnvelope(encoded->header, encoded->payload);
    REQUIRE(decoded.has_value());
    CHECK(decoded->type == e.type);
    CHECK(std::string(MessageTypeName(e.type)) != "unknown");
  }
}

TEST_CASE("encoding refuses envelopes outside the limits", "[net][envelope]") {
  EnvelopeLimits limits;
  limits.max_body_bytes = 4;
  limits.max_payload_bytes = 100;
  Envelope e = Sample();
  Result<EncodedEnvelope> r = EncodeEnvelope(e, limits);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code() == StatusCode::kInvalidArgument);
  e.body.clear();
  r = EncodeEnvelope(e, limits);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message().find("payload") != std::string::npos);
  e.payload.clear();
  e.type = static_cast<MessageType>(200);
  r = EncodeEnvelope(e, limits);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message().find("type 200") != std::string::npos);
}

TEST_CASE("malformed headers are rejected as corrupted with a reason", "[net][envelope]") {
  Envelope e = Sample();
  e.payload.clear();
  const std::vector<std::uint8_t> good = EncodeEnvelope(e).value().header;

  SECTION("empty") { CHECK(DecodeError({}).message().find("empty") != std::string::npos); }
  SECTION("truncated at every length") {
    for (std::size_t n = 1; n < good.size(); ++n) {
      const std::vector<std::uint8_t> cut(good.begin(), good.begin() + static_cast<long>(n));
      const Status s = DecodeError(cut);
      CHECK(s.code() == StatusCode::kCorrupted);
      CHECK(s.message().find("truncated") != std::string::npos);
    }
  }
  SECTION("trailing bytes") {
    std::vector<std::uint8_t> longer = good;
    longer.push_back(0xc0);
    CHECK(DecodeError(longer).message().find("trailing") != std::string::npos);
  }
  SECTION("unknown version") {
    // [2, 8, 1, 1, bin""]
    const Status s = DecodeError(Header({0x95, 0x02, 0x08, 0x01, 0x01, 0xc4, 0x00}));
    CHECK(s.message().find("version 2") != std::string::npos);
  }
  SECTION("version zero") {
    CHECK(DecodeError(Header({0x95, 0x00, 0x08, 0x01, 0x01, 0xc4, 0x00})).message().find(
              "version 0") != std::string::npos);
  }
  SECTION("unknown type") {
    const Status s = DecodeError(Header({0x95, 0x01, 0x7f, 0x01, 0x01, 0xc4, 0x00}));
    CHECK(s.message().find("type 127") != std::string::npos);
  }
  SECTION("type zero") {
    CHECK(DecodeError(Header({0x95, 0x01, 0x00, 0x01, 0x01, 0xc4, 0x00})).message().find(
              "type 0") != std::string::npos);
  }
  SECTION("wrong number of fields") {
    CHECK(DecodeError(Header({0x94, 0x01, 0x08, 0x01, 0x01})).message().find("4 fields") !=
          std::string::npos);
  }
  SECTION("not an array") {
    CHECK(DecodeError(Header({0x2a})).message().find("want array") != std::string::npos);
  }
  SECTION("a map") {
    CHECK(DecodeError(Header({0x81, 0x01, 0x02})).code() == StatusCode::kCorrupted);
  }
  SECTION("negative sender") {
    const Status s = DecodeError(Header({0x95, 0x01, 0x08, 0xff, 0x01, 0xc4, 0x00}));
    CHECK(s.message().find("'sender' is negative int") != std::string::npos);
  }
  SECTION("string round") {
    const Status s = DecodeError(Header({0x95, 0x01, 0x08, 0x01, 0xa1, 'x', 0xc4, 0x00}));
    CHECK(s.message().find("'round' is str") != std::string::npos);
  }
  SECTION("body as a string instead of bin") {
    const Status s = DecodeError(Header({0x95, 0x01, 0x08, 0x01, 0x01, 0xa1, 'x'}));
    CHECK(s.message().find("'body' is str, want bin") != std::string::npos);
  }
  SECTION("nested array in a field") {
    CHECK(DecodeError(Header({0x95, 0x91, 0x01, 0x08, 0x01, 0x01, 0xc4, 0x00})).code() ==
          StatusCode::kCorrupted);
  }
  SECTION("float version") {
    const Status s = DecodeError(
        Header({0x95, 0xca, 0x3f, 0x80, 0x00, 0x00, 0x08, 0x01, 0x01, 0xc4, 0x00}));
    CHECK(s.message().find("'version' is float32") != std::string::npos);
  }
  SECTION("a bin that claims 4 GiB") {
    const Status s = DecodeError(Header({0x95, 0x01, 0x08, 0x01, 0x01, 0xc6, 0xff, 0xff, 0xff,
                                         0xff, 0x00}));
    CHECK(s.code() == StatusCode::kCorrupted);
  }
  SECTION("an array that claims 4 billion fields") {
    CHECK(DecodeError(Header({0xdd, 0xff, 0xff, 0xff, 0xff, 0x01})).code() ==
          StatusCode::kCorrupted);
  }
}

TEST_CASE("oversized frames are rejected before decoding", "[net][envelope]") {
  EnvelopeLimits limits;
  limits.max_header_bytes = 64;
  limits.max_body_bytes = 16;
  limits.max_payload_bytes = 10;
  Envelope e = Sample();
  e.body.assign(40, 1);
  e.payload.clear();
  const std::vector<std::uint8_t> header = EncodeEnvelope(e).value().header;
  CHECK(DecodeError(header, limits).message().find("body has 40 bytes") != std::string::npos);
  e.body.assign(100, 1);
  const std::vector<std::uint8_t> big = EncodeEnvelope(e).value().header;
  CHECK(DecodeError(big, limits).message().find("limit 64") != std::string::npos);
  e.body.clear();
  const std::vector<std::uint8_t> small = EncodeEnvelope(e).value().header;
  const std::vector<std::uint8_t> payload(11, 0);
  Result<Envelope> r = DecodeEnvelope(small, payload, limits);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message().find("payload has 11 bytes") != std::string::npos);
}

TEST_CASE("a message of three frames is rejected", "[net][envelope]") {
  const std::vector<std::vector<std::uint8_t>> frames(3, EncodeEnvelope(Sample()).value().header);
  Result<Envelope> r = DecodeEnvelopeFrames(frames);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message().find("3 frames") != std::string::npos);
  CHECK_FALSE(DecodeEnvelopeFrames({}).has_value());
}

TEST_CASE("random and mutated bytes never crash the decoder", "[net][envelope]") {
  Rng rng(2024);
  Envelope e = Sample();
  e.payload.clear();
  const std::vector<std::uint8_t> good = EncodeEnvelope(e).value().header;
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::vector<std::uint8_t> bytes;
    if (i % 2 == 0) {
      bytes.resize(rng.UniformInt(64));
      for (auto& b : bytes) b = static_cast<std::uint8_t>(rng.NextU32());
    } else {
      bytes = good;
      const auto flips = 1 + rng.UniformInt(4);
      for (std::uint64_t f = 0; f < flips; ++f) {
        bytes[rng.UniformInt(bytes.size())] = static_cast<std::uint8_t>(rng.NextU32());
      }
    }
    Result<Envelope> r = DecodeEnvelope(bytes, {});
    if (r.has_value()) {
      ++accepted;
      // Whatever is accepted must be a valid envelope that re-encodes identically.
      CHECK(r->version == kWireVersion);
      CHECK(EncodeEnvelope(*r).value().header.size() <= bytes.size());
    } else {
      CHECK(r.error().code() == StatusCode::kCorrupted);
      CHECK_FALSE(r.error().message().empty());
    }
  }
  CHECK(accepted < 20000);
}

TEST_CASE("peer ids derived from endpoints are stable, distinct and nonzero", "[net][envelope]") {
  CHECK(PeerIdFromEndpoint("tcp://10.0.0.1:7000") == PeerIdFromEndpoint("tcp://10.0.0.1:7000"));
  CHECK(PeerIdFromEndpoint("tcp://10.0.0.1:7000") != PeerIdFromEndpoint("tcp://10.0.0.1:7001"));
  CHECK(PeerIdFromEndpoint("").value() != 0);
}

}  // namespace
}  // namespace sotto::net
