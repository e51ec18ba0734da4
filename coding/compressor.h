#pragma once

// Compressor: one lossy-then-lossless compression of a float vector into the
// self-describing byte format of coding/format.h. The registry (MakeCompressor)
// builds one from a spec string such as "topk:0.01", "dither:s=16",
// "induced:topk:0.01+randk:0.01" or "chain:topk:0.01+dither:s=16".
//
// This is the interface algo/ uses: algo never sees a bit stream, only bytes and
// their exact size.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace sotto::coding {

// The two classes of ALGORITHMS.md §1.
enum class CompressorClass {
  kUnbiased,     // E C(x) = x, E||C(x) - x||^2 <= omega ||x||^2.
  kContractive,  // E||C(x) - x||^2 <= (1 - delta) ||x||^2.
};

// Where the randomness of one compression comes from: the dither and random
// sparsification of element j are drawn from Philox keyed by (seed, round, sender, j),
// so the receiver could regenerate them.
struct CompressContext {
  std::uint64_t seed = 0;
  std::uint64_t round = 0;
  std::uint64_t sender = 0;
  // Multiplies the output: C(x) is sent as scale * C(x). MALCOM-PSGD uses
  // 1 / (1 + omega) so that an unbiased dither becomes contractive. Carried in the
  // header, so decoders need not know it.
  float scale = 1.0f;
};

// Limits a decoder enforces before it allocates or writes (input may come from
// an untrusted peer).
struct DecodeLimits {
  std::uint64_t max_dimension = std::uint64_t{1} << 28;  // Elements in one vector.
};

// Thread safety: a Compressor object is not thread-safe (it keeps scratch buffers);
// use one per thread. Decode functions are thread-safe.
class Compressor {
 public:
  virtual ~Compressor() = default;

  // The canonical spec string, e.g. "topk:0.01".
  virtual std::string spec() const = 0;
  virtual CompressorClass compressor_class() const = 0;
  // Declared constants for a vector of `dimension` elements (before `scale`):
  // omega for unbiased compressors (0 for contractive ones), delta for contractive
  // ones (for unbiased ones, 1 / (1 + omega): the delta of C / (1 + omega)).
  virtual double Omega(std::size_t dimension) const = 0;
  virtual double Delta(std::size_t dimension) const = 0;

  // Compresses `x` into `bytes` (replacing its contents) and writes into `decoded`
  // exactly what a receiver will reconstruct from those bytes (so a sender never
  // decodes its own message). Requires decoded.size() == x.size().
  // Returns kInvalidArgument for NaN/Inf input; `bytes` and `decoded` are then unspecified.
  virtual Status Compress(std::span<const float> x, const CompressContext& context,
                          std::vector<std::uint8_t>* bytes, std::span<float> decoded) = 0;

  // Compress, then target += q and weighted += weight * q for the reconstruction q,
  // bit for bit what Compress into a zeroed `decoded` followed by those two additions
  // gives, and what DecodeAddWeighted of the bytes gives a receiver; for messages of
  // one section in O(non-zeros) after the compression itself (no dense q).
  // Requires target.size() == weighted.size() == x.size(). On error (as Compress)
  // target and weighted are unchanged.
  virtual Status CompressAddWeighted(std::span<const float> x, const CompressContext& context,
                                     std::vector<std::uint8_t>* bytes, std::span<float> target,
                                     std::span<float> weighted, float weight) = 0;
};

// Builds a compressor from its spec; kInvalidArgument with a clear message for bad specs.
Result<std::unique_ptr<Compressor>> MakeCompressor(std::string_view spec);

// Reads the dimension declared in a compressed vector's header (validated).
Result<std::uint64_t> PeekDimension(std::span<const std::uint8_t> bytes, const DecodeLimits& limits);

// Decodes a compressed vector and adds it into `accumulator` (x_hat += Decode(bytes)).
// Validates every count and length before writing; on error `accumulator` is unchanged
// and the Status (kCorrupted / kInvalidArgument) says what was wrong.
Status DecodeAdd(std::span<const std::uint8_t> bytes, const DecodeLimits& limits,
                 std::span<float> accumulator);
// DecodeAdd into two vectors at once: accumulator += q and weighted += weight * q
// (a gossip receiver's copy of the sender's public model and its weighted mix), bit
// for bit what decoding q into zeros and adding would give, but in O(non-zeros) for a
// sparse message of one section. An empty `weighted` is DecodeAdd. On error neither
// vector changes. Requires: weighted is empty or as long as accumulator.
Status DecodeAddWeighted(std::span<const std::uint8_t> bytes, const DecodeLimits& limits,
                         std::span<float> accumulator, std::span<float> weighted, float weight);

}  // namespace sotto::coding
