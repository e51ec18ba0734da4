// The in-memory transport used by membership and daemon tests behaves like a
// Transport: connect before send, wire encoding, partitions, Stop.

#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/support/inproc_transport.h"

namespace sotto::testing {
namespace {

TEST_CASE("the in-memory network delivers in order only when pumped", "[net][inproc]") {
  InprocNetwork net;
  std::vector<std::pair<PeerId, net::Envelope>> at_b;
  auto a = net.CreateTransport(PeerId(1));
  auto b = net.CreateTransport(PeerId(2));
  REQUIRE(a->Start("mem://a", [](PeerId, net::Envelope) {}).ok());
  REQUIRE(b->Start("mem://*", [&](PeerId from, net::Envelope e) {
                at_b.emplace_back(from, std::move(e));
              }).ok());
  const std::string b_endpoint = b->local_endpoint();
  CHECK(b_endpoint.rfind("mem://auto-", 0) == 0);
  auto c = net.CreateTransport(PeerId(3));
  CHECK(c->Start("mem://a", [](PeerId, net::Envelope) {}).code() == StatusCode::kUnavailable);

  net::Envelope e;
  e.type = net::MessageType::kPing;
  CHECK(a->Send(PeerId(2), e).code() == StatusCode::kUnavailable);  // Not connected.
  REQUIRE(a->Connect(PeerId(2), b_endpoint).ok());
  for (std::uint64_t r = 0; r < 3; ++r) {
    e.round = RoundId(r);
    REQUIRE(a->Send(PeerId(2), e).ok());
  }
  CHECK(at_b.empty());
  CHECK(net.queued() == 3);
  CHECK(net.DeliverAll() == 3);
  REQUIRE(at_b.size() == 3);
  for (std::uint64_t r = 0; r < 3; ++r) {
    CHECK(at_b[r].first == PeerId(1));
    CHECK(at_b[r].second.sender == PeerId(1));
    CHECK(at_b[r].second.round == RoundId(r));
  }
  CHECK(b->counters().messages_received == 3);

  net.SetLinkBroken("mem://a", b_endpoint, true);
  REQUIRE(a->Send(PeerId(2), e).ok());
  net.DeliverAll();
  CHECK(at_b.size() == 3);
  CHECK(net.dropped() == 1);
  net.SetLinkBroken("mem://a", b_endpoint, false);
  net.SetIsolated(b_endpoint, true);
  REQUIRE(a->Send(PeerId(2), e).ok());
  net.DeliverAll();
  CHECK(at_b.size() == 3);
  net.SetIsolated(b_endpoint, false);
  REQUIRE(a->Send(PeerId(2), e).ok());
  net.DeliverAll();
  CHECK(at_b.size() == 4);

  b->Stop();
  b->Stop();
  REQUIRE(a->Send(PeerId(2), e).ok());  // Nobody listens: dropped at delivery.
  net.DeliverAll();
  CHECK(at_b.size() == 4);
  CHECK(b->Send(PeerId(1), e).code() == StatusCode::kUnavailable);
}

}  // namespace
}  // namespace sotto::testing
