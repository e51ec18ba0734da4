#include "coding/level_coder.h"

#include <algorithm>
#include <cmath>
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
      return detail::EncodeRans(levels, options.block_log2, out);
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

enum BlockMode : std::uint8_t { kEmpty = 0, kSparse = 1, kDense = 2 };
enum MagnitudeMode : std::uint32_t { kConstant = 0, kRice = 1, kRansMagnitudes = 2 };

std::uint32_t ZigZag(std::int32_t v) {
  return (static_cast<std::uint32_t>(v) << 1) ^ static_cast<std::uint32_t>(v >> 31);
}
std::int32_t UnZigZag(std::uint32_t z) {
  return static_cast<std::int32_t>(z >> 1) ^ -static_cast<std::int32_t>(z & 1);
}
std::uint32_t Capped(std::uint32_t v) { return v < kEscape ? v : kEscape; }
int GammaBits(std::uint64_t v) { return 2 * (63 - std::countl_zero(v)) + 1; }

// Histogram of capped symbols, trimmed to the largest present symbol.
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

// Encodes one block [begin, begin + len) holding levels[first, first + count).
void EncodeBlock(const LevelsView& lv, std::uint32_t begin, std::uint32_t len, std::size_t first,
                 std::size_t count, BlockScratch* sc, std::uint8_t* mode, std::vector<std::uint8_t>* out) {
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
  // Sparse cost, exact except for rANS magnitudes (estimated).
  std::uint64_t gap_bits = 0;
  const int k = ChooseRiceParameter(sc->gaps, &gap_bits);
  std::uint64_t mag_escape_bits = 0;
  MagnitudeMode mag_mode = kConstant;
  double mag_bits = GammaBits(std::uint64_t{sc->mags[0]} + 1);
  int km = 0;
  if (!all_same) {
    std::uint64_t rice_bits = 0;
    km = ChooseRiceParameter(sc->mags, &rice_bits);
    mag_mode = kRice;
    mag_bits = 6.0 + static_cast<double>(rice_bits);
    Histogram(sc->mags, &sc->counts, &mag_escape_bits);
    const RansTable table(sc->counts);
    const double rans_bits = table.CostBits(sc->counts) + static_cast<double>(CountsBits(sc->counts)) +
                             static_cast<double>(mag_escape_bits);
    if (rans_bits < mag_bits) {
      mag_mode = kRansMagnitudes;
      mag_bits = rans_bits;
    }
  }
  const double sparse_bits = 8.0 + static_cast<double>(gap_bits) + static_cast<double>(count) + mag_bits;

  // Dense cost from the histogram of zig-zag symbols.
  std::uint64_t dense_escape_bits = 0;
  sc->dense_counts.assign(kEscape + 1, 0);
  sc->dense_counts[0] = len - static_cast<std::uint32_t>(count);
  for (std::int32_t l : lev) {
    const std::uint32_t z = ZigZag(l);
    ++sc->dense_counts[Capped(z)];
    if (z >= kEscape) dense_escape_bits += static_cast<std::uint64_t>(GammaBits(std::uint64_t{z} - kEscape + 1));
  }
  while (sc->dense_counts.size() > 1 && sc->dense_counts.back() == 0) sc->dense_counts.pop_back();
  double dense_bits = sparse_bits + 1;
  if (count * 8 > len) {  // Dense rANS cannot win below ~1/8 density; skip the table.
    const RansTable dense_table(sc->dense_counts);
    dense_bits = dense_table.CostBits(sc->dense_counts) + static_cast<double>(CountsBits(sc->dense_counts)) +
                 static_cast<double>(dense_escape_bits);
  }

  sc->bits.clear();
  sc->rans.clear();
  BitWriter w(&sc->bits);
  if (dense_bits < sparse_bits) {
    *mode = kDense;
    WriteCounts(&w, sc->dense_counts);
    sc->symbols.assign(len, 0);
    for (std::size_t i = 0; i < count; ++i) {
      const std::uint32_t z = ZigZag(lev[i]);
      sc->symbols[idx[i] - begin] = static_cast<std::uint16_t>(Capped(z));
      if (z >= kEscape) w.PutGamma(std::uint64_t{z} - kEscape + 1);
    }
    RansTable table(sc->dense_counts);
    RansEncode(sc->symbols, table, &sc->rans);
  } else {
    *mode = kSparse;
    w.Put(static_cast<std::uint64_t>(k), 6);
    w.Put(mag_mode, 2);
    if (mag_mode == kConstant) w.PutGamma(std::uint64_t{sc->mags[0]} + 1);
    if (mag_mode == kRice) w.Put(static_cast<std::uint64_t>(km), 6);
    if (mag_mode == kRansMagnitudes) WriteCounts(&w, sc->counts);
    for (std::uint32_t g : sc->gaps) PutRice(&w, g, k);
    for (std::int32_t l : lev) w.Put(l < 0 ? 1 : 0, 1);
    if (mag_mode == kRice) {
      for (std::uint32_t m : sc->mags) PutRice(&w, m, km);
    }
    if (mag_mode == kRansMagnitudes) {
      PutEscapes(&w, sc->mags);
      sc->symbols.resize(count);
      for (std::size_t i = 0; i < count; ++i) sc->symbols[i] = static_cast<std::uint16_t>(Capped(sc->mags[i]));
      RansTable table(sc->counts);
      RansEncode(sc->symbols, table, &sc->rans);
    }
  }
  w.Flush();
  PutVarint(out, sc->bits.size());
  out->insert(out->end(), sc->bits.begin(), sc->bits.end());
  out->insert(out->end(), sc->rans.begin(), sc->rans.end());
}

Status BlockError(std::uint64_t block, const char* what) {
  return Corrupted("sotto levels block " + std::to_string(block) + ": " + what);
}

// Decodes one block's payload; appends exactly `count` levels at index[at..).
Status DecodeBlock(std::span<const std::uint8_t> payload, std::uint8_t mode, std::uint64_t block,
                   std::uint32_t begin, std::uint32_t len, std::uint32_t count, std::uint32_t max_level,
                   std::uint32_t* index, std::int32_t* level, std::vector<std::uint32_t>* counts) {
  ByteReader in(payload);
  const std::uint64_t bit_bytes = in.Varint();
  const auto bit_span = in.Take(bit_bytes);
  if (!in.ok()) return BlockError(block, "truncated bit stream");
  const auto rans_span = payload.subspan(in.position());
  BitReader r(bit_span);
  const std::uint64_t max_zigzag = 2 * std::uint64_t{max_level};
  if (mode == kDense) {
    if (!ReadCounts(&r, kEscape + 1, len, counts)) return BlockError(block, "bad symbol counts");
    RansTable table(*counts);
    if (len >= 4096) table.BuildLookup();
    std::uint32_t written = 0;
    bool bad = false;
    // Branch-free append of non-zeros: index/level have room for `len` entries.
    const bool ok = RansDecode(rans_span, table, len, [&](std::uint64_t i, std::uint32_t s) {
      std::uint64_t z = s;
      if (s == kEscape) {
        z = r.GetGamma() - 1 + kEscape;
        bad |= z > max_zigzag;
        z = bad ? 0 : z;
      }
      const std::int32_t v = UnZigZag(static_cast<std::uint32_t>(z));
      index[written] = begin + static_cast<std::uint32_t>(i);
      level[written] = v;
      written += v != 0;
    });
    if (!ok || bad || !r.ok()) return BlockError(block, "bad dense rANS stream");
    if (written != count) return BlockError(block, "non-zero count differs from the block table");
    for (std::uint32_t i = 0; i < count; ++i) {
      if (static_cast<std::uint32_t>(std::abs(level[i])) > max_level) return BlockError(block, "level out of range");
    }
    return Status::Ok();
  }
  // Sparse.
  const int k = static_cast<int>(r.Get(6));
  const auto mag_mode = static_cast<MagnitudeMode>(r.Get(2));
  if (k > kMaxRiceParameter || mag_mode > kRansMagnitudes) return BlockError(block, "bad parameters");
  std::uint64_t constant = 0;
  int km = 0;
  if (mag_mode == kConstant) constant = r.GetGamma() - 1;
  if (mag_mode == kRice) km = static_cast<int>(r.Get(6));
  if (mag_mode == kRansMagnitudes && !ReadCounts(&r, kEscape + 1, count, counts)) {
    return BlockError(block, "bad magnitude counts");
  }
  if (!r.ok() || constant >= max_level || km > kMaxRiceParameter) return BlockError(block, "bad parameters");
  std::uint64_t pos = begin;
  const std::uint64_t end = std::uint64_t{begin} + len;
  for (std::uint32_t i = 0; i < count; ++i) {
    pos += GetRice(&r, k, len);
    if (pos >= end) return BlockError(block, "position beyond the block");
    index[i] = static_cast<std::uint32_t>(pos);
    ++pos;
  }
  for (std::uint32_t i = 0; i < count; ++i) level[i] = r.Get(1) ? -1 : 1;
  if (!r.ok()) return BlockError(block, "truncated positions");
  if (mag_mode == kConstant) {
    const auto m = static_cast<std::int32_t>(constant + 1);
    for (std::uint32_t i = 0; i < count; ++i) level[i] *= m;
  } else if (mag_mode == kRice) {
    for (std::uint32_t i = 0; i < count; ++i) {
      const std::uint64_t m = GetRice(&r, km, max_level) + 1;
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
  if (mag_mode != kRansMagnitudes && !rans_span.empty()) return BlockError(block, "unexpected rANS bytes");
  if (!r.ok()) return BlockError(block, "truncated bit stream");
  return Status::Ok();
}

}  // namespace

void EncodeRans(const LevelsView& lv, int block_log2, std::vector<std::uint8_t>* out) {
  SOTTO_CHECK(block_log2 >= 10 && block_log2 <= 20) << "block_log2 " << block_log2;
  const std::uint64_t block = std::uint64_t{1} << block_log2;
  const std::uint64_t nblocks = (lv.n + block - 1) / block;
  PutU8(out, static_cast<std::uint8_t>(block_log2));
  std::vector<std::uint8_t> table;
  std::vector<std::uint8_t> body;
  BlockScratch sc;
  std::size_t first = 0;
  for (std::uint64_t b = 0; b < nblocks; ++b) {
    const std::uint64_t begin = b * block;
    const std::uint64_t end = std::min(lv.n, begin + block);
    std::size_t last = first;
    while (last < lv.index.size() && lv.index[last] < end) ++last;
    const std::size_t count = last - first;
    if (count == 0) {
      table.push_back(kEmpty);
      continue;
    }
    const std::size_t before = body.size();
    std::uint8_t mode = kSparse;
    EncodeBlock(lv, static_cast<std::uint32_t>(begin), static_cast<std::uint32_t>(end - begin), first, count,
                &sc, &mode, &body);
    table.push_back(mode);
    PutVarint(&table, count);
    PutVarint(&table, body.size() - before);
    first = last;
  }
  out->insert(out->end(), table.begin(), table.end());
  out->insert(out->end(), body.begin(), body.end());
}

Status DecodeRans(std::span<const std::uint8_t> payload, std::uint64_t n, std::uint64_t nnz,
                  std::uint32_t max_level, std::vector<std::uint32_t>* index,
                  std::vector<std::int32_t>* level) {
  ByteReader in(payload);
  const int block_log2 = in.U8();
  if (!in.ok() || block_log2 < 10 || block_log2 > 20) return Corrupted("sotto levels: bad block size");
  const std::uint64_t block = std::uint64_t{1} << block_log2;
  const std::uint64_t nblocks = (n + block - 1) / block;
  if (nblocks > in.remaining()) return Corrupted("sotto levels: block table longer than the payload");
  // Pass 1: the block table, validated in full before any decoding.
  struct Entry {
    std::uint8_t mode;
    std::uint32_t count;
    std::uint64_t bytes;
  };
  std::vector<Entry> entries(nblocks);
  std::uint64_t total_count = 0, total_bytes = 0;
  for (std::uint64_t b = 0; b < nblocks; ++b) {
    Entry& e = entries[b];
    e.mode = in.U8();
    e.count = 0;
    e.bytes = 0;
    if (e.mode > kDense) return BlockError(b, "unknown mode");
    if (e.mode != kEmpty) {
      const std::uint64_t c = in.Varint();
      e.bytes = in.Varint();
      const std::uint64_t len = std::min(block, n - b * block);
      if (!in.ok() || c == 0 || c > len) return BlockError(b, "bad non-zero count");
      e.count = static_cast<std::uint32_t>(c);
      total_count += c;
      total_bytes += e.bytes;
      if (total_bytes > payload.size()) return BlockError(b, "bad length");
    }
  }
  if (!in.ok()) return Corrupted("sotto levels: truncated block table");
  if (total_count != nnz) {
    return Corrupted("sotto levels: blocks hold " + std::to_string(total_count) + " non-zeros, header says " +
                     std::to_string(nnz));
  }
  if (total_bytes != in.remaining()) return Corrupted("sotto levels: block lengths do not match the payload");
  // Dense blocks append branch-free and need a block of slack.
  const std::uint64_t slack = std::min(block, n);
  index->resize(nnz + slack);
  level->resize(nnz + slack);
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
  index->resize(nnz);
  level->resize(nnz);
  return Status::Ok();
}

}  // namespace detail
}  // namespace sotto::coding
