#pragma once

// Sparsifiers and vector statistics shared by the compressors of coding/: exact
// top-k by radix selection, rand-k regenerable from a seed, finiteness checks and
// norms computed in double.

#include <cstdint>
#include <span>
#include <vector>

#include "common/status.h"

namespace sotto::coding {

// kInvalidArgument naming the first NaN or infinite element, if any.
Status CheckFinite(std::span<const float> x);
double SquaredNorm(std::span<const float> x);
double L1Norm(std::span<const float> x);

// Indices (increasing) of the k elements of largest magnitude; ties go to the lower
// index, so the result is deterministic. Linear time, no sort: for k <= d/16 (d >=
// 65536) one pass over x collects the elements above a bound from a strided sample and
// selects among them; otherwise (or when the bound misses) a radix histogram of the
// top bits of |x| finds the threshold in usually two passes. Requires: x is finite
// (checked: a NaN or Inf aborts; SelectTopKChecked returns it as an error).
void SelectTopK(std::span<const float> x, std::size_t k, std::vector<std::uint32_t>* index);
// SelectTopK that also checks finiteness, in its first histogram pass (no pass of its
// own): kInvalidArgument naming the first NaN or infinite element, as CheckFinite.
Status SelectTopKChecked(std::span<const float> x, std::size_t k, std::vector<std::uint32_t>* index);

// k distinct indices of [0, d), uniformly at random, increasing; a pure function of
// (d, k, seed, round, sender, tag) so a receiver regenerates them (Floyd's algorithm
// over a bitmap). Requires: k <= d < 2^32.
void SampleRandK(std::uint64_t d, std::uint64_t k, std::uint64_t seed, std::uint64_t round,
                 std::uint64_t sender, std::uint32_t tag, std::vector<std::uint32_t>* index);

// The number of elements a fraction keeps of d: round(fraction * d), at least 1, at most d.
std::uint64_t FractionToCount(double fraction, std::uint64_t d);

}  // namespace sotto::coding
