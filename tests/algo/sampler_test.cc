#include <algorithm>
#include <map>
#include <numeric>
#include <vector>

#include <catch2/catch.hpp>

#include "algo/sampler.h"

namespace sotto::algo {
namespace {

TEST_CASE("random reshuffling visits every sample exactly once per epoch", "[algo][sampler]") {
  std::vector<std::int64_t> shard(103);
  std::iota(shard.begin(), shard.end(), 1000);
  const std::int64_t batch = GENERATE(1, 10, 103, 200);
  Sampler sampler(shard, batch, SamplingMode::kReshuffle, Rng(7));
  std::vector<std::vector<std::int64_t>> epochs(3);
  for (int e = 0; e < 3; ++e) {
    while (static_cast<std::int64_t>(epochs[e].size()) < 103) {
      REQUIRE(sampler.epoch() == e);
      auto b = sampler.Next();
      epochs[e].insert(epochs[e].end(), b.begin(), b.end());
    }
    std::vector<std::int64_t> sorted = epochs[e];
    std::sort(sorted.begin(), sorted.end());
    CHECK(sorted == shard);  // Each sample once, none repeated, none missed.
  }
  CHECK(sampler.epoch() == 3);
  CHECK(epochs[0] != epochs[1]);  // A fresh permutation each epoch.
}

TEST_CASE("with-replacement sampling draws uniformly and repeats", "[algo][sampler]") {
  std::vector<std::int64_t> shard(10);
  std::iota(shard.begin(), shard.end(), 0);
  Sampler sampler(shard, 5, SamplingMode::kWithReplacement, Rng(1));
  std::map<std::int64_t, int> counts;
  for (int i = 0; i < 4000; ++i) {
    for (auto r : sampler.Next()) ++counts[r];
  }
  CHECK(counts.size() == 10);
  for (auto [row, c] : counts) CHECK(std::abs(c - 2000) < 200);
}

TEST_CASE("samplers are deterministic for a seed", "[algo][sampler]") {
  std::vector<std::int64_t> shard(50);
  std::iota(shard.begin(), shard.end(), 0);
  Sampler a(shard, 8, SamplingMode::kReshuffle, Rng(3)), b(shard, 8, SamplingMode::kReshuffle, Rng(3));
  for (int i = 0; i < 20; ++i) {
    auto x = a.Next();
    auto y = b.Next();
    REQUIRE(std::vector<std::int64_t>(x.begin(), x.end()) == std::vector<std::int64_t>(y.begin(), y.end()));
  }
  CHECK(ParseSamplingMode("reshuffle").value() == SamplingMode::kReshuffle);
  CHECK_FALSE(ParseSamplingMode("shuffle-ish").ok());
}

}  // namespace
}  // namespace sotto::algo
