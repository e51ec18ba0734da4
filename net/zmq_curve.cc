#include "net/zmq_curve.h"

#include <array>
#include <cstdint>

#include <zmq.h>

namespace sotto::net {

bool CurveAvailable() { return zmq_has("curve") != 0; }

Result<CurveKeyPair> GenerateCurveKeyPair() {
  std::array<char, kCurveKeyChars + 1> pub{}, sec{};
  if (!CurveAvailable() || zmq_curve_keypair(pub.data(), sec.data()) != 0) {
    return Unavailable("this libzmq has no CURVE support (built without libsodium)");
  }
  CurveKeyPair pair{std::string(pub.data(), kCurveKeyChars), std::string(sec.data(), kCurveKeyChars)};
  // Do not leave the secret on the stack.
  sec.fill(0);
  return pair;
}

bool IsCurveKey(std::string_view z85) {
  if (z85.size() != kCurveKeyChars) return false;
  const std::string text(z85);
  std::array<std::uint8_t, 32> raw{};
  return zmq_z85_decode(raw.data(), text.c_str()) != nullptr;
}

Result<std::string> CurvePublicKey(const std::string& secret_z85) {
  if (!IsCurveKey(secret_z85)) return InvalidArgument("secret key is not a 40-character Z85 CURVE key");
  std::array<char, kCurveKeyChars + 1> pub{};
  if (!CurveAvailable() || zmq_curve_public(pub.data(), secret_z85.c_str()) != 0) {
    return Unavailable("this libzmq has no CURVE support (built without libsodium)");
  }
  return std::string(pub.data(), kCurveKeyChars);
}

Status ValidateCurveOptions(const CurveOptions& options) {
  if (!CurveAvailable()) return Unavailable("this libzmq has no CURVE support (built without libsodium)");
  SOTTO_ASSIGN_OR_RETURN(std::string derived, CurvePublicKey(options.secret_key));
  if (!IsCurveKey(options.public_key)) return InvalidArgument("public key is not a 40-character Z85 CURVE key");
  if (derived != options.public_key) {
    return InvalidArgument("public key " + options.public_key + " does not belong to the secret key");
  }
  for (std::size_t i = 0; i < options.allowed_keys.size(); ++i) {
    if (!IsCurveKey(options.allowed_keys[i])) {
      return InvalidArgument("allow-list entry " + std::to_string(i + 1) + " is not a 40-character Z85 key");
    }
  }
  return Status();
}

CurveEndpoint SplitCurveEndpoint(const std::string& endpoint) {
  if (endpoint.size() > kCurveKeyChars + 1 && endpoint[endpoint.size() - kCurveKeyChars - 1] == '#') {
    return {endpoint.substr(0, endpoint.size() - kCurveKeyChars - 1),
            endpoint.substr(endpoint.size() - kCurveKeyChars)};
  }
  return {endpoint, ""};
}

std::string JoinCurveEndpoint(const std::string& address, const std::string& server_key) {
  return address + "#" + server_key;
}

}  // namespace sotto::net
