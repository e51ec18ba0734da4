#include "coding/golomb.h"

#include <bit>

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
