// SWIM membership over a lossy, duplicating, delaying, reordering network
// (FaultyTransport over the in-memory transport, FakeClock): the group still
// converges, nobody live ends up dead, and a real crash is still detected.
// Deterministic: seeded faults, fake time, one thread.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "net/faulty_transport.h"
#include "net/membership.h"
#include "tests/support/fake_clock.h"
#include "tests/support/inproc_transport.h"

namespace sotto::net {
namespace {

using namespace std::chrono_literals;

class LossyCluster {
 public:
  LossyCluster(std::size_t n, FaultOptions faults) {
    for (std::size_t i = 0; i < n; ++i) {
      Node node;
      node.endpoint = "mem://node-" + std::to_string(i);
      node.id = PeerIdFromEndpoint(node.endpoint);
      MembershipOptions o;
      o.probe_interval = 200ms;
      o.probe_timeout = 100ms;
      o.rng_seed = 100 + i;
      node.membership = std::make_unique<Membership>(node.id, node.endpoint, o);
      faults.seed = 7 + i;
      node.transport = std::make_unique<FaultyTransport>(network_.CreateTransport(node.id), faults);
      Membership* m = node.membership.get();
      REQUIRE(node.transport->Start(node.endpoint, [this, m](PeerId, Envelope e) {
                                 (void)m->HandleEnvelope(e, clock_.Now());
                               }).ok());
      nodes_.push_back(std::move(node));
    }
    for (std::size_t i = 0; i < n; ++i) {
      nodes_[i].membership->Join(i == 0 ? std::vector<std::string>{} : std::vector<std::string>{nodes_[0].endpoint},
                                 clock_.Now());
    }
  }

  void Step() {
    clock_.Advance(50ms);
    for (Node& n : nodes_) {
      if (!n.running) continue;
      n.transport->Tick();
      n.membership->Tick(clock_.Now());
    }
    for (int round = 0; round < 100; ++round) {
      bool any = false;
      for (Node& n : nodes_) {
        if (!n.running) continue;
        for (Outgoing& out : n.membership->TakeOutgoing()) {
          any = true;
          (void)n.transport->Connect(out.to, out.endpoint);
          (void)n.transport->Send(out.to, std::move(out.envelope));
        }
        (void)n.membership->TakeEvents();
      }
      if (network_.DeliverAll() == 0 && !any) break;
    }
  }

  bool RunUntil(const std::function<bool()>& pred, Clock::Duration limit) {
    const auto end = clock_.Now() + limit;
    while (!pred()) {
      if (clock_.Now() >= end) return false;
      Step();
    }
    return true;
  }

  // Whether every running node sees every node in `subjects` as `state`.
  bool AllSee(const std::vector<std::size_t>& subjects, MemberState state) const {
    for (const Node& o : nodes_) {
      if (!o.running) continue;
      for (std::size_t s : subjects) {
        if (nodes_[s].id == o.id) continue;
        const auto m = o.membership->member(nodes_[s].id);
        if (!m || m->state != state) return false;
      }
    }
    return true;
  }

  void Crash(std::size_t i) {
    nodes_[i].running = false;
    nodes_[i].transport->Stop();
  }

  FaultCounters TotalFaults() const {
    FaultCounters t;
    for (const Node& n : nodes_) {
      const FaultCounters c = n.transport->fault_counters();
      t.dropped += c.dropped;
      t.duplicated += c.duplicated;
      t.delayed += c.delayed;
      t.reordered += c.reordered;
    }
    return t;
  }

 private:
  struct Node {
    std::string endpoint;
    PeerId id;
    std::unique_ptr<Membership> membership;
    std::unique_ptr<FaultyTransport> transport;
    bool running = true;
  };
  testing::FakeClock clock_;
  testing::InprocNetwork network_;
  std::vector<Node> nodes_;
};

TEST_CASE("membership converges and detects a crash over a faulty network", "[net][membership][faulty]") {
  LossyCluster cluster(8, {.drop = 0.05, .duplicate = 0.05, .delay = 0.2, .max_delay_ticks = 3, .reorder = 0.1});
  const std::vector<std::size_t> all = {0, 1, 2, 3, 4, 5, 6, 7};
  REQUIRE(cluster.RunUntil([&] { return cluster.AllSee(all, MemberState::kAlive); }, 30s));
  // A minute of lossy operation: false suspicions may come and go, but nothing
  // live stays dead (refutation and push-pull reconnects repair it).
  for (int i = 0; i < 60 * 20; ++i) cluster.Step();
  CHECK(cluster.RunUntil([&] { return cluster.AllSee(all, MemberState::kAlive); }, 30s));
  const FaultCounters f = cluster.TotalFaults();
  CHECK(f.dropped > 100);
  CHECK(f.duplicated > 100);
  CHECK(f.delayed > 100);
  CHECK(f.reordered > 100);

  cluster.Crash(5);
  CHECK(cluster.RunUntil([&] { return cluster.AllSee({5}, MemberState::kDead); }, 30s));
  // The survivors may be falsely suspected now and then; they settle as alive.
  CHECK(cluster.RunUntil([&] {
    return cluster.AllSee({5}, MemberState::kDead) && cluster.AllSee({0, 1, 2, 3, 4, 6, 7}, MemberState::kAlive);
  }, 30s));
}

}  // namespace
}  // namespace sotto::net
