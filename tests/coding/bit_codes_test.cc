#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "coding/bit_io.h"
#include "coding/golomb.h"
#include "coding/rans.h"
#include "common/random.h"

namespace sotto::coding {
namespace {

TEST_CASE("bit writer and reader round-trip mixed fields", "[coding][bits]") {
  Rng rng(1);
  std::vector<std::uint8_t> bytes;
  BitWriter w(&bytes);
  std::vector<std::pair<std::uint64_t, int>> fields;
  for (int i = 0; i < 5000; ++i) {
    const int bits = static_cast<int>(rng.UniformInt(33));
    const std::uint64_t v = bits == 0 ? 0 : rng.NextU64() & ((std::uint64_t{1} << bits) - 1);
    fields.emplace_back(v, bits);
    w.Put(v, bits);
  }
  w.Flush();
  BitReader r(bytes);
  for (const auto& [v, bits] : fields) REQUIRE(r.Get(bits) == v);
  REQUIRE(r.ok());
  r.Get(32);
  r.Get(32);
  REQUIRE_FALSE(r.ok());
}

TEST_CASE("Rice, gamma and Elias-omega codes round-trip", "[coding][bits]") {
  Rng rng(2);
  std::vector<std::uint64_t> values = {0, 1, 2, 3, 255, 256, 65535, 1u << 20, (1ull << 32) - 1};
  for (int i = 0; i < 2000; ++i)
    values.push_back(rng.UniformInt(std::uint64_t{1} << rng.UniformInt(31)));
  for (int k : {0, 1, 5, 12}) {
    std::vector<std::uint8_t> bytes;
    BitWriter w(&bytes);
    for (auto v : values) {
      PutRice(&w, v >> 8, k);
      w.PutGamma(v + 1);
      PutEliasOmega(&w, v + 1);
    }
    w.Flush();
    BitReader r(bytes);
    for (auto v : values) {
      REQUIRE(GetRice(&r, k, ~0ull >> 1) == v >> 8);
      REQUIRE(r.GetGamma() == v + 1);
      REQUIRE(GetEliasOmega(&r, ~0ull) == v + 1);
    }
    REQUIRE(r.ok());
  }
}

TEST_CASE("Golomb codes round-trip for every parameter shape and beat Rice on geometric data",
          "[coding][bits]") {
  Rng rng(5);
  std::vector<std::uint32_t> values(5000);
  for (auto& v : values) {
    v = 0;
    while (rng.Uniform01() > 0.013) ++v;  // Geometric, mean ~ 76.
  }
  for (std::uint64_t m : {1ull, 2ull, 3ull, 5ull, 53ull, 64ull, 100ull, 1000ull, 1ull << 31}) {
    std::vector<std::uint8_t> bytes;
    BitWriter w(&bytes);
    for (auto v : values) PutGolomb(&w, v, m);
    w.Flush();
    BitReader r(bytes);
    for (auto v : values) REQUIRE(GetGolomb(&r, m, 1u << 30) == v);
    REQUIRE(r.ok());
  }
  std::uint64_t golomb_bits = 0, rice_bits = 0;
  const std::uint64_t m = ChooseGolombParameter(values, &golomb_bits);
  ChooseRiceParameter(values, &rice_bits);
  std::vector<std::uint8_t> bytes;
  BitWriter w(&bytes);
  for (auto v : values) PutGolomb(&w, v, m);
  w.Flush();
  REQUIRE(bytes.size() == (golomb_bits + 7) / 8);  // The cost is exact.
  REQUIRE(golomb_bits <= rice_bits);
}

TEST_CASE("the Rice parameter chosen has the smallest exact cost among its neighbours",
          "[coding][bits]") {
  Rng rng(3);
  std::vector<std::uint32_t> gaps(3000);
  for (auto& g : gaps) g = static_cast<std::uint32_t>(rng.UniformInt(200));
  std::uint64_t cost = 0;
  const int k = ChooseRiceParameter(gaps, &cost);
  REQUIRE(cost == RiceCost(gaps, k));
  for (int j = 0; j <= 12; ++j) REQUIRE(RiceCost(gaps, j) >= cost);
}

TEST_CASE("rANS round-trips skewed, uniform and single-symbol streams", "[coding][rans]") {
  Rng rng(4);
  for (std::size_t n : {1u, 5u, 100u, 2047u, 16383u, 16384u, 70000u}) {
    for (std::uint32_t alphabet : {1u, 2u, 17u, 1025u}) {
      std::vector<std::uint16_t> symbols(n);
      std::vector<std::uint32_t> counts(alphabet, 0);
      for (auto& s : symbols) {
        std::uint64_t v = 0;
        while (v + 1 < alphabet && rng.Uniform01() < 0.6) ++v;
        s = static_cast<std::uint16_t>(
            alphabet > 100 && rng.Uniform01() < 0.1 ? rng.UniformInt(alphabet) : v);
        ++counts[s];
      }
      RansTable table(counts);
      std::vector<std::uint8_t> bytes;
      RansEncode(symbols, table, &bytes);
      std::vector<std::uint8_t> written;
      BitWriter w(&written);
      WriteCounts(&w, counts);
      w.Flush();
      BitReader r(written);
      std::vector<std::uint32_t> read;
      REQUIRE(ReadCounts(&r, 4096, n, &read));
      REQUIRE(read == counts);
      RansTable decoded_table(read);
      if (n > 4096) decoded_table.BuildLookup();
      std::vector<std::uint16_t> out(n, 0xFFFF);
      REQUIRE(RansDecode(bytes, decoded_table, n, [&](std::uint64_t i, std::uint32_t s) {
        out[i] = static_cast<std::uint16_t>(s);
      }));
      REQUIRE(out == symbols);
      // Within a few percent (plus the final states) of the cost estimate.
      REQUIRE(static_cast<double>(bytes.size() * 8) <= table.CostBits(counts) * 1.01 + 64);
    }
  }
}

TEST_CASE("rANS decoding rejects truncated and extended streams", "[coding][rans]") {
  std::vector<std::uint32_t> counts = {900, 90, 10};
  RansTable table(counts);
  std::vector<std::uint16_t> symbols;
  for (std::uint32_t s = 0; s < 3; ++s)
    symbols.insert(symbols.end(), counts[s], static_cast<std::uint16_t>(s));
  std::vector<std::uint8_t> bytes;
  RansEncode(symbols, table, &bytes);
  auto sink = [](std::uint64_t, std::uint32_t) {};
  REQUIRE(RansDecode(bytes, table, symbols.size(), sink));
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    REQUIRE_FALSE(RansDecode(std::span(bytes).first(cut), table, symbols.size(), sink));
  }
  bytes.push_back(0);
  REQUIRE_FALSE(RansDecode(bytes, table, symbols.size(), sink));
}

TEST_CASE("rANS carries up to 16 raw bits in its initial state almost for free", "[coding][rans]") {
  // The final state (32 bits) of a short stream holds ~16 bits of nothing; bits
  // carried in the initial state fill them. 300 short random streams: the carried
  // value comes back exactly, a reader expecting fewer carried bits rejects it, and
  // the 16 bits cost on average well under the 2 bytes they would cost raw.
  Rng rng(12);
  std::int64_t extra_bytes = 0;
  const int kStreams = 300;
  for (int t = 0; t < kStreams; ++t) {
    const std::size_t n = 1 + rng.UniformInt(200);
    std::vector<std::uint32_t> counts(9, 1);
    std::vector<std::uint16_t> symbols(n);
    for (auto& v : symbols) {
      v = 0;
      while (v < 8 && rng.Uniform01() < 0.5) ++v;
      ++counts[v];
    }
    const RansTable table(counts);
    const auto carried = static_cast<std::uint32_t>(rng.UniformInt(1u << 16));
    std::vector<std::uint8_t> plain, with;
    RansEncode(symbols, table, &plain);
    RansEncode(symbols, table, &with, kRansLow + carried);
    extra_bytes += static_cast<std::int64_t>(with.size()) - static_cast<std::int64_t>(plain.size());
    std::vector<std::uint16_t> out(n, 0xFFFF);
    std::size_t consumed = 0;
    std::uint32_t back = 0;
    REQUIRE(RansDecodeTail(
        with, table, n, &consumed,
        [&](std::uint64_t i, std::uint32_t v) { out[i] = static_cast<std::uint16_t>(v); }, 16,
        &back));
    REQUIRE(out == symbols);
    REQUIRE(back == carried);
    REQUIRE(consumed == with.size());
    const int needed = 32 - std::countl_zero(carried);
    if (needed > 0) {
      REQUIRE_FALSE(RansDecodeTail(
          with, table, n, &consumed, [](std::uint64_t, std::uint32_t) {}, needed - 1, &back));
      REQUIRE_FALSE(RansDecode(with, table, n, [](std::uint64_t, std::uint32_t) {}));
    }
  }
  INFO("extra bytes for 16 carried bits, over " << kStreams << " streams: " << extra_bytes);
  REQUIRE(extra_bytes >= 0);
  REQUIRE(extra_bytes <= kStreams / 2);  // < 0.5 byte each on average, vs 2 bytes raw.
}

}  // namespace
}  // namespace sotto::coding

#include "coding/sparsify.h"

namespace sotto::coding {
namespace {

// Reference: stable sort by |x| descending, lower index first among ties.
std::vector<std::uint32_t> TopKBySort(const std::vector<float>& x, std::size_t k) {
  std::vector<std::uint32_t> order(x.size());
  for (std::size_t j = 0; j < x.size(); ++j) order[j] = static_cast<std::uint32_t>(j);
  std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
    return std::fabs(x[a]) > std::fabs(x[b]);
  });
  order.resize(std::min(k, x.size()));
  std::sort(order.begin(), order.end());
  return order;
}

TEST_CASE("radix top-k selection equals a full sort, ties to the lower index",
          "[coding][sparsify]") {
  Rng rng(21);
  for (int trial = 0; trial < 40; ++trial) {
    const std::size_t d = 1 + rng.UniformInt(trial < 30 ? 3000 : 200000);
    std::vector<float> x(d);
    const int kind = trial % 4;
    for (auto& v : x) {
      if (kind == 0) v = static_cast<float>(rng.Normal());
      if (kind == 1)
        v = rng.Uniform01() < 0.9 ? 0.0f : static_cast<float>(rng.Normal());  // Many zero ties.
      if (kind == 2) v = static_cast<float>(rng.UniformInt(5)) - 2.0f;        // Few values.
      if (kind == 3)
        v = 1.0f + static_cast<float>(rng.UniformInt(1u << 20)) * 1e-7f;  // One bucket.
    }
    for (std::size_t k : {std::size_t{1}, d / 10 + 1, d / 2, d}) {
      std::vector<std::uint32_t> got;
      SelectTopK(x, k, &got);
      INFO("trial " << trial << " d " << d << " k " << k);
      REQUIRE(got == TopKBySort(x, k));
      std::vector<std::uint32_t> checked;
      REQUIRE(SelectTopKChecked(x, k, &checked).ok());
      REQUIRE(checked == got);
    }
  }
}

TEST_CASE("top-k of large vectors and small k (sampled bound, one pass) equals a full sort",
          "[coding][sparsify]") {
  Rng rng(23);
  for (int trial = 0; trial < 24; ++trial) {
    const std::size_t d = 65536 + rng.UniformInt(250000);
    std::vector<float> x(d);
    const int kind = trial % 6;
    for (std::size_t j = 0; j < d; ++j) {
      float& v = x[j];
      if (kind == 0) v = static_cast<float>(rng.Normal());
      if (kind == 1)
        v = rng.Uniform01() < 0.995 ? 0.0f
                                    : static_cast<float>(rng.Normal());  // Fewer non-zeros than k.
      if (kind == 2) v = static_cast<float>(rng.UniformInt(5)) - 2.0f;   // Ties everywhere.
      if (kind == 3) v = 1.0f + static_cast<float>(rng.UniformInt(1u << 20)) * 1e-7f;
      if (kind == 4)
        v = j < d / 50 ? 100.0f + static_cast<float>(rng.Normal())
                       : static_cast<float>(rng.Normal());  // Large block the stride may miss.
      if (kind == 5) v = static_cast<float>(rng.Normal());
    }
    if (kind ==
        5) {  // Large exactly where the selection samples (stride d / 4096): a bound too high.
      for (std::size_t i = 0; i < 4096; ++i) x[i * d / 4096] *= 1000.0f;
    }
    for (std::size_t k : {std::size_t{1}, std::size_t{7}, d / 1000, d / 100, d / 20}) {
      std::vector<std::uint32_t> got;
      REQUIRE(SelectTopKChecked(x, k, &got).ok());
      INFO("trial " << trial << " kind " << kind << " d " << d << " k " << k);
      REQUIRE(got == TopKBySort(x, k));
    }
  }
}

TEST_CASE("top-k selection finds NaN and Inf in its first pass and names the element",
          "[coding][sparsify]") {
  Rng rng(22);
  for (int trial = 0; trial < 24; ++trial) {
    const std::size_t d = 1 + rng.UniformInt(trial < 12 ? 50 : 100000);
    std::vector<float> x(d);
    for (auto& v : x) v = static_cast<float>(rng.Normal());
    const std::size_t at = rng.UniformInt(d);
    const float bad = trial % 3 == 0   ? std::numeric_limits<float>::quiet_NaN()
                      : trial % 3 == 1 ? std::numeric_limits<float>::infinity()
                                       : -std::numeric_limits<float>::infinity();
    x[at] = bad;
    for (std::size_t k : {std::size_t{0}, std::size_t{1}, d / 100 + 1, d / 3 + 1, d}) {
      std::vector<std::uint32_t> got;
      const Status s = SelectTopKChecked(x, k, &got);
      INFO("trial " << trial << " d " << d << " k " << k << " at " << at);
      REQUIRE_FALSE(s.ok());
      CHECK(s.code() == StatusCode::kInvalidArgument);
      CHECK_THAT(s.ToString(),
                 Catch::Contains("element " + std::to_string(at) + " of " + std::to_string(d)));
    }
    x[at] = 1.0f;  // Finite again: the same call selects.
    std::vector<std::uint32_t> got;
    REQUIRE(SelectTopKChecked(x, d / 3 + 1, &got).ok());
    CHECK(got == TopKBySort(x, d / 3 + 1));
  }
}

TEST_CASE("rANS with two alternating tables round-trips and reads only its own tail",
          "[coding][rans]") {
  Rng rng(8);
  for (std::size_t pairs : {1u, 7u, 9000u, 40000u}) {
    std::vector<std::uint32_t> counts_a(65, 0), counts_b(5, 0);
    std::vector<std::uint16_t> symbols(2 * pairs);
    for (std::size_t i = 0; i < pairs; ++i) {
      std::uint16_t a = 0, b = 0;
      while (a < 64 && rng.Uniform01() < 0.8) ++a;
      while (b < 4 && rng.Uniform01() < 0.3) ++b;
      symbols[2 * i] = a;
      symbols[2 * i + 1] = b;
      ++counts_a[a];
      ++counts_b[b];
    }
    counts_a[64] += 1;  // Never degenerate.
    counts_b[4] += 1;
    RansTable a(counts_a), b(counts_b);
    if (pairs > 4096) {
      a.BuildLookup();
      b.BuildLookup();
    }
    // A prefix of unrelated bytes: the stream is read from the end, backwards.
    std::vector<std::uint8_t> bytes = {0xAB, 0xCD, 0xEF};
    const RansTable* tables[2] = {&a, &b};
    RansEncode(symbols, tables, &bytes);
    const int lanes = RansLanes(symbols.size());
    RansReader reader(bytes, lanes);
    for (std::size_t i = 0; i < symbols.size(); ++i) {
      const int lane = static_cast<int>(i % static_cast<std::size_t>(lanes));
      REQUIRE(reader.Decode(lane, i % 2 == 0 ? a : b) == symbols[i]);
    }
    REQUIRE(reader.Finish());
    REQUIRE(reader.consumed() == bytes.size() - 3);
    // Cut the stream's first byte (the low half of the last word decoded): the reader
    // runs out there and fails, without leaving the span.
    const std::span<const std::uint8_t> cut(bytes.data() + 4, bytes.size() - 4);
    RansReader short_reader(cut, lanes);
    for (std::size_t i = 0; i < symbols.size(); ++i) {
      short_reader.Decode(static_cast<int>(i % static_cast<std::size_t>(lanes)),
                          i % 2 == 0 ? a : b);
    }
    REQUIRE_FALSE(short_reader.Finish());
  }
}

}  // namespace
}  // namespace sotto::coding
