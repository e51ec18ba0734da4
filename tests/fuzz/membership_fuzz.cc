// libFuzzer target for the membership message path (net/membership.h): what a node
// does with a sequence of membership envelopes from peers, body decoding included.
// Any input must leave a consistent member table and never crash; everything the
// node sends in reply must encode as a valid envelope.
//
// Input: u8 join mode (even: group of one; odd: joining through a seed), then records
// of u8 type, u8 sender, u8 time step (x 20 ms), u16 body length, body. Senders 0..3
// are the peers at MembershipFuzzEndpoint(0..3) (0 is the node itself), 4 is the
// invalid id 0, others are ids nobody advertised.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include "net/envelope.h"
#include "net/membership.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using sotto::PeerId;
using sotto::net::PeerIdFromEndpoint;

PeerId Sender(std::uint8_t selector) {
  if (selector < sotto::fuzz::kMembershipFuzzPeers) {
    return PeerIdFromEndpoint(sotto::fuzz::MembershipFuzzEndpoint(selector));
  }
  return PeerId(selector == sotto::fuzz::kMembershipFuzzPeers ? 0 : selector);
}

void CheckConsistent(const sotto::net::Membership& m) {
  const std::vector<sotto::net::Member> all = m.members();
  for (std::size_t i = 1; i < all.size(); ++i) {
    if (!(all[i - 1].id.value() < all[i].id.value())) __builtin_trap();  // Sorted, unique.
  }
  const auto self = m.member(m.self());
  if (!self || self->state != sotto::net::MemberState::kAlive) __builtin_trap();
  if (m.live_members().size() > all.size()) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sotto::net;
  sotto::fuzz::FuzzInput in(data, size);
  MembershipOptions options;
  options.max_updates_per_message = 64;
  const std::string self_endpoint = sotto::fuzz::MembershipFuzzEndpoint(0);
  Membership m(PeerIdFromEndpoint(self_endpoint), self_endpoint, options);
  sotto::Clock::TimePoint now{std::chrono::seconds(1)};
  std::vector<std::string> seeds;
  if (in.U8() & 1) seeds.push_back(sotto::fuzz::MembershipFuzzEndpoint(1));
  m.Join(seeds, now);
  while (in.remaining() > 0) {
    Envelope e;
    e.type = static_cast<MessageType>(in.U8());
    e.sender = Sender(in.U8());
    now += std::chrono::milliseconds(20) * in.U8();
    const auto body = in.LengthPrefixed();
    e.body.assign(body.begin(), body.end());
    const sotto::Status status = m.HandleEnvelope(e, now);
    if (!Membership::IsMembershipMessage(e.type) && status.ok()) __builtin_trap();
    if (now >= m.NextDeadline()) m.Tick(now);
    for (Outgoing& out : m.TakeOutgoing()) {
      if (out.to.value() == 0 || out.endpoint.empty()) __builtin_trap();
      sotto::Result<EncodedEnvelope> encoded = EncodeEnvelope(std::move(out.envelope));
      if (!encoded.ok()) __builtin_trap();
    }
    (void)m.TakeEvents();
    CheckConsistent(m);
  }
  m.Leave(now);
  (void)m.TakeOutgoing();
  return 0;
}
