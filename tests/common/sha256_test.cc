#include "common/sha256.h"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace sotto {
namespace {

std::span<const std::uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string Hmac(const std::string& key, const std::string& data) {
  return ToHex(HmacSha256(Bytes(key), Bytes(data)));
}

TEST_CASE("SHA-256 matches the FIPS 180-4 examples", "[common][sha256]") {
  CHECK(ToHex(Sha256Of(Bytes(""))) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(ToHex(Sha256Of(Bytes("abc"))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // Two blocks: the padding spills into a second block (56 bytes of message).
  CHECK(ToHex(Sha256Of(Bytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))) ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(ToHex(Sha256Of(Bytes("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                             "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"))) ==
        "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST_CASE("SHA-256 of a million 'a' is the same in one piece and in odd-sized pieces",
          "[common][sha256]") {
  const std::string million(1000000, 'a');
  const std::string want = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
  CHECK(ToHex(Sha256Of(Bytes(million))) == want);
  Sha256 h;
  std::size_t at = 0;
  for (std::size_t piece = 1; at < million.size(); piece = piece % 130 + 1) {
    const std::size_t n = std::min(piece, million.size() - at);
    h.Update(std::string_view(million).substr(at, n));
    at += n;
  }
  CHECK(ToHex(h.Finish()) == want);
  h.Reset();
  h.Update(std::string_view("abc"));
  CHECK(ToHex(h.Finish()) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("HMAC-SHA256 matches the RFC 4231 test cases", "[common][sha256]") {
  CHECK(Hmac(std::string(20, '\x0b'), "Hi There") ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  CHECK(Hmac("Jefe", "what do ya want for nothing?") ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(Hmac(std::string(20, '\xaa'), std::string(50, '\xdd')) ==
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
  std::string key4;
  for (int i = 1; i <= 25; ++i) key4.push_back(static_cast<char>(i));
  CHECK(Hmac(key4, std::string(50, '\xcd')) ==
        "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
  // Test case 5 specifies the output truncated to 128 bits.
  CHECK(Hmac(std::string(20, '\x0c'), "Test With Truncation").substr(0, 32) ==
        "a3b6167473100ee06e0c796c2955552b");
  // Keys longer than the block are hashed first.
  const std::string big_key(131, '\xaa');
  CHECK(Hmac(big_key, "Test Using Larger Than Block-Size Key - Hash Key First") ==
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  CHECK(Hmac(big_key,
             "This is a test using a larger than block-size key and a larger than block-size data. "
             "The key needs to be hashed before being used by the HMAC algorithm.") ==
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

TEST_CASE("ConstantTimeEqual compares contents and lengths", "[common][sha256]") {
  const std::vector<std::uint8_t> a{1, 2, 3}, b{1, 2, 3}, c{1, 2, 4}, d{1, 2};
  CHECK(ConstantTimeEqual(a, b));
  CHECK_FALSE(ConstantTimeEqual(a, c));
  CHECK_FALSE(ConstantTimeEqual(a, d));
  CHECK(ConstantTimeEqual(std::span<const std::uint8_t>(), std::span<const std::uint8_t>()));
}

}  // namespace
}  // namespace sotto
