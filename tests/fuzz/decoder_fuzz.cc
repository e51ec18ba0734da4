// libFuzzer targets for every decoder of coding/ (one binary per decoder, chosen by a
// SOTTO_FUZZ_* definition). Any input must give a Status, never a crash, an over-read
// or undefined behaviour (run with -fsanitize=fuzzer,address,undefined; tests/fuzz/run.sh).
//
// Level decoder input: u16 n-1, u16 nnz, u16 max_level selector, then the payload.
// Float decoder input: u8 coder, u16 n-1, u16 nnz, then the payload.
// Message input: the bytes of a compressed vector.

#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "coding/compressor.h"
#include "coding/format.h"
#include "coding/level_coder.h"
#include "coding/section.h"

namespace {

std::uint16_t U16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] | p[1] << 8); }

[[maybe_unused]] void FuzzLevels(sotto::coding::LevelCoder coder, const std::uint8_t* data, std::size_t size) {
  if (size < 7) return;
  const std::uint64_t n = std::uint64_t{U16(data)} + 1;
  const std::uint64_t nnz = U16(data + 2);
  const std::uint32_t max_level = 1 + U16(data + 4) % sotto::coding::kMaxLevel;
  const std::uint8_t form = data[6];
  std::vector<std::uint32_t> index;
  std::vector<std::int32_t> level;
  const sotto::Status st = sotto::coding::DecodeLevels(coder, std::span(data + 7, size - 7), form, n, nnz,
                                                       max_level, &index, &level);
  if (!st.ok()) return;
  // A successful decode must satisfy the documented invariant.
  if (index.size() != nnz || level.size() != nnz) __builtin_trap();
  for (std::size_t i = 0; i < nnz; ++i) {
    if (index[i] >= n || (i > 0 && index[i] <= index[i - 1])) __builtin_trap();
    if (level[i] == 0 || static_cast<std::uint32_t>(level[i] < 0 ? -level[i] : level[i]) > max_level) __builtin_trap();
  }
}

[[maybe_unused]] void FuzzFloats(const std::uint8_t* data, std::size_t size) {
  if (size < 5) return;
  const auto coder = static_cast<sotto::coding::FloatCoder>(data[0] % 3);
  const std::uint64_t n = std::uint64_t{U16(data + 1)} + 1;
  const std::uint64_t nnz = U16(data + 3);
  if (nnz > n) return;  // The message parser rejects this before the float decoder runs.
  sotto::coding::SectionData out;
  (void)sotto::coding::DecodeFloats(coder, std::span(data + 5, size - 5), n, nnz, &out);
}

[[maybe_unused]] void FuzzMessage(const std::uint8_t* data, std::size_t size) {
  sotto::coding::DecodeLimits limits;
  limits.max_dimension = std::uint64_t{1} << 20;
  const std::span<const std::uint8_t> bytes(data, size);
  auto d = sotto::coding::PeekDimension(bytes, limits);
  if (!d.ok()) return;
  std::vector<float> acc(*d, 0.25f);
  const sotto::Status st = sotto::coding::DecodeAdd(bytes, limits, acc);
  if (!st.ok()) {
    for (float v : acc) {
      if (v != 0.25f) __builtin_trap();  // A failed decode must not write.
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
#if defined(SOTTO_FUZZ_message)
  FuzzMessage(data, size);
#elif defined(SOTTO_FUZZ_levels_rans)
  FuzzLevels(sotto::coding::LevelCoder::kRans, data, size);
#elif defined(SOTTO_FUZZ_levels_elias)
  FuzzLevels(sotto::coding::LevelCoder::kElias, data, size);
#elif defined(SOTTO_FUZZ_levels_vsc)
  FuzzLevels(sotto::coding::LevelCoder::kVsc, data, size);
#elif defined(SOTTO_FUZZ_levels_fixed)
  FuzzLevels(sotto::coding::LevelCoder::kFixed, data, size);
#elif defined(SOTTO_FUZZ_floats)
  FuzzFloats(data, size);
#else
#error "define one SOTTO_FUZZ_<target>"
#endif
  return 0;
}
