#pragma once

// Seeded counter-based random numbers (Philox4x32-10, Salmon et al., SC'11).
//
// The output is a pure function of (key, counter): no hidden state, so any
// element of any stream can be generated directly, in any order, on any node.
// That is what makes dither reproducible by the receiver and vectorisable:
// the dither of element j in round r from sender s is Philox(key=seed,
// counter={j/4, r, s, tag})[j % 4].
//
// `Rng` wraps it as a sequential stream for sampling and shuffling; its
// integer and real draws are defined here (not by <random> distributions, whose
// results differ between standard libraries), so runs are byte-identical
// everywhere for the same seed.
//
// Thread safety: the free functions are pure; an Rng object is not thread-safe.

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <utility>

namespace sotto {

using PhiloxBlock = std::array<std::uint32_t, 4>;

// One Philox4x32-10 evaluation.
constexpr PhiloxBlock Philox4x32(PhiloxBlock counter, std::uint64_t key) {
  constexpr std::uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr std::uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  std::uint32_t k0 = static_cast<std::uint32_t>(key);
  std::uint32_t k1 = static_cast<std::uint32_t>(key >> 32);
  for (int r = 0; r < 10; ++r) {
    const std::uint64_t p0 = std::uint64_t{kM0} * counter[0];
    const std::uint64_t p1 = std::uint64_t{kM1} * counter[2];
    counter = {static_cast<std::uint32_t>(p1 >> 32) ^ counter[1] ^ k0,
               static_cast<std::uint32_t>(p1),
               static_cast<std::uint32_t>(p0 >> 32) ^ counter[3] ^ k1,
               static_cast<std::uint32_t>(p0)};
    k0 += kW0;
    k1 += kW1;
  }
  return counter;
}

// Maps 32 random bits to [0, 1) with 24 bits of resolution (exact in float).
constexpr float BitsToUnitFloat(std::uint32_t bits) {
  return static_cast<float>(bits >> 8) * (1.0f / 16777216.0f);
}

// Maps 64 random bits to [0, 1) with 53 bits of resolution.
constexpr double BitsToUnitDouble(std::uint64_t bits) {
  return static_cast<double>(bits >> 11) * (1.0 / 9007199254740992.0);
}

// Fills `out` with uniform [0,1) floats u_j for j = first .. first+out.size()-1 of the
// stream keyed by (seed, round, sender, tag). Element j depends only on j and
// the key, never on `first` or the span length.
void FillUniform(std::uint64_t seed, std::uint64_t round, std::uint64_t sender, std::uint32_t tag,
                 std::uint64_t first, std::span<float> out);

// A sequential stream over the Philox counter space of (seed, stream).
class Rng {
 public:
  using result_type = std::uint64_t;  // UniformRandomBitGenerator, for std algorithms.

  explicit Rng(std::uint64_t seed, std::uint64_t stream = 0) : seed_(seed), stream_(stream) {}

  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return std::numeric_limits<result_type>::max(); }
  result_type operator()() { return NextU64(); }

  std::uint32_t NextU32();
  std::uint64_t NextU64() {
    const std::uint64_t lo = NextU32();
    return (std::uint64_t{NextU32()} << 32) | lo;
  }
  // Uniform on [0, n); requires n > 0. Unbiased (Lemire's multiply-and-reject).
  std::uint64_t UniformInt(std::uint64_t n);
  double Uniform01() { return BitsToUnitDouble(NextU64()); }
  // Standard normal (Box-Muller; both outputs used).
  double Normal();
  // Gamma(shape, 1) (Marsaglia-Tsang), shape > 0. Used for Dirichlet splits.
  double Gamma(double shape);

  // Fisher-Yates shuffle of any random-access range.
  template <typename It>
  void Shuffle(It first, It last) {
    const auto n = static_cast<std::uint64_t>(last - first);
    for (std::uint64_t i = n; i > 1; --i) {
      const std::uint64_t j = UniformInt(i);
      using std::swap;
      swap(first[i - 1], first[j]);
    }
  }

  // An independent child stream (for per-node or per-purpose generators).
  Rng Fork(std::uint64_t child) const;

 private:
  std::uint64_t seed_;
  std::uint64_t stream_;
  std::uint64_t counter_ = 0;
  PhiloxBlock block_{};
  int used_ = 4;  // Words of block_ already handed out.
  bool has_spare_normal_ = false;
  double spare_normal_ = 0;
};

}  // namespace sotto
