#pragma once

// Order-0 rANS (Duda 2013; after ryg_rans, 32-bit states and 16-bit words) with
// 15-bit probabilities, used by the sotto level coder (coding/level_coder.h) for
// gaps, magnitudes and dense blocks. Probabilities are not sent: the exact symbol
// counts are (coding/rans.cc, WriteCounts), or both ends compute them from a model
// (coding/level_coder.cc), and both normalise them the same way in integer arithmetic.

#include <cstdint>
#include <span>
#include <vector>

#include "coding/bit_io.h"

namespace sotto::coding {

inline constexpr int kRansProbBits = 15;
inline constexpr std::uint32_t kRansProbScale = 1u << kRansProbBits;
inline constexpr std::uint32_t kRansLow = 1u << 16;  // State interval [L, 2^32), 16-bit words.
// Largest alphabet a table may have (the level coder escapes larger symbols).
inline constexpr std::uint32_t kMaxRansAlphabet = 4096;
inline constexpr std::uint64_t kRansShortStream = 16384;

// Normalised frequencies of an alphabet, summing to kRansProbScale, every symbol
// with a non-zero count getting at least 1. Immutable after construction.
class RansTable {
 public:
  // Requires: 1 <= counts.size() <= kMaxRansAlphabet and some count > 0.
  explicit RansTable(std::span<const std::uint32_t> counts);

  std::uint32_t alphabet() const { return static_cast<std::uint32_t>(freq_.size()); }
  std::uint32_t freq(std::uint32_t s) const { return freq_[s]; }
  std::uint32_t cum(std::uint32_t s) const { return cum_[s]; }
  // True when a single symbol has all the probability: its stream is empty.
  bool degenerate() const { return degenerate_; }
  // Estimated size in bits of coding symbols with these counts (excluding the table),
  // with (CostBits) or without (SymbolBits) the final states of RansLanes(total).
  double CostBits(std::span<const std::uint32_t> counts) const;
  double SymbolBits(std::span<const std::uint32_t> counts) const;

  // The symbol whose interval holds `slot` (< kRansProbScale).
  std::uint32_t SymbolOfSlot(std::uint32_t slot) const {
    return lookup_.empty() ? SearchSlot(slot) : lookup_[slot];
  }
  // Builds the slot -> symbol table; worth it for long streams.
  void BuildLookup();
  // The slot -> symbol table, or nullptr before BuildLookup().
  const std::uint16_t* lookup() const { return lookup_.empty() ? nullptr : lookup_.data(); }
  // freq << 16 | cum of symbol s (both < 2^16 when not degenerate): one load per step.
  std::uint32_t Packed(std::uint32_t s) const { return packed_[s]; }

 private:
  std::vector<std::uint32_t> freq_;
  std::vector<std::uint32_t> cum_;  // cum_[s] = sum of freq_[0..s).
  std::uint32_t SearchSlot(std::uint32_t slot) const;

  std::vector<std::uint16_t> lookup_;
  std::vector<std::uint32_t> packed_;
  bool degenerate_ = false;
};

// Number of interleaved rANS states for a stream of `count` symbols (1 or 4):
// several states let the decoder overlap the dependency chains of long streams.
inline int RansLanes(std::uint64_t count) { return count >= kRansShortStream ? 4 : 1; }

// Appends the rANS code of `symbols` to `out`, symbol i coded with
// tables[i % tables.size()] (each symbol < its table's alphabet, with non-zero
// frequency) on state i % RansLanes(symbols.size()). Layout, for reading from the
// END: the 16-bit words in the order the encoder emits them, then the final states
// (lane 0 last, 4 bytes each). A decoder reads backwards, so the stream can sit
// behind a bit stream of unknown length in the same buffer without a length field.
// Empty when every table is degenerate (single symbol).
// `initial` (>= kRansLow) is lane 0's initial state and comes back from the
// decoder's final state (RansReader::Finish): raw bits moved there, e.g. as
// kRansLow + carried, cost nothing, up to the ~16-32 bits the final state costs.
// Requires: all tables degenerate (then initial == kRansLow), or none.
void RansEncode(std::span<const std::uint16_t> symbols, std::span<const RansTable* const> tables,
                std::vector<std::uint8_t>* out, std::uint32_t initial = kRansLow);
inline void RansEncode(std::span<const std::uint16_t> symbols, const RansTable& table,
                       std::vector<std::uint8_t>* out, std::uint32_t initial = kRansLow) {
  const RansTable* tables[1] = {&table};
  RansEncode(symbols, tables, out, initial);
}

// Reads a stream RansEncode wrote at the end of `bytes`, backwards. Every read is
// bounded by `bytes`: a stream that runs out sets a sticky error. Not thread-safe.
//
//   RansReader r(bytes, lanes);
//   for (i ...) s = r.Decode(i % lanes, table);
//   if (!r.Finish()) error;  // consumed() bytes from the end belong to the stream.
class RansReader {
 public:
  RansReader(std::span<const std::uint8_t> bytes, int lanes);

  // Decodes one symbol on `lane` with `table` (not degenerate). Requires: lane < lanes.
  std::uint32_t Decode(int lane, const RansTable& table) {
    constexpr std::uint32_t kMask = kRansProbScale - 1;
    std::uint32_t& state = x_[lane];
    const std::uint32_t slot = state & kMask;
    const std::uint32_t s = table.SymbolOfSlot(slot);
    const std::uint32_t p = table.Packed(s);
    // state < 2^32 keeps freq * (state >> 15) + slot - cum below 2^32 (freq < 2^15 + 1).
    state = (p >> 16) * (state >> kRansProbBits) + slot - (p & 0xFFFF);
    if (state < kRansLow) {
      if (ptr_ - begin_ < 2) {
        ok_ = false;
        state = kRansLow;
      } else {
        ptr_ -= 2;
        state = (state << 16) | static_cast<std::uint32_t>(ptr_[0] | ptr_[1] << 8);
      }
    }
    return s;
  }
  // Four symbols on lanes 0..3 with the table's slot lookup, renormalisation without
  // a branch (unpredictable for skewed tables). Requires: lanes == 4,
  // table.lookup() != nullptr and fast_ok().
  template <typename Sink>
  void DecodeFour(const RansTable& table, Sink&& sink) {
    constexpr std::uint32_t kMask = kRansProbScale - 1;
    const std::uint16_t* lut = table.lookup();
    for (int l = 0; l < 4; ++l) {
      std::uint32_t& state = x_[l];
      const std::uint32_t slot = state & kMask;
      const std::uint32_t s = lut[slot];
      const std::uint32_t p = table.Packed(s);
      state = (p >> 16) * (state >> kRansProbBits) + slot - (p & 0xFFFF);
      const bool need = state < kRansLow;
      const auto word = static_cast<std::uint32_t>(ptr_[-2] | ptr_[-1] << 8);
      state = need ? (state << 16) | word : state;
      ptr_ -= need ? 2 : 0;
      sink(l, s);
    }
  }
  // True while DecodeFour may run: at least 8 bytes (4 words) remain.
  bool fast_ok() const { return ptr_ - begin_ >= 8; }

  bool ok() const { return ok_; }
  // True when the stream was well-formed and every state is back at its initial value:
  // kRansLow, or for lane 0 kRansLow + carried with carried < 2^carried_bits (what
  // RansEncode was given), returned through `carried`.
  bool Finish() const;
  bool Finish(int carried_bits, std::uint32_t* carried) const;
  // The same for any initial state of lane 0 (the other lanes' must be kRansLow),
  // returned through `initial`.
  bool FinishState(std::uint32_t* initial) const;
  // Bytes at the end of `bytes` the stream has used so far (states included).
  std::size_t consumed() const { return static_cast<std::size_t>(end_ - ptr_); }

 private:
  const std::uint8_t* begin_;
  const std::uint8_t* end_;
  const std::uint8_t* ptr_;
  int lanes_;
  bool ok_ = true;
  std::uint32_t x_[4] = {kRansLow, kRansLow, kRansLow, kRansLow};
};

// Decodes `count` symbols of a one-table stream that fills exactly `bytes`, calling
// sink(i, symbol) in order. Returns false (possibly after some sink calls) if the
// bytes are not exactly a valid code of `count` symbols. Never reads outside `bytes`.
template <typename Sink>
bool RansDecode(std::span<const std::uint8_t> bytes, const RansTable& table, std::uint64_t count,
                Sink&& sink);
// As RansDecode, for a stream at the end of `bytes` of unknown length: returns the
// bytes it used through `consumed`, and what its encoder carried in the initial state
// (RansEncode; fewer than 2^carried_bits, 0 for a degenerate table) through `carried`.
template <typename Sink>
bool RansDecodeTail(std::span<const std::uint8_t> bytes, const RansTable& table,
                    std::uint64_t count, std::size_t* consumed, Sink&& sink, int carried_bits = 0,
                    std::uint32_t* carried = nullptr);
// As RansDecodeTail, returning lane 0's whole initial state (RansEncode's `initial`;
// kRansLow for a degenerate table) through `initial`.
template <typename Sink>
bool RansDecodeTailState(std::span<const std::uint8_t> bytes, const RansTable& table,
                         std::uint64_t count, std::size_t* consumed, Sink&& sink,
                         std::uint32_t* initial);

// Writes `counts`: the alphabet size, then each count in an Exp-Golomb code whose
// order is chosen for the table.
void WriteCounts(BitWriter* writer, std::span<const std::uint32_t> counts);
// Reads what WriteCounts wrote. Returns false unless 1 <= alphabet <= max_alphabet
// and the counts sum to `expected_total`.
bool ReadCounts(BitReader* reader, std::uint32_t max_alphabet, std::uint64_t expected_total,
                std::vector<std::uint32_t>* counts);
// Exact bits WriteCounts uses.
std::uint64_t CountsBits(std::span<const std::uint32_t> counts);

// ---- implementation of the templates ----

template <typename Sink>
bool RansDecodeTail(std::span<const std::uint8_t> bytes, const RansTable& table,
                    std::uint64_t count, std::size_t* consumed, Sink&& sink, int carried_bits,
                    std::uint32_t* carried) {
  if (carried != nullptr) *carried = 0;
  std::uint32_t initial = 0;
  if (!RansDecodeTailState(bytes, table, count, consumed, sink, &initial) ||
      initial - kRansLow >= (std::uint32_t{1} << carried_bits)) {
    return false;
  }
  if (carried != nullptr) *carried = initial - kRansLow;
  return true;
}

template <typename Sink>
bool RansDecodeTailState(std::span<const std::uint8_t> bytes, const RansTable& table,
                         std::uint64_t count, std::size_t* consumed, Sink&& sink,
                         std::uint32_t* initial) {
  *consumed = 0;
  *initial = kRansLow;
  if (table.degenerate()) {
    const std::uint32_t s = table.SymbolOfSlot(0);
    for (std::uint64_t i = 0; i < count; ++i) sink(i, s);
    return true;
  }
  const int lanes = RansLanes(count);
  RansReader r(bytes, lanes);
  std::uint64_t i = 0;
  if (lanes == 4) {
    if (table.lookup() != nullptr) {
      for (; i + 4 <= count && r.fast_ok(); i += 4) {
        r.DecodeFour(table,
                     [&](int l, std::uint32_t s) { sink(i + static_cast<std::uint64_t>(l), s); });
      }
    }
    for (; i + 4 <= count; i += 4) {
      for (int l = 0; l < 4; ++l) sink(i + static_cast<std::uint64_t>(l), r.Decode(l, table));
    }
  }
  for (; i < count; ++i)
    sink(i, r.Decode(static_cast<int>(i % static_cast<std::uint64_t>(lanes)), table));
  if (!r.FinishState(initial)) return false;
  *consumed = r.consumed();
  return true;
}

template <typename Sink>
bool RansDecode(std::span<const std::uint8_t> bytes, const RansTable& table, std::uint64_t count,
                Sink&& sink) {
  std::size_t consumed = 0;
  return RansDecodeTail(bytes, table, count, &consumed, sink) && consumed == bytes.size();
}

}  // namespace sotto::coding
