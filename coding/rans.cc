#include "coding/rans.h"

#include <algorithm>
#include <cmath>

#include "common/check.h"

namespace sotto::coding {
namespace {

__extension__ typedef unsigned __int128 U128;

// Per-symbol encoder constants: division by freq through a reciprocal (ryg_rans64).
struct EncSymbol {
  std::uint64_t x_max;
  std::uint64_t rcp_freq;
  std::uint32_t bias;
  std::uint32_t cmpl_freq;
  std::uint32_t rcp_shift;
};

EncSymbol MakeEncSymbol(std::uint32_t start, std::uint32_t freq) {
  EncSymbol e{};
  e.x_max = ((std::uint64_t{kRansLow} >> kRansProbBits) << 16) * freq;
  e.cmpl_freq = kRansProbScale - freq;
  if (freq < 2) {
    e.rcp_freq = ~std::uint64_t{0};
    e.rcp_shift = 0;
    e.bias = start + kRansProbScale - 1;
  } else {
    std::uint32_t shift = 0;
    while (freq > (1u << shift)) ++shift;
    // ceil(2^(shift + 63) / freq) by long division.
    std::uint64_t x0 = freq - 1;
    const std::uint64_t x1 = std::uint64_t{1} << (shift + 31);
    const std::uint64_t t1 = x1 / freq;
    x0 += (x1 % freq) << 32;
    const std::uint64_t t0 = x0 / freq;
    e.rcp_freq = t0 + (t1 << 32);
    e.rcp_shift = shift - 1;
    e.bias = start;
  }
  return e;
}

int GammaBits(std::uint64_t v) { return 2 * (63 - std::countl_zero(v)) + 1; }

}  // namespace

RansTable::RansTable(std::span<const std::uint32_t> counts) {
  SOTTO_CHECK(!counts.empty() && counts.size() <= kMaxRansAlphabet) << "alphabet " << counts.size();
  const std::size_t a = counts.size();
  std::uint64_t total = 0;
  for (std::uint32_t c : counts) total += c;
  SOTTO_CHECK(total > 0) << "empty histogram";
  freq_.assign(a, 0);
  std::uint64_t sum = 0;
  std::size_t nonzero = 0;
  for (std::size_t s = 0; s < a; ++s) {
    if (counts[s] == 0) continue;
    ++nonzero;
    freq_[s] = static_cast<std::uint32_t>(
        std::max<std::uint64_t>(1, std::uint64_t{counts[s]} * kRansProbScale / total));
    sum += freq_[s];
  }
  // Fix the sum deterministically: both ends must get the same table.
  if (sum < kRansProbScale) {
    const auto top =
        static_cast<std::size_t>(std::max_element(counts.begin(), counts.end()) - counts.begin());
    freq_[top] += static_cast<std::uint32_t>(kRansProbScale - sum);
  } else {
    std::uint64_t excess = sum - kRansProbScale;
    while (excess > 0) {
      const auto top =
          static_cast<std::size_t>(std::max_element(freq_.begin(), freq_.end()) - freq_.begin());
      const std::uint64_t take = std::min<std::uint64_t>(excess, freq_[top] - 1);
      freq_[top] -= static_cast<std::uint32_t>(take);
      excess -= take;
    }
  }
  cum_.resize(a + 1);
  cum_[0] = 0;
  for (std::size_t s = 0; s < a; ++s) cum_[s + 1] = cum_[s] + freq_[s];
  degenerate_ = nonzero == 1;
  // freq and cum fit 16 bits unless degenerate (whose stream is empty, never decoded).
  packed_.resize(a);
  for (std::size_t s = 0; s < a; ++s) packed_[s] = (freq_[s] & 0xFFFF) << 16 | (cum_[s] & 0xFFFF);
}

double RansTable::SymbolBits(std::span<const std::uint32_t> counts) const {
  if (degenerate_) return 0;
  double bits = 0;
  for (std::size_t s = 0; s < counts.size(); ++s) {
    if (counts[s] != 0)
      bits += counts[s] * (kRansProbBits - std::log2(static_cast<double>(freq_[s])));
  }
  return bits;
}

double RansTable::CostBits(std::span<const std::uint32_t> counts) const {
  if (degenerate_) return 0;
  std::uint64_t n = 0;
  for (std::uint32_t c : counts) n += c;
  return SymbolBits(counts) + 32.0 * RansLanes(n);
}

void RansTable::BuildLookup() {
  lookup_.resize(kRansProbScale);
  for (std::uint32_t s = 0; s < alphabet(); ++s) {
    std::fill(lookup_.begin() + cum_[s], lookup_.begin() + cum_[s + 1],
              static_cast<std::uint16_t>(s));
  }
}

std::uint32_t RansTable::SearchSlot(std::uint32_t slot) const {
  // cum_ is non-decreasing; the symbol is the last s with cum_[s] <= slot and freq > 0.
  const auto it = std::upper_bound(cum_.begin(), cum_.end(), slot);
  return static_cast<std::uint32_t>(it - cum_.begin()) - 1;
}

void RansEncode(std::span<const std::uint16_t> symbols, std::span<const RansTable* const> tables,
                std::vector<std::uint8_t>* out, std::uint32_t initial) {
  SOTTO_CHECK(!tables.empty() && tables.size() <= 2) << tables.size() << " tables";
  const bool degenerate = tables[0]->degenerate();
  for (const RansTable* t : tables)
    SOTTO_CHECK(t->degenerate() == degenerate) << "mixed degenerate tables";
  SOTTO_CHECK(initial >= kRansLow && (initial == kRansLow || !degenerate))
      << "initial state " << initial;
  if (degenerate) return;
  const std::size_t n = symbols.size();
  thread_local std::vector<EncSymbol> enc[2];
  for (std::size_t t = 0; t < tables.size(); ++t) {
    enc[t].resize(tables[t]->alphabet());
    for (std::uint32_t s = 0; s < tables[t]->alphabet(); ++s) {
      if (tables[t]->freq(s) != 0) enc[t][s] = MakeEncSymbol(tables[t]->cum(s), tables[t]->freq(s));
    }
  }
  const int lanes = RansLanes(n);
  const std::size_t ntables = tables.size();
  // States stay below 2^32; the 64-bit reciprocal division is exact there too.
  std::uint64_t x[4] = {initial, kRansLow, kRansLow, kRansLow};
  // At most one word per symbol: write into the reserved room, trim at the end.
  const std::size_t at = out->size();
  out->resize(at + 2 * n + 4 * static_cast<std::size_t>(lanes));
  std::uint8_t* const base = out->data() + at;
  std::uint8_t* p = base;
  auto step = [&](std::uint64_t & state, const EncSymbol& e) __attribute__((always_inline)) {
    if (state >= e.x_max) {
      p[0] = static_cast<std::uint8_t>(state);
      p[1] = static_cast<std::uint8_t>(state >> 8);
      p += 2;
      state >>= 16;
    }
    const auto q =
        static_cast<std::uint64_t>((static_cast<U128>(state) * e.rcp_freq) >> 64) >> e.rcp_shift;
    state = state + e.bias + q * e.cmpl_freq;
  };
  // Symbol i is on lane i % lanes with table i % ntables (both powers of two, and
  // ntables <= lanes when lanes == 4): each lane keeps one table.
  const EncSymbol* lane_enc[4];
  for (int l = 0; l < 4; ++l) lane_enc[l] = enc[static_cast<std::size_t>(l) % ntables].data();
  std::size_t i = n;
  if (lanes == 4) {
    for (; i % 4 != 0; --i) step(x[(i - 1) % 4], lane_enc[(i - 1) % 4][symbols[i - 1]]);
    for (; i > 0; i -= 4) {
      step(x[3], lane_enc[3][symbols[i - 1]]);
      step(x[2], lane_enc[2][symbols[i - 2]]);
      step(x[1], lane_enc[1][symbols[i - 3]]);
      step(x[0], lane_enc[0][symbols[i - 4]]);
    }
  }
  for (; i-- > 0;) step(x[0], enc[i & (ntables - 1)][symbols[i]]);
  for (int l = lanes - 1; l >= 0; --l) {
    const auto state = static_cast<std::uint32_t>(x[l]);
    std::memcpy(p, &state, 4);
    p += 4;
  }
  out->resize(at + static_cast<std::size_t>(p - base));
}

RansReader::RansReader(std::span<const std::uint8_t> bytes, int lanes)
    : begin_(bytes.data()), end_(bytes.data() + bytes.size()), ptr_(end_), lanes_(lanes) {
  SOTTO_CHECK(lanes == 1 || lanes == 4) << "lanes " << lanes;
  if (bytes.size() < 4 * static_cast<std::size_t>(lanes)) {
    ok_ = false;
    return;
  }
  for (int l = 0; l < lanes; ++l) {
    ptr_ -= 4;
    std::memcpy(&x_[l], ptr_, 4);
    // A state below L is not one the encoder can leave; it would also let a
    // decoding step produce a state that needs two words.
    if (x_[l] < kRansLow) ok_ = false;
  }
}

bool RansReader::Finish() const {
  std::uint32_t carried = 0;
  return Finish(0, &carried);
}

bool RansReader::Finish(int carried_bits, std::uint32_t* carried) const {
  *carried = 0;
  std::uint32_t initial = 0;
  if (!FinishState(&initial) || initial - kRansLow >= (std::uint32_t{1} << carried_bits))
    return false;
  *carried = initial - kRansLow;
  return true;
}

bool RansReader::FinishState(std::uint32_t* initial) const {
  *initial = 0;
  if (!ok_) return false;
  for (int l = 1; l < lanes_; ++l) {
    if (x_[l] != kRansLow) return false;
  }
  if (x_[0] < kRansLow) return false;
  *initial = x_[0];
  return true;
}

namespace {

// Bits of the Exp-Golomb code of order k of v: gamma((v >> k) + 1), then k bits.
int ExpGolombBits(std::uint64_t v, int k) { return GammaBits((v >> k) + 1) + k; }

// The order that codes `counts` in the fewest bits.
int BestCountOrder(std::span<const std::uint32_t> counts, std::uint64_t* bits) {
  int best_k = 0;
  std::uint64_t best = ~std::uint64_t{0};
  for (int k = 0; k <= 24; ++k) {
    std::uint64_t b = 0;
    for (std::uint32_t c : counts) b += static_cast<std::uint64_t>(ExpGolombBits(c, k));
    if (b < best) {
      best = b;
      best_k = k;
    }
  }
  *bits = best;
  return best_k;
}

}  // namespace

// Table: gamma(alphabet), 5-bit order k, then each count as Exp-Golomb of order k.
void WriteCounts(BitWriter* writer, std::span<const std::uint32_t> counts) {
  std::uint64_t bits = 0;
  const int k = BestCountOrder(counts, &bits);
  writer->PutGamma(counts.size());
  writer->Put(static_cast<std::uint64_t>(k), 5);
  for (std::uint32_t c : counts) {
    writer->PutGamma((std::uint64_t{c} >> k) + 1);
    if (k > 0) writer->Put(c & ((1u << k) - 1), k);
  }
}

bool ReadCounts(BitReader* reader, std::uint32_t max_alphabet, std::uint64_t expected_total,
                std::vector<std::uint32_t>* counts) {
  const std::uint64_t a = reader->GetGamma();
  const int k = static_cast<int>(reader->Get(5));
  if (!reader->ok() || a < 1 || a > max_alphabet || a > kMaxRansAlphabet || k > 24) return false;
  counts->resize(a);
  std::uint64_t total = 0;
  for (std::uint64_t s = 0; s < a; ++s) {
    const std::uint64_t high = reader->GetGamma() - 1;
    if (!reader->ok() || high > (expected_total >> k)) return false;
    const std::uint64_t c = (high << k) | (k > 0 ? reader->Get(k) : 0);
    if (c > expected_total) return false;
    (*counts)[s] = static_cast<std::uint32_t>(c);
    total += c;
  }
  return reader->ok() && total == expected_total && total > 0;
}

std::uint64_t CountsBits(std::span<const std::uint32_t> counts) {
  std::uint64_t bits = 0;
  BestCountOrder(counts, &bits);
  return bits + 5 + static_cast<std::uint64_t>(GammaBits(counts.size()));
}

}  // namespace sotto::coding
