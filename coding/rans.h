#pragma once

// Order-0 rANS (Duda 2013; after ryg_rans, 32-bit states and 16-bit words) with
// 15-bit probabilities, used by the sotto level coder (coding/level_coder.h) for
// magnitudes and dense blocks. Probabilities are not sent: the exact symbol counts
// are (coding/rans.cc, WriteCounts), and both ends normalise them the same way.

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
  // Estimated size in bits of coding symbols with these counts (excluding the table).
  double CostBits(std::span<const std::uint32_t> counts) const;

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

// Appends the rANS code of `symbols` (each < table.alphabet(), with non-zero
// frequency) to `out`: the final states (RansLanes x 4 bytes), then 16-bit words.
// Empty for a degenerate table.
void RansEncode(std::span<const std::uint16_t> symbols, const RansTable& table,
                std::vector<std::uint8_t>* out);

// Decodes `count` symbols from exactly `bytes`, calling sink(i, symbol) in order.
// Returns false (possibly after some sink calls) if the bytes are not exactly a
// valid code of `count` symbols under `table`. Never reads outside `bytes`.
template <typename Sink>
bool RansDecode(std::span<const std::uint8_t> bytes, const RansTable& table, std::uint64_t count,
                Sink&& sink);

// Writes `counts`: the alphabet size, then each count in an Exp-Golomb code whose
// order is chosen for the table.
void WriteCounts(BitWriter* writer, std::span<const std::uint32_t> counts);
// Reads what WriteCounts wrote. Returns false unless 1 <= alphabet <= max_alphabet
// and the counts sum to `expected_total`.
bool ReadCounts(BitReader* reader, std::uint32_t max_alphabet, std::uint64_t expected_total,
                std::vector<std::uint32_t>* counts);
// Exact bits WriteCounts uses.
std::uint64_t CountsBits(std::span<const std::uint32_t> counts);

// ---- implementation of the template ----

template <typename Sink>
bool RansDecode(std::span<const std::uint8_t> bytes, const RansTable& table, std::uint64_t count,
                Sink&& sink) {
  if (table.degenerate()) {
    if (!bytes.empty()) return false;
    const std::uint32_t s = table.SymbolOfSlot(0);
    for (std::uint64_t i = 0; i < count; ++i) sink(i, s);
    return true;
  }
  constexpr std::uint32_t kMask = kRansProbScale - 1;
  const int lanes = RansLanes(count);
  const std::size_t header = static_cast<std::size_t>(lanes) * 4;
  if (bytes.size() < header || (bytes.size() - header) % 2 != 0) return false;
  std::uint32_t x[4] = {0, 0, 0, 0};
  for (int l = 0; l < lanes; ++l) std::memcpy(&x[l], bytes.data() + 4 * l, 4);
  const std::uint8_t* ptr = bytes.data() + header;
  const std::uint8_t* const end = bytes.data() + bytes.size();
  // state < 2^32 keeps freq * (state >> 15) + slot - cum below 2^32 (freq < 2^15).
  auto step = [&](std::uint32_t& state, std::uint64_t i) __attribute__((always_inline)) -> bool {
    const std::uint32_t slot = state & kMask;
    const std::uint32_t s = table.SymbolOfSlot(slot);
    const std::uint32_t p = table.Packed(s);
    state = (p >> 16) * (state >> kRansProbBits) + slot - (p & 0xFFFF);
    if (state < kRansLow) {
      if (ptr == end) return false;
      state = (state << 16) | static_cast<std::uint32_t>(ptr[0] | ptr[1] << 8);
      ptr += 2;
    }
    sink(i, s);
    return true;
  };
  std::uint64_t i = 0;
  if (lanes == 4 && table.lookup() != nullptr) {
    // Fast path while at least 8 bytes remain (4 steps read at most 2 bytes each):
    // renormalisation without a branch, which would be unpredictable.
    const std::uint16_t* lut = table.lookup();
    auto fast = [&](std::uint32_t& state, std::uint64_t at) __attribute__((always_inline)) {
      const std::uint32_t slot = state & kMask;
      const std::uint32_t s = lut[slot];
      const std::uint32_t p = table.Packed(s);
      state = (p >> 16) * (state >> kRansProbBits) + slot - (p & 0xFFFF);
      const auto word = static_cast<std::uint32_t>(ptr[0] | ptr[1] << 8);
      const bool need = state < kRansLow;
      state = need ? (state << 16) | word : state;
      ptr += need ? 2 : 0;
      sink(at, s);
    };
    for (; i + 4 <= count && end - ptr >= 8; i += 4) {
      fast(x[0], i);
      fast(x[1], i + 1);
      fast(x[2], i + 2);
      fast(x[3], i + 3);
    }
  }
  if (lanes == 4) {
    for (; i + 4 <= count; i += 4) {
      if (!step(x[0], i) || !step(x[1], i + 1) || !step(x[2], i + 2) || !step(x[3], i + 3)) {
        return false;
      }
    }
  }
  for (; i < count; ++i) {
    if (!step(x[i % static_cast<std::uint64_t>(lanes)], i)) return false;
  }
  if (ptr != end) return false;
  for (int l = 0; l < lanes; ++l) {
    if (x[l] != kRansLow) return false;
  }
  return true;
}

}  // namespace sotto::coding
