#pragma once

// FuzzInput: splits one fuzzer input into the fields a target needs (a mode byte, a
// length, a chunk of bytes), so that every byte string is a valid input and a short
// input simply ends early. Shared by the targets in tests/fuzz/ and by make_seeds.cc,
// which writes inputs in the same layouts. Header-only; no dependencies.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace sotto::fuzz {

class FuzzInput {
 public:
  FuzzInput(const std::uint8_t* data, std::size_t size) : bytes_(data, size) {}

  std::size_t remaining() const { return bytes_.size() - pos_; }

  // The next byte, or 0 past the end.
  std::uint8_t U8() { return pos_ < bytes_.size() ? bytes_[pos_++] : 0; }
  // The next two bytes, little-endian (missing bytes count as 0).
  std::uint16_t U16() {
    const std::uint8_t lo = U8();
    return static_cast<std::uint16_t>(lo | (U8() << 8));
  }
  // The next `n` bytes, or all that is left if fewer.
  std::span<const std::uint8_t> Bytes(std::size_t n) {
    const std::size_t take = n < remaining() ? n : remaining();
    const auto out = bytes_.subspan(pos_, take);
    pos_ += take;
    return out;
  }
  // A u16 length, then that many bytes.
  std::span<const std::uint8_t> LengthPrefixed() { return Bytes(U16()); }
  std::span<const std::uint8_t> Rest() { return Bytes(remaining()); }

 private:
  std::span<const std::uint8_t> bytes_;
  std::size_t pos_ = 0;
};

// Appends in the layouts FuzzInput reads (for seed generators).
inline void PutU8(std::vector<std::uint8_t>* out, std::uint8_t v) { out->push_back(v); }
inline void PutU16(std::vector<std::uint8_t>* out, std::uint16_t v) {
  out->push_back(static_cast<std::uint8_t>(v & 0xff));
  out->push_back(static_cast<std::uint8_t>(v >> 8));
}
inline void PutLengthPrefixed(std::vector<std::uint8_t>* out, std::span<const std::uint8_t> b) {
  PutU16(out, static_cast<std::uint16_t>(b.size()));
  out->insert(out->end(), b.begin(), b.end());
}

// The endpoints of the peers in the membership target: index 0 is the fuzzed node
// itself; ids are PeerIdFromEndpoint() of these, as sotto assigns them.
inline std::string MembershipFuzzEndpoint(int index) {
  return "tcp://127.0.0.1:" + std::to_string(7000 + index);
}
inline constexpr int kMembershipFuzzPeers = 4;

}  // namespace sotto::fuzz
