#pragma once

// Dithered quantisers (ALGORITHMS.md §1): QSGD-style linear dither with s levels,
// natural (power-of-two) dither, both optionally subtractive. The dither u_j of
// element j is FillUniform(seed, round, sender, tag)[j] from common/random.h,
// generated in blocks, so a receiver can regenerate it.

#include <cstdint>
#include <span>

namespace sotto::coding {

// Identifies one dither stream (FillUniform's key).
struct DitherKey {
  std::uint64_t seed = 0;
  std::uint64_t round = 0;
  std::uint64_t sender = 0;
  std::uint32_t tag = 0;
};

// Same values as sotto::FillUniform(key..., first, out), faster where the CPU allows.
void FillDither(const DitherKey& key, std::uint64_t first, std::span<float> out);

enum class DitherKind {
  kLinear,       // l = sign(v) floor(s|v|/norm + u), |l| <= s.
  kSubtractive,  // l = floor(s v/norm + u), reconstructed as (l + 1/2 - u) norm/s.
  kNatural,      // |v|/norm rounded at random to a neighbouring power of two 2^(m-s).
};

// Quantises `values` (norm > 0 is their l2 norm) with dither `key`, element i using
// u_i. Writes every non-zero level l (l != 0) and its position i as
// position[count] = i + position_base, level[count] = l; returns count.
// Requires: position and level have room for values.size() entries.
std::size_t Dither(DitherKind kind, std::span<const float> values, double norm, std::uint32_t s,
                   const DitherKey& key, std::uint32_t* position, std::int32_t* level);

}  // namespace sotto::coding
