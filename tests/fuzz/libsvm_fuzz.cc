// libFuzzer target for the LIBSVM text parser (algo/data_libsvm.h ParseLibsvm). Any
// text must give a Dataset or a message, never a crash; a parsed Dataset must be
// consistent with its options.
//
// Input: u8 mode, then the text. mode & 1: fixed 8 features; mode & 2: labels must
// be -1 or +1. The dense matrix is capped at 16 MiB (the default is 8 GiB).

#include <cstdint>
#include <string_view>

#include "algo/data_libsvm.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  sotto::fuzz::FuzzInput in(data, size);
  const std::uint8_t mode = in.U8();
  const auto rest = in.Rest();
  const std::string_view text(reinterpret_cast<const char*>(rest.data()), rest.size());
  sotto::algo::LibsvmOptions options;
  options.max_dense_bytes = std::int64_t{16} << 20;
  if (mode & 1) options.num_features = 8;
  if (mode & 2) options.label_values = {-1.0, 1.0};
  auto parsed = sotto::algo::ParseLibsvm(text, options);
  if (!parsed.ok()) return 0;
  const sotto::algo::Dataset& d = parsed->data;
  if (d.num_samples() == 0 || static_cast<std::int64_t>(d.labels.size()) != d.num_samples()) {
    __builtin_trap();
  }
  if ((mode & 1) && d.num_features() != 8) __builtin_trap();
  if (d.features.size() * 4 > options.max_dense_bytes) __builtin_trap();
  for (const std::int32_t label : d.labels) {
    if (label < 0 || label >= d.num_classes) __builtin_trap();
  }
  if ((mode & 2) && parsed->label_values != options.label_values) __builtin_trap();
  return 0;
}
