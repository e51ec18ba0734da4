#include "coding/level_coder.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "coding/bit_io.h"
#include "coding/golomb.h"
#include "coding/rans.h"
#include "common/check.h"

namespace sotto::coding {

void EncodeLevels(LevelCoder coder, const LevelsView& levels, const LevelCoderOptions& options,
                  std::vector<std::uint8_t>* out, std::uint8_t* form) {
  SOTTO_CHECK(levels.index.size() == levels.level.size()) << "index/level size mismatch";
  *form = 0;
  switch (coder) {
    case LevelCoder::kRans:
      *form = detail::EncodeRans(levels, options, out);
      return;
    case LevelCoder::kElias:
      return detail::EncodeElias(levels, out);
    case LevelCoder::kVsc:
      return detail::EncodeVsc(levels, out);
    case LevelCoder::kFixed:
      return detail::EncodeFixed(levels, out);
  }
}

Status DecodeLevels(LevelCoder coder, std::span<const std::uint8_t> payload, std::uint8_t form,
                    std::uint64_t n, std::uint64_t nnz, std::uint32_t max_level,
                    std::vector<std::uint32_t>* index, std::vector<std::int32_t>* level) {
  if (nnz > n)
    return Corrupted("levels: " + std::to_string(nnz) + " non-zeros in " + std::to_string(n));
  if (n > 0xFFFFFFFFull) return Corrupted("levels: length " + std::to_string(n) + " exceeds 2^32");
  if (form > kMaxLevelForm || (form != 0 && coder != LevelCoder::kRans))
    return Corrupted("levels: payload form " + std::to_string(form) + " for this coder");
  switch (coder) {
    case LevelCoder::kRans:
      return detail::DecodeRans(payload, form, n, nnz, max_level, index, level);
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
constexpr int kMinBlockLog2 = 10;
constexpr int kMaxBlockLog2 = 24;
// Gap buckets of the rANS sparse mode: symbols 0..kGapEscape-1 are buckets q = gap >>
// shift, kGapEscape is followed by Elias-gamma (q - kGapEscape + 1) in the bit stream.
constexpr std::uint32_t kGapEscape = 64;

enum BlockMode : std::uint8_t {
  kEmpty = 0,
  kSparseGolomb = 1,  // Golomb gaps, raw signs, magnitudes constant / Golomb / rANS.
  kSparseRans =
      2,       // rANS gap buckets (geometric model) + raw low bits and signs, magnitudes as above.
  kDense = 3,  // rANS of every element's zig-zag level (sent counts).
};
// Magnitudes (|level| - 1) as one constant, Golomb codes, rANS under sent counts, or
// rANS under a geometric law of which only its index is sent (kLawMagnitudes, LawCount):
// for a few dozen non-zeros the counts cost more than the symbols, while soft-
// thresholded, dithered Laplace-like data has geometric magnitudes.
enum MagnitudeMode : std::uint32_t {
  kConstant = 0,
  kGolomb = 1,
  kRansMagnitudes = 2,
  kLawMagnitudes = 3
};

// Ratios r_j (0.32 fixed point) of the geometric magnitude laws P(m) = (1 - r) r^m:
// mean r / (1 - r) = 2^((j - 28) / 4), j < 64 (from 1/128 to ~430, steps of 2^(1/4):
// the nearest costs under 0.01 bit per magnitude over the exact law). A constant
// table, so every machine builds the same model.
constexpr std::uint32_t kLawRatio[64] = {
    33294320u,   39535854u,   46934574u,   55699764u,   66076420u,   78350480u,   92854453u,
    109973326u,  130150524u,  153893573u,  181778960u,  214455485u,  252645135u,  297140271u,
    348795596u,  408513168u,  477218588u,  555826591u,  645194732u,  746064839u,  858993459u,
    984274775u,  1121862101u, 1271296829u, 1431655765u, 1601528368u, 1779033704u, 1961882577u,
    2147483648u, 2333084719u, 2515933592u, 2693438928u, 2863311531u, 3023670467u, 3173105195u,
    3310692521u, 3435973837u, 3548902457u, 3649772564u, 3739140705u, 3817748708u, 3886454128u,
    3946171700u, 3997827025u, 4042322161u, 4080511811u, 4113188336u, 4141073723u, 4164816772u,
    4184993970u, 4202112843u, 4216616816u, 4228890876u, 4239267532u, 4248032722u, 4255431442u,
    4261672976u, 4266935648u, 4271371081u, 4275107965u, 4278255361u, 4280905584u, 4283136691u,
    4285014620u};
// Laws a block of levels up to max_level may name: j < LawCount(max_level), those
// whose mean is at most 2^(3/4) (max_level - 1) (2^(j - 28) <= 8 (max_level - 1)^4):
// magnitudes below max_level have a smaller mean, and the encoder tries the law
// nearest their mean and two steps either side. The index is sent in a truncated
// binary code of the count (PutLaw), 5.25 bits for max_level 4 instead of 6.
int LawCount(std::uint32_t max_level) {
  if (max_level > 32768) return 64;
  const std::uint64_t q = std::uint64_t{max_level - 1} * (max_level - 1) * (max_level - 1) *
                          (max_level - 1);  // max_level >= 2 here.
  return std::min(64, 32 + (q == 0 ? 0 : 63 - std::countl_zero(q)));
}
// The truncated binary code of v < k: b = floor(log2 k) bits for the first 2^(b+1) - k
// values, b + 1 bits (the first b of them at least that many) for the rest.
int LawBits(int v, int k) {
  const int b = 31 - std::countl_zero(static_cast<std::uint32_t>(k));
  return v < (2 << b) - k ? b : b + 1;
}
void PutLaw(BitWriter* w, int v, int k) {
  const int b = 31 - std::countl_zero(static_cast<std::uint32_t>(k));
  const int u = (2 << b) - k;
  if (v < u) {
    w->Put(static_cast<std::uint32_t>(v), b);
  } else {
    w->Put(static_cast<std::uint32_t>(v + u) >> 1, b);
    w->Put(static_cast<std::uint32_t>(v + u) & 1, 1);
  }
}
int GetLaw(BitReader* r, int k) {
  const int b = 31 - std::countl_zero(static_cast<std::uint32_t>(k));
  const int u = (2 << b) - k;
  const auto x = static_cast<int>(r->Get(b));
  return x < u ? x : (x << 1 | static_cast<int>(r->Get(1))) - u;
}

// A sparse block whose magnitudes or gaps use rANS carries the signs of its first
// min(count, kCarriedSigns) non-zeros in lane 0's initial rANS state (RansEncode's
// `carried`) instead of the bit stream: the final state, 32 bits, then holds them.
constexpr int kCarriedSigns = 16;
int CarriedSigns(std::size_t count) {
  return static_cast<int>(std::min<std::size_t>(count, kCarriedSigns));
}

// Blocks of fewer than kTunedCarryMax non-zeros tune the carry instead: lane 0 starts
// at 2^m + (the signs of the first min(count, m) non-zeros), m in [16, 31] (so m is
// the decoder's final state's top bit), and the encoder tries every m up to
// max(16, min(count, 31)) for the smallest block. Each m shifts where the final
// state ends within its 16-bit renormalisation range, so the best one leaves its 32
// bits nearly full: ~1-2 bits of slack instead of ~8 on average (a few dozen bits
// in all, which is 1-3 % of a message of a few dozen non-zeros). The decoder learns
// the carry only after the rANS stream, so these blocks write the remaining signs
// last in their bit stream.
constexpr std::size_t kTunedCarryMax = 256;
bool TunedCarry(std::size_t count) { return count < kTunedCarryMax; }
// The carry of a tuned block whose final state opens with bit m (m >= 16).
int TunedCarryOf(std::size_t count, int m) {
  return static_cast<int>(std::min<std::size_t>(count, static_cast<std::size_t>(m)));
}

// The Golomb gap parameter's code: candidate i (-3..3) around the predicted centre
// as 0 (i = 0), 1 0 s (i = +-1, s = i > 0), 1 1 0 s t (i = +-2 or +-3: s = i > 0,
// t = |i| == 3), or 1 1 1 then the parameter in Elias-gamma (kGapEscapeCode).
constexpr int kGapEscapeCode = 7;
int GapCodeBits(int i) { return i == 0 ? 1 : (i == 1 || i == -1 ? 3 : 5); }
void PutGapCode(BitWriter* w, int i) {
  const std::uint32_t s = i > 0 ? 1 : 0;
  if (i == kGapEscapeCode) {
    w->Put(7, 3);
  } else if (i == 0) {
    w->Put(0, 1);
  } else if (i == 1 || i == -1) {
    w->Put(1 | s << 2, 3);
  } else {
    w->Put(3 | s << 3 | static_cast<std::uint32_t>(i == 3 || i == -3) << 4, 5);
  }
}
int GetGapCode(BitReader* r) {
  if (r->Get(1) == 0) return 0;
  if (r->Get(1) == 0) return r->Get(1) ? 1 : -1;
  if (r->Get(1) != 0) return kGapEscapeCode;
  const std::uint32_t st = r->Get(2);
  const int magnitude = (st >> 1) != 0 ? 3 : 2;
  return (st & 1) != 0 ? magnitude : -magnitude;
}

// Model counts of law j for magnitudes below max_level: symbols 0 .. min(max_level,
// kEscape) - 1 and, when max_level > kEscape, the tail on the escape symbol; every
// symbol at least 1. Integer arithmetic only (as GapCounts).
void LawCounts(int j, std::uint32_t max_level, std::vector<std::uint32_t>* counts) {
  const std::uint64_t r = kLawRatio[j];
  const std::uint32_t alphabet = std::min(max_level, kEscape);
  std::uint64_t v = ((std::uint64_t{1} << 32) - r) >> 8;  // (1 - r) r^m, 0.24.
  std::uint64_t tail = std::uint64_t{1} << 24;            // r^m, 0.24.
  counts->assign(max_level > kEscape ? kEscape + 1 : alphabet, 0);
  for (std::uint32_t m = 0; m < alphabet; ++m) {
    (*counts)[m] = static_cast<std::uint32_t>(std::max<std::uint64_t>(1, v));
    v = (v * r) >> 32;
    tail = (tail * r) >> 32;
  }
  if (max_level > kEscape)
    (*counts)[kEscape] = static_cast<std::uint32_t>(std::max<std::uint64_t>(1, tail));
}

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
  CappedHistogram(symbols, kEscape, counts);
  std::uint64_t esc = 0;
  if ((*counts)[kEscape] != 0) {
    for (std::uint32_t s : symbols) {
      if (s >= kEscape)
        esc += static_cast<std::uint64_t>(GammaBits(std::uint64_t{s} - kEscape + 1));
    }
  }
  while (counts->size() > 1 && counts->back() == 0) counts->pop_back();
  *escape_bits = esc;
}

// The bucket width (log2) of the rANS sparse mode for `count` non-zeros in `len`:
// about a quarter to an eighth of the mean gap, so coding the low bits raw loses under
// 0.004 bit per gap against the geometric law, and 64 buckets cover all but ~2^-11.
int GapShift(std::uint32_t len, std::size_t count) {
  const std::uint64_t mean = (std::uint64_t{len} - count) / count;
  return mean < 8 ? 0 : std::bit_width(mean) - 3;
}

// Model counts of the gap buckets: a geometric law of success probability p =
// count / len, P(q) = (1 - r) r^q with r = (1 - p)^(2^shift), the tail r^64 on the
// escape. Integer fixed point only, so both ends get the same table on any machine.
void GapCounts(std::uint32_t len, std::size_t count, int shift,
               std::vector<std::uint32_t>* counts) {
  std::uint64_t r = ((std::uint64_t{len} - count) << 32) / len;  // 1 - p, 0.32 fixed point.
  for (int i = 0; i < shift; ++i) r = (r * r) >> 32;
  std::uint64_t v = ((std::uint64_t{1} << 32) - r) >> 8;  // (1 - r) r^q, 0.24.
  std::uint64_t tail = std::uint64_t{1} << 24;            // r^q, 0.24.
  counts->resize(kGapEscape + 1);
  for (std::uint32_t q = 0; q < kGapEscape; ++q) {
    (*counts)[q] = static_cast<std::uint32_t>(std::max<std::uint64_t>(1, v));
    v = (v * r) >> 32;
    tail = (tail * r) >> 32;
  }
  (*counts)[kGapEscape] = static_cast<std::uint32_t>(std::max<std::uint64_t>(1, tail));
}

// Everything one block's encoder needs; reused across blocks.
struct BlockScratch {
  std::vector<std::uint32_t> gaps;
  std::vector<std::uint32_t> mags;  // |level| - 1.
  std::vector<std::uint32_t> zigzag;
  std::vector<std::uint32_t> counts;
  std::vector<std::uint32_t> law_counts;
  std::vector<std::uint32_t> dense_counts;
  std::vector<std::uint32_t> gap_counts;
  std::vector<std::uint32_t> buckets;  // gap >> shift.
  std::vector<std::uint32_t> bucket_hist;
  std::vector<std::uint16_t> symbols;
  std::vector<std::uint8_t> bits;
  std::vector<std::uint8_t> rans, best_rans;  // Tuned blocks' trial streams.
  std::vector<std::uint8_t> trial[2];         // EncodeBlockBest's two encodings.
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

double FlushBits(std::uint64_t symbols) { return 32.0 * RansLanes(symbols); }

// Ends a tuned block (TunedCarry) whose bit stream so far is in `w` and whose rANS
// symbols are sc->symbols: tries every carry, then appends the bit stream with the
// signs not carried, and the rANS stream, to `out`.
void FinishTunedBlock(std::span<const std::int32_t> lev, BitWriter* w, BlockScratch* sc,
                      std::span<const RansTable* const> tables, std::vector<std::uint8_t>* out) {
  const std::size_t count = lev.size();
  std::uint32_t signs = 0;  // Of the first (up to) 31 non-zeros.
  for (std::size_t i = 0; i < std::min<std::size_t>(count, 31); ++i)
    signs |= static_cast<std::uint32_t>(lev[i] < 0) << i;
  const std::uint64_t head_bits = w->bits();
  const int top = std::max(16, static_cast<int>(std::min<std::size_t>(count, 31)));
  std::size_t best_bytes = SIZE_MAX;
  int best_carry = 0;
  for (int m = 16; m <= top; ++m) {
    const int carry = TunedCarryOf(count, m);
    const std::uint32_t low = signs & ((std::uint32_t{1} << carry) - 1);  // carry <= 31.
    sc->rans.clear();
    RansEncode(sc->symbols, tables, &sc->rans, (std::uint32_t{1} << m) + low);
    const std::size_t bytes =
        (head_bits + count - static_cast<std::size_t>(carry) + 7) / 8 + sc->rans.size();
    if (bytes < best_bytes) {
      best_bytes = bytes;
      best_carry = carry;
      sc->best_rans.swap(sc->rans);
    }
  }
  for (std::size_t i = static_cast<std::size_t>(best_carry); i < count; ++i)
    w->Put(lev[i] < 0 ? 1 : 0, 1);
  w->Flush();
  out->insert(out->end(), sc->bits.begin(), sc->bits.end());
  out->insert(out->end(), sc->best_rans.begin(), sc->best_rans.end());
}

// Encodes one block [begin, begin + len) holding levels[first, first + count) into
// `out` (the bit stream, then the rANS stream read from the end); returns its mode.
// Sizes are exact for Golomb and raw parts, estimated for rANS.
// `force` (kSparseGolomb or kSparseRans) overrides the choice of the mode.
std::uint8_t EncodeBlock(const LevelsView& lv, std::uint32_t begin, std::uint32_t len,
                         std::size_t first, std::size_t count, BlockScratch* sc,
                         std::vector<std::uint8_t>* out, int force = -1) {
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
  const bool has_mags = lv.max_level > 1;  // Else every magnitude is 1: nothing is sent.
  // The gap parameter: one of 7 candidates around what the decoder predicts from
  // (len, count), in 1 to 5 bits (PutGapCode), or any parameter in Elias-gamma.
  const GolombCostModel gap_model(sc->gaps);
  std::uint64_t gap_bits = 0;
  std::uint64_t gm = ChooseGolombParameter(gap_model, &gap_bits);
  std::uint64_t gm_header_bits = 3 + static_cast<std::uint64_t>(GammaBits(gm));
  int gm_code = kGapEscapeCode;
  {
    const std::uint64_t centre = PredictedGapCentre(len, count);
    for (int i : {0, -1, 1, -2, 2, -3, 3}) {
      const std::uint64_t m = GolombCandidate(centre, i);
      const std::uint64_t cost = gap_model.Cost(m);
      const auto code_bits = static_cast<std::uint64_t>(GapCodeBits(i));
      if (cost + code_bits < gap_bits + gm_header_bits) {
        gap_bits = cost;
        gm_header_bits = code_bits;
        gm = m;
        gm_code = i;
      }
    }
  }
  // What the final state holds besides nothing, in bits: the carried signs, and what the
  // symbols left in it (~8 on average with a fixed carry, where it ends anywhere in
  // its 16-bit range; ~14.5 with a tuned carry, which ends it nearly full).
  const double carried = CarriedSigns(count) + (TunedCarry(count) && count >= 16 ? 14.5 : 7.5);
  // Magnitudes: constant, Golomb or rANS (without its final states, which depend on
  // how many symbols share the stream).
  double const_bits = has_mags ? 2 + GammaBits(std::uint64_t{sc->mags[0]} + 1) : 0;
  double golomb_mag_bits = 1e300, rans_mag_bits = 1e300;
  std::uint64_t mm = 1;
  std::optional<RansTable> mag_table;
  std::uint64_t escape_bits = 0;  // Of the magnitudes' escapes, for both rANS options.
  if (!all_same) {
    const_bits = 1e300;
    std::uint64_t golomb_bits = 0;
    mm = ChooseGolombParameter(sc->mags, &golomb_bits);
    golomb_mag_bits = 2 + GammaBits(mm) + static_cast<double>(golomb_bits);
    Histogram(sc->mags, &sc->counts, &escape_bits);
    mag_table.emplace(sc->counts);
    if (!mag_table->degenerate()) {  // Capped escapes can all fall on one symbol.
      rans_mag_bits = 2 + mag_table->SymbolBits(sc->counts) +
                      static_cast<double>(CountsBits(sc->counts)) +
                      static_cast<double>(escape_bits);
    }
  }
  // The geometric law nearest the mean magnitude (and its neighbours), by exact cost.
  double law_mag_bits = 1e300;
  int law_index = 0;
  std::optional<RansTable> law_table;
  if (!all_same) {
    double mean = 0;
    for (std::uint32_t m : sc->mags) mean += m;
    mean /= static_cast<double>(count);
    const int centre = static_cast<int>(std::lround(4 * std::log2(std::max(mean, 1e-3)) + 28));
    const int laws = LawCount(lv.max_level);
    for (int j = std::max(0, std::min(centre, laws - 1) - 2); j <= std::min(laws - 1, centre + 2);
         ++j) {
      LawCounts(j, lv.max_level, &sc->law_counts);
      RansTable table(sc->law_counts);
      const double bits =
          2 + LawBits(j, laws) + table.SymbolBits(sc->counts) + static_cast<double>(escape_bits);
      if (bits < law_mag_bits) {
        law_mag_bits = bits;
        law_index = j;
        law_table.emplace(std::move(table));
      }
    }
  }
  auto best_mags = [&](double rans_extra, MagnitudeMode* mode) {
    double bits = const_bits;
    *mode = kConstant;
    if (golomb_mag_bits < bits) {
      bits = golomb_mag_bits;
      *mode = kGolomb;
    }
    if (rans_mag_bits + rans_extra < bits) {
      bits = rans_mag_bits + rans_extra;
      *mode = kRansMagnitudes;
    }
    if (law_mag_bits + rans_extra < bits) {
      bits = law_mag_bits + rans_extra;
      *mode = kLawMagnitudes;
    }
    return bits;
  };
  MagnitudeMode golomb_mag_mode, rans_mag_mode;
  const double golomb_sparse_bits = static_cast<double>(gm_header_bits + gap_bits + count) +
                                    best_mags(FlushBits(count) - carried, &golomb_mag_mode) + 0;
  // rANS sparse: the model's cost of the buckets from their histogram.
  const int shift = GapShift(len, count);
  GapCounts(len, count, shift, &sc->gap_counts);
  const RansTable gap_table(sc->gap_counts);
  sc->buckets.resize(count);
  for (std::size_t i = 0; i < count; ++i) sc->buckets[i] = sc->gaps[i] >> shift;
  CappedHistogram(sc->buckets, kGapEscape, &sc->bucket_hist);
  std::uint64_t gap_escape_bits = 0;
  if (sc->bucket_hist[kGapEscape] != 0) {
    for (std::uint32_t q : sc->buckets) {
      if (q >= kGapEscape)
        gap_escape_bits += static_cast<std::uint64_t>(GammaBits(std::uint64_t{q} - kGapEscape + 1));
    }
  }
  const double rans_sparse_bits =
      gap_table.SymbolBits(sc->bucket_hist) + static_cast<double>(gap_escape_bits) +
      static_cast<double>(count) * (shift + 1) +
      best_mags(FlushBits(2 * count) - FlushBits(count), &rans_mag_mode) + FlushBits(count) -
      carried;
  double dense_bits = 1e300;
  std::optional<RansTable> dense_table;
  // Dense rANS codes every element; on iid levels the rANS sparse mode is as small
  // (the same entropy, split as positions + signs + magnitudes), so dense is only
  // tried from 1/4 density, where it can gain from structure (sign/magnitude
  // correlation, clustering) at a per-element cost the density justifies.
  if (count * 4 > len) {
    sc->zigzag.resize(count + 1);
    for (std::size_t i = 0; i < count; ++i) sc->zigzag[i] = ZigZag(lev[i]);
    std::uint64_t escape_bits = 0;
    Histogram(std::span(sc->zigzag).first(count), &sc->dense_counts, &escape_bits);
    sc->dense_counts[0] = len - static_cast<std::uint32_t>(count);
    dense_table.emplace(sc->dense_counts);
    dense_bits = dense_table->CostBits(sc->dense_counts) +
                 static_cast<double>(CountsBits(sc->dense_counts)) +
                 static_cast<double>(escape_bits);
  }
  std::uint8_t mode = kSparseGolomb;
  if (rans_sparse_bits < golomb_sparse_bits) mode = kSparseRans;
  if (dense_bits < std::min(golomb_sparse_bits, rans_sparse_bits)) mode = kDense;
  if (force >= 0) mode = static_cast<std::uint8_t>(force);

  sc->bits.clear();
  BitWriter w(&sc->bits);
  if (mode == kDense) {
    WriteCounts(&w, sc->dense_counts);
    sc->symbols.assign(len, 0);
    for (std::size_t i = 0; i < count; ++i) {
      const std::uint32_t z = sc->zigzag[i];
      sc->symbols[idx[i] - begin] = static_cast<std::uint16_t>(Capped(z));
      if (z >= kEscape) w.PutGamma(std::uint64_t{z} - kEscape + 1);
    }
    w.Flush();
    out->insert(out->end(), sc->bits.begin(), sc->bits.end());
    RansEncode(sc->symbols, *dense_table, out);
    return mode;
  }
  const MagnitudeMode mag_mode = mode == kSparseGolomb ? golomb_mag_mode : rans_mag_mode;
  if (has_mags) {
    w.Put(mag_mode, 2);
    if (mag_mode == kConstant) w.PutGamma(std::uint64_t{sc->mags[0]} + 1);
    if (mag_mode == kGolomb) w.PutGamma(mm);
    if (mag_mode == kRansMagnitudes) WriteCounts(&w, sc->counts);
    if (mag_mode == kLawMagnitudes) PutLaw(&w, law_index, LawCount(lv.max_level));
  }
  const bool rans_mags = mag_mode == kRansMagnitudes || mag_mode == kLawMagnitudes;
  const RansTable* const mags_table = mag_mode == kLawMagnitudes
                                          ? &*law_table
                                          : (mag_mode == kRansMagnitudes ? &*mag_table : nullptr);
  // With rANS in the block, the first signs ride in its initial state.
  const bool tuned = TunedCarry(count);
  const int carry = (mode == kSparseRans || rans_mags) && !tuned ? CarriedSigns(count) : 0;
  std::uint32_t carried_signs = 0;
  for (int i = 0; i < carry; ++i) carried_signs |= static_cast<std::uint32_t>(lev[i] < 0) << i;
  if (mode == kSparseGolomb) {
    // Gaps, the signs not carried, magnitudes (Golomb codes or rANS escapes); a tuned
    // block writes its signs last instead (it carries some only with rANS).
    PutGapCode(&w, gm_code);
    if (gm_code == kGapEscapeCode) w.PutGamma(gm);
    for (std::uint32_t g : sc->gaps) PutGolomb(&w, g, gm);
    if (!tuned) {
      for (std::size_t i = static_cast<std::size_t>(carry); i < count; ++i)
        w.Put(lev[i] < 0 ? 1 : 0, 1);
    }
    if (mag_mode == kGolomb) {
      for (std::uint32_t m : sc->mags) PutGolomb(&w, m, mm);
    }
    if (rans_mags) {
      PutEscapes(&w, sc->mags);
      sc->symbols.resize(count);
      for (std::size_t i = 0; i < count; ++i)
        sc->symbols[i] = static_cast<std::uint16_t>(Capped(sc->mags[i]));
      if (tuned) {
        FinishTunedBlock(lev, &w, sc, std::span<const RansTable* const>(&mags_table, 1), out);
        return mode;
      }
    } else if (tuned) {
      for (std::size_t i = 0; i < count; ++i) w.Put(lev[i] < 0 ? 1 : 0, 1);
    }
    w.Flush();
    out->insert(out->end(), sc->bits.begin(), sc->bits.end());
    if (rans_mags) RansEncode(sc->symbols, *mags_table, out, kRansLow + carried_signs);
    return mode;
  }
  // kSparseRans: per non-zero, bucket symbol (+ magnitude symbol) in rANS; in the bit
  // stream the gap escape, then the low gap bits and the sign together, then the
  // magnitude's Golomb code or escape.
  const std::uint32_t low_mask = (1u << shift) - 1;
  sc->symbols.resize(rans_mags ? 2 * count : count);
  std::uint16_t* sym = sc->symbols.data();
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint32_t g = sc->gaps[i];
    const std::uint32_t q = sc->buckets[i];
    if (q >= kGapEscape) {
      *sym++ = kGapEscape;
      w.PutGamma(std::uint64_t{q} - kGapEscape + 1);
    } else {
      *sym++ = static_cast<std::uint16_t>(q);
    }
    if (tuned || i < static_cast<std::size_t>(carry)) {
      w.Put(g & low_mask, shift);
    } else {
      w.Put((g & low_mask) | static_cast<std::uint32_t>(lev[i] < 0) << shift, shift + 1);
    }
    const std::uint32_t m = sc->mags[i];
    if (mag_mode == kGolomb) PutGolomb(&w, m, mm);
    if (rans_mags) {
      *sym++ = static_cast<std::uint16_t>(Capped(m));
      if (m >= kEscape) w.PutGamma(std::uint64_t{m} - kEscape + 1);
    }
  }
  const RansTable* tables[2] = {&gap_table, mags_table};
  const std::span<const RansTable* const> used(tables, rans_mags ? 2 : 1);
  if (tuned) {
    FinishTunedBlock(lev, &w, sc, used, out);
    return mode;
  }
  w.Flush();
  out->insert(out->end(), sc->bits.begin(), sc->bits.end());
  RansEncode(sc->symbols, used, out, kRansLow + carried_signs);
  return mode;
}

// EncodeBlock, except that a small sparse block (TunedCarry, under 1/4 dense) is
// encoded both sparse ways and the smaller kept: their sizes are estimates otherwise
// (the rANS final state's slack, the padding), off by a few bits, which is a few
// percent of such a block.
std::uint8_t EncodeBlockBest(const LevelsView& lv, std::uint32_t begin, std::uint32_t len,
                             std::size_t first, std::size_t count, BlockScratch* sc,
                             std::vector<std::uint8_t>* out) {
  if (!TunedCarry(count) || count * 4 > len)
    return EncodeBlock(lv, begin, len, first, count, sc, out);
  std::vector<std::uint8_t>* trial = sc->trial;
  trial[0].clear();
  trial[1].clear();
  EncodeBlock(lv, begin, len, first, count, sc, &trial[0], kSparseGolomb);
  EncodeBlock(lv, begin, len, first, count, sc, &trial[1], kSparseRans);
  const int pick = trial[1].size() < trial[0].size() ? 1 : 0;
  out->insert(out->end(), trial[pick].begin(), trial[pick].end());
  return pick == 1 ? kSparseRans : kSparseGolomb;
}

Status BlockError(std::uint64_t block, const char* what) {
  return Corrupted("sotto levels block " + std::to_string(block) + ": " + what);
}

// The bit stream and the rANS stream (from the end) must tile the block exactly.
bool Tiles(const BitReader& r, std::size_t rans_bytes, std::size_t size) {
  return r.ok() && (r.position() + 7) / 8 + rans_bytes == size;
}

// Decodes one block's payload (skipping `skip_bits` of prefix); writes exactly
// `count` levels at index/level.
Status DecodeBlock(std::span<const std::uint8_t> payload, int skip_bits, std::uint8_t mode,
                   std::uint64_t block, std::uint32_t begin, std::uint32_t len, std::uint32_t count,
                   std::uint32_t max_level, std::uint32_t* index, std::int32_t* level,
                   std::vector<std::uint32_t>* counts) {
  BitReader r(payload);
  r.Get(skip_bits);
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
    std::size_t rans_bytes = 0;
    const bool ok =
        RansDecodeTail(payload, table, len, &rans_bytes, [&](std::uint64_t i, std::uint32_t s) {
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
    if (!ok || bad || !Tiles(r, rans_bytes, payload.size()))
      return BlockError(block, "bad dense rANS stream");
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
  auto mag_mode = kConstant;
  std::uint64_t constant = 0, mm = 1;
  if (max_level > 1) {
    mag_mode = static_cast<MagnitudeMode>(r.Get(2));
    if (mag_mode == kConstant) constant = r.GetGamma() - 1;
    if (mag_mode == kGolomb) mm = r.GetGamma();
    if (mag_mode == kRansMagnitudes && !ReadCounts(&r, kEscape + 1, count, counts)) {
      return BlockError(block, "bad magnitude counts");
    }
    if (mag_mode == kLawMagnitudes) {
      const int laws = LawCount(max_level);
      const int j = GetLaw(&r, laws);
      if (j >= laws) return BlockError(block, "bad magnitude law");
      LawCounts(j, max_level, counts);
    }
  }
  if (!r.ok() || constant >= max_level || mm > kMaxGolombParameter) {
    return BlockError(block, "bad magnitude parameters");
  }
  const bool rans_mags = mag_mode == kRansMagnitudes || mag_mode == kLawMagnitudes;
  std::optional<RansTable> mag_table;
  if (rans_mags) {
    mag_table.emplace(*counts);
    if (mag_table->degenerate()) return BlockError(block, "degenerate magnitude table");
    if (count >= 4096) mag_table->BuildLookup();
  }
  const std::uint64_t end = std::uint64_t{begin} + len;
  std::uint64_t pos = begin;
  // Signs of the first `carry` non-zeros come from the rANS final state (kCarriedSigns);
  // a tuned block (TunedCarry) learns its carry from that state, then reads the other
  // signs from the end of its bit stream.
  const bool tuned = TunedCarry(count);
  int carry = (mode == kSparseRans || rans_mags) && !tuned ? CarriedSigns(count) : 0;
  std::uint32_t carried_signs = 0;
  auto apply_carried_signs = [&] {
    for (int i = 0; i < carry; ++i) {
      if (carried_signs >> i & 1) level[i] = -level[i];
    }
  };
  // For a tuned block: the carry and carried signs from lane 0's initial state, then
  // the remaining signs from the bit stream. False for a state no encoder writes.
  auto tuned_signs = [&](std::uint32_t initial, bool has_rans) {
    const int m = 31 - std::countl_zero(initial);  // initial >= kRansLow = 2^16.
    carry = has_rans ? TunedCarryOf(count, m) : 0;
    carried_signs = has_rans ? initial - (std::uint32_t{1} << m) : 0;
    if (carried_signs >> carry != 0) return false;
    apply_carried_signs();
    for (std::uint32_t i = static_cast<std::uint32_t>(carry); i < count; ++i) {
      if (r.Get(1) != 0) level[i] = -level[i];
    }
    return r.ok();
  };
  if (mode == kSparseGolomb) {
    const int gm_code = GetGapCode(&r);
    const std::uint64_t gm = gm_code == kGapEscapeCode
                                 ? r.GetGamma()
                                 : GolombCandidate(PredictedGapCentre(len, count), gm_code);
    if (!r.ok() || gm > kMaxGolombParameter) return BlockError(block, "bad gap parameter");
    for (std::uint32_t i = 0; i < count; ++i) {
      pos += GetGolomb(&r, gm, len);
      if (pos >= end) return BlockError(block, "position beyond the block");
      index[i] = static_cast<std::uint32_t>(pos);
      ++pos;
    }
    for (std::uint32_t i = 0; i < count; ++i)
      level[i] = tuned || i < static_cast<std::uint32_t>(carry) || r.Get(1) == 0 ? 1 : -1;
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
    }
    std::size_t rans_bytes = 0;
    std::uint32_t initial = kRansLow;
    if (rans_mags) {
      bool bad = false;
      const bool ok = RansDecodeTailState(
          payload, *mag_table, count, &rans_bytes,
          [&](std::uint64_t i, std::uint32_t s) {
            std::uint64_t m = s;
            if (s == kEscape) m = r.GetGamma() - 1 + kEscape;
            bad |= m >= max_level;
            level[i] *= bad ? 1 : static_cast<std::int32_t>(m + 1);
          },
          &initial);
      if (!ok || bad) return BlockError(block, "bad magnitude stream");
      if (!tuned) {
        carried_signs = initial - kRansLow;
        if (carried_signs >> carry != 0) return BlockError(block, "bad magnitude stream");
        apply_carried_signs();
      }
    }
    if (tuned && !tuned_signs(initial, rans_mags)) return BlockError(block, "bad signs");
    if (!Tiles(r, rans_bytes, payload.size()))
      return BlockError(block, "bit stream length mismatch");
    return Status::Ok();
  }
  // kSparseRans.
  const int shift = GapShift(len, count);
  GapCounts(len, count, shift, counts);
  RansTable gap_table(*counts);
  if (count >= 4096) gap_table.BuildLookup();
  const int lanes = RansLanes(rans_mags ? 2 * std::uint64_t{count} : count);
  const auto lane_mask = static_cast<std::uint32_t>(lanes - 1);
  const std::uint32_t low_mask = (1u << shift) - 1;
  const std::uint64_t max_bucket = len >> shift;
  const auto m_const = static_cast<std::int32_t>(constant + 1);
  RansReader rr(payload, lanes);
  std::uint32_t j = 0;  // Symbols decoded.
  for (std::uint32_t i = 0; i < count; ++i) {
    std::uint64_t q = rr.Decode(static_cast<int>(j++ & lane_mask), gap_table);
    if (q == kGapEscape) {
      const std::uint64_t e = r.GetGamma();
      if (e > max_bucket) return BlockError(block, "gap beyond the block");
      q = e - 1 + kGapEscape;
    }
    const std::uint32_t bits =
        r.Get(tuned || i < static_cast<std::uint32_t>(carry) ? shift : shift + 1);
    pos += q << shift | (bits & low_mask);
    if (pos >= end) return BlockError(block, "position beyond the block");
    index[i] = static_cast<std::uint32_t>(pos);
    ++pos;
    std::int32_t m = m_const;
    if (mag_mode == kGolomb) {
      const std::uint64_t g = GetGolomb(&r, mm, max_level) + 1;
      if (g > max_level) return BlockError(block, "magnitude out of range");
      m = static_cast<std::int32_t>(g);
    } else if (rans_mags) {
      std::uint64_t s = rr.Decode(static_cast<int>(j++ & lane_mask), *mag_table);
      if (s == kEscape) {
        const std::uint64_t e = r.GetGamma();
        if (e > max_level) return BlockError(block, "magnitude out of range");
        s = e - 1 + kEscape;
      }
      if (s >= max_level) return BlockError(block, "magnitude out of range");
      m = static_cast<std::int32_t>(s + 1);
    }
    level[i] = (bits >> shift) != 0 ? -m : m;
  }
  if (tuned) {
    std::uint32_t initial = 0;
    if (!rr.FinishState(&initial) || !tuned_signs(initial, true) ||
        !Tiles(r, rr.consumed(), payload.size())) {
      return BlockError(block, "bad sparse rANS stream");
    }
    return Status::Ok();
  }
  if (!rr.Finish(carry, &carried_signs) || !Tiles(r, rr.consumed(), payload.size())) {
    return BlockError(block, "bad sparse rANS stream");
  }
  apply_carried_signs();
  return Status::Ok();
}

}  // namespace

// Payload: nothing when there are no non-zeros. One block (n <= the block length):
// the block's bits, its rANS stream, if any, at the end; the block's mode is the
// payload's form (sent outside it). Several blocks (form 0): u8 (0 |
// (block_log2 - 10) << 1 | last block's mode << 5); for each block but the last,
// varint (count << 2 | mode) and, unless empty, varint byte length; then the blocks,
// each a bit stream with its rANS stream at its end. The last block's count and
// length are what remains.
std::uint8_t EncodeRans(const LevelsView& lv, const LevelCoderOptions& options,
                        std::vector<std::uint8_t>* out) {
  int block_log2 = options.block_log2;
  SOTTO_CHECK(block_log2 >= kMinBlockLog2 && block_log2 <= kMaxBlockLog2)
      << "block_log2 " << block_log2;
  const std::uint64_t nnz = lv.index.size();
  if (nnz == 0) return 0;
  if (options.grow_sparse_blocks && nnz * 8 < lv.n) {
    const double want =
        65536.0 * static_cast<double>(lv.n) / static_cast<double>(std::max<std::uint64_t>(nnz, 1));
    block_log2 =
        std::clamp(static_cast<int>(std::ceil(std::log2(want))), block_log2, kMaxBlockLog2);
  }
  const std::uint64_t block = std::uint64_t{1} << block_log2;
  const std::uint64_t nblocks = (lv.n + block - 1) / block;
  thread_local BlockScratch sc;
  if (nblocks == 1) {
    return EncodeBlockBest(lv, 0, static_cast<std::uint32_t>(lv.n), 0, nnz, &sc, out);
  }
  std::vector<std::uint8_t> table;
  std::vector<std::uint8_t> body;
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
      mode = EncodeBlockBest(lv, static_cast<std::uint32_t>(begin),
                             static_cast<std::uint32_t>(end - begin), first, count, &sc, &body);
    }
    if (b + 1 < nblocks) {
      PutVarint(&table, std::uint64_t{count} << 2 | mode);
      if (mode != kEmpty) PutVarint(&table, body.size() - before);
    } else {
      last_mode = mode;
    }
    first = last;
  }
  PutU8(out, static_cast<std::uint8_t>((block_log2 - kMinBlockLog2) << 1 | last_mode << 5));
  out->insert(out->end(), table.begin(), table.end());
  out->insert(out->end(), body.begin(), body.end());
  return 0;
}

Status DecodeRans(std::span<const std::uint8_t> payload, std::uint8_t form, std::uint64_t n,
                  std::uint64_t nnz, std::uint32_t max_level, std::vector<std::uint32_t>* index,
                  std::vector<std::int32_t>* level) {
  if (payload.empty()) {
    if (nnz != 0 || form != 0) {
      return Corrupted("sotto levels: empty payload for " + std::to_string(nnz) +
                       " non-zeros, form " + std::to_string(form));
    }
    index->clear();
    level->clear();
    return Status::Ok();
  }
  if (nnz == 0) return Corrupted("sotto levels: bytes for no non-zeros");
  std::vector<std::uint32_t> counts;
  if (form != 0) {  // One block of mode `form`.
    if (n > (std::uint64_t{1} << kMaxBlockLog2)) return Corrupted("sotto levels: bad single block");
    index->resize(nnz);
    level->resize(nnz);
    return DecodeBlock(payload, 0, form, 0, 0, static_cast<std::uint32_t>(n),
                       static_cast<std::uint32_t>(nnz), max_level, index->data(), level->data(),
                       &counts);
  }
  ByteReader in(payload);
  const std::uint8_t first_byte = in.U8();
  const int block_log2 = (first_byte >> 1 & 15) + kMinBlockLog2;
  const std::uint8_t last_mode = first_byte >> 5 & 3;
  if (block_log2 > kMaxBlockLog2 || (first_byte & 0x81) != 0)
    return Corrupted("sotto levels: bad first byte");
  const std::uint64_t block = std::uint64_t{1} << block_log2;
  const std::uint64_t nblocks = (n + block - 1) / block;
  if (nblocks < 2) return Corrupted("sotto levels: block table for a single block");
  if (nblocks > in.remaining() + 1)
    return Corrupted("sotto levels: block table longer than the payload");
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
    if (!in.ok() || c > len || (c == 0) != (e.mode == kEmpty))
      return BlockError(b, "bad non-zero count");
    e.count = static_cast<std::uint32_t>(c);
    total_count += c;
    total_bytes += e.bytes;
    if (total_bytes > payload.size()) return BlockError(b, "bad length");
  }
  if (!in.ok() || total_bytes > in.remaining() || total_count > nnz) {
    return Corrupted("sotto levels: block table does not match the payload");
  }
  {
    Entry& e = entries[nblocks - 1];
    e.mode = last_mode;
    e.count = static_cast<std::uint32_t>(std::min<std::uint64_t>(nnz - total_count, 0xFFFFFFFFu));
    e.bytes = in.remaining() - total_bytes;
    const std::uint64_t len = n - (nblocks - 1) * block;
    if (nnz - total_count > len || (e.count == 0) != (e.mode == kEmpty) ||
        (e.mode == kEmpty && e.bytes != 0)) {
      return BlockError(nblocks - 1, "bad non-zero count");
    }
  }
  index->resize(nnz);
  level->resize(nnz);
  std::uint64_t at = 0;
  for (std::uint64_t b = 0; b < nblocks; ++b) {
    const Entry& e = entries[b];
    if (e.mode == kEmpty) continue;
    const auto body = in.Take(e.bytes);
    const std::uint64_t begin = b * block;
    const auto len = static_cast<std::uint32_t>(std::min(block, n - begin));
    SOTTO_RETURN_IF_ERROR(DecodeBlock(body, 0, e.mode, b, static_cast<std::uint32_t>(begin), len,
                                      e.count, max_level, index->data() + at, level->data() + at,
                                      &counts));
    at += e.count;
  }
  return Status::Ok();
}

}  // namespace detail
}  // namespace sotto::coding
