// Empirical class checks (ALGORITHMS.md §1): unbiased compressors average to x and
// stay under their declared omega; contractive ones under (1 - delta).

#include <cmath>
#include <vector>

#include <catch2/catch.hpp>

#include "coding/compressor.h"
#include "coding/dither.h"
#include "common/random.h"
#include "tests/coding/test_vectors.h"

namespace sotto::coding {
namespace {

double SquaredDistance(const std::vector<float>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t j = 0; j < a.size(); ++j) s += (a[j] - b[j]) * (a[j] - b[j]);
  return s;
}

struct Moments {
  double mean_error = 0;      // ||mean of C(x) - x||^2 / ||x||^2
  double mean_sq_error = 0;   // mean of ||C(x) - x||^2 / ||x||^2
};

Moments Measure(Compressor& c, const std::vector<float>& x, int draws) {
  std::vector<double> sum(x.size(), 0.0);
  double norm2 = 0;
  for (float v : x) norm2 += static_cast<double>(v) * v;
  Moments m;
  std::vector<std::uint8_t> bytes;
  std::vector<float> decoded(x.size());
  for (int r = 0; r < draws; ++r) {
    CompressContext ctx{1234, static_cast<std::uint64_t>(r), 3, 1.0f};
    REQUIRE(c.Compress(x, ctx, &bytes, decoded).ok());
    double e = 0;
    for (std::size_t j = 0; j < x.size(); ++j) {
      sum[j] += decoded[j];
      e += (static_cast<double>(decoded[j]) - x[j]) * (static_cast<double>(decoded[j]) - x[j]);
    }
    m.mean_sq_error += e / norm2 / draws;
  }
  for (auto& s : sum) s /= draws;
  m.mean_error = SquaredDistance(x, sum) / norm2;
  return m;
}

TEST_CASE("unbiased compressors average to x and respect their declared omega", "[coding][statistics]") {
  const auto x = testing::LaplaceVector(256, 1.0, 11);
  const int draws = 3000;
  for (const char* spec : {"randk:0.1", "dither:s=1", "dither:s=4", "dither:s=16", "dither:s=4;subtractive",
                           "natural:s=3", "natural:s=8", "induced:topk:0.05+randk:0.1",
                           "induced:topk:0.05+dither:s=2", "chain:randk:0.25+dither:s=4"}) {
    auto c = MakeCompressor(spec);
    REQUIRE(c.ok());
    REQUIRE((*c)->compressor_class() == CompressorClass::kUnbiased);
    const double omega = (*c)->Omega(x.size());
    const Moments m = Measure(**c, x, draws);
    INFO("spec " << spec << " omega " << omega << " measured " << m.mean_sq_error << " bias " << m.mean_error);
    REQUIRE(m.mean_sq_error <= omega * 1.05 + 1e-9);
    // E||mean - x||^2 = E||C(x) - x||^2 / draws; allow 4x that (and float rounding).
    REQUIRE(m.mean_error <= 4 * m.mean_sq_error / draws + 1e-10);
  }
}

TEST_CASE("contractive compressors respect their declared delta", "[coding][statistics]") {
  const auto x = testing::LaplaceVector(256, 1.0, 12);
  for (const char* spec : {"topk:0.05", "topk:0.5", "sign", "chain:topk:0.25+dither:s=4",
                           "chain:topk:0.25+natural:s=4", "chain:topk:0.25+sign"}) {
    auto c = MakeCompressor(spec);
    REQUIRE(c.ok());
    REQUIRE((*c)->compressor_class() == CompressorClass::kContractive);
    const double delta = (*c)->Delta(x.size());
    REQUIRE(delta > 0);
    REQUIRE(delta <= 1);
    const Moments m = Measure(**c, x, 300);
    INFO("spec " << spec << " delta " << delta << " measured " << m.mean_sq_error);
    REQUIRE(m.mean_sq_error <= (1 - delta) * 1.01);
  }
}

TEST_CASE("the dither is reproducible from (seed, round, sender) and changes with each", "[coding][statistics]") {
  const auto x = testing::LaplaceVector(1000, 1.0, 13);
  auto c = MakeCompressor("dither:s=4");
  REQUIRE(c.ok());
  auto run = [&](CompressContext ctx) {
    std::vector<std::uint8_t> bytes;
    std::vector<float> decoded(x.size());
    REQUIRE((*c)->Compress(x, ctx, &bytes, decoded).ok());
    return bytes;
  };
  const auto a = run({1, 2, 3, 1.0f});
  REQUIRE(run({1, 2, 3, 1.0f}) == a);
  REQUIRE(run({9, 2, 3, 1.0f}) != a);
  REQUIRE(run({1, 9, 3, 1.0f}) != a);
  REQUIRE(run({1, 2, 9, 1.0f}) != a);
}

TEST_CASE("the fast dither generator gives exactly FillUniform's numbers", "[coding][statistics]") {
  for (std::uint64_t first : {0ull, 1ull, 3ull, 4ull, 1000ull, (1ull << 34) - 37}) {
    for (std::size_t len : {0u, 1u, 63u, 64u, 100u, 5000u}) {
      const DitherKey key{0x1234567890ull, (5ull << 33) + 7, 3, 0x44000001u};
      std::vector<float> fast(len), slow(len);
      FillDither(key, first, fast);
      FillUniform(key.seed, key.round, key.sender, key.tag, first, slow);
      INFO("first " << first << " len " << len);
      REQUIRE(fast == slow);
    }
  }
}

}  // namespace
}  // namespace sotto::coding
