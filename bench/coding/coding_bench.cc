// Benchmark of coding/ (ALGORITHMS.md §2): on Laplace data soft-thresholded to a
// density and dithered with s levels, compares the sotto level coder with the
// empirical order-0 entropy of the level stream and with Elias-omega, vsc, fixed
// width and zstd (levels 3 and 19), and measures the single-thread throughput of the
// whole pipeline (soft-threshold + dither + code; decode + add) against memcpy.
//
// Usage: coding_bench [--out DIR] [--quick]   (writes DIR/coding.json, DIR/coding.png)

#include <stdlib.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "coding/compressor.h"
#include "coding/dither.h"
#include "coding/level_coder.h"
#include "common/random.h"

namespace {

using sotto::coding::LevelCoder;
using Clock = std::chrono::steady_clock;

// Laplace(1) samples.
std::vector<float> Laplace(std::size_t d, std::uint64_t seed) {
  sotto::Rng rng(seed);
  std::vector<float> x(d);
  for (auto& v : x) {
    const double u = rng.Uniform01() - 0.5;
    v = static_cast<float>(-std::copysign(1.0, u) * std::log(1 - 2 * std::fabs(u) + 1e-300));
  }
  return x;
}

// Soft threshold at tau: P(|x| > tau) = exp(-tau) for Laplace(1), so tau = -ln(density).
void SoftThreshold(std::span<const float> x, float tau, std::span<float> out) {
  for (std::size_t j = 0; j < x.size(); ++j) {
    const float a = std::fabs(x[j]) - tau;
    out[j] = a > 0 ? std::copysign(a, x[j]) : 0.0f;
  }
}

// Seconds of the fastest of several runs of f (at least `min_runs`, about 0.5 s total:
// on a shared machine the fastest run is the one nothing else interrupted).
double TimeIt(const std::function<void()>& f, int min_runs = 5) {
  double best = 1e30;
  const auto start = Clock::now();
  for (int r = 0; r < 1000; ++r) {
    const auto t0 = Clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
    if (r + 1 >= min_runs && std::chrono::duration<double>(Clock::now() - start).count() > 0.5) break;
  }
  return best;
}

// -log2 of the probability of these levels under the source that made them, i.e. what
// an ideal coder that knows the source (not just this sample) spends on them; its
// mean over samples is d times the source entropy, which no decodable code beats on
// average. The empirical n*H0 is smaller by the cost of learning the symbol
// frequencies from the sample itself (about (K - 1) / (2 ln 2) bits for K distinct
// symbols), which dominates when there are only tens of non-zeros. The source: a
// Laplace(1) element survives the soft threshold with probability `density` and then
// exceeds it by y ~ Exp(1); dithering r = y s / norm (rate a = norm / s) gives level
// l >= 1 with probability density * e^{-a l} (e^a + e^-a - 2) / a (the triangle kernel
// of the dither against the exponential), each sign with half of it; the rest is 0.
double SourceBits(std::size_t d, double density, double norm, std::uint32_t s,
                  std::span<const std::int32_t> level) {
  const double a = norm / s;
  // P(l) = density * exp(-a (l - 1)) * (1 + e^-2a - 2 e^-a) / a, written without e^a.
  const double c = (1 + std::exp(-2 * a) - 2 * std::exp(-a)) / a;
  const auto log2p = [&](std::int32_t l) {
    const double m = std::abs(static_cast<double>(l));
    return std::log2(density * c / 2) - a * (m - 1) / std::log(2.0);
  };
  const double p_nonzero = density * c / (1 - std::exp(-a));  // Sum over l >= 1.
  double bits = -static_cast<double>(d - level.size()) * std::log2(1 - p_nonzero);
  for (std::int32_t l : level) bits -= log2p(l);
  return bits;
}

struct Row {
  std::size_t d;
  double density;
  std::uint32_t s;
  std::size_t nnz;
  double entropy_bits;  // n * H0 of the zig-zag level stream.
  double source_bits;   // -log2 P(levels) under the law that generated them (SourceBits).
  std::size_t header_bytes;
  std::size_t message_bytes;  // The whole compressed vector (sotto coder).
  std::map<std::string, std::size_t> coder_bytes;  // Payload bytes of each coder.
  double encode_gbps = 0, decode_gbps = 0, memcpy_gbps = 0, read_gbps = 0;
  // Over kSeeds samples (vectors under 10^4 non-zeros, where one sample's ratio is noisy).
  int seeds = 0;
  double ratio_entropy_mean = 0, ratio_entropy_max = 0, ratio_source_mean = 0, ratio_source_max = 0;
};

double RatioToEntropy(const Row& r) { return r.message_bytes * 8.0 / (r.entropy_bits + 8.0 * r.header_bytes); }
double RatioToSource(const Row& r) { return r.message_bytes * 8.0 / (r.source_bits + 8.0 * r.header_bytes); }
constexpr int kSeeds = 32;

std::size_t ZstdBytes(const std::vector<std::uint8_t>& raw, int level) {
  std::vector<std::uint8_t> out(ZSTD_compressBound(raw.size()));
  const std::size_t n = ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), level);
  return ZSTD_isError(n) ? 0 : n;
}

Row Run(std::size_t d, double density, std::uint32_t s, bool zstd19, bool timing, std::uint64_t seed = 0) {
  Row row{};
  row.d = d;
  row.density = density;
  row.s = s;
  const std::vector<float> raw = Laplace(d, 1000 + d + s + (seed << 40));
  std::vector<float> x(d);
  const auto tau = static_cast<float>(-std::log(density));
  SoftThreshold(raw, tau, x);

  const std::string spec = "dither:s=" + std::to_string(s);
  auto made = sotto::coding::MakeCompressor(spec);
  if (!made.ok()) std::abort();
  sotto::coding::Compressor& c = **made;
  const sotto::coding::CompressContext ctx{7, 1, 2, 1.0f};
  std::vector<std::uint8_t> bytes;
  std::vector<float> decoded(d);
  if (!c.Compress(x, ctx, &bytes, decoded).ok()) std::abort();
  row.message_bytes = bytes.size();

  // The same levels, for the coders and the entropy.
  double norm2 = 0;
  for (float v : x) norm2 += static_cast<double>(v) * v;
  std::vector<std::uint32_t> index(d);
  std::vector<std::int32_t> level(d);
  const std::size_t nnz = sotto::coding::Dither(sotto::coding::DitherKind::kLinear, x, std::sqrt(norm2), s,
                                                {7, 1, 2, sotto::coding::DitherTag(0)}, index.data(), level.data());
  index.resize(nnz);
  level.resize(nnz);
  row.nnz = nnz;
  std::map<std::uint32_t, double> hist;
  hist[0] = static_cast<double>(d - nnz);
  for (auto l : level) hist[(static_cast<std::uint32_t>(l) << 1) ^ static_cast<std::uint32_t>(l >> 31)] += 1;
  for (const auto& [sym, cnt] : hist) {
    if (cnt > 0) row.entropy_bits += cnt * std::log2(static_cast<double>(d) / cnt);
  }
  row.source_bits = SourceBits(d, density, std::sqrt(norm2), s, level);
  const sotto::coding::LevelsView lv{d, index, level, s};
  const std::pair<const char*, LevelCoder> coders[] = {
      {"sotto", LevelCoder::kRans}, {"elias", LevelCoder::kElias}, {"vsc", LevelCoder::kVsc},
      {"fixed", LevelCoder::kFixed}};
  for (const auto& [name, coder] : coders) {
    std::vector<std::uint8_t> payload;
    std::uint8_t form = 0;  // Sent in the section byte, outside the payload.
    sotto::coding::EncodeLevels(coder, lv, {}, &payload, &form);
    row.coder_bytes[name] = payload.size();
  }
  row.header_bytes = row.message_bytes - row.coder_bytes["sotto"];
  // zstd sees the dense level array, one byte per element (two when s > 127).
  std::vector<std::uint8_t> dense(d * (s > 127 ? 2 : 1), 0);
  for (std::size_t i = 0; i < nnz; ++i) {
    if (s > 127) {
      const auto v = static_cast<std::int16_t>(level[i]);
      std::memcpy(&dense[2 * index[i]], &v, 2);
    } else {
      dense[index[i]] = static_cast<std::uint8_t>(static_cast<std::int8_t>(level[i]));
    }
  }
  row.coder_bytes["zstd3"] = ZstdBytes(dense, 3);
  if (zstd19) row.coder_bytes["zstd19"] = ZstdBytes(dense, 19);

  if (timing) {
    std::vector<float> thresholded(d);
    const double t_enc = TimeIt([&] {
      SoftThreshold(raw, tau, thresholded);
      if (!c.Compress(thresholded, ctx, &bytes, decoded).ok()) std::abort();
    });
    std::vector<float> acc(d, 0.0f);
    const double t_dec = TimeIt([&] {
      if (!sotto::coding::DecodeAdd(bytes, {}, acc).ok()) std::abort();
    });
    std::vector<float> copy(d);
    const double t_cpy = TimeIt([&] { std::memcpy(copy.data(), raw.data(), 4 * d); });
    volatile float sink = 0;
    const double t_read = TimeIt([&] {
      float acc8[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (std::size_t j = 0; j + 8 <= d; j += 8) {
        for (int l = 0; l < 8; ++l) acc8[l] += raw[j + static_cast<std::size_t>(l)];
      }
      sink = sink + acc8[0] + acc8[7];
    });
    const double gb = 4.0 * static_cast<double>(d) / 1e9;
    row.encode_gbps = gb / t_enc;
    row.decode_gbps = gb / t_dec;
    row.memcpy_gbps = gb / t_cpy;
    row.read_gbps = gb / t_read;
  }
  return row;
}

// Whole compressors on one vector: the configurations algo/ compares (CHOCO
// baselines vs the sotto defaults), with their error and speed.
struct SpecRow {
  std::string spec;
  std::size_t bytes = 0;
  double rel_error = 0;  // ||C(x) - x||^2 / ||x||^2 (before any 1/(1+omega) scale).
  double encode_gbps = 0, decode_gbps = 0;
};

std::vector<SpecRow> RunSpecs(std::size_t d, double density) {
  const std::vector<float> raw = Laplace(d, 77);
  std::vector<float> x(d);
  SoftThreshold(raw, static_cast<float>(-std::log(density)), x);
  double norm2 = 0;
  for (float v : x) norm2 += static_cast<double>(v) * v;
  std::vector<SpecRow> rows;
  for (const char* spec : {"identity", "topk:0.01;coder=fp32", "topk:0.01", "dither:s=16;coder=fixed",
                           "dither:s=16", "dither:s=16;coder=elias", "chain:topk:0.1+dither:s=16",
                           "chain:topk:0.01+dither:s=4", "randk:0.01", "induced:topk:0.01+randk:0.01",
                           "natural:s=8", "sign"}) {
    auto made = sotto::coding::MakeCompressor(spec);
    if (!made.ok()) std::abort();
    sotto::coding::Compressor& c = **made;
    const sotto::coding::CompressContext ctx{7, 1, 2, 1.0f};
    std::vector<std::uint8_t> bytes;
    std::vector<float> decoded(d), acc(d, 0.0f);
    SpecRow row;
    row.spec = spec;
    const double t_enc = TimeIt([&] {
      if (!c.Compress(x, ctx, &bytes, decoded).ok()) std::abort();
    });
    const double t_dec = TimeIt([&] {
      if (!sotto::coding::DecodeAdd(bytes, {}, acc).ok()) std::abort();
    });
    row.bytes = bytes.size();
    double err = 0;
    for (std::size_t j = 0; j < d; ++j) err += (static_cast<double>(decoded[j]) - x[j]) * (decoded[j] - x[j]);
    row.rel_error = err / norm2;
    row.encode_gbps = 4.0 * static_cast<double>(d) / 1e9 / t_enc;
    row.decode_gbps = 4.0 * static_cast<double>(d) / 1e9 / t_dec;
    std::fprintf(stderr, "spec %-32s bytes=%-9zu rel_err=%-10.4g enc=%.2f dec=%.2f GB/s\n", spec, row.bytes,
                 row.rel_error, row.encode_gbps, row.decode_gbps);
    rows.push_back(row);
  }
  return rows;
}

std::string Json(const std::vector<Row>& rows, const std::vector<SpecRow>& specs) {
  std::ostringstream o;
  o << "{\n  \"description\": \"coding/ benchmark: Laplace data soft-thresholded to a density, dithered with s "
       "levels (spec dither:s=S). Bytes per coder are payloads of the same levels; entropy_bits = n*H0 of the "
       "zig-zag level stream (all d symbols, zeros included); ratio = sotto message bits / (entropy_bits + header "
       "bits), where header_bytes = the message minus the sotto payload: the message header (magic, version, codec, "
       "flags, dimension, section count) and the section header (kind, support, coder, level flags, s, f32 step, "
       "non-zero count, payload length), which carry what the entropy of the symbols does not; everything the "
       "coder spends inside its payload (modes, block table, Golomb parameters, count tables, rANS final states, "
       "padding) counts against it. payload_ratio_to_entropy = payload bits / entropy_bits. source_bits = -log2 "
       "P(levels) under the law that generated them (Laplace(1), soft threshold, dither; what an ideal coder "
       "knowing the source spends, on average d times the source entropy: a bound no code beats on average, "
       "while n*H0 of a sample of tens of non-zeros lies below it by the cost of learning the frequencies); "
       "ratio_to_source = sotto message bits / (source_bits + header bits); rows under 10^4 non-zeros also give "
       "both ratios' mean and max over `seeds` samples (other Laplace draws). Throughput: single "
       "thread, GB/s of float input (4 d bytes / time); encode = soft-threshold + Compress (norm, dither, code, "
       "decoded copy), decode = DecodeAdd (touches only the non-zeros, so it can beat memcpy); memcpy_gbps = "
       "memcpy of the same 4 d bytes and read_gbps = summing them, in the same run (cache-resident up to d = 1e6).\",\n"
    << "  \"rows\": [\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    o << "    {\"d\": " << r.d << ", \"density\": " << r.density << ", \"s\": " << r.s << ", \"nnz\": " << r.nnz
      << ", \"entropy_bits\": " << r.entropy_bits << ", \"header_bytes\": " << r.header_bytes
      << ", \"message_bytes\": " << r.message_bytes
      << ", \"ratio_to_entropy\": " << RatioToEntropy(r)
      << ", \"payload_ratio_to_entropy\": " << r.coder_bytes.at("sotto") * 8.0 / std::max(1.0, r.entropy_bits)
      << ", \"source_bits\": " << r.source_bits
      << ", \"ratio_to_source\": " << RatioToSource(r);
    if (r.seeds > 0) {
      o << ", \"seeds\": " << r.seeds << ", \"ratio_to_entropy_mean\": " << r.ratio_entropy_mean
        << ", \"ratio_to_entropy_max\": " << r.ratio_entropy_max << ", \"ratio_to_source_mean\": "
        << r.ratio_source_mean << ", \"ratio_to_source_max\": " << r.ratio_source_max;
    }
    o
      << ", \"bytes\": {";
    bool first = true;
    for (const auto& [name, b] : r.coder_bytes) {
      o << (first ? "" : ", ") << "\"" << name << "\": " << b;
      first = false;
    }
    o << "}";
    if (r.encode_gbps > 0) {
      o << ", \"encode_gbps\": " << r.encode_gbps << ", \"decode_gbps\": " << r.decode_gbps
        << ", \"memcpy_gbps\": " << r.memcpy_gbps << ", \"read_gbps\": " << r.read_gbps;
    }
    o << "}" << (i + 1 < rows.size() ? "," : "") << "\n";
  }
  o << "  ],\n  \"specs_d1e6_density0.1\": [\n";
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const SpecRow& r = specs[i];
    o << "    {\"spec\": \"" << r.spec << "\", \"bytes\": " << r.bytes << ", \"rel_error\": " << r.rel_error
      << ", \"encode_gbps\": " << r.encode_gbps << ", \"decode_gbps\": " << r.decode_gbps << "}"
      << (i + 1 < specs.size() ? "," : "") << "\n";
  }
  o << "  ]\n}\n";
  return o.str();
}

void Plot(const std::vector<Row>& rows, const std::string& dir) {
  // The data and script are temporaries: only coding.png lands in `dir`.
  char tmp_template[] = "/tmp/sotto_coding_bench_XXXXXX";
  const char* tmp = mkdtemp(tmp_template);
  if (tmp == nullptr) {
    std::perror("mkdtemp");
    return;
  }
  const std::string dat = std::string(tmp) + "/coding_plot.dat";
  std::ofstream f(dat);
  f << "# density bits_per_nnz: entropy sotto elias vsc fixed zstd3 zstd19   (d=1e6, s=16)\n";
  for (const Row& r : rows) {
    if (r.d != 1000000 || r.s != 16) continue;
    const double nz = std::max<double>(1, static_cast<double>(r.nnz));
    auto b = [&](const char* k) {
      const auto it = r.coder_bytes.find(k);
      return it == r.coder_bytes.end() ? NAN : it->second * 8.0 / nz;
    };
    f << r.density << " " << r.entropy_bits / nz << " " << b("sotto") << " " << b("elias") << " " << b("vsc") << " "
      << b("fixed") << " " << b("zstd3") << " " << b("zstd19") << "\n";
  }
  f.close();
  const std::string script = std::string(tmp) + "/coding_plot.gp";
  std::ofstream g(script);
  g << "set terminal pngcairo size 1400,560\nset output '" << dir << "/coding.png'\n"
    << "set multiplot layout 1,2 title 'coding/ benchmark, d = 1e6, s = 16 (Laplace, soft-thresholded, dithered)'\n"
    << "set logscale x\nset xlabel 'density of the soft-thresholded vector'\nset grid\nset key top right\n"
    << "set logscale y\nset ylabel 'bits per non-zero level'\nset title 'bits of each coder'\n"
    << "plot '" << dat << "' u 1:2 w lp lw 2 t 'entropy n*H0', '' u 1:3 w lp lw 2 t 'sotto', '' u 1:4 w lp t "
       "'Elias-omega', '' u 1:5 w lp t 'vsc', '' u 1:6 w lp t 'fixed', '' u 1:7 w lp t 'zstd -3', '' u 1:8 w lp t "
       "'zstd -19'\n"
    << "unset logscale y\nset yrange [0.9:3.5]\nset ylabel 'bits / (n*H0)'\n"
    << "set title 'relative to the empirical order-0 entropy (payloads)'\n"
    << "plot '" << dat << "' u 1:($3/$2) w lp lw 2 t 'sotto', '' u 1:($4/$2) w lp t 'Elias-omega', '' u 1:($5/$2) "
       "w lp t 'vsc', '' u 1:($7/$2) w lp t 'zstd -3', '' u 1:($8/$2) w lp t 'zstd -19', 1.02 w l dt 2 t '1.02'\n"
    << "unset multiplot\n";
  g.close();
  if (std::system(("gnuplot " + script).c_str()) != 0) std::fprintf(stderr, "gnuplot failed\n");
  std::remove(dat.c_str());
  std::remove(script.c_str());
  rmdir(tmp);
}

}  // namespace

int main(int argc, char** argv) {
  std::string out = "bench/results";
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--out") == 0 && i + 1 < argc) out = argv[++i];
    if (std::strcmp(argv[i], "--quick") == 0) quick = true;
  }
  std::vector<Row> rows;
  const double densities[] = {0.001, 0.01, 0.1, 0.5};
  const std::uint32_t levels[] = {1, 4, 16, 256};
  for (std::size_t d : {10000ul, 100000ul, 1000000ul, 10000000ul}) {
    if (quick && d > 1000000) break;
    for (double density : densities) {
      for (std::uint32_t s : levels) {
        Row r = Run(d, density, s, /*zstd19=*/true, /*timing=*/d >= 1000000);
        if (r.nnz < 10000) {  // The ratios of a few hundred symbols vary from sample to sample.
          r.seeds = kSeeds;
          for (int k = 0; k < kSeeds; ++k) {
            const Row o = k == 0 ? r : Run(d, density, s, false, false, static_cast<std::uint64_t>(k));
            r.ratio_entropy_mean += RatioToEntropy(o) / kSeeds;
            r.ratio_source_mean += RatioToSource(o) / kSeeds;
            r.ratio_entropy_max = std::max(r.ratio_entropy_max, RatioToEntropy(o));
            r.ratio_source_max = std::max(r.ratio_source_max, RatioToSource(o));
          }
        }
        std::fprintf(stderr,
                     "d=%-8zu p=%-6g s=%-3u nnz=%-8zu ratio=%.4f to_source=%.4f mean(%d)=%.4f/%.4f sotto=%zu elias=%zu vsc=%zu fixed=%zu zstd3=%zu "
                     "zstd19=%zu enc=%.2f dec=%.2f memcpy=%.2f GB/s\n",
                     d, density, s, r.nnz, RatioToEntropy(r), RatioToSource(r), r.seeds, r.ratio_entropy_mean,
                     r.ratio_source_mean,
                     r.coder_bytes.at("sotto"), r.coder_bytes.at("elias"), r.coder_bytes.at("vsc"),
                     r.coder_bytes.at("fixed"), r.coder_bytes.at("zstd3"),
                     r.coder_bytes.count("zstd19") ? r.coder_bytes.at("zstd19") : 0, r.encode_gbps, r.decode_gbps,
                     r.memcpy_gbps);
        rows.push_back(r);
      }
    }
  }
  const std::vector<SpecRow> specs = RunSpecs(1000000, 0.1);
  std::ofstream(out + "/coding.json") << Json(rows, specs);
  Plot(rows, out);
  return 0;
}
