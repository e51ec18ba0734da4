#include "coding/section.h"

#include <cmath>
#include <cstring>
#include <string>

#include "coding/bit_io.h"
#include "coding/dither.h"
#include "coding/golomb.h"

namespace sotto::coding {

void EncodeFloats(FloatCoder coder, std::uint64_t n, std::span<const std::uint32_t> index,
                  std::span<const float> value, std::vector<std::uint8_t>* out) {
  const std::size_t at = out->size();
  switch (coder) {
    case FloatCoder::kDense:
      out->resize(at + 4 * value.size());
      if (!value.empty()) std::memcpy(out->data() + at, value.data(), 4 * value.size());
      return;
    case FloatCoder::kIndexed:
      out->resize(at + 8 * value.size());
      for (std::size_t i = 0; i < value.size(); ++i) {
        std::memcpy(out->data() + at + 8 * i, &index[i], 4);
        std::memcpy(out->data() + at + 8 * i + 4, &value[i], 4);
      }
      return;
    case FloatCoder::kGaps: {
      std::vector<std::uint32_t> gaps(index.size());
      std::uint32_t next = 0;
      for (std::size_t i = 0; i < index.size(); ++i) {
        gaps[i] = index[i] - next;
        next = index[i] + 1;
      }
      std::uint64_t cost = 0;
      const std::uint64_t m = ChooseGolombParameter(gaps, &cost);
      std::vector<std::uint8_t> bits;
      BitWriter w(&bits);
      w.PutGamma(m);
      for (std::uint32_t g : gaps) PutGolomb(&w, g, m);
      w.Flush();
      PutVarint(out, bits.size());
      out->insert(out->end(), bits.begin(), bits.end());
      const std::size_t vat = out->size();
      out->resize(vat + 4 * value.size());
      if (!value.empty()) std::memcpy(out->data() + vat, value.data(), 4 * value.size());
      (void)n;
      return;
    }
  }
}

Status DecodeFloats(FloatCoder coder, std::span<const std::uint8_t> payload, std::uint64_t n,
                    std::uint64_t nnz, SectionData* data) {
  const auto bad = [](const std::string& what) { return Corrupted("float section: " + what); };
  ByteReader in(payload);
  std::span<const std::uint8_t> floats;
  // Each case checks the payload length against nnz before allocating.
  switch (coder) {
    case FloatCoder::kDense:
      if (nnz != n || payload.size() != 4 * n) return bad("dense payload must hold exactly n floats");
      data->index.resize(nnz);
      for (std::uint64_t i = 0; i < n; ++i) data->index[i] = static_cast<std::uint32_t>(i);
      floats = payload;
      break;
    case FloatCoder::kIndexed: {
      if (payload.size() != 8 * nnz) return bad(std::to_string(payload.size()) + " bytes for " +
                                                std::to_string(nnz) + " (index, value) pairs");
      data->index.resize(nnz);
      data->value.resize(nnz);
      std::uint64_t next = 0;
      for (std::uint64_t i = 0; i < nnz; ++i) {
        std::uint32_t idx;
        float v;
        std::memcpy(&idx, payload.data() + 8 * i, 4);
        std::memcpy(&v, payload.data() + 8 * i + 4, 4);
        if (idx < next || idx >= n) return bad("indices must increase and stay below n");
        if (!std::isfinite(v)) return bad("non-finite value");
        data->index[i] = idx;
        data->value[i] = v;
        next = std::uint64_t{idx} + 1;
      }
      return Status::Ok();
    }
    case FloatCoder::kGaps: {
      const std::uint64_t bit_bytes = in.Varint();
      const auto bits = in.Take(bit_bytes);
      if (!in.ok() || in.remaining() != 4 * nnz) return bad("lengths do not match the non-zero count");
      data->index.resize(nnz);
      BitReader r(bits);
      const std::uint64_t m = r.GetGamma();
      if (!r.ok() || m > kMaxGolombParameter) return bad("bad Golomb parameter");
      std::uint64_t pos = 0;
      for (std::uint64_t i = 0; i < nnz; ++i) {
        pos += GetGolomb(&r, m, n);
        if (!r.ok() || pos >= n) return bad("position out of range");
        data->index[i] = static_cast<std::uint32_t>(pos);
        ++pos;
      }
      if ((r.position() + 7) / 8 != bits.size()) return bad("position stream length mismatch");
      floats = payload.subspan(in.position());
      break;
    }
  }
  data->value.resize(nnz);
  if (nnz > 0) std::memcpy(data->value.data(), floats.data(), 4 * nnz);
  for (float v : data->value) {
    if (!std::isfinite(v)) return bad("non-finite value");
  }
  return Status::Ok();
}

namespace {

// Calls add(p, v) for every element p the section changes, with its value v; a
// section changes each element at most once (top-k and rand-k indices are distinct).
template <typename Add>
void ForEachValue(const MessageHeader& header, const SectionHeader& section, int section_index,
                  const SectionData& data, Add&& add) {
  const std::size_t n = data.index.size();
  auto scatter = [&](auto&& value) {
    if (section.support == Support::kRandK) {
      for (std::size_t i = 0; i < n; ++i) add(data.support[data.index[i]], value(i));
    } else {
      for (std::size_t i = 0; i < n; ++i) add(data.index[i], value(i));
    }
  };
  if (section.kind == SectionKind::kFloats) {
    scatter([&](std::size_t i) { return data.value[i]; });
    return;
  }
  const float step = section.step;
  if (section.map == LevelMap::kPowerOfTwo) {
    const std::vector<float> table = PowerOfTwoTable(section.max_level, step);
    scatter([&](std::size_t i) {
      const std::int32_t l = data.level[i];
      return l < 0 ? -table[static_cast<std::size_t>(-l)] : table[static_cast<std::size_t>(l)];
    });
    return;
  }
  if (!section.subtractive) {
    scatter([&](std::size_t i) { return LinearValue(data.level[i], step); });
    return;
  }
  // Subtractive: every element of the support gets (l + 1/2 - u) step, l = 0 if absent.
  const std::uint64_t m = section.length(header.dimension);
  const DitherKey key{header.seed, header.round, header.sender, DitherTag(section_index)};
  constexpr std::size_t kChunk = 2048;
  float u[kChunk];
  std::size_t next = 0;
  for (std::uint64_t base = 0; base < m; base += kChunk) {
    const std::size_t len = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, m - base));
    FillDither(key, base, std::span<float>(u, len));
    for (std::size_t i = 0; i < len; ++i) {
      const std::uint64_t j = base + i;
      std::int32_t l = 0;
      if (next < data.index.size() && data.index[next] == j) l = data.level[next++];
      const std::size_t p = section.support == Support::kRandK ? data.support[j] : static_cast<std::size_t>(j);
      add(p, SubtractiveValue(l, u[i], step));
    }
  }
}

}  // namespace

void ApplySection(const MessageHeader& header, const SectionHeader& section, int section_index,
                  const SectionData& data, std::span<float> target) {
  ForEachValue(header, section, section_index, data, [&](std::size_t p, float v) { target[p] += v; });
}

void AddWeighted(std::span<const float> sum, std::span<float> target, std::span<float> weighted, float weight) {
  for (std::size_t k = 0; k < sum.size(); ++k) {
    target[k] += sum[k];
    weighted[k] += weight * sum[k];
  }
}

void ApplySectionWeighted(const MessageHeader& header, const SectionHeader& section, int section_index,
                          const SectionData& data, std::span<float> target, std::span<float> weighted,
                          float weight) {
  ForEachValue(header, section, section_index, data, [&](std::size_t p, float v) {
    const float q = 0.0f + v;  // What a zeroed vector holds after ApplySection (-0 becomes +0).
    target[p] += q;
    weighted[p] += weight * q;
  });
}

}  // namespace sotto::coding
