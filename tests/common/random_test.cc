#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include <catch2/catch.hpp>

#include "common/random.h"

namespace sotto {
namespace {

TEST_CASE("philox matches the Random123 known-answer vectors", "[common][random]") {
  // Known-answer tests from Random123's kat_vectors (philox4x32_10).
  CHECK(Philox4x32({0, 0, 0, 0}, 0) ==
        PhiloxBlock{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u});
  CHECK(Philox4x32({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, 0xffffffffffffffffull) ==
        PhiloxBlock{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu});
  CHECK(Philox4x32({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u},
                   (std::uint64_t{0x299f31d0u} << 32) | 0xa4093822u) ==
        PhiloxBlock{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u});
}

TEST_CASE("counter-based uniforms depend only on the element index and key", "[common][random]") {
  std::vector<float> all(1000), part(37);
  FillUniform(42, 7, 3, 0, 0, all);
  FillUniform(42, 7, 3, 0, 501, part);
  for (std::size_t k = 0; k < part.size(); ++k) CHECK(part[k] == all[501 + k]);
  std::vector<float> other(1000);
  FillUniform(42, 8, 3, 0, 0, other);  // Another round: another stream.
  CHECK(other != all);
  FillUniform(42, 7, 4, 0, 0, other);  // Another sender.
  CHECK(other != all);
  double mean = std::accumulate(all.begin(), all.end(), 0.0) / all.size();
  CHECK(mean == Approx(0.5).margin(0.05));
  CHECK(*std::min_element(all.begin(), all.end()) >= 0.0f);
  CHECK(*std::max_element(all.begin(), all.end()) < 1.0f);
}

TEST_CASE("rng streams are reproducible and forks independent", "[common][random]") {
  Rng a(9), b(9);
  for (int i = 0; i < 100; ++i) REQUIRE(a.NextU64() == b.NextU64());
  Rng c = Rng(9).Fork(1), d = Rng(9).Fork(2);
  int same = 0;
  for (int i = 0; i < 100; ++i) same += c.NextU32() == d.NextU32();
  CHECK(same < 3);
}

TEST_CASE("uniform ints are unbiased and shuffles are permutations", "[common][random]") {
  Rng rng(1);
  std::vector<int> counts(6, 0);
  const int n = 60000;
  for (int i = 0; i < n; ++i) ++counts[rng.UniformInt(6)];
  for (int c : counts) CHECK(std::abs(c - n / 6) < 5 * std::sqrt(n / 6.0));
  std::vector<int> v(100);
  std::iota(v.begin(), v.end(), 0);
  rng.Shuffle(v.begin(), v.end());
  std::vector<int> sorted = v;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < 100; ++i) CHECK(sorted[i] == i);
  CHECK(v != sorted);
}

TEST_CASE("normal and gamma draws have the right moments", "[common][random]") {
  Rng rng(3);
  const int n = 200000;
  double s = 0, s2 = 0, g = 0;
  for (int i = 0; i < n; ++i) {
    const double x = rng.Normal();
    s += x;
    s2 += x * x;
  }
  CHECK(s / n == Approx(0.0).margin(0.01));
  CHECK(s2 / n == Approx(1.0).epsilon(0.02));
  for (int i = 0; i < n; ++i) g += rng.Gamma(0.5);
  CHECK(g / n == Approx(0.5).epsilon(0.02));
}

}  // namespace
}  // namespace sotto
