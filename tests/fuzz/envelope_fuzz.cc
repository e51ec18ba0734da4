// libFuzzer target for the envelope decoder (net/envelope.h), the first thing every
// received wire message meets. Any input must give a Status, never a crash, an
// over-read or undefined behaviour; and whatever decodes must re-encode and decode
// to the same envelope.
//
// Input: u8 mode, u16 header length, header frame, payload frame (the rest).
// mode % 4: 0 DecodeEnvelope, 1 two frames, 2 one frame (header only), 3 three
// frames (always refused); mode & 4: tight limits (64-byte body, 256-byte payload).

#include <cstdint>
#include <vector>

#include "net/envelope.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sotto::net;
  sotto::fuzz::FuzzInput in(data, size);
  const std::uint8_t mode = in.U8();
  const auto header = in.LengthPrefixed();
  const auto payload = in.Rest();
  EnvelopeLimits limits;
  if (mode & 4) {
    limits.max_header_bytes = 128;
    limits.max_body_bytes = 64;
    limits.max_payload_bytes = 256;
  }
  const int frame_count = mode % 4 == 2 ? 1 : mode % 4 == 3 ? 3 : 2;
  sotto::Result<Envelope> decoded = [&]() -> sotto::Result<Envelope> {
    if (mode % 4 == 0) return DecodeEnvelope(header, payload, limits);
    std::vector<std::vector<std::uint8_t>> frames;
    frames.emplace_back(header.begin(), header.end());
    for (int i = 1; i < frame_count; ++i) frames.emplace_back(payload.begin(), payload.end());
    return DecodeEnvelopeFrames(frames, limits);
  }();
  if (frame_count == 3 && decoded.ok()) __builtin_trap();  // Three frames are never valid.
  if (!decoded.ok()) return 0;
  if (decoded->body.size() > limits.max_body_bytes ||
      decoded->payload.size() > limits.max_payload_bytes) {
    __builtin_trap();
  }
  // Round trip: what we accept, we can send, and it reads back the same.
  const Envelope original = *decoded;
  sotto::Result<EncodedEnvelope> encoded = EncodeEnvelope(*decoded, limits);
  if (!encoded.ok()) __builtin_trap();
  sotto::Result<Envelope> again = DecodeEnvelope(encoded->header, encoded->payload, limits);
  if (!again.ok() || !(*again == original)) __builtin_trap();
  (void)MessageTypeName(original.type);
  return 0;
}
