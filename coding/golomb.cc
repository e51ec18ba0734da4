#include "coding/golomb.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <vector>

namespace sotto::coding {

std::uint64_t RiceCost(std::span<const std::uint32_t> values, int k) {
  std::uint64_t quotients = 0;
  for (std::uint32_t v : values) quotients += v >> k;
  return quotients + values.size() * static_cast<std::uint64_t>(k + 1);
}

int ChooseRiceParameter(std::span<const std::uint32_t> values, std::uint64_t* cost_bits) {
  if (values.empty()) {
    *cost_bits = 0;
    return 0;
  }
  std::uint64_t sum = 0;
  for (std::uint32_t v : values) sum += v;
  // The optimum for geometric data is near log2(mean * ln 2); try its neighbours.
  const std::uint64_t mean = sum / values.size();
  const int centre = mean == 0 ? 0 : 63 - std::countl_zero(mean);
  int best_k = 0;
  std::uint64_t best = ~std::uint64_t{0};
  for (int k = centre > 2 ? centre - 2 : 0; k <= centre + 2 && k <= 32; ++k) {
    const std::uint64_t cost = RiceCost(values, k);
    if (cost < best) {
      best = cost;
      best_k = k;
    }
  }
  *cost_bits = best;
  return best_k;
}

GolombCostModel::GolombCostModel(std::span<const std::uint32_t> values) {
  std::uint64_t sum = 0;
  for (std::uint32_t v : values) sum += v;
  mean_ = values.empty() ? 0 : static_cast<double>(sum) / static_cast<double>(values.size());
  const auto cap = static_cast<std::uint32_t>(std::min(65536.0, 8 * mean_ + 64));
  CappedHistogram(values, cap, &hist_);
  const std::uint32_t above = hist_[cap];
  hist_.pop_back();
  if (above == 0) return;
  tail_.reserve(above);
  for (std::uint32_t v : values) {
    if (v >= cap) tail_.push_back(v);
  }
}

void CappedHistogram(std::span<const std::uint32_t> values, std::uint32_t cap,
                     std::vector<std::uint32_t>* counts) {
  const std::size_t width = std::size_t{cap} + 1;
  thread_local std::vector<std::uint32_t> sub;
  sub.assign(4 * width, 0);
  std::uint32_t* const h0 = sub.data();
  std::uint32_t* const h1 = h0 + width;
  std::uint32_t* const h2 = h1 + width;
  std::uint32_t* const h3 = h2 + width;
  const std::size_t n = values.size();
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    ++h0[std::min(values[i], cap)];
    ++h1[std::min(values[i + 1], cap)];
    ++h2[std::min(values[i + 2], cap)];
    ++h3[std::min(values[i + 3], cap)];
  }
  for (; i < n; ++i) ++h0[std::min(values[i], cap)];
  counts->resize(width);
  for (std::size_t v = 0; v < width; ++v) (*counts)[v] = h0[v] + h1[v] + h2[v] + h3[v];
}

std::uint64_t GolombCostModel::Cost(std::uint64_t m) const {
  const int b = m == 1 ? 0 : std::bit_width(m - 1);
  const std::uint64_t u = (std::uint64_t{1} << b) - m;
  auto cost = [&](std::uint64_t v) {
    const std::uint64_t r = v % m;
    return v / m + 1 + static_cast<std::uint64_t>(m == 1 ? 0 : (r < u ? b - 1 : b));
  };
  std::uint64_t bits = 0;
  for (std::size_t v = 0; v < hist_.size(); ++v) {
    if (hist_[v] != 0) bits += hist_[v] * cost(v);
  }
  for (std::uint32_t v : tail_) bits += cost(v);
  return bits;
}

std::uint64_t GolombCentre(double mean) {
  // m = ceil(log(2 - p) / -log(1 - p)) for p = 1 / (mean + 1).
  const double p = 1.0 / (mean + 1.0);
  const double m = p >= 1 ? 1 : std::ceil(std::log(2 - p) / -std::log1p(-p));
  return static_cast<std::uint64_t>(std::clamp(m, 1.0, static_cast<double>(kMaxGolombParameter)));
}

std::uint64_t GolombCandidate(std::uint64_t centre, int i) {
  const std::uint64_t step = std::max<std::uint64_t>(1, centre / 16);
  const std::int64_t c = static_cast<std::int64_t>(centre) + i * static_cast<std::int64_t>(step);
  return static_cast<std::uint64_t>(
      std::clamp<std::int64_t>(c, 1, static_cast<std::int64_t>(kMaxGolombParameter)));
}

std::uint64_t ChooseGolombParameter(std::span<const std::uint32_t> values,
                                    std::uint64_t* cost_bits) {
  if (values.empty()) {
    *cost_bits = 0;
    return 1;
  }
  return ChooseGolombParameter(GolombCostModel(values), cost_bits);
}

std::uint64_t ChooseGolombParameter(const GolombCostModel& model, std::uint64_t* cost_bits) {
  const std::uint64_t centre = GolombCentre(model.mean());
  std::uint64_t best_m = centre, best = ~std::uint64_t{0};
  for (int i = -3; i <= 3; ++i) {
    const std::uint64_t m = GolombCandidate(centre, i);
    const std::uint64_t cost = model.Cost(m);
    if (cost < best) {
      best = cost;
      best_m = m;
    }
  }
  *cost_bits = best;
  return best_m;
}

void PutEliasOmega(BitWriter* writer, std::uint64_t v) {
  // Groups are produced last-first; collect them, then write first-first, MSB first.
  std::uint64_t groups[8];
  int lengths[8];
  int n = 0;
  while (v > 1) {
    const int len = 64 - std::countl_zero(v);
    groups[n] = v;
    lengths[n] = len;
    ++n;
    v = static_cast<std::uint64_t>(len - 1);
  }
  for (int g = n - 1; g >= 0; --g) {
    for (int b = lengths[g] - 1; b >= 0; --b) writer->Put((groups[g] >> b) & 1, 1);
  }
  writer->Put(0, 1);
}

std::uint64_t GetEliasOmega(BitReader* reader, std::uint64_t max_value) {
  std::uint64_t n = 1;
  for (int guard = 0; guard < 8; ++guard) {
    if (reader->Get(1) == 0) {
      if (!reader->ok() || n > max_value) break;
      return n;
    }
    if (n > 63) break;
    std::uint64_t v = 1;
    for (std::uint64_t b = 0; b < n; ++b) v = (v << 1) | reader->Get(1);
    if (!reader->ok()) break;
    n = v;
  }
  reader->Fail();
  return 1;
}

}  // namespace sotto::coding
