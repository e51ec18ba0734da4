#include "coding/compressor.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "coding/compressor_spec.h"
#include "coding/dither.h"
#include "coding/format.h"
#include "coding/level_coder.h"
#include "coding/section.h"
#include "coding/sparsify.h"

namespace sotto::coding {
namespace {

// Variance factor of a quantiser on m elements (ALGORITHMS.md §1).
double QuantizerOmega(const StageSpec& st, std::uint64_t m) {
  const double md = static_cast<double>(m), s = st.levels;
  switch (st.quantizer) {
    case QuantizerKind::kDither:
      return std::min(md / (s * s), std::sqrt(md) / s);
    case QuantizerKind::kNatural: {
      // Natural dithering (Horvath et al. 2019, Thm. 7): 1/8 + min(sqrt(m)/2^(s-1), m/2^(2(s-1))).
      const double top = std::ldexp(1.0, static_cast<int>(st.levels) - 1);
      return 0.125 + std::min(std::sqrt(md) / top, md / (top * top));
    }
    case QuantizerKind::kNone:
    case QuantizerKind::kSign:
      return 0;
  }
  return 0;
}

struct StageClass {
  CompressorClass cls;
  double omega;   // Unbiased only.
  double delta;   // Contractive only.
  double factor;  // Internal contraction factor applied to the output.
};

StageClass ClassOf(const StageSpec& st, std::uint64_t d, bool noscale) {
  const std::uint64_t k = st.Kept(d);
  const double dd = std::max<double>(1, static_cast<double>(d));
  const double kd = std::max<double>(1, static_cast<double>(k));
  const bool sign = st.quantizer == QuantizerKind::kSign;
  const double wq = QuantizerOmega(st, k);
  switch (st.sparsifier) {
    case SparsifierKind::kNone:
      if (sign) return {CompressorClass::kContractive, 0, 1 / dd, 1};
      return {CompressorClass::kUnbiased, wq, 0, 1};
    case SparsifierKind::kRandK:
      return {CompressorClass::kUnbiased, dd / kd * (1 + wq) - 1, 0, 1};
    case SparsifierKind::kTopK:
      if (sign) return {CompressorClass::kContractive, 0, 1 / dd, 1};
      if (st.quantizer == QuantizerKind::kNone)
        return {CompressorClass::kContractive, 0, kd / dd, 1};
      if (noscale) return {CompressorClass::kContractive, 0, std::max(0.0, kd / dd * (1 - wq)), 1};
      return {CompressorClass::kContractive, 0, kd / dd / (1 + wq), 1 / (1 + wq)};
  }
  return {CompressorClass::kUnbiased, 0, 0, 1};
}

// Scratch of one section's encoding.
struct StageScratch {
  std::vector<std::uint32_t> sel;
  // Room for every element's (index, level) before compaction; never shrunk, so a
  // warm encoder does not zero megabytes it then overwrites.
  std::vector<std::uint32_t> all_index;
  std::vector<std::int32_t> all_level;
  std::vector<float> values;
  std::vector<std::uint8_t> payload;
  SectionData data;
};

class SpecCompressor final : public Compressor {
 public:
  explicit SpecCompressor(CompressorSpec spec) : spec_(std::move(spec)) {}

  std::string spec() const override { return spec_.ToString(); }

  CompressorClass compressor_class() const override { return Class(1000).cls; }
  double Omega(std::size_t dimension) const override {
    const StageClass c = Class(dimension);
    return c.cls == CompressorClass::kUnbiased ? c.omega : 0;
  }
  double Delta(std::size_t dimension) const override {
    const StageClass c = Class(dimension);
    return c.cls == CompressorClass::kUnbiased ? 1 / (1 + c.omega) : c.delta;
  }

  Status Compress(std::span<const float> x, const CompressContext& context,
                  std::vector<std::uint8_t>* bytes, std::span<float> decoded) override {
    SOTTO_CHECK(decoded.size() == x.size())
        << "decoded has " << decoded.size() << " elements, x " << x.size();
    return CompressInto(x, context, bytes, Sink{decoded, {}, 0.0f});
  }

  Status CompressAddWeighted(std::span<const float> x, const CompressContext& context,
                             std::vector<std::uint8_t>* bytes, std::span<float> target,
                             std::span<float> weighted, float weight) override {
    SOTTO_CHECK(target.size() == x.size() && weighted.size() == x.size())
        << "target has " << target.size() << " elements, weighted " << weighted.size() << ", x " << x.size();
    if (spec_.stage_count == 1) return CompressInto(x, context, bytes, Sink{target, weighted, weight});
    // Sections overlap: their sum first, in a zeroed vector, as a receiver does.
    sum_.resize(x.size());
    SOTTO_RETURN_IF_ERROR(CompressInto(x, context, bytes, Sink{sum_, {}, 0.0f}));
    AddWeighted(sum_, target, weighted, weight);
    return Status::Ok();
  }

 private:
  // Where a stage's reconstruction goes: added into `target` (zeroed first when there is
  // no `weighted`, as Compress's `decoded`), or, with `weighted`, as ApplySectionWeighted.
  struct Sink {
    std::span<float> target;
    std::span<float> weighted;
    float weight;
  };

  void Apply(const MessageHeader& header, const SectionHeader& sh, int si, const SectionData& data,
             const Sink& sink) {
    if (sink.weighted.empty()) {
      ApplySection(header, sh, si, data, sink.target);
    } else {
      ApplySectionWeighted(header, sh, si, data, sink.target, sink.weighted, sink.weight);
    }
  }

  Status CompressInto(std::span<const float> x, const CompressContext& context,
                      std::vector<std::uint8_t>* bytes, const Sink& sink) {
    if (x.size() > std::numeric_limits<std::uint32_t>::max()) {
      return InvalidArgument("compress: dimension " + std::to_string(x.size()) +
                             " exceeds 2^32 - 1");
    }
    if (!std::isfinite(context.scale)) return InvalidArgument("compress: scale is not finite");
    // A dither of the whole vector finds NaN/Inf through its norm, and top-k in its
    // first histogram pass (one pass fewer); everything else checks first.
    const StageSpec& first = spec_.stages[0];
    const bool stage_checks = first.sparsifier == SparsifierKind::kTopK ||
                              (spec_.stage_count == 1 && first.sparsifier == SparsifierKind::kNone &&
                               (first.quantizer == QuantizerKind::kDither ||
                                first.quantizer == QuantizerKind::kNatural));
    if (!stage_checks) SOTTO_RETURN_IF_ERROR(CheckFinite(x));
    MessageHeader header;
    header.codec = spec_.codec;
    header.dimension = x.size();
    header.has_seed = spec_.subtractive;
    for (int i = 0; i < spec_.stage_count; ++i)
      header.has_seed |= spec_.stages[i].sparsifier == SparsifierKind::kRandK;
    if (header.has_seed) {
      header.seed = context.seed;
      header.round = context.round;
      header.sender = context.sender;
    }
    bytes->clear();
    WriteMessageHeader(header, spec_.stage_count, bytes);
    if (sink.weighted.empty()) std::fill(sink.target.begin(), sink.target.end(), 0.0f);
    if (spec_.stage_count == 1) return CompressStage(0, x, header, context, bytes, sink, {});
    // Induced: C1(x) + C2(x - C1(x)); the residual uses C1 before the context's scale.
    residual_.assign(x.size(), 0.0f);
    SOTTO_RETURN_IF_ERROR(CompressStage(0, x, header, context, bytes, sink, residual_));
    for (std::size_t j = 0; j < x.size(); ++j) residual_[j] = x[j] - residual_[j];
    SOTTO_RETURN_IF_ERROR(CheckFinite(residual_));
    return CompressStage(1, residual_, header, context, bytes, sink, {});
  }

  StageClass Class(std::size_t d) const {
    const StageClass c0 = ClassOf(spec_.stages[0], d, spec_.noscale);
    if (spec_.stage_count == 1) return c0;
    const StageClass c1 = ClassOf(spec_.stages[1], d, spec_.noscale);
    // Induced compressor (Horvath & Richtarik 2021): U(omega2 (1 - delta1)).
    return {CompressorClass::kUnbiased, c1.omega * (1 - c0.delta), 0, 1};
  }

  // Compresses `in` by stage `si` into a section appended to `bytes`; adds the
  // reconstruction (times context.scale) into `sink` and, if `unscaled` is not
  // empty, the reconstruction without the context's scale into `unscaled`.
  Status CompressStage(int si, std::span<const float> in, const MessageHeader& header,
                       const CompressContext& context, std::vector<std::uint8_t>* bytes,
                       const Sink& sink, std::span<float> unscaled) {
    const StageSpec& st = spec_.stages[si];
    StageScratch& sc = scratch_[si];
    const std::uint64_t d = in.size();
    SectionHeader sh;
    std::span<const float> vals = in;
    std::uint64_t m = d;
    if (st.sparsifier != SparsifierKind::kNone) {
      m = st.Kept(d);
      if (st.sparsifier == SparsifierKind::kTopK) {
        SOTTO_RETURN_IF_ERROR(SelectTopKChecked(in, m, &sc.sel));
      } else {
        SampleRandK(d, m, context.seed, context.round, context.sender, RandKTag(si), &sc.sel);
        sh.support = Support::kRandK;
        sh.k = m;
      }
      m = sc.sel.size();
      if (m == 0) sh.support = Support::kAll;  // d == 0: nothing to regenerate.
      sc.values.resize(m);
      const float factor = st.sparsifier == SparsifierKind::kRandK
                               ? static_cast<float>(static_cast<double>(d) / static_cast<double>(m))
                               : 1.0f;
      for (std::size_t i = 0; i < m; ++i) sc.values[i] = in[sc.sel[i]] * factor;
      vals = sc.values;
    }
    SectionData& data = sc.data;
    if (sh.support == Support::kRandK) data.support = sc.sel;
    sc.payload.clear();
    if (st.quantizer == QuantizerKind::kNone) {
      sh.kind = SectionKind::kFloats;
      const bool positions = st.sparsifier == SparsifierKind::kTopK;
      sh.float_coder = positions ? spec_.float_coder : FloatCoder::kDense;
      if (d == 0) sh.float_coder = FloatCoder::kDense;
      sh.nnz = m;
      data.index.resize(m);
      data.value.resize(m);
      for (std::size_t i = 0; i < m; ++i) {
        data.index[i] = positions ? sc.sel[i] : static_cast<std::uint32_t>(i);
        data.value[i] = vals[i] * context.scale;
      }
      EncodeFloats(sh.float_coder, sh.length(d), data.index, data.value, &sc.payload);
      WriteSection(sh, sc.payload, bytes);
      Apply(header, sh, si, data, sink);
      if (!unscaled.empty()) {
        for (std::size_t i = 0; i < m; ++i) data.value[i] = vals[i];
        ApplySection(header, sh, si, data, unscaled);
      }
      return Status::Ok();
    }
    // Levels.
    sh.kind = SectionKind::kLevels;
    sh.level_coder = spec_.level_coder;
    sh.max_level = st.levels;
    const double factor = ClassOf(st, d, spec_.noscale).factor;
    if (sc.all_index.size() < m) {
      sc.all_index.resize(m);
      sc.all_level.resize(m);
    }
    std::uint32_t* const out_index = sc.all_index.data();
    std::int32_t* const out_level = sc.all_level.data();
    double unit = 0;  // Reconstruction unit before the context's scale.
    std::size_t count = 0;
    if (st.quantizer == QuantizerKind::kSign) {
      unit = m == 0 ? 0 : L1Norm(vals) / static_cast<double>(m) * factor;
      for (std::size_t i = 0; i < m; ++i) {
        const std::int32_t l = (vals[i] > 0) - (vals[i] < 0);
        out_index[count] = static_cast<std::uint32_t>(i);
        out_level[count] = l;
        count += l != 0;
      }
    } else {
      const double norm = std::sqrt(SquaredNorm(vals));
      if (!std::isfinite(norm)) {  // Squares of finite floats cannot overflow a double.
        const Status bad = CheckFinite(vals);
        return bad.ok() ? Internal("compress: non-finite norm of a finite vector") : bad;
      }
      const bool natural = st.quantizer == QuantizerKind::kNatural;
      sh.map = natural ? LevelMap::kPowerOfTwo : LevelMap::kLinear;
      sh.subtractive = spec_.subtractive;
      const DitherKind kind =
          natural ? DitherKind::kNatural
                  : (spec_.subtractive ? DitherKind::kSubtractive : DitherKind::kLinear);
      const DitherKey key{context.seed, context.round, context.sender, DitherTag(si)};
      count = Dither(kind, vals, norm, st.levels, key, out_index, out_level);
      unit = natural ? norm * factor : norm * factor / st.levels;
    }
    if (!(unit * std::max(1.0, std::fabs(static_cast<double>(context.scale))) < 1e37)) {
      return InvalidArgument("compress: norm " + std::to_string(unit) +
                             " overflows the float range");
    }
    data.index.assign(out_index, out_index + count);
    data.level.assign(out_level, out_level + count);
    if (st.sparsifier == SparsifierKind::kTopK) {
      for (auto& i : data.index) i = sc.sel[i];
    }
    sh.nnz = count;
    sh.step = static_cast<float>(unit * context.scale);
    LevelsView lv{sh.length(d), data.index, data.level, sh.max_level};
    LevelCoderOptions options;
    options.block_log2 = spec_.block_log2;
    options.grow_sparse_blocks = !spec_.block_given;
    EncodeLevels(sh.level_coder, lv, options, &sc.payload, &sh.form);
    WriteSection(sh, sc.payload, bytes);
    Apply(header, sh, si, data, sink);
    if (!unscaled.empty()) {
      SectionHeader raw = sh;
      raw.step = static_cast<float>(unit);
      ApplySection(header, raw, si, data, unscaled);
    }
    return Status::Ok();
  }

  CompressorSpec spec_;
  StageScratch scratch_[2];
  std::vector<float> residual_;
  std::vector<float> sum_;  // CompressAddWeighted of several sections.
};

// Per-thread decode scratch: decoding is thread-safe and allocation-free when warm.
struct DecodeScratch {
  SectionData sections[kMaxSections];
};

}  // namespace

Result<std::unique_ptr<Compressor>> MakeCompressor(std::string_view spec) {
  SOTTO_ASSIGN_OR_RETURN(CompressorSpec parsed, ParseCompressorSpec(spec));
  return std::unique_ptr<Compressor>(std::make_unique<SpecCompressor>(std::move(parsed)));
}

Result<std::uint64_t> PeekDimension(std::span<const std::uint8_t> bytes,
                                    const DecodeLimits& limits) {
  SOTTO_ASSIGN_OR_RETURN(ParsedMessage msg, ParseMessage(bytes, limits));
  return msg.header.dimension;
}

Status DecodeAdd(std::span<const std::uint8_t> bytes, const DecodeLimits& limits,
                 std::span<float> accumulator) {
  return DecodeAddWeighted(bytes, limits, accumulator, {}, 0.0f);
}

Status DecodeAddWeighted(std::span<const std::uint8_t> bytes, const DecodeLimits& limits,
                         std::span<float> accumulator, std::span<float> weighted, float weight) {
  SOTTO_ASSIGN_OR_RETURN(ParsedMessage msg, ParseMessage(bytes, limits));
  const std::uint64_t d = msg.header.dimension;
  if (d != accumulator.size()) {
    return InvalidArgument("compressed vector of dimension " + std::to_string(d) +
                           ", accumulator has " + std::to_string(accumulator.size()));
  }
  if (!weighted.empty() && weighted.size() != accumulator.size()) {
    return InvalidArgument("weighted accumulator has " + std::to_string(weighted.size()) +
                           " elements, accumulator " + std::to_string(accumulator.size()));
  }
  thread_local DecodeScratch scratch;
  // Decode and validate every section before touching the accumulator.
  for (int i = 0; i < msg.section_count; ++i) {
    const SectionHeader& s = msg.sections[i];
    SectionData& data = scratch.sections[i];
    const std::uint64_t n = s.length(d);
    Status st;
    if (s.kind == SectionKind::kLevels) {
      st = DecodeLevels(s.level_coder, s.payload, s.form, n, s.nnz, s.max_level, &data.index, &data.level);
    } else {
      st = DecodeFloats(s.float_coder, s.payload, n, s.nnz, &data);
    }
    if (!st.ok()) return st.WithContext("section " + std::to_string(i));
    if (s.support == Support::kRandK) {
      SampleRandK(d, s.k, msg.header.seed, msg.header.round, msg.header.sender, RandKTag(i),
                  &data.support);
    }
  }
  if (weighted.empty()) {
    for (int i = 0; i < msg.section_count; ++i) {
      ApplySection(msg.header, msg.sections[i], i, scratch.sections[i], accumulator);
    }
    return Status::Ok();
  }
  if (msg.section_count == 1) {
    ApplySectionWeighted(msg.header, msg.sections[0], 0, scratch.sections[0], accumulator, weighted, weight);
    return Status::Ok();
  }
  // Several sections overlap: sum them in a zeroed vector first, as a sender does.
  thread_local std::vector<float> sum;
  sum.assign(accumulator.size(), 0.0f);
  for (int i = 0; i < msg.section_count; ++i) {
    ApplySection(msg.header, msg.sections[i], i, scratch.sections[i], sum);
  }
  AddWeighted(sum, accumulator, weighted, weight);
  return Status::Ok();
}

}  // namespace sotto::coding
