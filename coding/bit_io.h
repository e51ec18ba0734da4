#pragma once

// Bit and byte streams for the coders of coding/: a little-endian, LSB-first bit
// writer/reader and bounded byte cursors with LEB128 varints. Readers never read
// outside their span: a read past the end sets a sticky error flag and returns 0,
// so decoders check `ok()` once per block instead of on every bit.

#include <bit>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace sotto::coding {

// Appends bits to a byte vector, least significant bit first. Not thread-safe.
class BitWriter {
 public:
  explicit BitWriter(std::vector<std::uint8_t>* out) : out_(out) {}

  // Appends the low `bits` bits of `value`. Requires: bits <= 32, value < 2^bits.
  void Put(std::uint64_t value, int bits) {
    buffer_ |= value << fill_;
    fill_ += bits;
    if (fill_ >= 32) {
      const auto word = static_cast<std::uint32_t>(buffer_);
      const std::size_t at = out_->size();
      out_->resize(at + 4);
      std::memcpy(out_->data() + at, &word, 4);
      buffer_ >>= 32;
      fill_ -= 32;
    }
  }
  // Appends `count` zero bits then a one (a unary code of `count`).
  void PutUnary(std::uint64_t count) {
    while (count >= 32) {
      Put(0, 32);
      count -= 32;
    }
    Put(std::uint64_t{1} << count, static_cast<int>(count) + 1);
  }
  // Elias-gamma code of v >= 1: floor(log2 v) zeros, a one, then the low bits.
  void PutGamma(std::uint64_t v) {
    const int n = 63 - std::countl_zero(v);
    PutUnary(static_cast<std::uint64_t>(n));
    if (n > 0) PutLong(v & ((std::uint64_t{1} << n) - 1), n);
  }
  void PutLong(std::uint64_t value, int bits) {
    if (bits > 32) {
      Put(value & 0xFFFFFFFFu, 32);
      Put(value >> 32, bits - 32);
    } else {
      Put(value, bits);
    }
  }
  // Bits written so far, counting the bytes `out` held before (8 each).
  std::uint64_t bits() const {
    return 8 * std::uint64_t{out_->size()} + static_cast<unsigned>(fill_);
  }
  // Pads the last byte with zeros and writes out what is buffered.
  void Flush() {
    while (fill_ > 0) {
      out_->push_back(static_cast<std::uint8_t>(buffer_));
      buffer_ >>= 8;
      fill_ = fill_ > 8 ? fill_ - 8 : 0;
    }
    buffer_ = 0;
  }

 private:
  std::vector<std::uint8_t>* out_;
  std::uint64_t buffer_ = 0;
  int fill_ = 0;
};

// Reads what BitWriter wrote. Reading past the end yields zero bits and clears ok().
class BitReader {
 public:
  explicit BitReader(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}

  bool ok() const { return !overrun_; }
  // Marks the stream malformed (a decoder found an invalid value).
  void Fail() { overrun_ = true; }
  // Bits consumed so far.
  std::uint64_t position() const { return pos_ * 8 - static_cast<std::uint64_t>(avail_); }

  // Reads `bits` bits, 0 <= bits <= 32.
  std::uint32_t Get(int bits) {
    if (avail_ < bits) Refill();
    if (avail_ < bits) {
      overrun_ = true;
      avail_ = 0;
      buffer_ = 0;
      return 0;
    }
    const auto v = static_cast<std::uint32_t>(buffer_ & ((std::uint64_t{1} << bits) - 1));
    buffer_ >>= bits;
    avail_ -= bits;
    return v;
  }
  std::uint64_t GetLong(int bits) {
    if (bits <= 32) return Get(bits);
    const std::uint64_t lo = Get(32);
    return lo | (std::uint64_t{Get(bits - 32)} << 32);
  }
  // Reads a unary count (zeros before a one). Counts above `limit` clear ok().
  std::uint64_t GetUnary(std::uint64_t limit) {
    std::uint64_t count = 0;
    for (;;) {
      if (avail_ == 0) Refill();
      if (avail_ == 0) {
        overrun_ = true;
        return 0;
      }
      const std::uint64_t masked =
          avail_ == 64 ? buffer_ : buffer_ & ((std::uint64_t{1} << avail_) - 1);
      if (masked != 0) {
        const int z = std::countr_zero(masked);
        count += static_cast<std::uint64_t>(z);
        buffer_ >>= z;
        buffer_ >>= 1;
        avail_ -= z + 1;
        if (count > limit) {
          overrun_ = true;
          return 0;
        }
        return count;
      }
      count += static_cast<std::uint64_t>(avail_);
      buffer_ = 0;
      avail_ = 0;
      if (count > limit) {
        overrun_ = true;
        return 0;
      }
    }
  }
  // Elias-gamma; values above 2^63 or malformed codes clear ok() and return 1.
  std::uint64_t GetGamma() {
    const std::uint64_t n = GetUnary(63);
    if (!ok()) return 1;
    return (std::uint64_t{1} << n) | GetLong(static_cast<int>(n));
  }

 private:
  void Refill() {
    if (pos_ + 8 <= bytes_.size()) {
      std::uint64_t word;
      std::memcpy(&word, bytes_.data() + pos_, 8);
      buffer_ |= avail_ == 0 ? word : word << avail_;
      const int take = (63 - avail_) >> 3;
      pos_ += static_cast<std::size_t>(take);
      avail_ += take * 8;
      buffer_ &= (std::uint64_t{1} << avail_) - 1;  // Drop the partial byte: read it again later.
      return;
    }
    while (avail_ <= 56 && pos_ < bytes_.size()) {
      buffer_ |= std::uint64_t{bytes_[pos_++]} << avail_;
      avail_ += 8;
    }
  }

  std::span<const std::uint8_t> bytes_;
  std::size_t pos_ = 0;
  std::uint64_t buffer_ = 0;
  int avail_ = 0;
  bool overrun_ = false;
};

// Byte-level helpers for headers.
inline void PutU8(std::vector<std::uint8_t>* out, std::uint8_t v) { out->push_back(v); }
inline void PutVarint(std::vector<std::uint8_t>* out, std::uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<std::uint8_t>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<std::uint8_t>(v));
}
inline void PutF32(std::vector<std::uint8_t>* out, float v) {
  std::uint8_t b[4];
  std::memcpy(b, &v, 4);
  out->insert(out->end(), b, b + 4);
}

// A bounded cursor over bytes. Reads past the end clear ok() and return 0.
class ByteReader {
 public:
  explicit ByteReader(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}

  bool ok() const { return ok_; }
  std::size_t remaining() const { return bytes_.size() - pos_; }
  std::size_t position() const { return pos_; }

  std::uint8_t U8() {
    if (pos_ >= bytes_.size()) {
      ok_ = false;
      return 0;
    }
    return bytes_[pos_++];
  }
  // LEB128, at most 10 bytes; longer or overflowing encodings clear ok().
  std::uint64_t Varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      const std::uint8_t b = U8();
      if (!ok_) return 0;
      if (shift == 63 && b > 1) break;
      v |= std::uint64_t{b & 0x7Fu} << shift;
      if ((b & 0x80) == 0) return v;
    }
    ok_ = false;
    return 0;
  }
  float F32() {
    if (remaining() < 4) {
      ok_ = false;
      return 0;
    }
    float v;
    std::memcpy(&v, bytes_.data() + pos_, 4);
    pos_ += 4;
    return v;
  }
  // The next `n` bytes, or an empty span (and !ok()) if fewer remain.
  std::span<const std::uint8_t> Take(std::uint64_t n) {
    if (n > remaining()) {
      ok_ = false;
      return {};
    }
    auto s = bytes_.subspan(pos_, static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    return s;
  }

 private:
  std::span<const std::uint8_t> bytes_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace sotto::coding
