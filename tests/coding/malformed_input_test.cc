// The decoder faces untrusted bytes: truncated, bit-flipped, lying or random input must
// give a Status (never a crash or an over-read; run under the asan preset), and a
// failed DecodeAdd leaves the accumulator unchanged.

#include <cstring>
#include <vector>

#include <catch2/catch.hpp>

#include "coding/bit_io.h"
#include "coding/compressor.h"
#include "coding/format.h"
#include "common/random.h"
#include "tests/coding/test_vectors.h"

namespace sotto::coding {
namespace {

struct Sample {
  std::vector<std::uint8_t> bytes;
  std::size_t d;
};

std::vector<Sample> Samples() {
  std::vector<Sample> out;
  const char* specs[] = {"identity",
                         "topk:0.05",
                         "topk:0.05;coder=fp32",
                         "randk:0.1",
                         "dither:s=16",
                         "dither:s=256;coder=elias",
                         "dither:s=16;coder=vsc",
                         "dither:s=16;coder=fixed",
                         "dither:s=4;subtractive",
                         "natural:s=8",
                         "sign",
                         "induced:topk:0.05+randk:0.05",
                         "chain:topk:0.2+dither:s=16",
                         "chain:randk:0.3+dither:s=4;block=1024"};
  std::uint64_t seed = 0;
  for (const char* spec : specs) {
    for (std::size_t d : {1u, 300u, 5000u}) {
      for (double density : {0.05, 1.0}) {
        const auto x = testing::LaplaceVector(d, density, ++seed);
        auto c = MakeCompressor(spec);
        REQUIRE(c.ok());
        Sample s;
        s.d = d;
        std::vector<float> decoded(d);
        REQUIRE((*c)->Compress(x, {seed, 1, 2, 1.0f}, &s.bytes, decoded).ok());
        out.push_back(std::move(s));
      }
    }
  }
  return out;
}

// Decodes a heap copy of exactly `bytes` (so ASan sees any over-read) and checks that
// failure leaves the accumulator alone. Returns whether decoding succeeded.
bool TryDecode(const std::vector<std::uint8_t>& bytes, std::size_t d,
               const DecodeLimits& limits = {}) {
  auto copy = std::make_unique<std::uint8_t[]>(bytes.size() + 1);
  if (!bytes.empty()) std::memcpy(copy.get(), bytes.data(), bytes.size());
  std::vector<float> acc(d, 0.5f);
  const Status st = DecodeAdd(std::span<const std::uint8_t>(copy.get(), bytes.size()), limits, acc);
  if (!st.ok()) {
    for (float v : acc) REQUIRE(v == 0.5f);
    REQUIRE(!st.message().empty());
    REQUIRE((st.code() == StatusCode::kCorrupted || st.code() == StatusCode::kInvalidArgument));
  }
  return st.ok();
}

TEST_CASE("every truncation of a compressed vector is rejected", "[coding][malformed]") {
  for (const Sample& s : Samples()) {
    REQUIRE(TryDecode(s.bytes, s.d));
    const std::size_t stride = s.bytes.size() > 400 ? s.bytes.size() / 97 : 1;
    for (std::size_t cut = 0; cut < s.bytes.size(); cut += stride) {
      std::vector<std::uint8_t> t(s.bytes.begin(),
                                  s.bytes.begin() + static_cast<std::ptrdiff_t>(cut));
      INFO("cut at " << cut << " of " << s.bytes.size());
      REQUIRE_FALSE(TryDecode(t, s.d));
    }
    // Trailing garbage is rejected too.
    auto longer = s.bytes;
    longer.push_back(0);
    REQUIRE_FALSE(TryDecode(longer, s.d));
  }
}

TEST_CASE("bit-flipped compressed vectors never crash the decoder", "[coding][malformed]") {
  Rng rng(99);
  for (const Sample& s : Samples()) {
    for (int trial = 0; trial < 60; ++trial) {
      auto t = s.bytes;
      const int flips = 1 + static_cast<int>(rng.UniformInt(3));
      for (int f = 0; f < flips; ++f) {
        const std::size_t at = rng.UniformInt(t.size());
        t[at] ^= static_cast<std::uint8_t>(1u << rng.UniformInt(8));
      }
      (void)TryDecode(t, s.d);
    }
  }
}

// `spec`'s message for a Laplace vector of dimension d (testing::LaplaceVector).
std::vector<std::uint8_t> CompressedLaplace(const char* spec, std::size_t d, std::uint64_t seed) {
  auto c = MakeCompressor(spec);
  REQUIRE(c.ok());
  const auto x = testing::LaplaceVector(d, 0.5, seed);
  std::vector<std::uint8_t> bytes;
  std::vector<float> decoded(x.size());
  REQUIRE((*c)->Compress(x, {}, &bytes, decoded).ok());
  return bytes;
}

TEST_CASE("random bytes and lying headers are rejected", "[coding][malformed]") {
  Rng rng(7);
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<std::uint8_t> t(rng.UniformInt(64));
    for (auto& b : t) b = static_cast<std::uint8_t>(rng.NextU32());
    if (t.size() > 2 && trial % 2 == 0) {
      t[0] = kFormatMagic;
      t[1] = kFormatVersion;
    }
    (void)TryDecode(t, 100);
  }
  // A header declaring an enormous dimension fails before anything is allocated.
  std::vector<std::uint8_t> huge = {kFormatMagic, kFormatVersion, 3};
  PutVarint(&huge, std::uint64_t{1} << 40);
  huge.push_back(0);
  REQUIRE_FALSE(TryDecode(huge, 10));
  // A dimension within the limits but different from the accumulator's.
  const std::vector<std::uint8_t> bytes = CompressedLaplace("dither:s=16", 1000, 1);
  REQUIRE_FALSE(TryDecode(bytes, 999));
  DecodeLimits tight;
  tight.max_dimension = 999;
  REQUIRE_FALSE(TryDecode(bytes, 1000, tight));
  auto peek = PeekDimension(bytes, tight);
  REQUIRE_FALSE(peek.ok());
  REQUIRE(peek.error().code() == StatusCode::kInvalidArgument);
}

// A message of dimension 10 with one float section (kIndexed) of `nnz` entries and a
// zero payload of `payload_bytes`.
std::vector<std::uint8_t> IndexedFloatMessage(std::uint64_t nnz, std::size_t payload_bytes) {
  std::vector<std::uint8_t> bytes;
  MessageHeader h;
  h.codec = CodecId::kTopK;
  h.dimension = 10;
  WriteMessageHeader(h, 1, &bytes);
  SectionHeader s;
  s.kind = SectionKind::kFloats;
  s.float_coder = FloatCoder::kIndexed;
  s.nnz = nnz;
  WriteSection(s, std::vector<std::uint8_t>(payload_bytes, 0), &bytes);
  return bytes;
}

TEST_CASE("a section claiming more non-zeros than elements is rejected", "[coding][malformed]") {
  REQUIRE_FALSE(TryDecode(IndexedFloatMessage(11, 88), 10));
  REQUIRE_FALSE(TryDecode(IndexedFloatMessage(2, 16), 10));  // Indices that do not increase.
}

TEST_CASE("the header is packed; reserved bits, lying forms and float level bits are rejected",
          "[coding][malformed]") {
  const std::size_t d = 100000;
  const std::vector<std::uint8_t> bytes = CompressedLaplace("chain:topk:0.01+dither:s=16", d, 3);
  auto parsed = ParseMessage(bytes, {});
  REQUIRE(parsed.ok());
  REQUIRE(parsed->section_count == 1);
  // magic, version, codec/flags/count; dimension (3 bytes); the section's byte, s,
  // f32 step, non-zeros (2 bytes) and payload length (2 bytes): 16 bytes of header
  // (format 3 spent 5 more: codec, flags and section count, kind, support, coder and
  // level flags each had a byte).
  const std::size_t header = bytes.size() - parsed->sections[0].payload.size();
  CHECK(header == 16);
  REQUIRE(TryDecode(bytes, d));
  auto flipped = bytes;
  flipped[2] |= 0x80;  // Reserved bit of the message byte.
  REQUIRE_FALSE(TryDecode(flipped, d));
  flipped = bytes;
  flipped[2] |= 0x10;  // Two sections where there is one.
  REQUIRE_FALSE(TryDecode(flipped, d));
  flipped = bytes;
  flipped[6] ^= 0xC0;  // A lying form in the section byte (after 3 + 3 bytes).
  REQUIRE_FALSE(TryDecode(flipped, d));
  // A float section may carry neither level flags nor a form.
  std::vector<std::uint8_t> floats = IndexedFloatMessage(1, 8);
  REQUIRE(TryDecode(floats, 10));
  floats[4] |= 0x10;  // magic, version, message byte, dimension 10: the section byte.
  REQUIRE_FALSE(TryDecode(floats, 10));
}

}  // namespace
}  // namespace sotto::coding
