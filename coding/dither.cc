#include "coding/dither.h"

#include <algorithm>
#include <cmath>

#include "common/random.h"

namespace sotto::coding {

void FillDither(const DitherKey& key, std::uint64_t first, std::span<float> out) {
  FillUniform(key.seed, key.round, key.sender, key.tag, first, out);
}

namespace {

constexpr std::size_t kChunk = 2048;

template <typename Quantise>
std::size_t DitherLoop(std::span<const float> values, const DitherKey& key, std::uint32_t* position,
                       std::int32_t* level, Quantise&& quantise) {
  alignas(64) float u[kChunk];
  std::size_t count = 0;
  for (std::size_t base = 0; base < values.size(); base += kChunk) {
    const std::size_t len = std::min(kChunk, values.size() - base);
    FillDither(key, base, std::span<float>(u, len));
    const float* v = values.data() + base;
    for (std::size_t i = 0; i < len; ++i) {
      const std::int32_t l = quantise(v[i], u[i]);
      position[count] = static_cast<std::uint32_t>(base + i);
      level[count] = l;
      count += l != 0;
    }
  }
  return count;
}

// Natural dither of v with a = |v|/norm in [0, 1]: levels 0 and 2^(m-s), m = 1..s.
std::int32_t NaturalLevel(float v, float a, float u, float smallest, std::int32_t s) {
  std::int32_t m;
  if (a < smallest) {
    m = u * smallest < a ? 1 : 0;  // Between 0 and 2^(1-s).
  } else {
    int e;
    const float f = std::frexp(a, &e);  // a = f 2^e, f in [0.5, 1): a in [2^(e-1), 2^e).
    const float p = 2.0f * f - 1.0f;    // Position within [2^(e-1), 2^e).
    m = std::min((e - 1 + s) + (u < p ? 1 : 0), s);
  }
  return v < 0 ? -m : m;
}

}  // namespace

std::size_t Dither(DitherKind kind, std::span<const float> values, double norm, std::uint32_t s,
                   const DitherKey& key, std::uint32_t* position, std::int32_t* level) {
  if (!(norm > 0)) return 0;
  const auto sf = static_cast<double>(s);
  const auto si = static_cast<std::int32_t>(s);
  switch (kind) {
    case DitherKind::kLinear: {
      if (s / norm > 1e30) {  // Tiny (denormal) vectors: s/norm overflows float.
        const double inv = s / norm;
        return DitherLoop(values, key, position, level, [=](float v, float u) {
          const double a = std::fabs(static_cast<double>(v)) * inv + u;
          const std::int32_t m = static_cast<std::int32_t>(std::min(a, static_cast<double>(s)));
          return v < 0 ? -m : m;
        });
      }
      const auto inv = static_cast<float>(s / norm);
      return DitherLoop(values, key, position, level, [=](float v, float u) {
        const float a = std::fabs(v) * inv + u;  // In [0, s + 1).
        const std::int32_t m = std::min(static_cast<std::int32_t>(a), si);
        return v < 0 ? -m : m;
      });
    }
    case DitherKind::kSubtractive: {
      const double inv = s / norm;
      return DitherLoop(values, key, position, level, [=](float v, float u) {
        const double a = std::clamp(static_cast<double>(v) * inv + u, -sf,
                                    sf);
        return static_cast<std::int32_t>(std::floor(a));
      });
    }
    case DitherKind::kNatural: {
      if (1.0 / norm > 1e30) {
        // Rescale so that the float path below applies: natural levels only need |v|/norm.
        const double inv = 1.0 / norm;
        const float smallest = std::ldexp(1.0f, 1 - si);
        return DitherLoop(values, key, position, level, [=](float v, float u) {
          const auto a = static_cast<float>(std::min(std::fabs(static_cast<double>(v)) * inv, 1.0));
          return NaturalLevel(v, a, u, smallest, si);
        });
      }
      const auto inv = static_cast<float>(1.0 / norm);
      const float smallest = std::ldexp(1.0f, 1 - si);  // 2^(1-s): the lowest non-zero level.
      return DitherLoop(values, key, position, level, [=](float v, float u) {
        return NaturalLevel(v, std::min(std::fabs(v) * inv, 1.0f), u, smallest, si);
      });
    }
  }
  return 0;
}

}  // namespace sotto::coding
