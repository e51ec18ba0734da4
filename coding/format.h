#pragma once

// The self-describing byte format of one compressed vector (what Compressor::Compress
// writes and DecodeAdd reads), and the reconstruction rules both ends share so that
// the sender's `decoded` equals what a receiver adds, bit for bit.
//
// Layout (all multi-byte integers are LEB128 varints unless marked; f32 is IEEE-754
// little-endian):
//
//   u8  magic = 0xC5
//   u8  version = 4 (3: before the packed header bytes and the tuned rANS carry of
//       blocks of < 256 non-zeros; 2: before short single-block prefixes,
//       variable-length gap parameter codes and signs in the rANS initial state; 1:
//       before rANS sparse blocks)
//   u8  codec id (CodecId: which compressor produced it; informational) in bits 0-2,
//       bit 3 = a seed triple follows (needed by rand-k supports and subtractive
//       dither, whose randomness the receiver regenerates), bits 4-6 = section count
//       - 1 (1..kMaxSections sections; the vector is their sum), bit 7 = 0
//   varint dimension d                        (<= DecodeLimits::max_dimension)
//   [varint seed, varint round, varint sender]  if bit 3
//   sections, each:
//     u8 bit 0 = kind (0: integer levels, 1: floats), bit 1 = support (0: all d
//        elements, 1: rand-k positions regenerated from (seed, round, sender, section
//        index)), bits 2-3 = coder (LevelCoder or FloatCoder), bits 4-5 = level flags
//        (bit 4: power-of-two map, bit 5: subtractive dither), bits 6-7 = the level
//        payload's form (coding/level_coder.h: the sotto coder's single-block mode);
//        bits 4-7 are 0 for floats
//     if rand-k: varint k (1..d)
//     levels: varint s (max |level|, 1..kMaxLevel), f32 step (finite)
//     varint nnz (non-zero levels / stored floats; <= n, the support's length)
//     varint payload length in bytes (<= the bytes that remain; explicit in the last
//        section too, so that a truncated message never passes for a shorter one)
//     payload (see below)
//   nothing after the last section.
//
// Payloads. Levels: the level coder's bytes (coding/level_coder.h; the sotto coder's
// block table and blocks are described there). Floats, by FloatCoder:
//   kGaps:    varint B, then B bytes of bits (LSB first: Elias-gamma Golomb parameter
//             m, then nnz Golomb codes of the zero-run before each position), then
//             nnz f32 values;
//   kIndexed: nnz x (u32 index, f32 value), indices strictly increasing;
//   kDense:   n f32 values (nnz == n).
// Values are what the receiver adds: the sender has applied every scale factor.
// Levels sections add step * level (linear), sign * step * 2^(|level| - s) (power of
// two) or step * (level + 1/2 - u_j) for every support element j (subtractive, u_j
// regenerated from the seed); a rand-k support maps element i of the section to the
// i-th smallest of the k positions drawn by SampleRandK (coding/sparsify.h).
//
// Every count and length is validated against the header, the limits and the
// bytes present before anything is allocated or written (coding/format.cc).

#include <cstdint>
#include <span>
#include <vector>

#include "coding/compressor.h"
#include "common/status.h"

namespace sotto::coding {

inline constexpr std::uint8_t kFormatMagic = 0xC5;
inline constexpr std::uint8_t kFormatVersion = 4;
inline constexpr int kMaxSections = 2;
inline constexpr std::uint32_t kMaxLevel = 1u << 16;      // Linear dither levels.
inline constexpr std::uint32_t kMaxPowerOfTwoLevel = 64;  // Natural dither exponents.

enum class CodecId : std::uint8_t {
  kIdentity = 0,
  kTopK = 1,
  kRandK = 2,
  kDither = 3,
  kNaturalDither = 4,
  kScaledSign = 5,
  kInduced = 6,
  kChain = 7,
};
inline constexpr std::uint8_t kMaxCodecId = 7;

enum class SectionKind : std::uint8_t { kLevels = 1, kFloats = 2 };
enum class Support : std::uint8_t { kAll = 0, kRandK = 1 };

// Lossless coders of integer levels (coding/level_coder.h).
enum class LevelCoder : std::uint8_t {
  kRans = 0,   // sotto: Golomb gaps + magnitudes + raw signs, or dense rANS, per block.
  kElias = 1,  // Elias-omega of gaps and magnitudes (QSGD).
  kVsc = 2,    // Value histogram + Golomb gaps among untaken positions (Woldemariam et al.).
  kFixed = 3,  // ceil(log2(2s+1)) bits per element.
};
inline constexpr std::uint8_t kMaxLevelCoder = 3;

// Coders of float values:
enum class FloatCoder : std::uint8_t {
  kGaps = 0,     // Golomb-coded zero-run lengths of the positions, then nnz raw f32.
  kIndexed = 1,  // nnz x (u32 index, f32 value): the "indices + floats" baseline.
  kDense = 2,    // n raw f32 (nnz == n).
};
inline constexpr std::uint8_t kMaxFloatCoder = 2;

// How a level maps to a value.
enum class LevelMap : std::uint8_t {
  kLinear = 0,      // level * step (QSGD dither, scaled sign).
  kPowerOfTwo = 1,  // sign(level) * step * 2^(|level| - s) (natural dither).
};

struct MessageHeader {
  CodecId codec = CodecId::kIdentity;
  std::uint64_t dimension = 0;
  bool has_seed = false;
  std::uint64_t seed = 0;
  std::uint64_t round = 0;
  std::uint64_t sender = 0;
};

struct SectionHeader {
  SectionKind kind = SectionKind::kFloats;
  Support support = Support::kAll;
  std::uint64_t k = 0;  // Support size for Support::kRandK.
  // Levels only:
  LevelCoder level_coder = LevelCoder::kRans;
  LevelMap map = LevelMap::kLinear;
  bool subtractive = false;
  std::uint32_t max_level = 1;
  float step = 0;
  std::uint8_t form = 0;  // The payload's form (EncodeLevels).
  // Floats only:
  FloatCoder float_coder = FloatCoder::kGaps;
  std::uint64_t nnz = 0;
  std::span<const std::uint8_t> payload;

  // Length of the vector the payload describes.
  std::uint64_t length(std::uint64_t dimension) const {
    return support == Support::kAll ? dimension : k;
  }
};

struct ParsedMessage {
  MessageHeader header;
  int section_count = 0;
  SectionHeader sections[kMaxSections];
};

// Appends the message header (through the section count) to `out`.
void WriteMessageHeader(const MessageHeader& header, int section_count,
                        std::vector<std::uint8_t>* out);
// Appends a section header and its payload. `section.payload` is ignored; the
// payload is `payload`.
void WriteSection(const SectionHeader& section, std::span<const std::uint8_t> payload,
                  std::vector<std::uint8_t>* out);

// Parses and validates the headers of a whole message (payloads are checked by their
// decoders). Returns kCorrupted for malformed bytes and kInvalidArgument when the
// dimension exceeds `limits`.
Result<ParsedMessage> ParseMessage(std::span<const std::uint8_t> bytes, const DecodeLimits& limits);

// The tag of the Philox stream a section's randomness uses (FillUniform's `tag`).
inline std::uint32_t RandKTag(int section) {
  return 0x52000000u + static_cast<std::uint32_t>(section);
}
inline std::uint32_t DitherTag(int section) {
  return 0x44000000u + static_cast<std::uint32_t>(section);
}

// Reconstruction rules. The encoder and decoder both call these, so values agree.
inline float LinearValue(std::int32_t level, float step) {
  return static_cast<float>(level) * step;
}
// Subtractive dither: step * (level + 1/2 - u), u the element's dither.
inline float SubtractiveValue(std::int32_t level, float u, float step) {
  return ((static_cast<float>(level) + 0.5f) - u) * step;
}
// Table of |value| by |level| for the power-of-two map: 0, then step * 2^(m - s).
std::vector<float> PowerOfTwoTable(std::uint32_t s, float step);

}  // namespace sotto::coding
