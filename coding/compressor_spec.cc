#include "coding/compressor_spec.h"

#include <charconv>
#include <cmath>
#include <sstream>
#include <vector>

#include "coding/sparsify.h"

namespace sotto::coding {
namespace {

Status Bad(std::string_view spec, const std::string& why) {
  return InvalidArgument("compressor spec '" + std::string(spec) + "': " + why);
}

bool ParseUint(std::string_view s, std::uint64_t* out) {
  if (s.empty()) return false;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

bool ParseDouble(std::string_view s, double* out) {
  if (s.empty()) return false;
  std::string str(s);
  std::istringstream in(str);
  in >> *out;
  return !in.fail() && in.eof();
}

// "0.01" or "k=100".
Status ParseCount(std::string_view all, std::string_view arg, StageSpec* stage) {
  if (arg.substr(0, 2) == "k=") {
    if (!ParseUint(arg.substr(2), &stage->count) || stage->count == 0) return Bad(all, "bad count '" + std::string(arg) + "'");
    return Status::Ok();
  }
  if (!ParseDouble(arg, &stage->fraction) || !(stage->fraction > 0 && stage->fraction <= 1)) {
    return Bad(all, "fraction '" + std::string(arg) + "' is not in (0, 1]");
  }
  return Status::Ok();
}

Status ParseLevels(std::string_view all, std::string_view arg, std::uint32_t max, StageSpec* stage) {
  if (arg.empty()) return Status::Ok();
  if (arg.substr(0, 2) == "s=") arg = arg.substr(2);
  std::uint64_t s = 0;
  if (!ParseUint(arg, &s) || s < 1 || s > max) {
    return Bad(all, "levels '" + std::string(arg) + "' not in 1.." + std::to_string(max));
  }
  stage->levels = static_cast<std::uint32_t>(s);
  return Status::Ok();
}

Status ParseSimple(std::string_view all, std::string_view body, StageSpec* stage) {
  const auto colon = body.find(':');
  const std::string_view name = body.substr(0, colon);
  const std::string_view arg = colon == std::string_view::npos ? std::string_view() : body.substr(colon + 1);
  if (name == "identity" && arg.empty()) return Status::Ok();
  if (name == "sign" && arg.empty()) {
    stage->quantizer = QuantizerKind::kSign;
    stage->levels = 1;
    return Status::Ok();
  }
  if (name == "topk" || name == "randk") {
    stage->sparsifier = name == "topk" ? SparsifierKind::kTopK : SparsifierKind::kRandK;
    return ParseCount(all, arg, stage);
  }
  if (name == "dither") {
    stage->quantizer = QuantizerKind::kDither;
    return ParseLevels(all, arg, kMaxLevel, stage);
  }
  if (name == "natural") {
    stage->quantizer = QuantizerKind::kNatural;
    stage->levels = 8;
    return ParseLevels(all, arg, kMaxPowerOfTwoLevel, stage);
  }
  return Bad(all, "unknown compressor '" + std::string(body) + "'");
}

CodecId SimpleCodec(const StageSpec& s) {
  if (s.sparsifier == SparsifierKind::kTopK) return CodecId::kTopK;
  if (s.sparsifier == SparsifierKind::kRandK) return CodecId::kRandK;
  switch (s.quantizer) {
    case QuantizerKind::kDither:
      return CodecId::kDither;
    case QuantizerKind::kNatural:
      return CodecId::kNaturalDither;
    case QuantizerKind::kSign:
      return CodecId::kScaledSign;
    case QuantizerKind::kNone:
      break;
  }
  return CodecId::kIdentity;
}

std::string SimpleString(const StageSpec& s, bool sparsifier_part, bool quantizer_part) {
  std::string out;
  if (sparsifier_part && s.sparsifier != SparsifierKind::kNone) {
    out = s.sparsifier == SparsifierKind::kTopK ? "topk:" : "randk:";
    if (s.count != 0) {
      out += "k=" + std::to_string(s.count);
    } else {
      std::ostringstream f;
      f << s.fraction;
      out += f.str();
    }
  }
  if (quantizer_part && s.quantizer != QuantizerKind::kNone) {
    if (!out.empty()) out += "+";
    switch (s.quantizer) {
      case QuantizerKind::kDither:
        out += "dither:s=" + std::to_string(s.levels);
        break;
      case QuantizerKind::kNatural:
        out += "natural:s=" + std::to_string(s.levels);
        break;
      case QuantizerKind::kSign:
        out += "sign";
        break;
      case QuantizerKind::kNone:
        break;
    }
  }
  return out.empty() ? "identity" : out;
}

bool IsUnbiased(const StageSpec& s) {
  return s.sparsifier != SparsifierKind::kTopK && s.quantizer != QuantizerKind::kSign;
}

}  // namespace

std::uint64_t StageSpec::Kept(std::uint64_t d) const {
  if (sparsifier == SparsifierKind::kNone) return d;
  if (count != 0) return std::min(count, d);
  return FractionToCount(fraction, d);
}

Result<CompressorSpec> ParseCompressorSpec(std::string_view spec) {
  CompressorSpec out;
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    const auto semi = spec.find(';', start);
    parts.push_back(spec.substr(start, semi == std::string_view::npos ? std::string_view::npos : semi - start));
    if (semi == std::string_view::npos) break;
    start = semi + 1;
  }
  const std::string_view body = parts[0];
  if (body.empty()) return Bad(spec, "empty");
  auto split = [&](std::string_view rest, StageSpec* a, StageSpec* b) -> Status {
    const auto plus = rest.find('+');
    if (plus == std::string_view::npos) return Bad(spec, "expected two compressors joined by '+'");
    SOTTO_RETURN_IF_ERROR(ParseSimple(spec, rest.substr(0, plus), a));
    return ParseSimple(spec, rest.substr(plus + 1), b);
  };
  if (body.substr(0, 8) == "induced:") {
    out.codec = CodecId::kInduced;
    out.stage_count = 2;
    SOTTO_RETURN_IF_ERROR(split(body.substr(8), &out.stages[0], &out.stages[1]));
    if (IsUnbiased(out.stages[0])) return Bad(spec, "induced: the first compressor must be contractive (topk, sign)");
    if (!IsUnbiased(out.stages[1])) return Bad(spec, "induced: the second compressor must be unbiased");
  } else if (body.substr(0, 6) == "chain:") {
    out.codec = CodecId::kChain;
    StageSpec a, b;
    SOTTO_RETURN_IF_ERROR(split(body.substr(6), &a, &b));
    if (a.sparsifier == SparsifierKind::kNone || a.quantizer != QuantizerKind::kNone) {
      return Bad(spec, "chain: the first part must be topk or randk");
    }
    if (b.sparsifier != SparsifierKind::kNone || b.quantizer == QuantizerKind::kNone) {
      return Bad(spec, "chain: the second part must be dither, natural or sign");
    }
    if (a.sparsifier == SparsifierKind::kRandK && b.quantizer == QuantizerKind::kSign) {
      return Bad(spec, "chain: randk then sign is neither unbiased nor contractive");
    }
    out.stages[0] = a;
    out.stages[0].quantizer = b.quantizer;
    out.stages[0].levels = b.levels;
  } else {
    SOTTO_RETURN_IF_ERROR(ParseSimple(spec, body, &out.stages[0]));
    out.codec = SimpleCodec(out.stages[0]);
  }
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const std::string_view opt = parts[i];
    if (opt.substr(0, 6) == "coder=") {
      const std::string_view c = opt.substr(6);
      out.coder_given = true;
      if (c == "rans") {
        out.level_coder = LevelCoder::kRans;
      } else if (c == "elias") {
        out.level_coder = LevelCoder::kElias;
      } else if (c == "vsc") {
        out.level_coder = LevelCoder::kVsc;
      } else if (c == "fixed") {
        out.level_coder = LevelCoder::kFixed;
        out.float_coder = FloatCoder::kIndexed;
      } else if (c == "fp32") {
        out.fp32 = true;
        out.float_coder = FloatCoder::kIndexed;
      } else {
        return Bad(spec, "unknown coder '" + std::string(c) + "' (rans, elias, vsc, fixed, fp32)");
      }
    } else if (opt.substr(0, 6) == "block=") {
      std::uint64_t b = 0;
      if (!ParseUint(opt.substr(6), &b) || b < 1024 || b > (1u << 20) || (b & (b - 1)) != 0) {
        return Bad(spec, "block must be a power of two in 1024..1048576");
      }
      out.block_log2 = std::countr_zero(b);
      out.block_given = true;
    } else if (opt == "subtractive") {
      out.subtractive = true;
    } else if (opt == "noscale") {
      out.noscale = true;
    } else {
      return Bad(spec, "unknown option '" + std::string(opt) + "'");
    }
  }
  bool has_levels = false, has_dither = false;
  for (int i = 0; i < out.stage_count; ++i) {
    has_levels |= out.stages[i].quantizer != QuantizerKind::kNone;
    has_dither |= out.stages[i].quantizer == QuantizerKind::kDither;
  }
  if (out.fp32 && has_levels) return Bad(spec, "coder=fp32 applies to float outputs (identity, topk, randk)");
  if (out.subtractive && !has_dither) return Bad(spec, "subtractive needs a linear dither");
  for (int i = 0; i < out.stage_count; ++i) {
    if (out.subtractive && out.stages[i].sparsifier == SparsifierKind::kTopK) {
      return Bad(spec, "subtractive dither needs a support the receiver knows (not topk)");
    }
  }
  return out;
}

std::string CompressorSpec::ToString() const {
  std::string s;
  if (codec == CodecId::kInduced) {
    s = "induced:" + SimpleString(stages[0], true, true) + "+" + SimpleString(stages[1], true, true);
  } else {
    s = codec == CodecId::kChain ? "chain:" : "";
    s += SimpleString(stages[0], true, true);
  }
  if (coder_given) {
    static const char* const kNames[] = {"rans", "elias", "vsc", "fixed"};
    s += std::string(";coder=") + (fp32 ? "fp32" : kNames[static_cast<int>(level_coder)]);
  }
  if (block_given) s += ";block=" + std::to_string(1u << block_log2);
  if (subtractive) s += ";subtractive";
  if (noscale) s += ";noscale";
  return s;
}

}  // namespace sotto::coding
