#pragma once

// Golomb-Rice and Elias-omega codes of non-negative integers over BitWriter /
// BitReader. Rice codes carry the positions (zero-run lengths) of the sotto level
// coder and of the vsc baseline; Elias-omega is the QSGD baseline code.

#include <cstdint>
#include <span>

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

// Elias-omega code of v >= 1 (Elias 1975), as used by QSGD (Alistarh et al. 2017).
void PutEliasOmega(BitWriter* writer, std::uint64_t v);
// Reads an Elias-omega code; values above `max_value` clear reader->ok() and return 1.
std::uint64_t GetEliasOmega(BitReader* reader, std::uint64_t max_value);

}  // namespace sotto::coding
