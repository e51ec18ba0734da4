// ZmqTransport with CURVE on loopback: allowed peers talk; a key not on the
// allow-list, a plaintext socket and a server impersonating an allowed key get
// nothing through. Waits are on conditions with deadlines; "nothing arrives" is
// checked after a message that must arrive, plus a short bounded grace.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <zmq.hpp>

#include "net/envelope.h"
#include "net/zmq_curve.h"
#include "net/zmq_transport.h"
#include "tests/support/transport_inbox.h"

namespace sotto::net {
namespace {

using namespace std::chrono_literals;
using testing::Eventually;
using testing::Inbox;

CurveKeyPair Keys() {
  auto k = GenerateCurveKeyPair();
  REQUIRE(k.has_value());
  return *k;
}

std::unique_ptr<ZmqTransport> MakeSecure(std::uint64_t id, const CurveKeyPair& keys,
                                         std::vector<std::string> allowed) {
  ZmqTransportOptions o;
  o.self = PeerId(id);
  o.linger = 0ms;
  o.curve = CurveOptions{keys.secret_key, keys.public_key, std::move(allowed)};
  auto t = ZmqTransport::Create(o);
  REQUIRE(t.has_value());
  return std::move(t).value();
}

Envelope Message(std::uint64_t round) {
  Envelope e;
  e.type = MessageType::kResidual;
  e.round = RoundId(round);
  e.payload = {1, 2, 3, 4};
  return e;
}

TEST_CASE("CURVE keys and secured endpoints", "[net][curve]") {
  REQUIRE(CurveAvailable());
  const CurveKeyPair k = Keys();
  CHECK(IsCurveKey(k.public_key));
  CHECK(IsCurveKey(k.secret_key));
  CHECK(CurvePublicKey(k.secret_key).value() == k.public_key);
  CHECK_FALSE(IsCurveKey("short"));
  CHECK_FALSE(IsCurveKey(std::string(40, ' ')));
  const std::string ep = JoinCurveEndpoint("tcp://127.0.0.1:7000", k.public_key);
  CHECK(SplitCurveEndpoint(ep).address == "tcp://127.0.0.1:7000");
  CHECK(SplitCurveEndpoint(ep).server_key == k.public_key);
  CHECK(SplitCurveEndpoint("tcp://127.0.0.1:7000").server_key.empty());

  const CurveKeyPair other = Keys();
  ZmqTransportOptions o;
  o.curve = CurveOptions{k.secret_key, other.public_key, {}};
  auto bad = ZmqTransport::Create(o);
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().message().find(k.secret_key) == std::string::npos);  // Never echo a secret.
  o.curve = CurveOptions{k.secret_key, k.public_key, {"not a key"}};
  CHECK_FALSE(ZmqTransport::Create(o).has_value());

  // A failed bind releases the ZAP handler too: Start() can be retried.
  Inbox inbox;
  auto first = MakeSecure(1, k, {other.public_key});
  REQUIRE(first->Start("tcp://127.0.0.1:*", inbox.Handler()).ok());
  auto second = MakeSecure(2, k, {other.public_key});
  CHECK(second->Start(SplitCurveEndpoint(first->local_endpoint()).address, inbox.Handler()).code() ==
        StatusCode::kUnavailable);
  CHECK(second->Start(first->local_endpoint(), inbox.Handler()).code() == StatusCode::kInvalidArgument);
  CHECK(second->Start("tcp://127.0.0.1:*", inbox.Handler()).ok());
}

TEST_CASE("CURVE peers on each other's allow-list exchange envelopes; outsiders get nothing through",
          "[net][curve]") {
  const CurveKeyPair ka = Keys(), kb = Keys(), outsider = Keys();
  Inbox ia, ib, io;
  auto a = MakeSecure(1, ka, {kb.public_key});
  auto b = MakeSecure(2, kb, {ka.public_key});
  auto c = MakeSecure(3, outsider, {ka.public_key, kb.public_key});  // C trusts them; they do not trust C.
  REQUIRE(a->Start("tcp://127.0.0.1:*", ia.Handler()).ok());
  REQUIRE(b->Start("tcp://127.0.0.1:*", ib.Handler()).ok());
  REQUIRE(c->Start("tcp://127.0.0.1:*", io.Handler()).ok());
  CHECK(b->local_endpoint().ends_with("#" + kb.public_key));

  // A plaintext endpoint, or one whose key is not allowed, is refused up front.
  CHECK(a->Connect(PeerId(2), SplitCurveEndpoint(b->local_endpoint()).address).code() ==
        StatusCode::kInvalidArgument);
  CHECK(a->Connect(PeerId(3), c->local_endpoint()).code() == StatusCode::kInvalidArgument);

  // The outsider dials B and sends first: refused at the handshake, counted.
  REQUIRE(c->Connect(PeerId(2), b->local_endpoint()).ok());
  REQUIRE(c->Send(PeerId(2), Message(66)).ok());
  CHECK(Eventually([&] { return b->counters().rejected_unauthenticated >= 1; }));
  CHECK(b->counters().last_reject_reason.find(outsider.public_key) != std::string::npos);

  // A plaintext DEALER with a valid-looking routing id and a well-formed envelope.
  zmq::context_t ctx;
  zmq::socket_t raw(ctx, zmq::socket_type::dealer);
  const char id[9] = {'S', 0, 0, 0, 0, 0, 0, 0, 9};
  raw.set(zmq::sockopt::routing_id, zmq::const_buffer(id, 9));
  raw.set(zmq::sockopt::linger, 0);
  raw.connect(SplitCurveEndpoint(b->local_endpoint()).address);
  Envelope forged = Message(77);
  forged.sender = PeerId(9);
  auto frames = EncodeEnvelope(forged);
  REQUIRE(frames.has_value());
  (void)raw.send(zmq::buffer(frames->header), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
  (void)raw.send(zmq::buffer(frames->payload), zmq::send_flags::dontwait);

  // The allowed peers talk both ways.
  REQUIRE(a->Connect(PeerId(2), b->local_endpoint()).ok());
  REQUIRE(b->Connect(PeerId(1), a->local_endpoint()).ok());
  REQUIRE(a->Send(PeerId(2), Message(5)).ok());
  REQUIRE(b->Send(PeerId(1), Message(6)).ok());
  REQUIRE(ib.WaitFor(1));
  REQUIRE(ia.WaitFor(1));
  CHECK_FALSE(ib.WaitFor(2, 300ms));  // Neither the outsider's nor the raw socket's message.
  CHECK(Eventually([&] { return b->counters().rejected_unauthenticated >= 2; }));  // Both refused.
  CHECK(b->counters().last_reject_reason.find("handshake failed") != std::string::npos);
  const auto got = ib.Take();
  REQUIRE(got.size() == 1);
  CHECK(got[0].first == PeerId(1));
  CHECK(got[0].second.round == RoundId(5));
  CHECK(ia.Take()[0].second.round == RoundId(6));
  CHECK(b->counters().rejected_malformed == 0);
  a->Stop();
  b->Stop();
  c->Stop();
}

TEST_CASE("a CURVE client sends nothing to a server that cannot prove the key it dialled",
          "[net][curve]") {
  const CurveKeyPair ka = Keys(), kb = Keys(), impostor_keys = Keys();
  Inbox ia;
  auto a = MakeSecure(1, ka, {kb.public_key});
  REQUIRE(a->Start("tcp://127.0.0.1:*", ia.Handler()).ok());

  zmq::context_t ctx;
  // A plaintext listener, and a CURVE server holding some other secret (no ZAP
  // handler in its context, so it would accept any client): both claim B's key.
  zmq::socket_t plain(ctx, zmq::socket_type::router);
  plain.set(zmq::sockopt::linger, 0);
  plain.bind("tcp://127.0.0.1:*");
  zmq::socket_t impostor(ctx, zmq::socket_type::router);
  impostor.set(zmq::sockopt::linger, 0);
  impostor.set(zmq::sockopt::curve_server, true);
  impostor.set(zmq::sockopt::curve_secretkey, impostor_keys.secret_key);
  impostor.bind("tcp://127.0.0.1:*");

  REQUIRE(a->Connect(PeerId(10), JoinCurveEndpoint(plain.get(zmq::sockopt::last_endpoint), kb.public_key)).ok());
  REQUIRE(a->Connect(PeerId(11), JoinCurveEndpoint(impostor.get(zmq::sockopt::last_endpoint), kb.public_key)).ok());
  REQUIRE(a->Send(PeerId(10), Message(1)).ok());
  REQUIRE(a->Send(PeerId(11), Message(2)).ok());
  std::vector<zmq::pollitem_t> items = {{plain.handle(), 0, ZMQ_POLLIN, 0}, {impostor.handle(), 0, ZMQ_POLLIN, 0}};
  CHECK(zmq::poll(items, 500ms) == 0);  // Bounded: nothing is readable by either.
  a->Stop();
}

TEST_CASE("an allowed CURVE peer cannot speak under another peer's id", "[net][curve]") {
  const CurveKeyPair ka = Keys(), kb = Keys(), km = Keys();
  Inbox ia, ib, im;
  auto a = MakeSecure(1, ka, {kb.public_key, km.public_key});
  auto b = MakeSecure(2, kb, {ka.public_key, km.public_key});
  auto m = MakeSecure(1, km, {ka.public_key, kb.public_key});  // Mallory claims A's id.
  REQUIRE(a->Start("tcp://127.0.0.1:*", ia.Handler()).ok());
  REQUIRE(b->Start("tcp://127.0.0.1:*", ib.Handler()).ok());
  REQUIRE(m->Start("tcp://127.0.0.1:*", im.Handler()).ok());
  REQUIRE(b->Connect(PeerId(1), a->local_endpoint()).ok());  // B knows A by A's key.

  REQUIRE(m->Connect(PeerId(2), b->local_endpoint()).ok());
  REQUIRE(m->Send(PeerId(2), Message(66)).ok());
  CHECK(Eventually([&] { return b->counters().rejected_unauthenticated >= 1; }));
  CHECK(b->counters().last_reject_reason.find(km.public_key) != std::string::npos);

  REQUIRE(a->Connect(PeerId(2), b->local_endpoint()).ok());
  REQUIRE(a->Send(PeerId(2), Message(5)).ok());
  REQUIRE(ib.WaitFor(1));
  CHECK_FALSE(ib.WaitFor(2, 200ms));
  const auto got = ib.Take();
  REQUIRE(got.size() == 1);
  CHECK(got[0].second.round == RoundId(5));
  a->Stop();
  b->Stop();
  m->Stop();
}

}  // namespace
}  // namespace sotto::net
