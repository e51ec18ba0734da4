// The baseline level coders of ALGORITHMS.md §2: Elias-omega (QSGD), vector source
// coding (vsc, Woldemariam et al. 2023; Golomb-coded gaps) and fixed-width packing. Kept for
// benchmarks and for the CHOCO "QSGD, fixed width" configuration.

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <numeric>
#include <string>

#include "coding/bit_io.h"
#include "coding/golomb.h"
#include "coding/level_coder.h"

namespace sotto::coding::detail {
namespace {

std::uint32_t ZigZag(std::int32_t v) {
  return (static_cast<std::uint32_t>(v) << 1) ^ static_cast<std::uint32_t>(v >> 31);
}
std::int32_t UnZigZag(std::uint64_t z) {
  return static_cast<std::int32_t>(z >> 1) ^ -static_cast<std::int32_t>(z & 1);
}

// The payload must end within the last byte the reader touched.
bool ExactlyConsumed(const BitReader& r, std::size_t bytes) {
  return r.ok() && (r.position() + 7) / 8 == bytes;
}

// A Fenwick tree over n flags, all initially set ("untaken").
class UntakenSet {
 public:
  explicit UntakenSet(std::uint64_t n) : tree_(n + 1) {
    for (std::uint64_t i = 1; i <= n; ++i) tree_[i] = static_cast<std::uint32_t>(i & (~i + 1));
    std::uint64_t top = 1;
    while (top * 2 <= n) top *= 2;
    top_ = n == 0 ? 0 : top;
  }
  // Untaken positions < p.
  std::uint64_t CountBelow(std::uint64_t p) const {
    std::uint64_t s = 0;
    for (std::uint64_t i = p; i > 0; i -= i & (~i + 1)) s += tree_[i];
    return s;
  }
  // The position of the rank-th (0-based) untaken flag. Requires: rank < untaken count.
  std::uint64_t Find(std::uint64_t rank) const {
    std::uint64_t pos = 0;
    for (std::uint64_t step = top_; step > 0; step >>= 1) {
      if (pos + step < tree_.size() && tree_[pos + step] <= rank) {
        pos += step;
        rank -= tree_[pos];
      }
    }
    return pos;  // 0-based: pos flags before it are fewer than rank+1.
  }
  void Take(std::uint64_t p) {
    for (std::uint64_t i = p + 1; i < tree_.size(); i += i & (~i + 1)) --tree_[i];
  }

 private:
  std::vector<std::uint32_t> tree_;
  std::uint64_t top_ = 0;
};

Status Bad(const char* coder, const std::string& what) {
  return Corrupted(std::string(coder) + " levels: " + what);
}

}  // namespace

void EncodeElias(const LevelsView& lv, std::vector<std::uint8_t>* out) {
  BitWriter w(out);
  std::uint64_t next = 0;
  for (std::size_t i = 0; i < lv.index.size(); ++i) {
    PutEliasOmega(&w, lv.index[i] - next + 1);
    next = std::uint64_t{lv.index[i]} + 1;
    w.Put(lv.level[i] < 0 ? 1 : 0, 1);
    PutEliasOmega(&w, static_cast<std::uint64_t>(std::abs(static_cast<std::int64_t>(lv.level[i]))));
  }
  w.Flush();
}

Status DecodeElias(std::span<const std::uint8_t> payload, std::uint64_t n, std::uint64_t nnz,
                   std::uint32_t max_level, std::vector<std::uint32_t>* index,
                   std::vector<std::int32_t>* level) {
  if (nnz > payload.size() * 8) return Bad("elias", "more non-zeros than bits");
  index->resize(nnz);
  level->resize(nnz);
  BitReader r(payload);
  std::uint64_t next = 0;
  for (std::uint64_t i = 0; i < nnz; ++i) {
    const std::uint64_t pos = next + GetEliasOmega(&r, n) - 1;
    const bool negative = r.Get(1) != 0;
    const std::uint64_t m = GetEliasOmega(&r, max_level);
    if (!r.ok() || pos >= n) return Bad("elias", "element " + std::to_string(i) + " malformed or out of range");
    (*index)[i] = static_cast<std::uint32_t>(pos);
    (*level)[i] = negative ? -static_cast<std::int32_t>(m) : static_cast<std::int32_t>(m);
    next = pos + 1;
  }
  if (!ExactlyConsumed(r, payload.size())) return Bad("elias", "length does not match its content");
  return Status::Ok();
}

void EncodeVsc(const LevelsView& lv, std::vector<std::uint8_t>* out) {
  // Histogram of the distinct non-zero values, most frequent first (ties: smaller
  // zig-zag first). Zero is the implicit remainder and is never coded.
  std::vector<std::pair<std::uint32_t, std::uint32_t>> hist;  // (zigzag, count)
  {
    std::vector<std::uint32_t> z(lv.level.size());
    for (std::size_t i = 0; i < z.size(); ++i) z[i] = ZigZag(lv.level[i]);
    std::sort(z.begin(), z.end());
    for (std::size_t i = 0; i < z.size();) {
      std::size_t j = i;
      while (j < z.size() && z[j] == z[i]) ++j;
      hist.emplace_back(z[i], static_cast<std::uint32_t>(j - i));
      i = j;
    }
  }
  std::stable_sort(hist.begin(), hist.end(), [](auto a, auto b) { return a.second > b.second; });
  // Order of each position: group the indices by value, in histogram order.
  std::vector<std::uint32_t> rank_of_value(2 * std::uint64_t{lv.max_level} + 1, 0);
  for (std::size_t v = 0; v < hist.size(); ++v) rank_of_value[hist[v].first] = static_cast<std::uint32_t>(v);
  std::vector<std::uint32_t> order(lv.index.size());
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
    return rank_of_value[ZigZag(lv.level[a])] < rank_of_value[ZigZag(lv.level[b])];
  });
  BitWriter w(out);
  w.PutGamma(hist.size() + 1);
  UntakenSet untaken(lv.n);
  std::vector<std::uint32_t> gaps;
  std::size_t at = 0;
  for (const auto& [z, count] : hist) {
    gaps.clear();
    std::uint64_t prev_plus_one = 0;
    for (std::uint32_t i = 0; i < count; ++i) {
      const std::uint64_t rank = untaken.CountBelow(lv.index[order[at + i]]);
      gaps.push_back(static_cast<std::uint32_t>(rank - prev_plus_one));
      prev_plus_one = rank + 1;
    }
    for (std::uint32_t i = 0; i < count; ++i) untaken.Take(lv.index[order[at + i]]);
    at += count;
    std::uint64_t cost = 0;
    const std::uint64_t m = ChooseGolombParameter(gaps, &cost);
    w.PutGamma(z);
    w.PutGamma(count);
    w.PutGamma(m);
    for (std::uint32_t g : gaps) PutGolomb(&w, g, m);
  }
  w.Flush();
}

Status DecodeVsc(std::span<const std::uint8_t> payload, std::uint64_t n, std::uint64_t nnz,
                 std::uint32_t max_level, std::vector<std::uint32_t>* index,
                 std::vector<std::int32_t>* level) {
  BitReader r(payload);
  const std::uint64_t values = r.GetGamma() - 1;
  if (!r.ok() || values > nnz || values > 2 * std::uint64_t{max_level}) return Bad("vsc", "bad value count");
  if (nnz > payload.size() * 8) return Bad("vsc", "more non-zeros than bits");
  std::vector<std::pair<std::uint32_t, std::int32_t>> pairs;
  pairs.reserve(nnz);
  UntakenSet untaken(n);
  std::uint64_t remaining = n;
  std::vector<std::uint64_t> found;
  for (std::uint64_t v = 0; v < values; ++v) {
    const std::uint64_t z = r.GetGamma();
    const std::uint64_t count = r.GetGamma();
    const std::uint64_t m = r.GetGamma();
    if (!r.ok() || z > 2 * std::uint64_t{max_level} || m > kMaxGolombParameter ||
        count > nnz - pairs.size() || count > remaining) {
      return Bad("vsc", "value " + std::to_string(v) + " has a malformed header");
    }
    found.clear();
    std::uint64_t rank = 0;
    for (std::uint64_t i = 0; i < count; ++i) {
      rank += GetGolomb(&r, m, remaining);
      if (!r.ok() || rank >= remaining) return Bad("vsc", "position rank out of range");
      found.push_back(untaken.Find(rank));
      ++rank;
    }
    for (std::uint64_t p : found) {
      untaken.Take(p);
      pairs.emplace_back(static_cast<std::uint32_t>(p), UnZigZag(z));
    }
    remaining -= count;
  }
  if (pairs.size() != nnz) return Bad("vsc", "value counts do not sum to the non-zeros");
  if (!ExactlyConsumed(r, payload.size())) return Bad("vsc", "length does not match its content");
  std::sort(pairs.begin(), pairs.end());
  index->resize(nnz);
  level->resize(nnz);
  for (std::uint64_t i = 0; i < nnz; ++i) {
    (*index)[i] = pairs[i].first;
    (*level)[i] = pairs[i].second;
  }
  return Status::Ok();
}

namespace {
int FixedWidth(std::uint32_t max_level) { return std::bit_width(2 * std::uint64_t{max_level}); }
}  // namespace

void EncodeFixed(const LevelsView& lv, std::vector<std::uint8_t>* out) {
  const int width = FixedWidth(lv.max_level);
  const auto offset = static_cast<std::int64_t>(lv.max_level);
  BitWriter w(out);
  std::size_t next = 0;
  for (std::uint64_t j = 0; j < lv.n; ++j) {
    std::int64_t v = 0;
    if (next < lv.index.size() && lv.index[next] == j) v = lv.level[next++];
    w.Put(static_cast<std::uint64_t>(v + offset), width);
  }
  w.Flush();
}

Status DecodeFixed(std::span<const std::uint8_t> payload, std::uint64_t n, std::uint64_t nnz,
                   std::uint32_t max_level, std::vector<std::uint32_t>* index,
                   std::vector<std::int32_t>* level) {
  const int width = FixedWidth(max_level);
  if ((n * static_cast<std::uint64_t>(width) + 7) / 8 != payload.size()) {
    return Bad("fixed", std::to_string(payload.size()) + " bytes for " + std::to_string(n) + " elements of " +
                            std::to_string(width) + " bits");
  }
  index->resize(nnz);
  level->resize(nnz);
  BitReader r(payload);
  const auto offset = static_cast<std::int64_t>(max_level);
  std::uint64_t at = 0;
  for (std::uint64_t j = 0; j < n; ++j) {
    const std::int64_t v = static_cast<std::int64_t>(r.Get(width)) - offset;
    if (v == 0) continue;
    if (v > offset || at >= nnz) return Bad("fixed", "level out of range or too many non-zeros");
    (*index)[at] = static_cast<std::uint32_t>(j);
    (*level)[at] = static_cast<std::int32_t>(v);
    ++at;
  }
  if (at != nnz || !r.ok()) return Bad("fixed", "non-zero count differs from the header");
  return Status::Ok();
}

}  // namespace sotto::coding::detail
