#include "coding/level_coder.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>

#include "coding/bit_io.h"
#include "coding/golomb.h"
#include "coding/rans.h"
#include "common/check.h"

namespace sotto::coding {

void EncodeLevels(LevelCoder coder, const LevelsView& levels, const LevelCoderOptions& options,
                  std::vector<std::uint8_t>* out) {
  SOTTO_CHECK(levels.index.size() == levels.level.size()) << "index/level size mismatch";
  switch (coder) {
    case LevelCoder::kRans:
      return detail::EncodeRans(levels, options, out);
    case LevelCoder::kElias:
      return detail::EncodeElias(levels, out);
    case LevelCoder::kVsc:
      return detail::EncodeVsc(levels, out);
    case LevelCoder::kFixed:
      return detail::EncodeFixed(levels, out);
  }
}

Status DecodeLevels(LevelCoder coder, std::span<const std::uint8_t> payload, std::uint64_t n,
                    std::uint64_t nnz, std::uint32_t max_level, std::vector<std::uint32_t>* index,
                    std::vector<std::int32_t>* level) {
  if (nnz > n) return Corrupted("levels: " + std::to_string(nnz) + " non-zeros in " + std::to_string(n));
  if (n > 0xFFFFFFFFull) return Corrupted("levels: length " + std::to_string(n) + " exceeds 2^32");
  switch (coder) {
    case LevelCoder::kRans:
      return detail::DecodeRans(payload, n, nnz, max_level, index, level);
    case LevelCoder::kElias:
      return detail::DecodeElias(payload, n, nnz, max_level, index, level);
    case LevelCoder::kVsc:
      return detail::DecodeVsc(payload, n, nnz, max_level, index, level);
    case LevelCoder::kFixed:
      return detail::DecodeFixed(payload, n, nnz, max_level, index, level);
  }
  return Corrupted("levels: unknown coder");
}

namespace detail {
namespace {

// Symbols 0..kEscape-1 are coded directly by rANS; larger ones as kEscape followed by
// an Elias-gamma code of (value - kEscape + 1) in the bit stream.
constexpr std::uint32_t kEscape = 1024;
constexpr int kMaxBlockLog2 = 24;

enum BlockMode : std::uint8_t {
  kEmpty = 0,
  kSparse = 1,          // Positions, signs, magnitudes (constant or Golomb): one bit stream.
  kSparseRansMags = 2,  // As kSparse with rANS magnitudes: varint bit-stream length, bits, rANS.
  kDense = 3,           // varint bit-stream length, bits (counts, escapes), rANS of every element.
};
enum MagnitudeMode : std::uint32_t { kConstant = 0, kGolomb = 1, kRansMagnitudes = 2 };

std::uint32_t ZigZag(std::int32_t v) {
  return (static_cast<std::uint32_t>(v) << 1) ^ static_cast<std::uint32_t>(v >> 31);
}
std::int32_t UnZigZag(std::uint32_t z) {
  return static_cast<std::int32_t>(z >> 1) ^ -static_cast<std::int32_t>(z & 1);
}
std::uint32_t Capped(std::uint32_t v) { return v < kEscape ? v : kEscape; }
int GammaBits(std::uint64_t v) { return 2 * (63 - std::countl_zero(v)) + 1; }

// Histogram of capped symbols, trimmed to the largest present symbol; the bits of
// the escapes through `escape_bits`.
void Histogram(std::span<const std::uint32_t> symbols, std::vector<std::uint32_t>* counts,
               std::uint64_t* escape_bits) {
  counts->assign(kEscape + 1, 0);
  std::uint64_t esc = 0;
  for (std::uint32_t s : symbols) {
    ++(*counts)[Capped(s)];
    if (s >= kEscape) esc += static_cast<std::uint64_t>(GammaBits(std::uint64_t{s} - kEscape + 1));
  }
  while (counts->size() > 1 && counts->back() == 0) counts->pop_back();
  *escape_bits = esc;
}

// Everything one block's encoder needs; reused across blocks.
struct BlockScratch {
  std::vector<std::uint32_t> gaps;
  std::vector<std::uint32_t> mags;  // |level| - 1.
  std::vector<std::uint32_t> zigzag;
  std::vector<std::uint32_t> counts;
  std::vector<std::uint32_t> dense_counts;
  std::vector<std::uint16_t> symbols;
  std::vector<std::uint8_t> bits;
  std::vector<std::uint8_t> rans;
};

void PutEscapes(BitWriter* w, std::span<const std::uint32_t> values) {
  for (std::uint32_t v : values) {
    if (v >= kEscape) w->PutGamma(std::uint64_t{v} - kEscape + 1);
  }
}

// The Golomb parameter both ends expect for the gaps of `count` non-zeros in `len`.
std::uint64_t PredictedGapCentre(std::uint32_t len, std::size_t count) {
  return GolombCentre(static_cast<double>(len - count) / static_cast<double>(count));
}

// Encodes one block [begin, begin + len) holding levels[first, first + count) into
// `out`; returns its mode. Sizes are exact for Golomb parts, estimated for rANS.
std::uint8_t EncodeBlock(const LevelsView& lv, std::uint32_t begin, std::uint32_t len, std::size_t first,
                         std::size_t count, BlockScratch* sc, std::vector<std::uint8_t>* out) {
  const auto idx = lv.index.subspan(first, count);
  const auto lev = lv.level.subspan(first, count);
  sc->gaps.resize(count);
  sc->mags.resize(count);
  std::uint32_t prev = begin;
  bool all_same = true;
  for (std::size_t i = 0; i < count; ++i) {
    sc->gaps[i] = idx[i] - prev;
    prev = idx[i] + 1;
    const std::uint32_t m = static_cast<std::uint32_t>(std::abs(lev[i])) - 1;
    sc->mags[i] = m;
    all_same &= m == sc->mags[0];
  }
  // The gap parameter: one of 7 candidates around what the decoder predicts from
  // (len, count) in 3 bits, or (code 7) any parameter in Elias-gamma.
  std::uint64_t gap_bits = 0;
  std::uint64_t gm = ChooseGolombParameter(sc->gaps, &gap_bits);
  std::uint64_t gm_header_bits = 3 + static_cast<std::uint64_t>(GammaBits(gm));
  int gm_code = 7;
  {
    const GolombCostModel model(sc->gaps);
    const std::uint64_t centre = PredictedGapCentre(len, count);
    for (int i = -3; i <= 3; ++i) {
      const std::uint64_t m = GolombCandidate(centre, i);
      const std::uint64_t cost = model.Cost(m);
      if (cost + 3 <= gap_bits + gm_header_bits) {
        gap_bits = cost;
        gm_header_bits = 3;
        gm = m;
        gm_code = i + 3;
      }
    }
  }
  MagnitudeMode mag_mode = kConstant;
  double mag_bits = GammaBits(std::uint64_t{sc->mags[0]} + 1);
  std::uint64_t mm = 1;
  if (!all_same) {
    std::uint64_t golomb_bits = 0;
    mm = ChooseGolombParameter(sc->mags, &golomb_bits);
    mag_mode = kGolomb;
    mag_bits = GammaBits(mm) + static_cast<double>(golomb_bits);
    std::uint64_t escape_bits = 0;
    Histogram(sc->mags, &sc->counts, &escape_bits);
    const RansTable table(sc->counts);
    const double rans_bits = table.CostBits(sc->counts) + static_cast<double>(CountsBits(sc->counts)) +
                             static_cast<double>(escape_bits) + 16;  // + the length varint.
    if (rans_bits < mag_bits) {
      mag_mode = kRansMagnitudes;
      mag_bits = rans_bits;
    }
  }
  const double sparse_bits = static_cast<double>(gm_header_bits + 2) + static_cast<double>(gap_bits) +
                             static_cast<double>(count) + mag_bits;
  double dense_bits = sparse_bits + 1;
  if (count * 32 > len) {  // Dense rANS cannot win below ~1/32 density; skip its table.
    sc->zigzag.resize(count + 1);
    for (std::size_t i = 0; i < count; ++i) sc->zigzag[i] = ZigZag(lev[i]);
    std::uint64_t escape_bits = 0;
    Histogram(std::span(sc->zigzag).first(count), &sc->dense_counts, &escape_bits);
    sc->dense_counts[0] = len - static_cast<std::uint32_t>(count);
    const RansTable dense_table(sc->dense_counts);
    dense_bits = dense_table.CostBits(sc->dense_counts) + static_cast<double>(CountsBits(sc->dense_counts)) +
                 static_cast<double>(escape_bits) + 16;
  }

  sc->bits.clear();
  sc->rans.clear();
  BitWriter w(&sc->bits);
  std::uint8_t mode;
  if (dense_bits < sparse_bits) {
    mode = kDense;
    WriteCounts(&w, sc->dense_counts);
    sc->symbols.assign(len, 0);
    for (std::size_t i = 0; i < count; ++i) {
      const std::uint32_t z = sc->zigzag[i];
      sc->symbols[idx[i] - begin] = static_cast<std::uint16_t>(Capped(z));
      if (z >= kEscape) w.PutGamma(std::uint64_t{z} - kEscape + 1);
    }
    RansEncode(sc->symbols, RansTable(sc->dense_counts), &sc->rans);
  } else {
    mode = mag_mode == kRansMagnitudes ? kSparseRansMags : kSparse;
    w.Put(static_cast<std::uint64_t>(gm_code), 3);
    if (gm_code == 7) w.PutGamma(gm);
    w.Put(mag_mode, 2);
    if (mag_mode == kConstant) w.PutGamma(std::uint64_t{sc->mags[0]} + 1);
    if (mag_mode == kGolomb) w.PutGamma(mm);
    if (mag_mode == kRansMagnitudes) WriteCounts(&w, sc->counts);
    for (std::uint32_t g : sc->gaps) PutGolomb(&w, g, gm);
    for (std::int32_t l : lev) w.Put(l < 0 ? 1 : 0, 1);
    if (mag_mode == kGolomb) {
      for (std::uint32_t m : sc->mags) PutGolomb(&w, m, mm);
    }
    if (mag_mode == kRansMagnitudes) {
      PutEscapes(&w, sc->mags);
      sc->symbols.resize(count);
      for (std::size_t i = 0; i < count; ++i) sc->symbols[i] = static_cast<std::uint16_t>(Capped(sc->mags[i]));
      RansEncode(sc->symbols, RansTable(sc->counts), &sc->rans);
    }
  }
  w.Flush();
  if (mode != kSparse) PutVarint(out, sc->bits.size());
  out->insert(out->end(), sc->bits.begin(), sc->bits.end());
  out->insert(out->end(), sc->rans.begin(), sc->rans.end());
  return mode;
}

Status BlockError(std::uint64_t block, const char* what) {
  return Corrupted("sotto levels block " + std::to_string(block) + ": " + what);
}

// Decodes one block's payload; writes exactly `count` levels at index/level.
Status DecodeBlock(std::span<const std::uint8_t> payload, std::uint8_t mode, std::uint64_t block,
                   std::uint32_t begin, std::uint32_t len, std::uint32_t count, std::uint32_t max_level,
                   std::uint32_t* index, std::int32_t* level, std::vector<std::uint32_t>* counts) {
  std::span<const std::uint8_t> bit_span = payload, rans_span;
  if (mode != kSparse) {
    ByteReader in(payload);
    const std::uint64_t bit_bytes = in.Varint();
    bit_span = in.Take(bit_bytes);
    if (!in.ok()) return BlockError(block, "truncated bit stream");
    rans_span = payload.subspan(in.position());
  }
  BitReader r(bit_span);
  const std::uint64_t max_zigzag = 2 * std::uint64_t{max_level};
  if (mode == kDense) {
    if (!ReadCounts(&r, kEscape + 1, len, counts)) return BlockError(block, "bad symbol counts");
    RansTable table(*counts);
    if (len >= 4096) table.BuildLookup();
    // Non-zeros are appended branch-free, so the output needs room for `len`: use
    // per-thread buffers (not zero-filled), then copy the `count` entries out.
    thread_local std::unique_ptr<std::uint32_t[]> dense_index;
    thread_local std::unique_ptr<std::int32_t[]> dense_level;
    thread_local std::uint32_t dense_capacity = 0;
    if (dense_capacity < len) {
      dense_index.reset(new std::uint32_t[len]);
      dense_level.reset(new std::int32_t[len]);
      dense_capacity = len;
    }
    std::uint32_t* const out_index = dense_index.get();
    std::int32_t* const out_level = dense_level.get();
    std::uint32_t written = 0;
    bool bad = false;
    const bool ok = RansDecode(rans_span, table, len, [&](std::uint64_t i, std::uint32_t s) {
      std::uint64_t z = s;
      if (s == kEscape) {
        z = r.GetGamma() - 1 + kEscape;
        bad |= z > max_zigzag;
        z = bad ? 0 : z;
      }
      const std::int32_t v = UnZigZag(static_cast<std::uint32_t>(z));
      out_index[written] = begin + static_cast<std::uint32_t>(i);
      out_level[written] = v;
      written += v != 0;
    });
    if (!ok || bad || !r.ok()) return BlockError(block, "bad dense rANS stream");
    if ((r.position() + 7) / 8 != bit_span.size()) return BlockError(block, "bit stream length mismatch");
    if (written != count) return BlockError(block, "non-zero count differs from the block table");
    for (std::uint32_t i = 0; i < count; ++i) {
      if (static_cast<std::uint32_t>(std::abs(out_level[i])) > max_level) {
        return BlockError(block, "level out of range");
      }
    }
    std::memcpy(index, out_index, 4 * std::size_t{count});
    std::memcpy(level, out_level, 4 * std::size_t{count});
    return Status::Ok();
  }
  const auto gm_code = static_cast<int>(r.Get(3));
  const std::uint64_t gm = gm_code == 7 ? r.GetGamma() : GolombCandidate(PredictedGapCentre(len, count), gm_code - 3);
  const auto mag_mode = static_cast<MagnitudeMode>(r.Get(2));
  if (!r.ok() || gm > kMaxGolombParameter || mag_mode > kRansMagnitudes ||
      (mag_mode == kRansMagnitudes) != (mode == kSparseRansMags)) {
    return BlockError(block, "bad parameters");
  }
  std::uint64_t constant = 0, mm = 1;
  if (mag_mode == kConstant) constant = r.GetGamma() - 1;
  if (mag_mode == kGolomb) mm = r.GetGamma();
  if (mag_mode == kRansMagnitudes && !ReadCounts(&r, kEscape + 1, count, counts)) {
    return BlockError(block, "bad magnitude counts");
  }
  if (!r.ok() || constant >= max_level || mm > kMaxGolombParameter) return BlockError(block, "bad parameters");
  std::uint64_t pos = begin;
  const std::uint64_t end = std::uint64_t{begin} + len;
  for (std::uint32_t i = 0; i < count; ++i) {
    pos += GetGolomb(&r, gm, len);
    if (pos >= end) return BlockError(block, "position beyond the block");
    index[i] = static_cast<std::uint32_t>(pos);
    ++pos;
  }
  for (std::uint32_t i = 0; i < count; ++i) level[i] = r.Get(1) ? -1 : 1;
  if (!r.ok()) return BlockError(block, "truncated positions");
  if (mag_mode == kConstant) {
    const auto m = static_cast<std::int32_t>(constant + 1);
    for (std::uint32_t i = 0; i < count; ++i) level[i] *= m;
  } else if (mag_mode == kGolomb) {
    for (std::uint32_t i = 0; i < count; ++i) {
      const std::uint64_t m = GetGolomb(&r, mm, max_level) + 1;
      if (m > max_level) return BlockError(block, "magnitude out of range");
      level[i] *= static_cast<std::int32_t>(m);
    }
  } else {
    RansTable table(*counts);
    if (count >= 4096) table.BuildLookup();
    bool bad = false;
    const bool ok = RansDecode(rans_span, table, count, [&](std::uint64_t i, std::uint32_t s) {
      std::uint64_t m = s;
      if (s == kEscape) m = r.GetGamma() - 1 + kEscape;
      bad |= m >= max_level;
      level[i] *= bad ? 1 : static_cast<std::int32_t>(m + 1);
    });
    if (!ok || bad) return BlockError(block, "bad magnitude stream");
  }
  if (!r.ok() || (r.position() + 7) / 8 != bit_span.size()) return BlockError(block, "bit stream length mismatch");
  return Status::Ok();
}

}  // namespace

// Payload: u8 (block_log2 | last block's mode << 5); for each block but the last,
// varint (count << 2 | mode) and, unless empty, varint byte length; then the blocks.
// The last block's count and length are what remains.
void EncodeRans(const LevelsView& lv, const LevelCoderOptions& options, std::vector<std::uint8_t>* out) {
  int block_log2 = options.block_log2;
  SOTTO_CHECK(block_log2 >= 10 && block_log2 <= kMaxBlockLog2) << "block_log2 " << block_log2;
  const std::uint64_t nnz = lv.index.size();
  if (options.grow_sparse_blocks && nnz * 8 < lv.n) {
    const double want = 65536.0 * static_cast<double>(lv.n) / static_cast<double>(std::max<std::uint64_t>(nnz, 1));
    block_log2 = std::clamp(static_cast<int>(std::ceil(std::log2(want))), block_log2, kMaxBlockLog2);
  }
  const std::uint64_t block = std::uint64_t{1} << block_log2;
  const std::uint64_t nblocks = (lv.n + block - 1) / block;
  std::vector<std::uint8_t> table;
  std::vector<std::uint8_t> body;
  BlockScratch sc;
  std::size_t first = 0;
  std::uint8_t last_mode = kEmpty;
  for (std::uint64_t b = 0; b < nblocks; ++b) {
    const std::uint64_t begin = b * block;
    const std::uint64_t end = std::min(lv.n, begin + block);
    std::size_t last = first;
    while (last < lv.index.size() && lv.index[last] < end) ++last;
    const std::size_t count = last - first;
    const std::size_t before = body.size();
    std::uint8_t mode = kEmpty;
    if (count > 0) {
      mode = EncodeBlock(lv, static_cast<std::uint32_t>(begin), static_cast<std::uint32_t>(end - begin), first,
                         count, &sc, &body);
    }
    if (b + 1 < nblocks) {
      PutVarint(&table, std::uint64_t{count} << 2 | mode);
      if (mode != kEmpty) PutVarint(&table, body.size() - before);
    } else {
      last_mode = mode;
    }
    first = last;
  }
  PutU8(out, static_cast<std::uint8_t>(block_log2 | last_mode << 5));
  out->insert(out->end(), table.begin(), table.end());
  out->insert(out->end(), body.begin(), body.end());
}

Status DecodeRans(std::span<const std::uint8_t> payload, std::uint64_t n, std::uint64_t nnz,
                  std::uint32_t max_level, std::vector<std::uint32_t>* index,
                  std::vector<std::int32_t>* level) {
  ByteReader in(payload);
  const std::uint8_t first_byte = in.U8();
  const int block_log2 = first_byte & 31;
  const std::uint8_t last_mode = first_byte >> 5;
  if (!in.ok() || block_log2 < 10 || block_log2 > kMaxBlockLog2 || last_mode > kDense) {
    return Corrupted("sotto levels: bad first byte");
  }
  const std::uint64_t block = std::uint64_t{1} << block_log2;
  const std::uint64_t nblocks = (n + block - 1) / block;
  if (nblocks > in.remaining() + 1) return Corrupted("sotto levels: block table longer than the payload");
  // Pass 1: the block table, validated in full before any decoding.
  struct Entry {
    std::uint8_t mode;
    std::uint32_t count;
    std::uint64_t bytes;
  };
  std::vector<Entry> entries(nblocks);
  std::uint64_t total_count = 0, total_bytes = 0;
  for (std::uint64_t b = 0; b + 1 < nblocks; ++b) {
    Entry& e = entries[b];
    const std::uint64_t word = in.Varint();
    e.mode = static_cast<std::uint8_t>(word & 3);
    const std::uint64_t c = word >> 2;
    e.bytes = e.mode == kEmpty ? 0 : in.Varint();
    const std::uint64_t len = std::min(block, n - b * block);
    if (!in.ok() || c > len || (c == 0) != (e.mode == kEmpty)) return BlockError(b, "bad non-zero count");
    e.count = static_cast<std::uint32_t>(c);
    total_count += c;
    total_bytes += e.bytes;
    if (total_bytes > payload.size()) return BlockError(b, "bad length");
  }
  if (!in.ok() || total_bytes > in.remaining() || total_count > nnz) {
    return Corrupted("sotto levels: block table does not match the payload");
  }
  if (nblocks > 0) {
    Entry& e = entries[nblocks - 1];
    e.mode = last_mode;
    e.count = static_cast<std::uint32_t>(std::min<std::uint64_t>(nnz - total_count, 0xFFFFFFFFu));
    e.bytes = in.remaining() - total_bytes;
    const std::uint64_t len = n - (nblocks - 1) * block;
    if (nnz - total_count > len || (e.count == 0) != (e.mode == kEmpty) || (e.mode == kEmpty && e.bytes != 0)) {
      return BlockError(nblocks - 1, "bad non-zero count");
    }
  } else if (nnz != 0 || in.remaining() != 0) {
    return Corrupted("sotto levels: non-zeros or bytes in an empty vector");
  }
  index->resize(nnz);
  level->resize(nnz);
  std::vector<std::uint32_t> counts;
  std::uint64_t at = 0;
  for (std::uint64_t b = 0; b < nblocks; ++b) {
    const Entry& e = entries[b];
    if (e.mode == kEmpty) continue;
    const auto body = in.Take(e.bytes);
    const std::uint64_t begin = b * block;
    const auto len = static_cast<std::uint32_t>(std::min(block, n - begin));
    SOTTO_RETURN_IF_ERROR(DecodeBlock(body, e.mode, b, static_cast<std::uint32_t>(begin), len, e.count,
                                      max_level, index->data() + at, level->data() + at, &counts));
    at += e.count;
  }
  return Status::Ok();
}

}  // namespace detail
}  // namespace sotto::coding
