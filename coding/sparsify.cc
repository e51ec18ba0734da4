#include "coding/sparsify.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <string>

#include "common/check.h"
#include "common/random.h"

namespace sotto::coding {
namespace {

std::uint32_t AbsBits(float v) {
  std::uint32_t b;
  std::memcpy(&b, &v, 4);
  return b & 0x7FFFFFFFu;
}

}  // namespace

Status CheckFinite(std::span<const float> x) {
  // |x| as bits is >= 0x7F800000 exactly for Inf and NaN; a max-reduction vectorises.
  std::uint32_t worst = 0;
  for (float v : x) worst = std::max(worst, AbsBits(v));
  if (worst < 0x7F800000u) return Status::Ok();
  for (std::size_t j = 0; j < x.size(); ++j) {
    if (!std::isfinite(x[j])) {
      return InvalidArgument("compress: element " + std::to_string(j) + " of " + std::to_string(x.size()) +
                             " is " + (std::isnan(x[j]) ? "NaN" : "infinite"));
    }
  }
  return Status::Ok();
}

namespace {

// Sum of f(x_j) in double with eight independent accumulators: exact enough, and the
// loop vectorises (a single accumulator would serialise on the add latency).
template <typename F>
double SumOf(std::span<const float> x, F&& f) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::size_t j = 0;
  for (; j + 8 <= x.size(); j += 8) {
    for (int l = 0; l < 8; ++l) acc[l] += f(static_cast<double>(x[j + l]));
  }
  for (; j < x.size(); ++j) acc[0] += f(static_cast<double>(x[j]));
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

}  // namespace

double SquaredNorm(std::span<const float> x) {
  return SumOf(x, [](double v) { return v * v; });
}

double L1Norm(std::span<const float> x) {
  return SumOf(x, [](double v) { return std::fabs(v); });
}

namespace {

// The k largest of |x| (as bits) among `cand`, indices in increasing order, ties to
// the lower index: `cand` holds, in index order, every element whose bits are >= some
// bound, and at least k of them.
void FinishFromCandidates(std::span<const float> x, std::size_t k, const std::uint32_t* cand,
                          std::size_t n, std::vector<std::uint32_t>* index) {
  std::vector<std::uint32_t> bits(n);
  for (std::size_t i = 0; i < n; ++i) bits[i] = AbsBits(x[cand[i]]);
  std::nth_element(bits.begin(), bits.begin() + static_cast<std::ptrdiff_t>(k - 1), bits.end(),
                   std::greater<>());
  const std::uint32_t threshold = bits[k - 1];
  std::size_t greater = 0;
  for (std::uint32_t b : bits) greater += b > threshold;
  std::size_t ties = k - greater;  // Equal to the threshold: the first ones.
  index->resize(k);
  std::size_t m = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t b = AbsBits(x[cand[i]]);
    if (b > threshold) {
      (*index)[m++] = cand[i];
    } else if (b == threshold && ties > 0) {
      (*index)[m++] = cand[i];
      --ties;
    }
  }
}

// One pass for small k: a strided sample of |x| gives a bound that, with a wide
// margin, fewer than ~8x the expected elements but at least k exceed; one pass
// collects those (and finds NaN/Inf through the largest bits), and the exact k come
// from the candidates. Returns false (nothing decided) when the bound turns out too
// low or too high; the caller then runs the radix selection.
bool SelectTopKSampled(std::span<const float> x, std::size_t k, std::vector<std::uint32_t>* index,
                       bool* non_finite) {
  const std::size_t d = x.size();
  constexpr std::size_t kSample = 4096;
  std::vector<std::uint32_t> sample(kSample);
  for (std::size_t i = 0; i < kSample; ++i) sample[i] = AbsBits(x[i * d / kSample]);
  const double expect = static_cast<double>(k) * kSample / static_cast<double>(d);
  const auto rank = static_cast<std::size_t>(1.5 * expect + 3.0 * std::sqrt(expect) + 8.0);
  if (rank >= kSample) return false;
  std::nth_element(sample.begin(), sample.begin() + static_cast<std::ptrdiff_t>(rank), sample.end(),
                   std::greater<>());
  const std::uint32_t bound = sample[rank];
  constexpr std::size_t kBlock = 4096;
  const std::size_t cap = std::min(d, 8 * (rank + 1) * (d / kSample + 1) + kBlock);
  const std::unique_ptr<std::uint32_t[]> cand(new std::uint32_t[cap + kBlock + 1]);
  std::uint32_t* out = cand.get();
  std::size_t n = 0;
  std::uint32_t worst = 0;
  for (std::size_t start = 0; start < d; start += kBlock) {
    if (n > cap) return false;  // Bound too low (many equal values): radix instead.
    const std::size_t end = std::min(d, start + kBlock);
    for (std::size_t j = start; j < end; ++j) {
      const std::uint32_t b = AbsBits(x[j]);
      worst = std::max(worst, b);
      out[n] = static_cast<std::uint32_t>(j);
      n += b >= bound;
    }
  }
  if (worst >= 0x7F800000u) {
    *non_finite = true;
    return true;
  }
  if (n < k) return false;  // Bound too high: radix instead.
  FinishFromCandidates(x, k, out, n, index);
  return true;
}

}  // namespace

void SelectTopK(std::span<const float> x, std::size_t k, std::vector<std::uint32_t>* index) {
  const Status s = SelectTopKChecked(x, k, index);
  SOTTO_CHECK(s.ok()) << s.ToString();
}

Status SelectTopKChecked(std::span<const float> x, std::size_t k, std::vector<std::uint32_t>* index) {
  const std::size_t d = x.size();
  index->clear();
  if (k == 0) return CheckFinite(x);
  if (k >= d) {
    SOTTO_RETURN_IF_ERROR(CheckFinite(x));
    index->resize(d);
    for (std::size_t j = 0; j < d; ++j) (*index)[j] = static_cast<std::uint32_t>(j);
    return Status::Ok();
  }
  if (d >= (1u << 16) && k <= d / 16) {
    bool non_finite = false;
    if (SelectTopKSampled(x, k, index, &non_finite)) {
      if (non_finite) {
        index->clear();
        return CheckFinite(x);
      }
      return Status::Ok();
    }
  }
  // Radix selection on |x| as bits (monotone for non-negative floats): histogram the
  // top 11 bits, then the next 11 and the last 9 within the bucket holding the k-th
  // largest, until that bucket is small enough to finish with nth_element. NaN and
  // Inf have |x| bits >= 0x7F800000, so they land in the top buckets of the first
  // histogram: the finiteness check costs no pass of its own.
  constexpr int kShifts[3] = {20, 9, 0};
  constexpr std::uint32_t kSmallBucket = 1u << 15;
  constexpr std::uint32_t kFirstNonFinite = 0x7F800000u >> 20;
  // Four interleaved histograms: repeated values (zeros of a sparse vector) would
  // otherwise serialise on one counter's store-to-load latency.
  std::vector<std::uint32_t> hists(4 * 2048);
  std::uint32_t* hist = hists.data();
  std::size_t above = 0;       // Elements known to be larger than the bucket.
  std::uint32_t prefix = 0;    // Bits of the bucket above kShifts[level - 1].
  int shift = 0;
  bool small = false;
  for (int level = 0; level < 3; ++level) {
    shift = kShifts[level];
    const int width = level == 0 ? 11 : (level == 1 ? 11 : 9);
    const std::uint32_t mask = (1u << width) - 1;
    std::fill(hists.begin(), hists.end(), 0u);
    const int up = level == 0 ? 31 : kShifts[level - 1];
    const std::uint32_t want = level == 0 ? 0 : prefix;
    auto count = [&](std::size_t j, std::uint32_t* h) {
      const std::uint32_t b = AbsBits(x[j]);
      // Level 0 counts everything (b >> 31 == 0 for |x| bits).
      h[(b >> shift) & mask] += (b >> up) == want;
    };
    std::size_t j = 0;
    for (; j + 4 <= d; j += 4) {
      count(j, hist);
      count(j + 1, hist + 2048);
      count(j + 2, hist + 4096);
      count(j + 3, hist + 6144);
    }
    for (; j < d; ++j) count(j, hist);
    for (std::uint32_t b = 0; b <= mask; ++b) hist[b] += hist[2048 + b] + hist[4096 + b] + hist[6144 + b];
    if (level == 0) {
      std::uint32_t non_finite = 0;
      for (std::uint32_t b = kFirstNonFinite; b <= mask; ++b) non_finite += hist[b];
      if (non_finite != 0) return CheckFinite(x);
    }
    std::uint32_t bucket = mask;
    for (;; --bucket) {
      if (above + hist[bucket] >= k) break;
      above += hist[bucket];
    }
    prefix = (prefix << width) | bucket;
    if (hist[bucket] <= kSmallBucket) {
      small = true;
      break;
    }
  }
  const std::size_t need = k - above;  // 1 <= need <= elements in the final bucket.
  if (small) {
    // One pass collects, in index order, every element at or above the bucket (at
    // most k + kSmallBucket); the exact k come from that list: no further pass over x.
    const std::unique_ptr<std::uint32_t[]> kept(new std::uint32_t[k + kSmallBucket + 1]);
    std::uint32_t* out = kept.get();
    std::size_t n = 0;
    for (std::size_t j = 0; j < d; ++j) {
      out[n] = static_cast<std::uint32_t>(j);
      n += (AbsBits(x[j]) >> shift) >= prefix;
    }
    FinishFromCandidates(x, k, out, n, index);
    return Status::Ok();
  }
  // The last level leaves one value: the threshold. Elements equal to it to keep are
  // the first `need` ones in index order.
  const std::uint32_t threshold = prefix;
  std::size_t ties = need;
  std::size_t last_tie = 0;
  for (; last_tie < d; ++last_tie) {
    if (AbsBits(x[last_tie]) == threshold && --ties == 0) break;
  }
  index->resize(k + 1);  // One slot of slack for the branch-free append.
  std::uint32_t* out = index->data();
  std::size_t n = 0;
  for (std::size_t j = 0; j < d; ++j) {
    const std::uint32_t b = AbsBits(x[j]);
    out[n] = static_cast<std::uint32_t>(j);
    n += (b > threshold) | ((b == threshold) & (j <= last_tie));
  }
  index->resize(k);
  return Status::Ok();
}

void SampleRandK(std::uint64_t d, std::uint64_t k, std::uint64_t seed, std::uint64_t round,
                 std::uint64_t sender, std::uint32_t tag, std::vector<std::uint32_t>* index) {
  index->clear();
  if (k == 0) return;
  if (k >= d) {
    index->resize(d);
    for (std::uint64_t j = 0; j < d; ++j) (*index)[j] = static_cast<std::uint32_t>(j);
    return;
  }
  // The stream id mixes round, sender and tag (splitmix64 finaliser).
  std::uint64_t z = round * 0x9E3779B97F4A7C15ull ^ (sender + 0x632BE59BD9B4E019ull) * 0xBF58476D1CE4E5B9ull ^
                    (std::uint64_t{tag} << 17);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  Rng rng(seed, z);
  std::vector<std::uint64_t> bits((d + 63) / 64, 0);
  for (std::uint64_t j = d - k; j < d; ++j) {
    const std::uint64_t t = rng.UniformInt(j + 1);
    std::uint64_t& word = bits[t >> 6];
    const std::uint64_t mask = std::uint64_t{1} << (t & 63);
    if (word & mask) {
      bits[j >> 6] |= std::uint64_t{1} << (j & 63);
    } else {
      word |= mask;
    }
  }
  index->reserve(k);
  for (std::size_t w = 0; w < bits.size(); ++w) {
    for (std::uint64_t word = bits[w]; word != 0; word &= word - 1) {
      index->push_back(static_cast<std::uint32_t>(w * 64 + static_cast<std::size_t>(std::countr_zero(word))));
    }
  }
}

std::uint64_t FractionToCount(double fraction, std::uint64_t d) {
  const double k = std::round(fraction * static_cast<double>(d));
  if (!(k >= 1)) return d == 0 ? 0 : 1;
  return std::min<std::uint64_t>(d, static_cast<std::uint64_t>(k));
}

}  // namespace sotto::coding
