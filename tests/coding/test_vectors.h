#pragma once

// Test inputs for coding/ tests: Laplace-like vectors, sparse vectors, random levels.

#include <cmath>
#include <cstdint>
#include <vector>

#include "coding/level_coder.h"
#include "common/random.h"

namespace sotto::coding::testing {

// d Laplace(1) values, a fraction `density` of them kept (the rest zero).
inline std::vector<float> LaplaceVector(std::size_t d, double density, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<float> x(d, 0.0f);
  for (auto& v : x) {
    if (rng.Uniform01() >= density) continue;
    const double u = rng.Uniform01() - 0.5;
    v = static_cast<float>(-std::copysign(1.0, u) * std::log(1 - 2 * std::fabs(u) + 1e-300));
  }
  return x;
}

// Random sparse levels of length n with |level| <= max_level.
struct OwnedLevels {
  std::uint64_t n = 0;
  std::uint32_t max_level = 1;
  std::vector<std::uint32_t> index;
  std::vector<std::int32_t> level;
  LevelsView view() const { return {n, index, level, max_level}; }
};

inline OwnedLevels RandomLevels(std::uint64_t n, double density, std::uint32_t max_level, std::uint64_t seed,
                                bool geometric = true) {
  Rng rng(seed);
  OwnedLevels out;
  out.n = n;
  out.max_level = max_level;
  for (std::uint64_t j = 0; j < n; ++j) {
    if (rng.Uniform01() >= density) continue;
    std::uint64_t m = 1;
    if (geometric) {
      while (m < max_level && rng.Uniform01() < 0.5) ++m;
    } else {
      m = 1 + rng.UniformInt(max_level);
    }
    out.index.push_back(static_cast<std::uint32_t>(j));
    out.level.push_back(rng.Uniform01() < 0.5 ? -static_cast<std::int32_t>(m) : static_cast<std::int32_t>(m));
  }
  return out;
}

}  // namespace sotto::coding::testing
