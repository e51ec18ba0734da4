// FaultyTransport over the in-memory transport: each fault alone, their mix, and
// that the faults are a pure function of the seed and the traffic.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "net/faulty_transport.h"
#include "tests/support/inproc_transport.h"

namespace sotto::testing {
namespace {

// A (faulty) -> B over an InprocNetwork; B records the rounds it receives.
struct Pair {
  explicit Pair(net::FaultOptions options) {
    a = std::make_unique<net::FaultyTransport>(network.CreateTransport(PeerId(1)), options);
    b = network.CreateTransport(PeerId(2));
    REQUIRE(a->Start("mem://a", [](PeerId, net::Envelope) {}).ok());
    REQUIRE(b->Start("mem://b", [this](PeerId from, net::Envelope e) {
                  CHECK(from == PeerId(1));
                  received.push_back(e.round.value());
                }).ok());
    REQUIRE(a->Connect(PeerId(2), "mem://b").ok());
  }
  void SendRounds(std::uint64_t n) {
    for (std::uint64_t r = 0; r < n; ++r) {
      net::Envelope e;
      e.type = net::MessageType::kResidual;
      e.round = RoundId(r);
      e.payload = {static_cast<std::uint8_t>(r)};
      REQUIRE(a->Send(PeerId(2), std::move(e)).ok());
    }
  }
  InprocNetwork network;
  std::unique_ptr<net::FaultyTransport> a;
  std::unique_ptr<InprocTransport> b;
  std::vector<std::uint64_t> received;
};

std::vector<std::uint64_t> Iota(std::uint64_t n) {
  std::vector<std::uint64_t> v(n);
  for (std::uint64_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

TEST_CASE("a fault-free FaultyTransport passes everything through in order", "[net][faulty]") {
  Pair p({});
  p.SendRounds(50);
  p.network.DeliverAll();
  CHECK(p.received == Iota(50));
  CHECK(p.a->held() == 0);
  CHECK(p.a->counters().messages_sent == 50);
}

TEST_CASE("drops lose envelopes at the given rate, silently", "[net][faulty]") {
  SECTION("all") {
    Pair p({.drop = 1.0});
    p.SendRounds(20);
    p.network.DeliverAll();
    CHECK(p.received.empty());
    CHECK(p.a->fault_counters().dropped == 20);
  }
  SECTION("some") {
    Pair p({.drop = 0.3, .seed = 7});
    p.SendRounds(2000);
    p.network.DeliverAll();
    const auto dropped = p.a->fault_counters().dropped;
    CHECK(p.received.size() + dropped == 2000);
    CHECK(dropped > 500);  // 600 expected; 4.3 sigma either side.
    CHECK(dropped < 700);
    CHECK(std::is_sorted(p.received.begin(), p.received.end()));
  }
}

TEST_CASE("duplicates deliver an envelope twice", "[net][faulty]") {
  Pair p({.duplicate = 1.0});
  p.SendRounds(10);
  p.network.DeliverAll();
  std::vector<std::uint64_t> want;
  for (std::uint64_t r = 0; r < 10; ++r) want.insert(want.end(), {r, r});
  CHECK(p.received == want);
  CHECK(p.a->fault_counters().duplicated == 10);
}

TEST_CASE("delays hold envelopes for a few ticks and release them, nothing lost", "[net][faulty]") {
  Pair p({.delay = 0.5, .max_delay_ticks = 3, .seed = 3});
  p.SendRounds(200);
  CHECK(p.a->fault_counters().delayed > 60);
  CHECK(p.a->held() > 0);
  CHECK(p.a->held() <= 4 * 3);  // Nothing is held longer than max_delay_ticks.
  for (int t = 0; t < 4; ++t) p.a->Tick();
  CHECK(p.a->held() == 0);
  p.network.DeliverAll();
  CHECK(p.received.size() == 200);
  CHECK_FALSE(std::is_sorted(p.received.begin(), p.received.end()));
  auto sorted = p.received;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == Iota(200));
}

TEST_CASE("reordering swaps an envelope behind the next one to the same peer", "[net][faulty]") {
  SECTION("always: held until flushed") {
    Pair p({.reorder = 1.0});
    p.SendRounds(5);
    p.network.DeliverAll();
    CHECK(p.received.empty());
    CHECK(p.a->held() == 5);
    p.a->Flush();
    p.network.DeliverAll();
    CHECK(p.received == Iota(5));
  }
  SECTION("sometimes") {
    Pair p({.reorder = 0.3, .seed = 11});
    p.SendRounds(300);
    p.a->Flush();
    p.network.DeliverAll();
    REQUIRE(p.received.size() == 300);
    CHECK(p.a->fault_counters().reordered > 50);
    std::size_t inversions = 0;
    for (std::size_t i = 1; i < p.received.size(); ++i) inversions += p.received[i] < p.received[i - 1];
    CHECK(inversions > 30);
    auto sorted = p.received;
    std::sort(sorted.begin(), sorted.end());
    CHECK(sorted == Iota(300));
  }
}

TEST_CASE("the faults are a function of the seed and the traffic", "[net][faulty]") {
  const auto run = [](std::uint64_t seed) {
    Pair p({.drop = 0.1, .duplicate = 0.1, .delay = 0.2, .max_delay_ticks = 5, .reorder = 0.1, .seed = seed});
    p.SendRounds(500);
    p.a->Flush();
    p.network.DeliverAll();
    return p.received;
  };
  CHECK(run(5) == run(5));
  CHECK(run(5) != run(6));
}

TEST_CASE("Disconnect and Stop discard what is held", "[net][faulty]") {
  Pair p({.delay = 1.0, .max_delay_ticks = 100});
  p.SendRounds(10);
  CHECK(p.a->held() == 10);
  p.a->Disconnect(PeerId(2));
  CHECK(p.a->held() == 0);
  REQUIRE(p.a->Connect(PeerId(2), "mem://b").ok());
  p.SendRounds(3);
  p.a->Stop();
  CHECK(p.a->held() == 0);
  p.network.DeliverAll();
  CHECK(p.received.empty());
}

}  // namespace
}  // namespace sotto::testing
