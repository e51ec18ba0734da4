#include "coding/format.h"

#include <cmath>
#include <string>

#include "coding/bit_io.h"

namespace sotto::coding {

void WriteMessageHeader(const MessageHeader& header, int section_count,
                        std::vector<std::uint8_t>* out) {
  PutU8(out, kFormatMagic);
  PutU8(out, kFormatVersion);
  PutU8(out, static_cast<std::uint8_t>(static_cast<unsigned>(header.codec) |
                                       (header.has_seed ? 8u : 0u) |
                                       static_cast<unsigned>(section_count - 1) << 4));
  PutVarint(out, header.dimension);
  if (header.has_seed) {
    PutVarint(out, header.seed);
    PutVarint(out, header.round);
    PutVarint(out, header.sender);
  }
}

void WriteSection(const SectionHeader& section, std::span<const std::uint8_t> payload,
                  std::vector<std::uint8_t>* out) {
  const bool levels = section.kind == SectionKind::kLevels;
  const unsigned coder = levels ? static_cast<unsigned>(section.level_coder)
                                : static_cast<unsigned>(section.float_coder);
  const unsigned lflags =
      levels ? (section.map == LevelMap::kPowerOfTwo ? 1u : 0u) | (section.subtractive ? 2u : 0u)
             : 0u;
  PutU8(out, static_cast<std::uint8_t>((levels ? 0u : 1u) |
                                       (section.support == Support::kRandK ? 2u : 0u) | coder << 2 |
                                       lflags << 4 | (levels ? section.form : 0u) << 6));
  if (section.support == Support::kRandK) PutVarint(out, section.k);
  if (levels) {
    PutVarint(out, section.max_level);
    PutF32(out, section.step);
  }
  PutVarint(out, section.nnz);
  PutVarint(out, payload.size());
  out->insert(out->end(), payload.begin(), payload.end());
}

Result<ParsedMessage> ParseMessage(std::span<const std::uint8_t> bytes,
                                   const DecodeLimits& limits) {
  ByteReader in(bytes);
  ParsedMessage msg;
  const std::uint8_t magic = in.U8();
  const std::uint8_t version = in.U8();
  const std::uint8_t head = in.U8();
  if (!in.ok())
    return Corrupted("compressed vector: " + std::to_string(bytes.size()) +
                     " bytes, shorter than a header");
  if (magic != kFormatMagic)
    return Corrupted("compressed vector: bad magic byte " + std::to_string(magic));
  if (version != kFormatVersion)
    return Corrupted("compressed vector: unsupported version " + std::to_string(version));
  const unsigned codec = head & 7u;
  const int count = (head >> 4 & 7) + 1;
  if (codec > kMaxCodecId)
    return Corrupted("compressed vector: unknown codec id " + std::to_string(codec));
  if ((head & 0x80) != 0)
    return Corrupted("compressed vector: unknown flags " + std::to_string(head));
  if (count > kMaxSections) {
    return Corrupted("compressed vector: " + std::to_string(count) + " sections, want 1.." +
                     std::to_string(kMaxSections));
  }
  msg.header.codec = static_cast<CodecId>(codec);
  msg.header.has_seed = (head & 8) != 0;
  msg.header.dimension = in.Varint();
  if (!in.ok()) return Corrupted("compressed vector: truncated dimension");
  if (msg.header.dimension > limits.max_dimension) {
    return InvalidArgument("compressed vector: dimension " + std::to_string(msg.header.dimension) +
                           " exceeds the limit " + std::to_string(limits.max_dimension));
  }
  const std::uint64_t d = msg.header.dimension;
  if (msg.header.has_seed) {
    msg.header.seed = in.Varint();
    msg.header.round = in.Varint();
    msg.header.sender = in.Varint();
  }
  if (!in.ok()) return Corrupted("compressed vector: truncated header");
  msg.section_count = count;
  for (int i = 0; i < count; ++i) {
    SectionHeader& s = msg.sections[i];
    const std::string where = "compressed vector section " + std::to_string(i) + ": ";
    const std::uint8_t head_byte = in.U8();
    if (!in.ok()) return Corrupted(where + "truncated");
    s.kind = (head_byte & 1) != 0 ? SectionKind::kFloats : SectionKind::kLevels;
    s.support = (head_byte & 2) != 0 ? Support::kRandK : Support::kAll;
    const unsigned coder = head_byte >> 2 & 3;
    const unsigned lflags = head_byte >> 4 & 3;
    s.form = static_cast<std::uint8_t>(head_byte >> 6);
    if (s.support == Support::kRandK) {
      s.k = in.Varint();
      if (!in.ok()) return Corrupted(where + "truncated");
      if (!msg.header.has_seed) return Corrupted(where + "rand-k support without a seed");
      if (s.k < 1 || s.k > d) {
        return Corrupted(where + "rand-k support of " + std::to_string(s.k) +
                         " elements in dimension " + std::to_string(d));
      }
    }
    if (s.kind == SectionKind::kLevels) {
      const std::uint64_t max_level = in.Varint();
      s.step = in.F32();
      if (!in.ok()) return Corrupted(where + "truncated");
      if (coder > kMaxLevelCoder)
        return Corrupted(where + "unknown level coder " + std::to_string(coder));
      s.level_coder = static_cast<LevelCoder>(coder);
      s.map = (lflags & 1) ? LevelMap::kPowerOfTwo : LevelMap::kLinear;
      s.subtractive = (lflags & 2) != 0;
      const std::uint64_t level_limit =
          s.map == LevelMap::kLinear ? kMaxLevel : kMaxPowerOfTwoLevel;
      if (max_level < 1 || max_level > level_limit) {
        return Corrupted(where + "level count " + std::to_string(max_level) + " outside 1.." +
                         std::to_string(level_limit));
      }
      s.max_level = static_cast<std::uint32_t>(max_level);
      if (!std::isfinite(s.step)) return Corrupted(where + "step is not finite");
      if (s.subtractive && (!msg.header.has_seed || s.map != LevelMap::kLinear)) {
        return Corrupted(where + "subtractive dither needs a seed and the linear map");
      }
    } else {
      if (coder > kMaxFloatCoder)
        return Corrupted(where + "unknown float coder " + std::to_string(coder));
      if (lflags != 0 || s.form != 0) return Corrupted(where + "level bits on a float section");
      s.float_coder = static_cast<FloatCoder>(coder);
    }
    s.nnz = in.Varint();
    const std::uint64_t length = in.Varint();
    if (!in.ok()) return Corrupted(where + "truncated");
    const std::uint64_t n = s.length(d);
    if (s.nnz > n) {
      return Corrupted(where + std::to_string(s.nnz) + " non-zeros in " + std::to_string(n) +
                       " elements");
    }
    if (length > in.remaining()) {
      return Corrupted(where + "payload of " + std::to_string(length) + " bytes, only " +
                       std::to_string(in.remaining()) + " present");
    }
    s.payload = in.Take(length);
  }
  if (in.remaining() != 0) {
    return Corrupted("compressed vector: " + std::to_string(in.remaining()) + " trailing bytes");
  }
  return msg;
}

std::vector<float> PowerOfTwoTable(std::uint32_t s, float step) {
  std::vector<float> table(s + 1);
  table[0] = 0;
  for (std::uint32_t m = 1; m <= s; ++m) {
    table[m] = std::ldexp(step, static_cast<int>(m) - static_cast<int>(s));
  }
  return table;
}

}  // namespace sotto::coding
