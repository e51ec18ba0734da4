// libFuzzer target for the checkpoint reader (daemon/checkpoint.h ParseCheckpoint,
// which ReadCheckpoint runs on the file's bytes). A torn or damaged file must give
// kCorrupted, never a crash or a huge allocation.
//
// Input: u8 mode, then the file. mode & 1: replace the last four bytes by the right
// CRC-32 first, so mutations get past the CRC into the field checks.

#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "daemon/checkpoint.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  sotto::fuzz::FuzzInput in(data, size);
  const std::uint8_t mode = in.U8();
  const auto rest = in.Rest();
  std::vector<std::uint8_t> file(rest.begin(), rest.end());
  if ((mode & 1) && file.size() >= 4) {
    const auto crc = static_cast<std::uint32_t>(
        crc32(0L, file.data(), static_cast<uInt>(file.size() - 4)));
    std::memcpy(file.data() + file.size() - 4, &crc, 4);
  }
  auto checkpoint = sotto::daemon::ParseCheckpoint(file, "fuzz.ck");
  if (checkpoint.ok()) {
    const auto& s = checkpoint->state;
    const std::size_t floats =
        s.model.size() + s.public_copy.size() + s.mixed.size() + s.velocity.size();
    if (4 * floats > file.size() || checkpoint->algorithm.size() > 64) __builtin_trap();
  } else if (checkpoint.error().code() != sotto::StatusCode::kCorrupted) {
    __builtin_trap();
  }
  return 0;
}
