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
