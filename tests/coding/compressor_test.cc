#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "coding/compressor.h"
#include "coding/compressor_spec.h"
#include "tests/coding/test_vectors.h"

namespace sotto::coding {
namespace {

const char* const kSpecs[] = {
    "identity",
    "identity;coder=fp32",
    "topk:0.01",
    "topk:0.05;coder=fp32",
    "topk:k=3",
    "topk:0.2;coder=elias",
    "randk:0.1",
    "randk:0.1;coder=fp32",
    "dither:s=16",
    "dither:s=1",
    "dither:s=256",
    "dither:s=256;coder=elias",
    "dither:s=16;coder=vsc",
    "dither:s=16;coder=fixed",
    "dither:s=4;subtractive",
    "dither:s=16;block=1024",
    "natural:s=8",
    "natural:s=3;coder=vsc",
    "sign",
    "sign;coder=fixed",
    "induced:topk:0.01+randk:0.01",
    "induced:topk:0.05+dither:s=4",
    "induced:sign+dither:s=16",
    "chain:topk:0.1+dither:s=16",
    "chain:topk:0.1+dither:s=16;noscale",
    "chain:topk:0.1+dither:s=16;coder=elias",
    "chain:randk:0.2+dither:s=8",
    "chain:randk:0.2+dither:s=8;subtractive",
    "chain:topk:0.1+natural:s=6",
    "chain:topk:0.1+sign",
};

std::vector<std::vector<float>> TestVectors() {
  std::vector<std::vector<float>> xs;
  xs.push_back({});                                 // d = 0
  xs.push_back({3.5f});                             // d = 1
  xs.push_back({-1e-30f});                          // d = 1, tiny
  xs.push_back(std::vector<float>(1000, 0.0f));     // all zeros
  xs.push_back(std::vector<float>(1000, -2.0f));    // all equal: top-k ties
  xs.push_back(testing::LaplaceVector(5000, 1.0, 1));   // all non-zero
  xs.push_back(testing::LaplaceVector(20000, 0.01, 2));  // sparse
  xs.push_back(testing::LaplaceVector(300000, 0.3, 3));  // several blocks
  std::vector<float> huge = testing::LaplaceVector(1000, 0.5, 4);
  for (auto& v : huge) v *= 1e34f;
  huge[7] = 3e36f;
  xs.push_back(huge);
  std::vector<float> denormal(100, std::numeric_limits<float>::denorm_min());
  denormal[5] = -1e-40f;
  xs.push_back(denormal);
  return xs;
}

TEST_CASE("every spec round-trips: DecodeAdd adds exactly the sender's decoded vector", "[coding][compressor]") {
  const auto xs = TestVectors();
  for (const char* spec : kSpecs) {
    auto made = MakeCompressor(spec);
    INFO("spec " << spec);
    REQUIRE(made.ok());
    Compressor& c = **made;
    std::uint64_t round = 0;
    for (const auto& x : xs) {
      for (float scale : {1.0f, 0.37f}) {
        INFO("d " << x.size() << " scale " << scale);
        CompressContext ctx{42, ++round, 7, scale};
        std::vector<std::uint8_t> bytes;
        std::vector<float> decoded(x.size(), 123.0f);
        const Status st = c.Compress(x, ctx, &bytes, decoded);
        REQUIRE(st.ok());
        auto dim = PeekDimension(bytes, {});
        REQUIRE(dim.ok());
        REQUIRE(*dim == x.size());
        std::vector<float> acc(x.size(), 0.0f);
        const Status dst = DecodeAdd(bytes, {}, acc);
        INFO(dst.ToString());
        REQUIRE(dst.ok());
        REQUIRE(acc == decoded);
        for (float v : decoded) REQUIRE(std::isfinite(v));
        // Adding into a non-zero accumulator adds the same vector.
        std::vector<float> acc2(x.size(), 1.0f);
        REQUIRE(DecodeAdd(bytes, {}, acc2).ok());
        for (std::size_t j = 0; j < x.size(); ++j) REQUIRE(acc2[j] == Approx(1.0f + decoded[j]).margin(1e-6 + 1e-6 * std::fabs(decoded[j])));
      }
    }
  }
}

TEST_CASE("DecodeAddWeighted adds q and w q bit for bit as a dense decode would", "[coding][compressor]") {
  const auto xs = TestVectors();
  std::uint64_t seed = 5;
  for (const char* spec : kSpecs) {
    auto made = MakeCompressor(spec);
    INFO("spec " << spec);
    REQUIRE(made.ok());
    Compressor& c = **made;
    std::uint64_t round = 100;
    for (const auto& x : xs) {
      INFO("d " << x.size());
      CompressContext ctx{42, ++round, 9, 0.61f};
      std::vector<std::uint8_t> bytes;
      std::vector<float> decoded(x.size());
      REQUIRE(c.Compress(x, ctx, &bytes, decoded).ok());
      // Start from arbitrary copies, as a receiver holds after many rounds.
      const std::vector<float> copy0 = testing::LaplaceVector(x.size(), 0.5, ++seed);
      const std::vector<float> mixed0 = testing::LaplaceVector(x.size(), 0.5, ++seed);
      const float w = 0.3333f;
      std::vector<float> copy_want = copy0, mixed_want = mixed0;
      for (std::size_t k = 0; k < x.size(); ++k) {
        copy_want[k] += decoded[k];
        mixed_want[k] += w * decoded[k];
      }
      std::vector<float> copy = copy0, mixed = mixed0;
      REQUIRE(DecodeAddWeighted(bytes, {}, copy, mixed, w).ok());
      REQUIRE(copy == copy_want);
      REQUIRE(mixed == mixed_want);
      // Malformed bytes change neither vector.
      if (bytes.size() > 2) {
        std::vector<std::uint8_t> cut(bytes.begin(), bytes.end() - 1);
        const Status st = DecodeAddWeighted(cut, {}, copy, mixed, w);
        if (!st.ok()) {
          REQUIRE(copy == copy_want);
          REQUIRE(mixed == mixed_want);
        }
      }
      std::vector<float> short_mixed(x.size() + 1, 0.0f);
      REQUIRE_FALSE(DecodeAddWeighted(bytes, {}, copy, short_mixed, w).ok());
      REQUIRE(copy == copy_want);
    }
  }
}

TEST_CASE("CompressAddWeighted sends the same bytes and adds what a receiver adds, bit for bit",
          "[coding][compressor]") {
  const auto xs = TestVectors();
  std::uint64_t seed = 77;
  for (const char* spec : kSpecs) {
    auto made = MakeCompressor(spec);
    auto made2 = MakeCompressor(spec);
    INFO("spec " << spec);
    REQUIRE(made.ok());
    REQUIRE(made2.ok());
    std::uint64_t round = 300;
    for (const auto& x : xs) {
      INFO("d " << x.size());
      CompressContext ctx{42, ++round, 11, 0.83f};
      std::vector<std::uint8_t> want_bytes;
      std::vector<float> decoded(x.size());
      REQUIRE((*made)->Compress(x, ctx, &want_bytes, decoded).ok());
      const std::vector<float> t0 = testing::LaplaceVector(x.size(), 0.5, ++seed);
      const std::vector<float> w0 = testing::LaplaceVector(x.size(), 0.5, ++seed);
      const float w = 0.25f;
      std::vector<float> target = t0, weighted = w0;
      std::vector<std::uint8_t> bytes;
      REQUIRE((*made2)->CompressAddWeighted(x, ctx, &bytes, target, weighted, w).ok());
      REQUIRE(bytes == want_bytes);
      // What the sender adds equals what the dense formula gives...
      for (std::size_t k = 0; k < x.size(); ++k) {
        REQUIRE(target[k] == t0[k] + decoded[k]);
        REQUIRE(weighted[k] == w0[k] + w * decoded[k]);
      }
      // ...and a receiver's copy of it, bit for bit (the sign of zero included).
      std::vector<float> copy = t0, mixed = w0;
      REQUIRE(DecodeAddWeighted(bytes, {}, copy, mixed, w).ok());
      if (!x.empty()) {  // memcmp of empty vectors' null data() is undefined.
        REQUIRE(std::memcmp(copy.data(), target.data(), 4 * x.size()) == 0);
        REQUIRE(std::memcmp(mixed.data(), weighted.data(), 4 * x.size()) == 0);
      }
    }
    // Bad input: an error, and neither vector changes.
    std::vector<float> bad = testing::LaplaceVector(3000, 0.2, ++seed);
    bad[1234] = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> target(bad.size(), 1.5f), weighted(bad.size(), -2.5f);
    std::vector<std::uint8_t> bytes;
    const Status st = (*made2)->CompressAddWeighted(bad, {1, 1, 1, 1.0f}, &bytes, target, weighted, 0.5f);
    REQUIRE(st.code() == StatusCode::kInvalidArgument);
    REQUIRE(target == std::vector<float>(bad.size(), 1.5f));
    REQUIRE(weighted == std::vector<float>(bad.size(), -2.5f));
  }
}

TEST_CASE("lossless configurations reproduce their input exactly", "[coding][compressor]") {
  const auto x = testing::LaplaceVector(3000, 0.5, 9);
  for (const char* spec : {"identity", "identity;coder=fp32", "topk:1", "topk:1;coder=fp32"}) {
    auto c = MakeCompressor(spec);
    REQUIRE(c.ok());
    std::vector<std::uint8_t> bytes;
    std::vector<float> decoded(x.size());
    REQUIRE((*c)->Compress(x, {}, &bytes, decoded).ok());
    REQUIRE(decoded == x);
  }
}

TEST_CASE("NaN and infinite inputs are rejected with a clear error", "[coding][compressor]") {
  for (const char* spec : kSpecs) {
    auto c = MakeCompressor(spec);
    REQUIRE(c.ok());
    for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                      -std::numeric_limits<float>::infinity()}) {
      std::vector<float> x(100, 1.0f);
      x[17] = bad;
      std::vector<std::uint8_t> bytes;
      std::vector<float> decoded(x.size());
      const Status st = (*c)->Compress(x, {}, &bytes, decoded);
      REQUIRE(st.code() == StatusCode::kInvalidArgument);
      REQUIRE_THAT(st.message(), Catch::Contains("element 17"));
    }
  }
}

TEST_CASE("a vector whose norm overflows float is rejected, not mangled", "[coding][compressor]") {
  std::vector<float> x(100, 3e38f);
  auto c = MakeCompressor("dither:s=16");
  REQUIRE(c.ok());
  std::vector<std::uint8_t> bytes;
  std::vector<float> decoded(x.size());
  REQUIRE((*c)->Compress(x, {}, &bytes, decoded).code() == StatusCode::kInvalidArgument);
}

TEST_CASE("specs parse to canonical strings and bad specs say why", "[coding][spec]") {
  auto c = MakeCompressor("chain:topk:0.01+dither:s=16");
  REQUIRE(c.ok());
  REQUIRE((*c)->spec() == "chain:topk:0.01+dither:s=16");
  REQUIRE((*MakeCompressor("dither:s=16;coder=fixed"))->spec() == "dither:s=16;coder=fixed");
  REQUIRE((*MakeCompressor("topk:0.01;coder=fp32"))->spec() == "topk:0.01;coder=fp32");
  REQUIRE((*MakeCompressor("induced:topk:0.01+randk:0.01"))->spec() == "induced:topk:0.01+randk:0.01");
  REQUIRE((*MakeCompressor("dither"))->spec() == "dither:s=16");
  for (const char* bad : {"", "topk", "topk:0", "topk:1.5", "topk:x", "dither:s=0", "dither:s=70000", "nope",
                          "induced:randk:0.1+topk:0.1", "induced:topk:0.1", "chain:dither:s=4+topk:0.1",
                          "chain:randk:0.1+sign", "dither:s=16;coder=zip", "dither:s=16;coder=fp32",
                          "topk:0.1;subtractive", "chain:topk:0.1+dither:s=4;subtractive", "dither;block=1000",
                          "sign;bogus"}) {
    auto r = MakeCompressor(bad);
    INFO("spec '" << bad << "'");
    REQUIRE_FALSE(r.ok());
    REQUIRE(r.error().code() == StatusCode::kInvalidArgument);
    REQUIRE_THAT(r.error().message(), Catch::Contains("compressor spec"));
  }
}

TEST_CASE("compressors declare their class as ALGORITHMS.md section 1 says", "[coding][spec]") {
  const std::size_t d = 10000;
  auto cls = [&](const char* s) { return (*MakeCompressor(s))->compressor_class(); };
  REQUIRE(cls("identity") == CompressorClass::kUnbiased);
  REQUIRE(cls("topk:0.01") == CompressorClass::kContractive);
  REQUIRE(cls("randk:0.01") == CompressorClass::kUnbiased);
  REQUIRE(cls("dither:s=16") == CompressorClass::kUnbiased);
  REQUIRE(cls("natural:s=8") == CompressorClass::kUnbiased);
  REQUIRE(cls("sign") == CompressorClass::kContractive);
  REQUIRE(cls("induced:topk:0.01+randk:0.01") == CompressorClass::kUnbiased);
  REQUIRE(cls("chain:topk:0.1+dither:s=16") == CompressorClass::kContractive);
  REQUIRE((*MakeCompressor("topk:0.01"))->Delta(d) == Approx(0.01));
  REQUIRE((*MakeCompressor("randk:0.01"))->Omega(d) == Approx(99));
  REQUIRE((*MakeCompressor("dither:s=16"))->Omega(d) == Approx(std::min(d / 256.0, 100.0 / 16)));
  REQUIRE((*MakeCompressor("dither:s=16"))->Delta(d) == Approx(1 / (1 + 100.0 / 16)));
  REQUIRE((*MakeCompressor("induced:topk:0.01+randk:0.01"))->Omega(d) == Approx(99 * 0.99));
}

}  // namespace
}  // namespace sotto::coding
