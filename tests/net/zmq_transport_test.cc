// ZmqTransport on loopback: round trips, back-pressure, hostile senders, Stop().
// No sleeps: every wait is on a condition with a deadline.

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <zmq.hpp>

#include "net/envelope.h"
#include "net/zmq_transport.h"
#include "tests/support/transport_inbox.h"

namespace sotto::net {
namespace {

using namespace std::chrono_literals;
using testing::Eventually;
using testing::Inbox;
using SteadyTime = std::chrono::steady_clock;

std::unique_ptr<ZmqTransport> Make(std::uint64_t id, int send_hwm = 1000) {
  ZmqTransportOptions options;
  options.self = PeerId(id);
  options.send_hwm = send_hwm;
  Result<std::unique_ptr<ZmqTransport>> t = ZmqTransport::Create(options);
  REQUIRE(t.has_value());
  return std::move(t).value();
}

Envelope Message(std::uint64_t round, std::size_t payload_bytes = 0) {
  Envelope e;
  e.type = MessageType::kResidual;
  e.round = RoundId(round);
  e.body = {9, 8, 7};
  e.payload.resize(payload_bytes);
  for (std::size_t i = 0; i < payload_bytes; ++i) e.payload[i] = static_cast<std::uint8_t>(i);
  return e;
}

TEST_CASE("two zmq transports exchange envelopes over loopback", "[net][zmq]") {
  Inbox inbox_a, inbox_b;
  auto a = Make(11);
  auto b = Make(22);
  REQUIRE(a->Start("tcp://127.0.0.1:*", inbox_a.Handler()).ok());
  REQUIRE(b->Start("tcp://127.0.0.1:*", inbox_b.Handler()).ok());
  const std::string endpoint_b = b->local_endpoint();
  REQUIRE(endpoint_b.rfind("tcp://127.0.0.1:", 0) == 0);
  CHECK(endpoint_b.find('*') == std::string::npos);
  CHECK(std::stoi(endpoint_b.substr(endpoint_b.rfind(':') + 1)) > 0);
  CHECK(a->local_endpoint() != endpoint_b);

  REQUIRE(a->Connect(PeerId(22), endpoint_b).ok());
  REQUIRE(a->Connect(PeerId(22), endpoint_b).ok());  // Idempotent.
  for (std::uint64_t r = 0; r < 10; ++r) REQUIRE(a->Send(PeerId(22), Message(r)).ok());
  REQUIRE(a->Send(PeerId(22), Message(10, 1 << 20)).ok());  // 1 MiB payload frame.
  REQUIRE(inbox_b.WaitFor(11));
  auto got = inbox_b.Take();
  REQUIRE(got.size() == 11);
  for (std::uint64_t r = 0; r <= 10; ++r) {  // Order is kept per pair.
    CHECK(got[r].first == PeerId(11));
    CHECK(got[r].second.sender == PeerId(11));  // Stamped by the transport.
    CHECK(got[r].second.round == RoundId(r));
    CHECK(got[r].second == [&] {
      Envelope e = Message(r, r == 10 ? 1 << 20 : 0);
      e.sender = PeerId(11);
      return e;
    }());
  }

  // And back.
  REQUIRE(b->Connect(PeerId(11), a->local_endpoint()).ok());
  REQUIRE(b->Send(PeerId(11), Message(99)).ok());
  REQUIRE(inbox_a.WaitFor(1));
  CHECK(inbox_a.Take()[0].second.round == RoundId(99));

  CHECK(Eventually([&] { return a->counters().messages_sent == 11; }));
  const TransportCounters cb = b->counters();
  CHECK(cb.messages_received == 11);
  CHECK(cb.bytes_received > (1u << 20));
  CHECK(cb.rejected_malformed == 0);
  a->Stop();
  b->Stop();
}

TEST_CASE("sending to an unknown peer or after Stop is refused, not blocked", "[net][zmq]") {
  Inbox inbox;
  auto a = Make(1);
  CHECK(a->Send(PeerId(2), Message(0)).code() == StatusCode::kUnavailable);  // Not started.
  REQUIRE(a->Start("tcp://127.0.0.1:*", inbox.Handler()).ok());
  CHECK(a->Start("tcp://127.0.0.1:*", inbox.Handler()).code() == StatusCode::kInvalidArgument);
  const Status unknown = a->Send(PeerId(2), Message(0));
  CHECK(unknown.code() == StatusCode::kUnavailable);
  CHECK(unknown.message().find("not connected") != std::string::npos);
  CHECK(a->Connect(PeerId(2), "bogus").code() == StatusCode::kInvalidArgument);
  CHECK(a->Connect(PeerId(2), "tcp://127.0.0.1").code() == StatusCode::kInvalidArgument);
  REQUIRE(a->Connect(PeerId(2), "tcp://127.0.0.1:1").ok());
  a->Disconnect(PeerId(2));
  CHECK(a->Send(PeerId(2), Message(0)).code() == StatusCode::kUnavailable);
  a->Stop();
  CHECK(a->Send(PeerId(2), Message(0)).code() == StatusCode::kUnavailable);
  CHECK(a->Connect(PeerId(2), "tcp://127.0.0.1:1").code() == StatusCode::kUnavailable);
}

TEST_CASE("binding a bad or busy endpoint fails with a status", "[net][zmq]") {
  Inbox inbox;
  auto a = Make(1);
  auto b = Make(2);
  auto c = Make(3);
  CHECK(a->Start("nonsense", inbox.Handler()).code() == StatusCode::kInvalidArgument);
  REQUIRE(b->Start("tcp://127.0.0.1:*", inbox.Handler()).ok());
  const Status busy = c->Start(b->local_endpoint(), inbox.Handler());
  CHECK(busy.code() == StatusCode::kUnavailable);
  CHECK(busy.message().find(b->local_endpoint()) != std::string::npos);
}

TEST_CASE("a full send queue returns kUnavailable and never blocks", "[net][zmq]") {
  // An endpoint where nobody listens: bind, read the port, stop.
  std::string silent;
  {
    Inbox unused;
    auto probe = Make(99);
    REQUIRE(probe->Start("tcp://127.0.0.1:*", unused.Handler()).ok());
    silent = probe->local_endpoint();
  }
  Inbox inbox;
  auto a = Make(1, /*send_hwm=*/10);
  REQUIRE(a->Start("tcp://127.0.0.1:*", inbox.Handler()).ok());
  REQUIRE(a->Connect(PeerId(2), silent).ok());
  const auto start = SteadyTime::now();
  auto slowest = SteadyTime::duration::zero();
  bool refused = false;
  int accepted = 0;
  while (!refused && SteadyTime::now() - start < 5s) {
    const auto t0 = SteadyTime::now();
    const Status s = a->Send(PeerId(2), Message(0, 100));
    slowest = std::max(slowest, SteadyTime::now() - t0);
    if (s.ok()) {
      ++accepted;
    } else {
      CHECK(s.code() == StatusCode::kUnavailable);
      CHECK(s.message().find("queue is full") != std::string::npos);
      refused = true;
    }
  }
  CHECK(refused);
  CHECK(accepted >= 10);  // At least the high-water mark was queued.
  CHECK(slowest < 100ms);
  CHECK(a->counters().dropped_backpressure >= 1);
  const auto t0 = SteadyTime::now();
  a->Stop();  // Linger is short: queued messages do not hold Stop().
  CHECK(SteadyTime::now() - t0 < 2s);
}

TEST_CASE("stop is prompt, idempotent and safe without start", "[net][zmq]") {
  Inbox inbox;
  SECTION("never started") {
    auto a = Make(1);
    a->Stop();
    a->Stop();
  }
  SECTION("running, with traffic in flight") {
    auto a = Make(1);
    auto b = Make(2);
    REQUIRE(a->Start("tcp://127.0.0.1:*", inbox.Handler()).ok());
    REQUIRE(b->Start("tcp://127.0.0.1:*", inbox.Handler()).ok());
    REQUIRE(a->Connect(PeerId(2), b->local_endpoint()).ok());
    for (int i = 0; i < 100; ++i) (void)a->Send(PeerId(2), Message(0, 1000));
    const auto t0 = SteadyTime::now();
    a->Stop();
    b->Stop();
    a->Stop();
    CHECK(SteadyTime::now() - t0 < 2s);
  }
  SECTION("destroyed while running") {
    auto a = Make(1);
    REQUIRE(a->Start("tcp://127.0.0.1:*", inbox.Handler()).ok());
    const auto t0 = SteadyTime::now();
    a.reset();
    CHECK(SteadyTime::now() - t0 < 2s);
  }
}

TEST_CASE("hostile senders are counted and dropped, and the transport keeps working",
          "[net][zmq]") {
  Inbox inbox;
  auto a = Make(1);
  REQUIRE(a->Start("tcp://127.0.0.1:*", inbox.Handler()).ok());
  zmq::context_t ctx;
  zmq::socket_t raw(ctx, zmq::socket_type::dealer);
  const std::array<std::uint8_t, kRoutingIdBytes> id{'S', 0, 0, 0, 0, 0, 0, 0, 7};
  raw.set(zmq::sockopt::routing_id, zmq::buffer(id));
  raw.set(zmq::sockopt::linger, 0);
  raw.connect(a->local_endpoint());

  auto send = [&raw](std::vector<std::vector<std::uint8_t>> frames) {
    for (std::size_t i = 0; i < frames.size(); ++i) {
      zmq::message_t m(frames[i].data(), frames[i].size());
      raw.send(m, i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  };
  Envelope good = Message(5);
  good.sender = PeerId(7);
  Envelope liar = good;
  liar.sender = PeerId(8);
  const auto good_header = EncodeEnvelope(good).value().header;
  send({{0xde, 0xad, 0xbe, 0xef}});                                  // Garbage.
  send({EncodeEnvelope(liar).value().header});                      // Sender mismatch.
  send({good_header, {1}, {2}});                                     // Three frames.
  send({good_header});                                               // Fine.
  REQUIRE(inbox.WaitFor(1));
  CHECK(Eventually([&] { return a->counters().rejected_malformed == 3; }));
  const TransportCounters c = a->counters();
  CHECK(c.messages_received == 1);
  CHECK(c.last_reject_reason.find("3 frames") != std::string::npos);
  const auto got = inbox.Take();
  REQUIRE(got.size() == 1);
  CHECK(got[0].first == PeerId(7));
  CHECK(got[0].second.round == RoundId(5));

  // A routing id that is not a sotto id.
  zmq::socket_t stranger(ctx, zmq::socket_type::dealer);
  stranger.set(zmq::sockopt::linger, 0);
  stranger.set(zmq::sockopt::routing_id, std::string("hello"));
  stranger.connect(a->local_endpoint());
  zmq::message_t m(good_header.data(), good_header.size());
  stranger.send(m, zmq::send_flags::none);
  CHECK(Eventually([&] { return a->counters().rejected_malformed == 4; }));
  CHECK(a->counters().last_reject_reason.find("routing id") != std::string::npos);
  raw.close();
  stranger.close();
  a->Stop();
}

TEST_CASE("messages sent from several threads all arrive, in order per thread", "[net][zmq]") {
  constexpr std::uint64_t kThreads = 3;
  constexpr std::uint64_t kPerThread = 3000;
  Inbox inbox_a, inbox_b;
  auto a = Make(1, /*send_hwm=*/100);
  auto b = Make(2);
  REQUIRE(a->Start("tcp://127.0.0.1:*", inbox_a.Handler()).ok());
  REQUIRE(b->Start("tcp://127.0.0.1:*", inbox_b.Handler()).ok());
  REQUIRE(a->Connect(PeerId(2), b->local_endpoint()).ok());
  std::vector<std::thread> senders;
  std::atomic<int> gave_up{0};
  std::atomic<std::uint64_t> refusals{0};
  for (std::uint64_t t = 0; t < kThreads; ++t) {
    senders.emplace_back([&, t] {
      const auto deadline = SteadyTime::now() + 10s;
      for (std::uint64_t i = 0; i < kPerThread; ++i) {
        // Back-pressure is expected here: retry until accepted.
        while (!a->Send(PeerId(2), Message((t << 32) | i, 64)).ok()) {
          ++refusals;
          if (SteadyTime::now() > deadline) {
            ++gave_up;
            return;
          }
          std::this_thread::yield();
        }
      }
    });
  }
  for (auto& s : senders) s.join();
  REQUIRE(gave_up == 0);
  // Every message was accepted once; an accepted one is either sent or dropped by
  // the I/O thread when the DEALER filled first (counted with the refusals).
  const std::uint64_t total = kThreads * kPerThread;
  REQUIRE(Eventually([&] {
    const TransportCounters c = a->counters();
    return c.messages_sent + (c.dropped_backpressure - refusals) == total;
  }));
  const std::uint64_t expected = a->counters().messages_sent;
  CHECK(expected > 0);
  REQUIRE(inbox_b.WaitFor(static_cast<std::size_t>(expected), 10000ms));
  std::vector<std::int64_t> last(kThreads, -1);
  for (const auto& [from, e] : inbox_b.Take()) {
    const std::uint64_t t = e.round.value() >> 32;
    const auto i = static_cast<std::int64_t>(e.round.value() & 0xffffffffu);
    REQUIRE(t < kThreads);
    CHECK(i > last[t]);  // Never reordered (gaps only where a drop was counted).
    last[t] = i;
  }
  CHECK(b->counters().rejected_malformed == 0);
}

TEST_CASE("options are validated by Create", "[net][zmq]") {
  ZmqTransportOptions options;
  options.send_hwm = 0;
  CHECK(ZmqTransport::Create(options).error().code() == StatusCode::kInvalidArgument);
  options.send_hwm = 1;
  options.max_pending_per_peer = 0;
  CHECK_FALSE(ZmqTransport::Create(options).has_value());
}

TEST_CASE("a transport without an id takes the id of its bound endpoint", "[net][zmq]") {
  Inbox inbox;
  auto a = Make(0);
  CHECK(a->self() == PeerId(0));
  REQUIRE(a->Start("tcp://127.0.0.1:*", inbox.Handler()).ok());
  CHECK(a->self() == PeerIdFromEndpoint(a->local_endpoint()));
  REQUIRE(a->Connect(a->self(), a->local_endpoint()).ok());  // Talking to itself works.
  REQUIRE(a->Send(a->self(), Message(3)).ok());
  REQUIRE(inbox.WaitFor(1));
  CHECK(inbox.Take()[0].first == a->self());
}

}  // namespace
}  // namespace sotto::net
