#pragma once

// Lossless coders of sparse integer levels (ALGORITHMS.md §2): the sotto coder and
// the baselines (Elias-omega, vsc, fixed width), behind one pair of functions.
//
// The sotto coder (LevelCoder::kRans) splits the vector into independent blocks of
// 2^block_log2 elements and, per block, picks the smallest of
//   Golomb sparse: Golomb-coded zero-run lengths (parameter by exact cost), raw sign
//           bits, magnitudes as one constant, Golomb codes, order-0 rANS under sent
//           counts, or rANS under one of up to 64 geometric laws (an index of at most
//           6 bits, fewer for small max_level: for a few dozen non-zeros the counts
//           would cost more than the symbols);
//   rANS sparse: zero-run lengths as rANS-coded buckets under a geometric law that
//           both ends derive from (length, non-zeros) -- nothing is sent for it --
//           plus raw low bits; raw signs; magnitudes as above, in the same rANS
//           stream. Within ~0.005 bit per run of the positions' entropy, and decoded
//           in time proportional to the non-zeros;
//   dense:  one zig-zag symbol per element, order-0 rANS (15-bit probabilities),
//           tried from 1/4 density.
// Magnitudes cost nothing when max_level is 1. The Golomb gap parameter is coded in
// 1 bit when it is the one both ends predict from (length, non-zeros), else in 3-5
// bits or Elias-gamma. Each block is a bit stream followed by its rANS stream, which
// the decoder reads from the block's end, so no length separates them; a sparse block
// with rANS carries the signs of its first min(16, non-zeros) non-zeros in the rANS
// initial state (otherwise the final state's 32 bits hold ~16 bits of nothing); a
// block of fewer than 256 non-zeros instead starts lane 0 at 2^m + the signs of its
// first min(count, m) non-zeros, m in [16, 31] chosen by trying each for the smallest
// block (the final state then ends nearly full), and writes its other signs last.
// Payload: empty when there are no non-zeros; a single block is just its bits, its
// mode (1 Golomb sparse, 2 rANS sparse, 3 dense) being the payload's *form*, which
// the caller sends outside the payload (coding/format.h: in the section byte, where
// it costs nothing, instead of 2-3 bits in the payload); several blocks (form 0) are u8 (0 |
// (block_log2 - 10) << 1 | mode of the last block << 5), for each other block a
// varint (non-zeros << 2 | mode) and, unless empty, a varint byte length, then the
// blocks (the last block's count and length are what remains). Modes: 0 empty,
// 1 Golomb sparse, 2 rANS sparse, 3 dense (coding/level_coder.cc).

#include <cstdint>
#include <span>
#include <vector>

#include "coding/format.h"
#include "common/status.h"

namespace sotto::coding {

// Non-zero levels of a vector of length n: level[i] at index[i], indices strictly
// increasing and < n, 1 <= |level[i]| <= max_level.
struct LevelsView {
  std::uint64_t n = 0;
  std::span<const std::uint32_t> index;
  std::span<const std::int32_t> level;
  std::uint32_t max_level = 1;
};

struct LevelCoderOptions {
  // log2 of the sotto coder's block length (10..20).
  int block_log2 = 20;
  // Sparse vectors (under 1/8 non-zero) get longer blocks, up to 2^24, so that each
  // holds ~64K non-zeros: per-block overhead then stays negligible while decoding
  // work per block (proportional to its non-zeros) stays bounded.
  bool grow_sparse_blocks = true;
};

// The largest payload form (EncodeLevels): 0 for every coder but the sotto coder.
inline constexpr std::uint8_t kMaxLevelForm = 3;

// Appends the payload coding `levels` with `coder` to `out`, and sets *form, which
// the decoder needs beside the payload (0..kMaxLevelForm).
// Requires: levels satisfies the LevelsView invariant and n < 2^32.
void EncodeLevels(LevelCoder coder, const LevelsView& levels, const LevelCoderOptions& options,
                  std::vector<std::uint8_t>* out, std::uint8_t* form);

// Decodes exactly `nnz` non-zero levels of a length-n vector from exactly `payload`
// of form `form` into index/level (resized to nnz). Returns kCorrupted unless the
// payload is a valid code whose levels satisfy the LevelsView invariant for
// (n, max_level).
Status DecodeLevels(LevelCoder coder, std::span<const std::uint8_t> payload, std::uint8_t form,
                    std::uint64_t n, std::uint64_t nnz, std::uint32_t max_level,
                    std::vector<std::uint32_t>* index, std::vector<std::int32_t>* level);

// Per-coder implementations (the dispatch above calls these). Decoders share
// DecodeLevels' contract.
namespace detail {
using LevelDecoder = Status(std::span<const std::uint8_t> payload, std::uint64_t n,
                            std::uint64_t nnz, std::uint32_t max_level,
                            std::vector<std::uint32_t>* index, std::vector<std::int32_t>* level);
std::uint8_t EncodeRans(const LevelsView& levels, const LevelCoderOptions& options,
                        std::vector<std::uint8_t>* out);  // Returns the form.
void EncodeElias(const LevelsView& levels, std::vector<std::uint8_t>* out);
void EncodeVsc(const LevelsView& levels, std::vector<std::uint8_t>* out);
void EncodeFixed(const LevelsView& levels, std::vector<std::uint8_t>* out);
Status DecodeRans(std::span<const std::uint8_t> payload, std::uint8_t form, std::uint64_t n,
                  std::uint64_t nnz, std::uint32_t max_level, std::vector<std::uint32_t>* index,
                  std::vector<std::int32_t>* level);
LevelDecoder DecodeElias;
LevelDecoder DecodeVsc;
LevelDecoder DecodeFixed;
}  // namespace detail

}  // namespace sotto::coding
