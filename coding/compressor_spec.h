#pragma once

// CompressorSpec: the parsed form of a compressor spec string (coding/compressor.h).
//
// Grammar:  spec    := body (';' option)*
//           body    := simple | 'induced:' simple '+' simple | 'chain:' simple '+' simple
//           simple  := 'identity' | 'topk:' count | 'randk:' count | 'dither' [':s=' int]
//                    | 'natural' [':s=' int] | 'sign'
//           count   := fraction in (0, 1] | 'k=' int
//           option  := 'coder=' (rans|elias|vsc|fixed|fp32) | 'block=' int (2^10..2^20)
//                    | 'subtractive' | 'noscale'
// Examples: "topk:0.01", "dither:s=16;coder=fixed", "topk:0.01;coder=fp32",
// "induced:topk:0.01+randk:0.01", "chain:topk:0.1+dither:s=16".
//
// Classes (ALGORITHMS.md §1; k kept elements, m the length a quantiser sees):
//   identity U(0); topk B(k/d); randk U(d/k - 1); dither U(min(m/s^2, sqrt(m)/s));
//   natural U(1/8 + min(sqrt(m)/2^(s-1), m/2^(2(s-1)))); sign B(1/d) (worst case);
//   induced:C1+C2 U(omega2 (1 - delta1)), C1 contractive, C2 unbiased;
//   chain:randk+Q U((d/k)(1 + omega_Q) - 1);
//   chain:topk+Q (Q unbiased) B(k/d / (1 + omega_Q(k))): the output is multiplied by
//     1/(1 + omega_Q(k)) inside the compressor so the class holds; with ';noscale' it
//     is not, and delta = max(0, k/d (1 - omega_Q(k))) (0: no guarantee);
//   chain:topk+sign B(1/d).
// Coders: levels default to the sotto coder (rans); floats to Golomb-coded positions
// plus raw f32 (coder=fp32 or fixed: u32 index + f32 per element). Whole vectors of
// floats (identity, the values of rand-k) are always raw f32.

#include <cstdint>
#include <string>
#include <string_view>

#include "coding/format.h"
#include "common/status.h"

namespace sotto::coding {

enum class SparsifierKind { kNone, kTopK, kRandK };
enum class QuantizerKind { kNone, kDither, kNatural, kSign };

// One lossy stage: an optional sparsifier, then an optional quantiser of what it kept.
struct StageSpec {
  SparsifierKind sparsifier = SparsifierKind::kNone;
  double fraction = 0;     // Kept fraction of d (when count == 0).
  std::uint64_t count = 0;  // Kept elements, if given as k=...
  QuantizerKind quantizer = QuantizerKind::kNone;
  std::uint32_t levels = 16;  // s of dither / natural dither.

  // Elements the sparsifier keeps of d.
  std::uint64_t Kept(std::uint64_t d) const;
};

struct CompressorSpec {
  CodecId codec = CodecId::kIdentity;
  int stage_count = 1;   // 2 for induced: C1(x) + C2(x - C1(x)).
  StageSpec stages[2];
  LevelCoder level_coder = LevelCoder::kRans;
  FloatCoder float_coder = FloatCoder::kGaps;
  bool coder_given = false;
  bool fp32 = false;        // coder=fp32.
  bool subtractive = false;  // Subtractive dither (linear dither only).
  bool noscale = false;      // chain: skip the 1/(1+omega) contraction factor.
  int block_log2 = 20;
  bool block_given = false;  // block=...: a fixed block length.

  // The canonical spec string.
  std::string ToString() const;
};

// Parses a spec; kInvalidArgument with a message naming the bad part.
Result<CompressorSpec> ParseCompressorSpec(std::string_view spec);

}  // namespace sotto::coding
