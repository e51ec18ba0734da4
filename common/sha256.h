#pragma once

// SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104): the keyed hash that authenticates
// LAN discovery beacons (net/discovery.h). Self-contained on purpose: sotto links no
// crypto library, and a beacon tag needs nothing more than these two functions.
// Checked against the FIPS 180-4 and RFC 4231 test vectors (tests/common/sha256_test.cc).

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace sotto {

using Sha256Digest = std::array<std::uint8_t, 32>;

// Incremental SHA-256: Update() any number of times, then Finish() once.
//
//   Sha256 h;
//   h.Update(header);
//   h.Update(body);
//   Sha256Digest d = h.Finish();
//
// Not thread-safe; a finished object must not be updated again (Reset() first).
class Sha256 {
 public:
  Sha256() { Reset(); }

  void Reset();
  void Update(std::span<const std::uint8_t> data);
  void Update(std::string_view text);
  // Returns the digest of everything passed to Update() since the last Reset().
  Sha256Digest Finish();

 private:
  void Compress(const std::uint8_t* block);

  std::array<std::uint32_t, 8> state_{};
  std::array<std::uint8_t, 64> buffer_{};
  std::size_t buffered_ = 0;       // Bytes waiting in buffer_ (< 64).
  std::uint64_t total_bytes_ = 0;  // Message length so far, for the padding.
};

// Returns SHA-256(data).
Sha256Digest Sha256Of(std::span<const std::uint8_t> data);

// Returns HMAC-SHA256(key, data). Any key length works: keys longer than the
// 64-byte block are hashed first, as RFC 2104 specifies.
Sha256Digest HmacSha256(std::span<const std::uint8_t> key, std::span<const std::uint8_t> data);

// Compares two equal-length byte strings in time independent of where they differ,
// so a forger learns nothing from how fast a tag is refused. Returns false on a
// length mismatch.
bool ConstantTimeEqual(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);

// Returns the lower-case hex of `bytes` (for test vectors and logs).
std::string ToHex(std::span<const std::uint8_t> bytes);

}  // namespace sotto
