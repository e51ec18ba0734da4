// libFuzzer targets for algo/data_idx.h: the IDX reader (images + labels, raw or
// gzip) and the gzip reader under it, both on bytes in memory (ParseIdxDataset and
// GunzipIfCompressed; the path versions read the file and call these). A file that
// lies must give an error, never a crash or an allocation beyond a constant
// multiple of its size. One binary per target (SOTTO_FUZZ_idx / SOTTO_FUZZ_gzip).
//
// idx input: u8 sample limit (0: none; else limit-1), u16 label file length, the
// label file, the image file (the rest). gzip input: u8 limit selector, the bytes.

#include <cstdint>
#include <string>

#include "algo/data_idx.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

[[maybe_unused]] void FuzzIdx(sotto::fuzz::FuzzInput& in) {
  const std::uint8_t limit = in.U8();
  const auto labels = in.LengthPrefixed();
  const auto images = in.Rest();
  const std::int64_t max_samples = limit == 0 ? -1 : limit - 1;
  auto data = sotto::algo::ParseIdxDataset(images, labels, max_samples, "img", "lab");
  if (!data.ok()) return;
  // Raw pixels take one byte each; gzip at most deflate's ratio of 1032.
  const std::int64_t pixels = data->features.size();
  if (pixels > 1032 * static_cast<std::int64_t>(images.size())) __builtin_trap();
  if (max_samples >= 0 && data->num_samples() > max_samples) __builtin_trap();
  if (static_cast<std::int64_t>(data->labels.size()) != data->num_samples()) __builtin_trap();
  for (const std::int32_t label : data->labels) {
    if (label < 0 || label >= data->num_classes) __builtin_trap();
  }
  for (std::int64_t k = 0; k < pixels; ++k) {
    const float v = data->features.data()[k];
    if (!(v >= 0.0f && v <= 1.0f)) __builtin_trap();
  }
}

[[maybe_unused]] void FuzzGzip(sotto::fuzz::FuzzInput& in) {
  // Up to 64 KiB: larger limits only make each run slower (1 MiB output buffers).
  const std::int64_t max_bytes = std::int64_t{1} << (in.U8() % 17);
  const auto bytes = in.Rest();
  auto text = sotto::algo::GunzipIfCompressed(bytes, "fuzz.gz", max_bytes);
  if (!text.ok()) return;
  if (static_cast<std::int64_t>(text->size()) > max_bytes) __builtin_trap();
  const bool gzip = bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
  if (!gzip && *text != std::string(bytes.begin(), bytes.end())) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  sotto::fuzz::FuzzInput in(data, size);
#if defined(SOTTO_FUZZ_idx)
  FuzzIdx(in);
#elif defined(SOTTO_FUZZ_gzip)
  FuzzGzip(in);
#else
#error "define one SOTTO_FUZZ_<target>"
#endif
  return 0;
}
