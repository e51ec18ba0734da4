// Writes the seed corpora of the decoder fuzz targets (tests/fuzz/corpus/<target>/):
// valid encodings of small vectors, so the fuzzer starts from deep inside each decoder.
// Usage: make_corpus OUT_DIR   (tests/fuzz/run.sh --corpus regenerates them)

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "coding/compressor.h"
#include "coding/dither.h"
#include "coding/format.h"
#include "coding/level_coder.h"
#include "coding/section.h"
#include "common/random.h"

namespace {

void Write(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                              static_cast<std::streamsize>(bytes.size()));
}

std::vector<float> Vector(std::size_t d, double density, std::uint64_t seed) {
  sotto::Rng rng(seed);
  std::vector<float> x(d, 0.0f);
  for (auto& v : x) {
    if (rng.Uniform01() < density) v = static_cast<float>(rng.Normal());
  }
  return x;
}

void PutU16(std::vector<std::uint8_t>* out, std::uint64_t v) {
  out->push_back(static_cast<std::uint8_t>(v));
  out->push_back(static_cast<std::uint8_t>(v >> 8));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const std::string out = argv[1];
  int n = 0;
  const char* specs[] = {"identity", "topk:0.1", "topk:0.1;coder=fp32", "randk:0.2", "dither:s=16",
                         "dither:s=4;subtractive", "natural:s=6", "sign", "induced:topk:0.05+randk:0.1",
                         "chain:topk:0.2+dither:s=16", "dither:s=16;coder=elias", "dither:s=16;coder=vsc",
                         "dither:s=16;coder=fixed"};
  for (const char* spec : specs) {
    auto c = sotto::coding::MakeCompressor(spec);
    for (std::size_t d : {1u, 40u, 700u}) {
      const auto x = Vector(d, 0.5, static_cast<std::uint64_t>(++n));
      std::vector<std::uint8_t> bytes;
      std::vector<float> decoded(d);
      if (!(*c)->Compress(x, {1, 2, 3, 1.0f}, &bytes, decoded).ok()) return 1;
      Write(out + "/message/seed" + std::to_string(n), bytes);
    }
  }
  const std::pair<const char*, sotto::coding::LevelCoder> coders[] = {
      {"levels_rans", sotto::coding::LevelCoder::kRans}, {"levels_elias", sotto::coding::LevelCoder::kElias},
      {"levels_vsc", sotto::coding::LevelCoder::kVsc}, {"levels_fixed", sotto::coding::LevelCoder::kFixed}};
  for (std::uint32_t s : {1u, 4u, 300u}) {
    for (double density : {0.02, 0.3, 0.9}) {
      const std::size_t len = 3000;
      const auto x = Vector(len, density, static_cast<std::uint64_t>(++n));
      double norm = 0;
      for (float v : x) norm += static_cast<double>(v) * v;
      std::vector<std::uint32_t> index(len);
      std::vector<std::int32_t> level(len);
      const std::size_t nnz = sotto::coding::Dither(sotto::coding::DitherKind::kLinear, x, std::sqrt(norm), s,
                                                    {1, 2, 3, 4}, index.data(), level.data());
      index.resize(nnz);
      level.resize(nnz);
      for (const auto& [name, coder] : coders) {
        std::vector<std::uint8_t> bytes;
        PutU16(&bytes, len - 1);
        PutU16(&bytes, nnz);
        PutU16(&bytes, s - 1);
        sotto::coding::LevelCoderOptions options;
        options.block_log2 = 10;
        options.grow_sparse_blocks = false;
        bytes.push_back(0);  // The payload's form, set below.
        std::uint8_t form = 0;
        sotto::coding::EncodeLevels(coder, {len, index, level, s}, options, &bytes, &form);
        bytes[6] = form;
        Write(out + "/" + name + "/seed" + std::to_string(n), bytes);
        if (coder == sotto::coding::LevelCoder::kRans) {
          // The same levels as one block (a single-block form).
          bytes.resize(7);
          sotto::coding::EncodeLevels(coder, {len, index, level, s}, {}, &bytes, &form);
          bytes[6] = form;
          Write(out + "/" + name + "/seed" + std::to_string(n) + "_one", bytes);
        }
      }
      for (int coder = 0; coder < 3; ++coder) {
        std::vector<std::uint8_t> bytes = {static_cast<std::uint8_t>(coder)};
        const std::size_t m = coder == 2 ? len : nnz;
        PutU16(&bytes, len - 1);
        PutU16(&bytes, m);
        std::vector<std::uint32_t> idx(m);
        std::vector<float> val(m, 1.5f);
        for (std::size_t i = 0; i < m; ++i) idx[i] = coder == 2 ? static_cast<std::uint32_t>(i) : index[i];
        sotto::coding::EncodeFloats(static_cast<sotto::coding::FloatCoder>(coder), len, idx, val, &bytes);
        Write(out + "/floats/seed" + std::to_string(n) + "_" + std::to_string(coder), bytes);
      }
    }
  }
  std::printf("wrote seeds to %s\n", out.c_str());
  return 0;
}
