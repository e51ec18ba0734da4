#include "coding/dither.h"

#include <algorithm>
#include <cmath>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "common/random.h"

namespace sotto::coding {
namespace {

#if defined(__x86_64__)
// Philox4x32-10 for 8 consecutive counters at a time with AVX2: the same numbers
// as sotto::FillUniform (common/random.cc), element j = word j % 4 of block j / 4.
// Requires: blocks [block, block + 8 * groups) share the high 32 bits of the index.
__attribute__((target("avx2"))) void PhiloxFillAvx2(const DitherKey& key, std::uint64_t block,
                                                    std::size_t groups, float* out) {
  const std::uint64_t k =
      key.seed ^ ((key.round >> 32) << 32 | (key.sender >> 32)) * 0x9E3779B97F4A7C15ull;
  const __m256i m0 = _mm256_set1_epi64x(0xD2511F53u);
  const __m256i m1 = _mm256_set1_epi64x(0xCD9E8D57u);
  const __m256i c1_init =
      _mm256_set1_epi32(static_cast<int>(static_cast<std::uint32_t>(block >> 32) ^ key.tag));
  const __m256i c2_init =
      _mm256_set1_epi32(static_cast<int>(static_cast<std::uint32_t>(key.round)));
  const __m256i c3_init =
      _mm256_set1_epi32(static_cast<int>(static_cast<std::uint32_t>(key.sender)));
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256 unit = _mm256_set1_ps(1.0f / 16777216.0f);
  for (std::size_t g = 0; g < groups; ++g) {
    const auto lo = static_cast<std::uint32_t>(block + 8 * g);
    __m256i c0 = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(lo)), lanes);
    __m256i c1 = c1_init, c2 = c2_init, c3 = c3_init;
    std::uint32_t k0 = static_cast<std::uint32_t>(k), k1 = static_cast<std::uint32_t>(k >> 32);
    for (int r = 0; r < 10; ++r) {
      const __m256i pe0 = _mm256_mul_epu32(c0, m0);
      const __m256i po0 = _mm256_mul_epu32(_mm256_srli_epi64(c0, 32), m0);
      const __m256i pe1 = _mm256_mul_epu32(c2, m1);
      const __m256i po1 = _mm256_mul_epu32(_mm256_srli_epi64(c2, 32), m1);
      const __m256i hi0 = _mm256_blend_epi32(_mm256_srli_epi64(pe0, 32), po0, 0xAA);
      const __m256i lo0 = _mm256_blend_epi32(pe0, _mm256_slli_epi64(po0, 32), 0xAA);
      const __m256i hi1 = _mm256_blend_epi32(_mm256_srli_epi64(pe1, 32), po1, 0xAA);
      const __m256i lo1 = _mm256_blend_epi32(pe1, _mm256_slli_epi64(po1, 32), 0xAA);
      c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), _mm256_set1_epi32(static_cast<int>(k0)));
      c1 = lo1;
      c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), _mm256_set1_epi32(static_cast<int>(k1)));
      c3 = lo0;
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    // 24 high bits -> [0, 1), exactly as BitsToUnitFloat.
    const __m256 f0 = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(c0, 8)), unit);
    const __m256 f1 = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(c1, 8)), unit);
    const __m256 f2 = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(c2, 8)), unit);
    const __m256 f3 = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(c3, 8)), unit);
    // Transpose: word w of lane i goes to out[4 i + w].
    const __m256 t0 = _mm256_unpacklo_ps(f0, f1), t1 = _mm256_unpackhi_ps(f0, f1);
    const __m256 t2 = _mm256_unpacklo_ps(f2, f3), t3 = _mm256_unpackhi_ps(f2, f3);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    float* o = out + 32 * g;
    _mm256_storeu_ps(o, _mm256_permute2f128_ps(u0, u1, 0x20));
    _mm256_storeu_ps(o + 8, _mm256_permute2f128_ps(u2, u3, 0x20));
    _mm256_storeu_ps(o + 16, _mm256_permute2f128_ps(u0, u1, 0x31));
    _mm256_storeu_ps(o + 24, _mm256_permute2f128_ps(u2, u3, 0x31));
  }
}

bool HaveAvx2() {
  static const bool have = __builtin_cpu_supports("avx2");
  return have;
}
#endif

}  // namespace

void FillDither(const DitherKey& key, std::uint64_t first, std::span<float> out) {
#if defined(__x86_64__)
  if (out.size() >= 64 && HaveAvx2()) {
    // Scalar head up to a block boundary, AVX2 body in groups of 8 blocks, scalar tail.
    const std::size_t head = static_cast<std::size_t>((4 - first % 4) % 4);
    FillUniform(key.seed, key.round, key.sender, key.tag, first, out.first(head));
    const std::uint64_t block = (first + head) / 4;
    std::size_t groups = (out.size() - head) / 32;
    const std::uint64_t last = block + 8 * groups - 1;
    if (groups > 0 && (last >> 32) == (block >> 32)) {
      PhiloxFillAvx2(key, block, groups, out.data() + head);
    } else {
      groups = 0;
    }
    const std::size_t done = head + 32 * groups;
    FillUniform(key.seed, key.round, key.sender, key.tag, first + done, out.subspan(done));
    return;
  }
#endif
  FillUniform(key.seed, key.round, key.sender, key.tag, first, out);
}

namespace {

constexpr std::size_t kChunk = 2048;

// Appends (base + i, l[i]) for every non-zero l[i], i < len, at position/level[count..];
// returns the new count. May write up to 8 entries past the new count, but never
// past index count + len.
std::size_t CompactScalar(const std::int32_t* l, std::size_t len, std::size_t base,
                          std::size_t count, std::uint32_t* position, std::int32_t* level) {
  // Skips all-zero groups of 8 (most of a sparse vector).
  std::size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    std::int32_t any = 0;
    for (std::size_t t = 0; t < 8; ++t) any |= l[i + t];
    if (any == 0) continue;
    for (std::size_t t = i; t < i + 8; ++t) {
      position[count] = static_cast<std::uint32_t>(base + t);
      level[count] = l[t];
      count += l[t] != 0;
    }
  }
  for (; i < len; ++i) {
    position[count] = static_cast<std::uint32_t>(base + i);
    level[count] = l[i];
    count += l[i] != 0;
  }
  return count;
}

#if defined(__x86_64__)
// lanes[m]: the indices of the set bits of m, lowest first (then zeros).
struct CompressLanes {
  alignas(32) std::uint32_t lanes[256][8];
};

const CompressLanes& CompressTable() {
  static const CompressLanes table = [] {
    CompressLanes t{};
    for (std::uint32_t m = 0; m < 256; ++m) {
      std::uint32_t k = 0;
      for (std::uint32_t b = 0; b < 8; ++b) {
        if (m >> b & 1) t.lanes[m][k++] = b;
      }
    }
    return t;
  }();
  return table;
}

// As CompactScalar, branch-free: 8 levels at a time, a permutation moves the
// non-zeros (and their positions) to the front, all 8 are stored, the count advances
// by the number of non-zeros. Mispredicted skips cost more than this at densities
// from a few percent up.
__attribute__((target("avx2,popcnt"))) std::size_t CompactAvx2(const std::int32_t* l,
                                                               std::size_t len, std::size_t base,
                                                               std::size_t count,
                                                               std::uint32_t* position,
                                                               std::int32_t* level) {
  const CompressLanes& table = CompressTable();
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i zero = _mm256_setzero_si256();
  std::size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    const __m256i v = _mm256_load_si256(reinterpret_cast<const __m256i*>(l + i));
    const auto zeros = static_cast<std::uint32_t>(
        _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(v, zero))));
    const std::uint32_t mask = ~zeros & 0xFFu;
    const __m256i perm = _mm256_load_si256(reinterpret_cast<const __m256i*>(table.lanes[mask]));
    const __m256i pos = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(base + i)), lanes);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(position + count),
                        _mm256_permutevar8x32_epi32(pos, perm));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(level + count),
                        _mm256_permutevar8x32_epi32(v, perm));
    count += static_cast<std::size_t>(__builtin_popcount(mask));
  }
  return CompactScalar(l + i, len - i, base + i, count, position, level);
}
#endif

std::size_t Compact(const std::int32_t* l, std::size_t len, std::size_t base, std::size_t count,
                    std::uint32_t* position, std::int32_t* level) {
#if defined(__x86_64__)
  if (HaveAvx2()) return CompactAvx2(l, len, base, count, position, level);
#endif
  return CompactScalar(l, len, base, count, position, level);
}

template <typename Quantise>
std::size_t DitherLoop(std::span<const float> values, const DitherKey& key, std::uint32_t* position,
                       std::int32_t* level, Quantise&& quantise) {
  alignas(64) float u[kChunk];
  alignas(64) std::int32_t l[kChunk];
  std::size_t count = 0;
  for (std::size_t base = 0; base < values.size(); base += kChunk) {
    const std::size_t len = std::min(kChunk, values.size() - base);
    FillDither(key, base, std::span<float>(u, len));
    const float* v = values.data() + base;
    for (std::size_t i = 0; i < len; ++i) l[i] = quantise(v[i], u[i]);  // Vectorises.
    count = Compact(l, len, base, count, position, level);
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
        const std::int32_t neg = -static_cast<std::int32_t>(v < 0);  // 0 or -1.
        return (m ^ neg) - neg;
      });
    }
    case DitherKind::kSubtractive: {
      const double inv = s / norm;
      return DitherLoop(values, key, position, level, [=](float v, float u) {
        const double a = std::clamp(static_cast<double>(v) * inv + u, -sf, sf);
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
