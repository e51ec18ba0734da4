#pragma once

// Golomb-Rice and Elias-omega codes of non-negative integers over BitWriter /
// BitReader. Rice codes carry the positions (zero-run lengths) of the sotto level
// coder and of the vsc baseline; Elias-omega is the QSGD baseline code.

#include <bit>
#include <cstdint>
#include <span>
#include <vector>

#include "coding/bit_io.h"

namespace sotto::coding {

// Largest Rice parameter a stream may declare.
inline constexpr int kMaxRiceParameter = 40;

// Rice code of v with parameter k: (v >> k) in unary, then the low k bits.
inline void PutRice(BitWriter* writer, std::uint64_t v, int k) {
  writer->PutUnary(v >> k);
  if (k > 0) writer->PutLong(v & ((std::uint64_t{1} << k) - 1), k);
}
// Reads a Rice code; quotients above `max_value >> k` clear reader->ok().
inline std::uint64_t GetRice(BitReader* reader, int k, std::uint64_t max_value) {
  const std::uint64_t q = reader->GetUnary(max_value >> k);
  const std::uint64_t r = k > 0 ? reader->GetLong(k) : 0;
  return (q << k) | r;
}

// Exact bits of Rice-coding every value of `values` with parameter k.
std::uint64_t RiceCost(std::span<const std::uint32_t> values, int k);

// The Rice parameter of smallest exact cost for `values` (candidates around the
// mean's logarithm), and that cost in bits through `cost_bits`.
int ChooseRiceParameter(std::span<const std::uint32_t> values, std::uint64_t* cost_bits);

// Golomb code of v with parameter m >= 1: (v / m) in unary, then v % m in truncated
// binary (b - 1 or b bits, b = ceil(log2 m)); with the parameter chosen by exact cost
// it comes within ~0.01 bit per value of the entropy of geometric data (Gallager &
// van Voorhis 1975), where Rice codes lose up to ~0.03.
inline void PutGolomb(BitWriter* writer, std::uint64_t v, std::uint64_t m) {
  const std::uint64_t q = v / m, r = v % m;
  writer->PutUnary(q);
  if (m == 1) return;
  const int b = std::bit_width(m - 1);
  const std::uint64_t u = (std::uint64_t{1} << b) - m;  // Short codewords.
  if (r < u) {
    writer->PutLong(r, b - 1);
  } else {
    const std::uint64_t code = r + u;
    writer->PutLong(code >> 1, b - 1);
    writer->Put(code & 1, 1);
  }
}
// Reads a Golomb code; values above `max_value` clear reader->ok().
inline std::uint64_t GetGolomb(BitReader* reader, std::uint64_t m, std::uint64_t max_value) {
  const std::uint64_t q = reader->GetUnary(max_value / m);
  if (m == 1) return q;
  const int b = std::bit_width(m - 1);
  const std::uint64_t u = (std::uint64_t{1} << b) - m;
  std::uint64_t r = reader->GetLong(b - 1);
  if (r >= u) r = ((r << 1) | reader->Get(1)) - u;
  return q * m + r;
}

// Largest Golomb parameter a stream may declare.
inline constexpr std::uint64_t kMaxGolombParameter = std::uint64_t{1} << 32;

// Sets counts[v] to the number of values equal to v for v < cap, and counts[cap] to
// the number >= cap. Four interleaved sub-histograms, so runs of one value do not
// serialise on a single counter.
void CappedHistogram(std::span<const std::uint32_t> values, std::uint32_t cap,
                     std::vector<std::uint32_t>* counts);

// Exact Golomb costs of one set of values for any parameter, from a histogram of the
// small values plus the large ones (cheap to query many parameters).
class GolombCostModel {
 public:
  explicit GolombCostModel(std::span<const std::uint32_t> values);
  std::uint64_t Cost(std::uint64_t m) const;
  double mean() const { return mean_; }

 private:
  std::vector<std::uint32_t> hist_;
  std::vector<std::uint32_t> tail_;
  double mean_ = 0;
};

// The optimal Golomb parameter for geometric data of this mean (Gallager & van
// Voorhis), and the i-th candidate around it (i in -3..3).
std::uint64_t GolombCentre(double mean);
std::uint64_t GolombCandidate(std::uint64_t centre, int i);

// The Golomb parameter of smallest exact cost for `values` among candidates around
// the optimum for a geometric law of the same mean, and that cost through `cost_bits`.
std::uint64_t ChooseGolombParameter(std::span<const std::uint32_t> values,
                                    std::uint64_t* cost_bits);
// The same from a cost model of the values already built.
std::uint64_t ChooseGolombParameter(const GolombCostModel& model, std::uint64_t* cost_bits);

// Elias-omega code of v >= 1 (Elias 1975), as used by QSGD (Alistarh et al. 2017).
void PutEliasOmega(BitWriter* writer, std::uint64_t v);
// Reads an Elias-omega code; values above `max_value` clear reader->ok() and return 1.
std::uint64_t GetEliasOmega(BitReader* reader, std::uint64_t max_value);

}  // namespace sotto::coding
