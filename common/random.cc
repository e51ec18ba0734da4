#include "common/random.h"

#include <numbers>

#include "common/check.h"

namespace sotto {

namespace {
__extension__ typedef unsigned __int128 U128;
constexpr std::uint32_t Lo(std::uint64_t v) { return static_cast<std::uint32_t>(v); }
constexpr std::uint32_t Hi(std::uint64_t v) { return static_cast<std::uint32_t>(v >> 32); }
}  // namespace

void FillUniform(std::uint64_t seed, std::uint64_t round, std::uint64_t sender, std::uint32_t tag,
                 std::uint64_t first, std::span<float> out) {
  // Counter = {block index lo, block index hi ^ tag, round, sender}; the high words of
  // round and sender are folded into the key so that all 64 bits matter.
  const std::uint64_t key = seed ^ (std::uint64_t{Hi(round)} << 32 | Hi(sender)) * 0x9E3779B97F4A7C15ull;
  std::uint64_t j = first;
  std::size_t k = 0;
  while (k < out.size()) {
    const std::uint64_t block = j >> 2;
    const PhiloxBlock r = Philox4x32({Lo(block), Hi(block) ^ tag, Lo(round), Lo(sender)}, key);
    for (unsigned w = static_cast<unsigned>(j & 3); w < 4 && k < out.size(); ++w, ++k, ++j) {
      out[k] = BitsToUnitFloat(r[w]);
    }
  }
}

std::uint32_t Rng::NextU32() {
  if (used_ == 4) {
    block_ = Philox4x32({Lo(counter_), Hi(counter_), Lo(stream_), Hi(stream_)}, seed_);
    ++counter_;
    used_ = 0;
  }
  return block_[used_++];
}

std::uint64_t Rng::UniformInt(std::uint64_t n) {
  SOTTO_CHECK(n > 0) << "UniformInt(0)";
  // Lemire: multiply a 64-bit draw by n and reject the biased low part.
  U128 m = static_cast<U128>(NextU64()) * n;
  auto low = static_cast<std::uint64_t>(m);
  if (low < n) {
    const std::uint64_t threshold = (0 - n) % n;
    while (low < threshold) {
      m = static_cast<U128>(NextU64()) * n;
      low = static_cast<std::uint64_t>(m);
    }
  }
  return static_cast<std::uint64_t>(m >> 64);
}

double Rng::Normal() {
  if (has_spare_normal_) {
    has_spare_normal_ = false;
    return spare_normal_;
  }
  double u1 = Uniform01();
  while (u1 <= 0.0) u1 = Uniform01();
  const double u2 = Uniform01();
  const double r = std::sqrt(-2.0 * std::log(u1));
  const double theta = 2.0 * std::numbers::pi * u2;
  spare_normal_ = r * std::sin(theta);
  has_spare_normal_ = true;
  return r * std::cos(theta);
}

double Rng::Gamma(double shape) {
  SOTTO_CHECK(shape > 0) << "Gamma shape " << shape;
  if (shape < 1.0) {
    // Boost: Gamma(a) = Gamma(a + 1) * U^(1/a).
    double u = Uniform01();
    while (u <= 0.0) u = Uniform01();
    return Gamma(shape + 1.0) * std::pow(u, 1.0 / shape);
  }
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x, v;
    do {
      x = Normal();
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    const double u = Uniform01();
    if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
    if (u > 0.0 && std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
  }
}

Rng Rng::Fork(std::uint64_t child) const {
  // Mix the child index into the stream id; splitmix64 finaliser keeps streams apart.
  std::uint64_t z = stream_ + 0x9E3779B97F4A7C15ull * (child + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return Rng(seed_ ^ 0xA0761D6478BD642Full, z);
}

}  // namespace sotto
