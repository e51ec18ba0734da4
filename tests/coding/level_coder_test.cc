#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "coding/level_coder.h"
#include "tests/coding/test_vectors.h"

namespace sotto::coding {
namespace {

using testing::OwnedLevels;
using testing::RandomLevels;

const LevelCoder kAllCoders[] = {LevelCoder::kRans, LevelCoder::kElias, LevelCoder::kVsc, LevelCoder::kFixed};

void RequireRoundTrip(LevelCoder coder, const OwnedLevels& lv, int block_log2 = 18, bool grow = false) {
  std::vector<std::uint8_t> bytes;
  LevelCoderOptions options;
  options.block_log2 = block_log2;
  options.grow_sparse_blocks = grow;
  EncodeLevels(coder, lv.view(), options, &bytes);
  std::vector<std::uint32_t> index;
  std::vector<std::int32_t> level;
  const Status st = DecodeLevels(coder, bytes, lv.n, lv.index.size(), lv.max_level, &index, &level);
  INFO("coder " << static_cast<int>(coder) << " n " << lv.n << " nnz " << lv.index.size() << " s " << lv.max_level);
  REQUIRE(st.ok());
  REQUIRE(index == lv.index);
  REQUIRE(level == lv.level);
}

TEST_CASE("every level coder round-trips random sparse and dense level vectors", "[coding][levels]") {
  std::uint64_t seed = 10;
  for (std::uint64_t n : {1ull, 2ull, 100ull, 5000ull, 70000ull}) {
    for (double density : {0.0, 0.001, 0.05, 0.3, 0.9, 1.0}) {
      for (std::uint32_t s : {1u, 4u, 16u, 256u, 5000u}) {
        ++seed;
        const OwnedLevels lv = RandomLevels(n, density, s, seed, seed % 2 == 0);
        for (LevelCoder coder : kAllCoders) RequireRoundTrip(coder, lv, 10);
        RequireRoundTrip(LevelCoder::kRans, lv, 10, /*grow=*/true);
      }
    }
  }
}

TEST_CASE("the sotto coder round-trips across block boundaries and block sizes", "[coding][levels]") {
  const OwnedLevels lv = RandomLevels(300000, 0.2, 16, 77);
  for (int b : {10, 16, 18, 20}) RequireRoundTrip(LevelCoder::kRans, lv, b);
  // Sparse vectors get blocks up to 2^24.
  const OwnedLevels sparse = RandomLevels(5000000, 0.001, 16, 78);
  RequireRoundTrip(LevelCoder::kRans, sparse, 20, /*grow=*/true);
  RequireRoundTrip(LevelCoder::kRans, sparse, 16, /*grow=*/false);
  // Clustered: one dense block, one empty, one sparse.
  OwnedLevels mixed;
  mixed.n = 3 * 1024;
  mixed.max_level = 3;
  for (std::uint32_t j = 0; j < 1024; ++j) {
    mixed.index.push_back(j);
    mixed.level.push_back(static_cast<std::int32_t>(j % 7) - 3 == 0 ? 1 : static_cast<std::int32_t>(j % 7) - 3);
  }
  for (std::uint32_t j = 2048; j < 3072; j += 97) {
    mixed.index.push_back(j);
    mixed.level.push_back(-2);
  }
  RequireRoundTrip(LevelCoder::kRans, mixed, 10);
}

TEST_CASE("extreme levels survive every coder: the largest level, escapes, a single element", "[coding][levels]") {
  OwnedLevels lv;
  lv.n = 4000;
  lv.max_level = 65536;
  for (std::uint32_t j = 0; j < 4000; j += 3) {
    lv.index.push_back(j);
    lv.level.push_back(j % 2 ? 65536 : -static_cast<std::int32_t>(1 + j * 13 % 65536));
  }
  for (LevelCoder coder : kAllCoders) RequireRoundTrip(coder, lv, 10);
  OwnedLevels one;
  one.n = 1;
  one.max_level = 1;
  one.index = {0};
  one.level = {-1};
  for (LevelCoder coder : kAllCoders) RequireRoundTrip(coder, one);
  OwnedLevels last;
  last.n = 1u << 20;
  last.max_level = 2;
  last.index = {(1u << 20) - 1};
  last.level = {2};
  for (LevelCoder coder : kAllCoders) RequireRoundTrip(coder, last);
}

TEST_CASE("the sotto coder is within 2% of the empirical entropy on i.i.d. levels", "[coding][levels]") {
  for (double density : {0.01, 0.1, 0.5}) {
    const OwnedLevels lv = RandomLevels(1u << 20, density, 16, 5);
    std::vector<std::uint8_t> bytes;
    EncodeLevels(LevelCoder::kRans, lv.view(), {}, &bytes);
    // n * H0 of the zig-zag symbol stream.
    std::vector<double> counts(64, 0);
    counts[0] = static_cast<double>(lv.n - lv.index.size());
    for (auto l : lv.level) counts[static_cast<std::size_t>(l < 0 ? -2 * l - 1 : 2 * l)] += 1;
    double bits = 0;
    for (double c : counts) {
      if (c > 0) bits += c * std::log2(static_cast<double>(lv.n) / c);
    }
    INFO("density " << density << " bytes " << bytes.size() << " entropy bytes " << bits / 8);
    REQUIRE(static_cast<double>(bytes.size()) * 8 <= bits * 1.02 + 400);
  }
}

}  // namespace
}  // namespace sotto::coding
