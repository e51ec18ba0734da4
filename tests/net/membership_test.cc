// SWIM membership as a state machine, driven over the in-memory network with a
// FakeClock: no threads, no sleeping, fully deterministic.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "common/random.h"
#include "net/membership.h"
#include "tests/support/fake_clock.h"
#include "tests/support/inproc_transport.h"

namespace sotto::net {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;
using testing::InprocNetwork;
using testing::InprocTransport;

struct TimedEvent {
  Clock::TimePoint at;
  MemberEvent event;
};

struct Node {
  std::string endpoint;
  PeerId id;
  std::unique_ptr<InprocTransport> transport;
  std::unique_ptr<Membership> membership;
  std::vector<TimedEvent> events;
  std::vector<std::pair<Clock::TimePoint, MessageType>> sent;
  bool running = true;
};

// N membership state machines wired through an InprocNetwork.
class Cluster {
 public:
  explicit Cluster(MembershipOptions options = {}) : options_(options) {}

  static std::string Endpoint(std::size_t i) { return "mem://node-" + std::to_string(i); }

  // Adds (or restarts) node `i`, joining through `seeds`.
  Node& Start(std::size_t i, std::vector<std::string> seeds) {
    if (nodes_.size() <= i) nodes_.resize(i + 1);
    Node& n = nodes_[i];
    n = Node{};
    n.endpoint = Endpoint(i);
    n.id = PeerIdFromEndpoint(n.endpoint);
    MembershipOptions o = options_;
    o.rng_seed = 1000 + i + 17 * restarts_++;
    n.membership = std::make_unique<Membership>(n.id, n.endpoint, o);
    n.transport = network_.CreateTransport(n.id);
    Membership* m = n.membership.get();
    REQUIRE(n.transport
                ->Start(n.endpoint,
                        [this, m](PeerId, Envelope e) {
                          REQUIRE(Membership::IsMembershipMessage(e.type));
                          REQUIRE(m->HandleEnvelope(e, clock_.Now()).ok());
                        })
                .ok());
    n.membership->Join(seeds, clock_.Now());
    Flush();
    return n;
  }

  void Crash(std::size_t i) {
    nodes_[i].running = false;
    nodes_[i].transport->Stop();
  }

  // Sends everything the nodes want to send and delivers it, until quiet.
  void Flush() {
    for (;;) {
      bool any = false;
      for (Node& n : nodes_) {
        if (!n.running || !n.membership) continue;
        for (Outgoing& out : n.membership->TakeOutgoing()) {
          any = true;
          n.sent.emplace_back(clock_.Now(), out.envelope.type);
          REQUIRE(n.transport->Connect(out.to, out.endpoint).ok());
          REQUIRE(n.transport->Send(out.to, std::move(out.envelope)).ok());
        }
        for (MemberEvent& e : n.membership->TakeEvents()) {
          n.events.push_back({clock_.Now(), std::move(e)});
        }
      }
      if (network_.DeliverAll() == 0 && !any) return;
    }
  }

  void Step(Clock::Duration dt) {
    clock_.Advance(dt);
    for (Node& n : nodes_) {
      if (n.running && n.membership) n.membership->Tick(clock_.Now());
    }
    Flush();
  }

  void RunFor(Clock::Duration total, Clock::Duration step = 50ms) {
    const auto end = clock_.Now() + total;
    while (clock_.Now() < end) Step(step);
  }

  // Steps until `pred` holds; false if `limit` of fake time passes first.
  bool RunUntil(const std::function<bool()>& pred, Clock::Duration limit,
                Clock::Duration step = 50ms) {
    const auto end = clock_.Now() + limit;
    while (!pred()) {
      if (clock_.Now() >= end) return false;
      Step(step);
    }
    return true;
  }

  // Whether every running observer sees each subject in `state`.
  bool AllSee(const std::vector<std::size_t>& observers, const std::vector<std::size_t>& subjects,
              MemberState state) const {
    for (std::size_t o : observers) {
      for (std::size_t s : subjects) {
        if (o == s) continue;
        const auto m = nodes_[o].membership->member(nodes_[s].id);
        if (!m || m->state != state) return false;
      }
    }
    return true;
  }

  bool AllAlive(const std::vector<std::size_t>& group) const {
    return AllSee(group, group, MemberState::kAlive);
  }

  std::size_t CountEvents(std::size_t observer, std::size_t subject, MemberEvent::Kind kind) const {
    return static_cast<std::size_t>(
        std::count_if(nodes_[observer].events.begin(), nodes_[observer].events.end(),
                      [&](const TimedEvent& e) {
                        return e.event.kind == kind && e.event.member.id == nodes_[subject].id;
                      }));
  }

  // When the last of `observers` first reported `kind` about `subject`; nullopt while
  // some observer has not reported it.
  std::optional<Clock::TimePoint> LastFirstEvent(const std::vector<std::size_t>& observers,
                                                 std::size_t subject,
                                                 MemberEvent::Kind kind) const {
    std::optional<Clock::TimePoint> last;
    for (std::size_t o : observers) {
      const auto& ev = nodes_[o].events;
      const auto it = std::find_if(ev.begin(), ev.end(), [&](const TimedEvent& e) {
        return e.event.kind == kind && e.event.member.id == nodes_[subject].id;
      });
      if (it == ev.end()) return std::nullopt;
      if (!last || it->at > *last) last = it->at;
    }
    return last;
  }

  // How many messages of `type` the nodes in `group` sent at or after `since`.
  std::size_t CountSent(const std::vector<std::size_t>& group, MessageType type,
                        Clock::TimePoint since) const {
    std::size_t count = 0;
    for (std::size_t i : group) {
      for (const auto& [at, t] : nodes_[i].sent) count += (t == type && at >= since) ? 1 : 0;
    }
    return count;
  }

  // The first time any node reported `kind` about `subject`.
  std::optional<Clock::TimePoint> FirstEvent(std::size_t subject, MemberEvent::Kind kind) const {
    std::optional<Clock::TimePoint> first;
    for (const Node& n : nodes_) {
      for (const TimedEvent& e : n.events) {
        if (e.event.kind == kind && e.event.member.id == nodes_[subject].id &&
            (!first || e.at < *first)) {
          first = e.at;
        }
      }
    }
    return first;
  }

  Node& node(std::size_t i) { return nodes_[i]; }
  Membership& m(std::size_t i) { return *nodes_[i].membership; }
  InprocNetwork& network() { return network_; }
  FakeClock& clock() { return clock_; }

 private:
  MembershipOptions options_;
  FakeClock clock_;
  InprocNetwork network_;
  std::vector<Node> nodes_;
  std::size_t restarts_ = 0;
};

std::vector<std::size_t> Range(std::size_t begin, std::size_t end) {
  std::vector<std::size_t> out;
  for (std::size_t i = begin; i < end; ++i) out.push_back(i);
  return out;
}

// Starts n nodes, node 0 first and each later one through the node before it.
void StartChain(Cluster& c, std::size_t n) {
  c.Start(0, {});
  for (std::size_t i = 1; i < n; ++i) c.Start(i, {Cluster::Endpoint(i - 1)});
}

// Starts n nodes that all join through node 0 at the same instant, as the daemons of
// bench/scale do.
void StartStar(Cluster& c, std::size_t n) {
  c.Start(0, {});
  for (std::size_t i = 1; i < n; ++i) c.Start(i, {Cluster::Endpoint(0)});
}

double Seconds(Clock::Duration d) { return std::chrono::duration<double>(d).count(); }

TEST_CASE("the suspicion timeout follows memberlist's formula", "[net][membership]") {
  CHECK(SuspicionTimeout(4, 0, 1s) == 4s);
  CHECK(SuspicionTimeout(4, 1, 1s) == 4s);
  CHECK(SuspicionTimeout(4, 5, 1s) == 4s);  // log10(5) < 1 counts as 1.
  CHECK(SuspicionTimeout(4, 10, 1s) == 4s);
  CHECK(SuspicionTimeout(4, 100, 1s) == 8s);
  CHECK(SuspicionTimeout(5, 1000, 200ms) == 3s);
  const auto twenty = std::chrono::duration<double>(SuspicionTimeout(4, 20, 1s)).count();
  CHECK(twenty == Approx(4 * std::log10(20.0)).epsilon(1e-6));
  CHECK(RetransmitLimit(4, 1) == 4);
  CHECK(RetransmitLimit(4, 9) == 4);
  CHECK(RetransmitLimit(4, 10) == 8);
  CHECK(RetransmitLimit(3, 100) == 9);
}

TEST_CASE("nodes join through any member and everyone learns of them", "[net][membership]") {
  Cluster c;
  StartChain(c, 3);  // Node 2 joins through node 1, not the first node.
  CHECK(c.m(0).joined());
  CHECK(c.m(2).joined());  // The join ack came back at once.
  REQUIRE(c.RunUntil([&] { return c.AllAlive({0, 1, 2}); }, 10s));
  for (std::size_t i = 0; i < 3; ++i) {
    const std::vector<Member> live = c.m(i).live_members();
    REQUIRE(live.size() == 3);
    CHECK(std::is_sorted(live.begin(), live.end(),
                         [](const Member& a, const Member& b) { return a.id < b.id; }));
    CHECK(c.m(i).members() == live);
  }
  CHECK(c.CountEvents(0, 1, MemberEvent::Kind::kJoined) == 1);
  CHECK(c.CountEvents(0, 2, MemberEvent::Kind::kJoined) == 1);
  CHECK(c.CountEvents(2, 0, MemberEvent::Kind::kJoined) == 1);
  // Stable: a quiet healthy group keeps everyone alive and nobody refutes.
  c.RunFor(30s);
  CHECK(c.AllAlive({0, 1, 2}));
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(c.m(i).incarnation() == 0);
    CHECK(c.m(i).member(c.node((i + 1) % 3).id)->last_heard > Clock::TimePoint{} + 25s);
  }
}

TEST_CASE("a join is retried with exponential back-off until a seed answers",
          "[net][membership]") {
  Cluster c;
  c.Start(0, {});
  c.network().SetIsolated(Cluster::Endpoint(0), true);
  c.Start(1, {Cluster::Endpoint(0)});
  c.RunFor(20s);
  CHECK_FALSE(c.m(1).joined());
  std::vector<double> join_times;
  for (const auto& [at, type] : c.node(1).sent) {
    if (type == MessageType::kJoin) {
      join_times.push_back(std::chrono::duration<double>(at.time_since_epoch()).count());
    }
  }
  // At 0 s, then 1, 2, 4, 8 s apart.
  REQUIRE(join_times.size() == 5);
  CHECK(join_times == std::vector<double>{0, 1, 3, 7, 15});
  c.network().SetIsolated(Cluster::Endpoint(0), false);
  REQUIRE(c.RunUntil([&] { return c.m(1).joined(); }, 17s));
  REQUIRE(c.RunUntil([&] { return c.AllAlive({0, 1}); }, 5s));
}

TEST_CASE("a join succeeds through the second seed when the first is down", "[net][membership]") {
  Cluster c;
  c.Start(0, {});
  // "mem://nobody" never listens; the own endpoint in the list is skipped.
  c.Start(1, {"mem://nobody", Cluster::Endpoint(1), Cluster::Endpoint(0)});
  CHECK(c.m(1).joined());
  CHECK(c.AllAlive({0, 1}));
}

TEST_CASE("a crashed member is suspected, then dead after the suspicion timeout",
          "[net][membership]") {
  Cluster c;
  StartChain(c, 5);
  REQUIRE(c.RunUntil([&] { return c.AllAlive(Range(0, 5)); }, 10s));
  c.Crash(4);
  REQUIRE(c.RunUntil([&] { return c.AllSee(Range(0, 4), {4}, MemberState::kDead); }, 30s));
  const auto suspected = c.FirstEvent(4, MemberEvent::Kind::kSuspected);
  const auto dead = c.FirstEvent(4, MemberEvent::Kind::kDead);
  REQUIRE(suspected);
  REQUIRE(dead);
  // Nobody declares it dead before one full suspicion timeout (N = 5: 4 s).
  CHECK(*dead - *suspected >= SuspicionTimeout(4, 5, 1s));
  CHECK(*dead - *suspected <= SuspicionTimeout(4, 5, 1s) + 100ms);
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(c.m(i).live_members().size() == 4);
    CHECK(c.CountEvents(i, 4, MemberEvent::Kind::kDead) == 1);
  }
  CHECK(c.AllAlive(Range(0, 4)));  // The survivors never doubted each other.
}

TEST_CASE("a suspected member refutes with a higher incarnation", "[net][membership]") {
  Cluster c;
  StartChain(c, 3);
  REQUIRE(c.RunUntil([&] { return c.AllAlive({0, 1, 2}); }, 10s));
  c.network().SetIsolated(Cluster::Endpoint(2), true);
  REQUIRE(c.RunUntil(
      [&] {
        return c.m(0).member(c.node(2).id)->state == MemberState::kSuspect ||
               c.m(1).member(c.node(2).id)->state == MemberState::kSuspect;
      },
      5s));
  c.network().SetIsolated(Cluster::Endpoint(2), false);
  REQUIRE(c.RunUntil([&] { return c.AllAlive({0, 1, 2}); }, 10s));
  CHECK(c.m(2).incarnation() >= 1);
  CHECK(c.m(0).member(c.node(2).id)->incarnation == c.m(2).incarnation());
  CHECK(c.m(1).member(c.node(2).id)->incarnation == c.m(2).incarnation());
  CHECK(c.FirstEvent(2, MemberEvent::Kind::kRecovered));
  CHECK_FALSE(c.FirstEvent(2, MemberEvent::Kind::kDead));
}

TEST_CASE("a graceful leave is seen at once and is not mistaken for a failure",
          "[net][membership]") {
  Cluster c;
  StartChain(c, 4);
  REQUIRE(c.RunUntil([&] { return c.AllAlive(Range(0, 4)); }, 10s));
  c.m(3).Leave(c.clock().Now());
  CHECK_FALSE(c.m(3).joined());
  c.Flush();  // No time passes.
  CHECK(c.AllSee(Range(0, 3), {3}, MemberState::kLeft));
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(c.CountEvents(i, 3, MemberEvent::Kind::kLeft) == 1);
    CHECK(c.m(i).live_members().size() == 3);
  }
  c.Crash(3);
  c.RunFor(20s);
  CHECK(c.AllSee(Range(0, 3), {3}, MemberState::kLeft));
  CHECK_FALSE(c.FirstEvent(3, MemberEvent::Kind::kSuspected));
  CHECK_FALSE(c.FirstEvent(3, MemberEvent::Kind::kDead));
  CHECK(c.AllAlive(Range(0, 3)));
}

TEST_CASE("the two halves of a healed partition merge back into one group", "[net][membership]") {
  Cluster c;
  StartChain(c, 6);
  REQUIRE(c.RunUntil([&] { return c.AllAlive(Range(0, 6)); }, 15s));
  const std::vector<std::string> left{Cluster::Endpoint(0), Cluster::Endpoint(1),
                                      Cluster::Endpoint(2)};
  const std::vector<std::string> right{Cluster::Endpoint(3), Cluster::Endpoint(4),
                                       Cluster::Endpoint(5)};
  c.network().SetPartition(left, right, true);
  REQUIRE(c.RunUntil(
      [&] {
        return c.AllSee({0, 1, 2}, {3, 4, 5}, MemberState::kDead) &&
               c.AllSee({3, 4, 5}, {0, 1, 2}, MemberState::kDead);
      },
      60s));
  CHECK(c.AllAlive({0, 1, 2}));
  CHECK(c.AllAlive({3, 4, 5}));
  c.network().SetPartition(left, right, false);
  // Within a few reconnect intervals (10 s) someone reaches across and the
  // refutations spread.
  REQUIRE(c.RunUntil([&] { return c.AllAlive(Range(0, 6)); }, 60s));
  for (std::size_t i = 0; i < 6; ++i) CHECK(c.m(i).live_members().size() == 6);
}

TEST_CASE("twenty nodes converge to the same live view", "[net][membership]") {
  Cluster c;
  Rng rng(7);
  c.Start(0, {});
  for (std::size_t i = 1; i < 20; ++i) {
    // Each joins through two random earlier nodes.
    c.Start(i, {Cluster::Endpoint(rng.UniformInt(i)), Cluster::Endpoint(rng.UniformInt(i))});
  }
  REQUIRE(c.RunUntil([&] { return c.AllAlive(Range(0, 20)); }, 30s));
  const std::vector<Member> view = c.m(0).live_members();
  REQUIRE(view.size() == 20);
  for (std::size_t i = 1; i < 20; ++i) {
    const std::vector<Member> other = c.m(i).live_members();
    REQUIRE(other.size() == 20);
    for (std::size_t k = 0; k < 20; ++k) CHECK(other[k].id == view[k].id);
  }
  // And it stays that way: no false suspicion in a healthy group.
  c.RunFor(20s);
  CHECK(c.AllAlive(Range(0, 20)));
  CHECK_FALSE(c.FirstEvent(5, MemberEvent::Kind::kSuspected));
}

TEST_CASE("a restarted node with the same id refutes its old death", "[net][membership]") {
  Cluster c;
  StartChain(c, 3);
  REQUIRE(c.RunUntil([&] { return c.AllAlive({0, 1, 2}); }, 10s));
  c.Crash(2);
  REQUIRE(c.RunUntil([&] { return c.AllSee({0, 1}, {2}, MemberState::kDead); }, 30s));
  c.Start(2, {Cluster::Endpoint(0)});  // Same endpoint, so the same id; incarnation 0.
  REQUIRE(c.RunUntil([&] { return c.AllAlive({0, 1, 2}); }, 10s));
  CHECK(c.m(2).incarnation() >= 1);
  CHECK(c.CountEvents(0, 2, MemberEvent::Kind::kJoined) == 2);
}

TEST_CASE("malformed membership bodies are rejected and change nothing", "[net][membership]") {
  Membership m(PeerId(1), "mem://a");
  m.Join({}, Clock::TimePoint{});
  Envelope e;
  e.sender = PeerId(2);
  e.type = MessageType::kResidual;
  CHECK(m.HandleEnvelope(e, Clock::TimePoint{}).code() == StatusCode::kInvalidArgument);
  Rng rng(3);
  for (int i = 0; i < 5000; ++i) {
    e.type = static_cast<MessageType>(1 + rng.UniformInt(7));
    e.body.resize(rng.UniformInt(40));
    for (auto& b : e.body) b = static_cast<std::uint8_t>(rng.NextU32());
    const Status s = m.HandleEnvelope(e, Clock::TimePoint{});
    if (!s.ok()) CHECK(s.code() == StatusCode::kCorrupted);
  }
  // [seq, target, target_ep, sender_ep, inc, updates] with an update of state 9.
  e.type = MessageType::kPing;
  e.body = {0x96, 0x01, 0x00, 0xa0, 0xa1, 'x', 0x00, 0x91, 0x94, 0x05, 0xa1, 'y', 0x09, 0x00};
  const Status s = m.HandleEnvelope(e, Clock::TimePoint{});
  CHECK(s.code() == StatusCode::kCorrupted);
  CHECK(s.message().find("unknown state 9") != std::string::npos);
  CHECK(m.members().size() == 1);
  CHECK(m.TakeOutgoing().empty());
}

TEST_CASE("next deadline says when a tick is due", "[net][membership]") {
  Membership m(PeerId(1), "mem://a");
  CHECK(m.NextDeadline() == Clock::TimePoint::max());
  m.Join({"mem://b"}, Clock::TimePoint{});
  CHECK(m.NextDeadline() == Clock::TimePoint{} + 1s);  // The first join retry and probe.
  CHECK(m.TakeOutgoing().size() == 1);
  m.Tick(Clock::TimePoint{} + 500ms);  // Early: nothing due.
  CHECK(m.TakeOutgoing().empty());
  m.Tick(Clock::TimePoint{} + 1s);
  CHECK(m.TakeOutgoing().size() == 1);  // The retry.
}

// bench/scale's 64 daemons, simulated: the protocol alone, with zero network latency
// and 10 ms ticks, so every figure below is protocol time (gossip rounds, probe
// periods), not scheduling noise.
TEST_CASE("in a 64-member group a new member is known by all within one probe period",
          "[net][membership][scale]") {
  constexpr std::size_t kN = 64;
  Cluster c;
  StartStar(c, kN);
  const auto launch = c.clock().Now();
  REQUIRE(c.RunUntil([&] { return c.AllAlive(Range(0, kN)); }, 30s, 10ms));
  const auto startup = c.clock().Now() - launch;
  WARN("64 members joined through one seed: complete views after " << Seconds(startup) << " s");
  CHECK(startup <= 5s);
  c.RunFor(2s, 10ms);
  for (std::size_t trial = 0; trial < 3; ++trial) {
    const std::size_t newcomer = kN + trial;
    const auto start = c.clock().Now();
    c.Start(newcomer, {Cluster::Endpoint(kN / 2 + 7 * trial)});
    REQUIRE(c.RunUntil([&] { return c.AllSee(Range(0, newcomer), {newcomer}, MemberState::kAlive); },
                       30s, 10ms));
    const auto known_by_all = c.clock().Now() - start;
    WARN("join " << trial << ": known by all " << newcomer << " after " << Seconds(known_by_all)
                 << " s");
    // Gossip to 3 members every 200 ms: about log4(64) = 3 gossip intervals.
    CHECK(known_by_all <= 1s);
    c.RunFor(1s, 10ms);
  }
}

TEST_CASE("in a 64-member group a killed member is dead at all within the suspicion timeout",
          "[net][membership][scale]") {
  constexpr std::size_t kN = 64;
  Cluster c;
  StartStar(c, kN);
  REQUIRE(c.RunUntil([&] { return c.AllAlive(Range(0, kN)); }, 30s, 10ms));
  c.RunFor(3s, 10ms);
  std::vector<std::size_t> survivors = Range(0, kN);
  for (const std::size_t victim : {std::size_t{21}, std::size_t{42}}) {
    std::erase(survivors, victim);
    const auto kill = c.clock().Now();
    c.Crash(victim);
    REQUIRE(c.RunUntil([&] { return c.AllSee(survivors, {victim}, MemberState::kDead); }, 30s,
                       10ms));
    const auto suspected = c.FirstEvent(victim, MemberEvent::Kind::kSuspected);
    const auto first_dead = c.FirstEvent(victim, MemberEvent::Kind::kDead);
    const auto all_dead = c.LastFirstEvent(survivors, victim, MemberEvent::Kind::kDead);
    REQUIRE(suspected);
    REQUIRE(first_dead);
    REQUIRE(all_dead);
    const std::size_t live = survivors.size() + 1;  // The victim counts until declared dead.
    WARN("kill " << victim << ": first suspect " << Seconds(*suspected - kill) << " s, first dead "
                 << Seconds(*first_dead - kill) << " s, all dead " << Seconds(*all_dead - kill)
                 << " s; suspicion timeout " << Seconds(SuspicionTimeout(4, live, 1s)) << " s");
    // A failed probe raises the suspicion, a probe period after it was sent. Each of
    // the 63 others probes the victim in a given period with chance 1/63 (round-robin
    // over a random permutation), so a period with no probe of it has chance
    // (1 - 1/63)^63 = 0.37; two in a row 0.13 (fixed seeds: deterministic here).
    CHECK(*suspected - kill <= 3s);
    // Nobody declares it dead early, and everybody within one probe period after
    // the first could.
    CHECK(*first_dead - *suspected >= SuspicionTimeout(4, live - 1, 1s));
    CHECK(*all_dead - *suspected <= SuspicionTimeout(4, live, 1s) + 1s);
    CHECK(c.AllAlive(survivors));
  }
}

// Gossip (kMembershipUpdate) from member `from` about `updates`, as a stranger's
// message would arrive; `from` is alive at incarnation 0 at "mem://<id>".
Envelope GossipFrom(std::uint64_t from, std::vector<MembershipUpdate> updates,
                    MessageType type = MessageType::kMembershipUpdate) {
  return MakeMembershipEnvelope(type, PeerId(from), "mem://" + std::to_string(from), 0,
                                std::move(updates));
}

MembershipUpdate U(std::uint64_t id, MemberState state, std::uint64_t incarnation) {
  return MembershipUpdate{PeerId(id), "mem://" + std::to_string(id), state, incarnation};
}

std::vector<MemberEvent::Kind> Kinds(std::vector<MemberEvent> events, std::uint64_t id) {
  std::vector<MemberEvent::Kind> out;
  for (const MemberEvent& e : events) {
    if (e.member.id == PeerId(id)) out.push_back(e.kind);
  }
  return out;
}

TEST_CASE("push-pull merges a remote full state by memberlist's rules", "[net][membership]") {
  using K = MemberEvent::Kind;
  const Clock::TimePoint t0{};
  Membership m(PeerId(1), "mem://1");
  m.Join({}, t0);
  REQUIRE(m.HandleEnvelope(GossipFrom(2, {U(3, MemberState::kAlive, 1), U(4, MemberState::kAlive, 1),
                                          U(5, MemberState::kAlive, 1), U(6, MemberState::kSuspect, 2),
                                          U(7, MemberState::kAlive, 0)}),
                           t0)
              .ok());
  (void)m.TakeEvents();
  (void)m.TakeOutgoing();

  // Member 2 opens a push-pull with its full state.
  REQUIRE(m.HandleEnvelope(GossipFrom(2,
                                      {U(2, MemberState::kAlive, 0),
                                       U(3, MemberState::kDead, 1),   // Equal incarnation.
                                       U(4, MemberState::kDead, 0),   // Stale.
                                       U(5, MemberState::kLeft, 1),
                                       U(6, MemberState::kAlive, 2),  // Does not refute: equal.
                                       U(7, MemberState::kAlive, 3),  // Newer incarnation.
                                       U(8, MemberState::kAlive, 0),  // New to us.
                                       U(9, MemberState::kDead, 0),   // Dead stranger.
                                       U(1, MemberState::kSuspect, 0)},  // Suspects us.
                                      MessageType::kJoin),
                           t0)
              .ok());
  // A remote "dead" is only a suspicion: a stale view cannot kill a live member.
  CHECK(m.member(PeerId(3))->state == MemberState::kSuspect);
  CHECK(m.member(PeerId(3))->incarnation == 1);
  CHECK(m.member(PeerId(4))->state == MemberState::kAlive);
  CHECK(m.member(PeerId(4))->incarnation == 1);
  CHECK(m.member(PeerId(5))->state == MemberState::kLeft);
  CHECK(m.member(PeerId(6))->state == MemberState::kSuspect);
  CHECK(m.member(PeerId(7))->state == MemberState::kAlive);
  CHECK(m.member(PeerId(7))->incarnation == 3);
  CHECK(m.member(PeerId(8))->state == MemberState::kAlive);
  CHECK_FALSE(m.member(PeerId(9)));
  CHECK(m.incarnation() == 1);  // Refuted the suspicion.
  const std::vector<MemberEvent> events = m.TakeEvents();
  CHECK(Kinds(events, 3) == std::vector<K>{K::kSuspected});
  CHECK(Kinds(events, 4).empty());
  CHECK(Kinds(events, 5) == std::vector<K>{K::kLeft});
  CHECK(Kinds(events, 6).empty());
  CHECK(Kinds(events, 7).empty());
  CHECK(Kinds(events, 8) == std::vector<K>{K::kJoined});
  CHECK(Kinds(events, 9).empty());

  // The answer is our full state, and the other side merges it too.
  std::vector<Outgoing> out = m.TakeOutgoing();
  REQUIRE(out.size() == 1);
  CHECK(out[0].to == PeerId(2));
  CHECK(out[0].envelope.type == MessageType::kJoinAck);
  Membership b(PeerId(2), "mem://2");
  b.Join({}, t0);
  REQUIRE(b.HandleEnvelope(out[0].envelope, t0).ok());
  CHECK(b.member(PeerId(1))->incarnation == 1);
  CHECK(b.member(PeerId(3))->state == MemberState::kSuspect);
  CHECK(b.member(PeerId(7))->incarnation == 3);
  CHECK(b.member(PeerId(8))->state == MemberState::kAlive);
  CHECK(b.member(PeerId(5)) == std::nullopt);  // It never knew 5; a departure is no news.
  CHECK(b.live_members().size() == 7);  // Itself, 1, 3, 4, 6, 7 and 8.

  // No refutation from 3 within the suspicion timeout: dead.
  m.Tick(t0 + SuspicionTimeout(4, m.live_members().size(), 1s));
  CHECK(m.member(PeerId(3))->state == MemberState::kDead);
  // Then 3 is heard of alive at a higher incarnation: back.
  REQUIRE(m.HandleEnvelope(GossipFrom(4, {U(3, MemberState::kAlive, 2)}), t0 + 20s).ok());
  CHECK(m.member(PeerId(3))->state == MemberState::kAlive);
}

TEST_CASE("piggybacked death overrides alive at equal incarnation; only a newer one refutes",
          "[net][membership]") {
  using K = MemberEvent::Kind;
  const Clock::TimePoint t0{};
  Membership m(PeerId(1), "mem://1");
  m.Join({}, t0);
  auto apply = [&](MembershipUpdate u) {
    REQUIRE(m.HandleEnvelope(GossipFrom(2, {std::move(u)}), t0).ok());
    return m.member(PeerId(3));
  };
  CHECK(apply(U(3, MemberState::kAlive, 1))->state == MemberState::kAlive);
  CHECK(apply(U(3, MemberState::kDead, 1))->state == MemberState::kDead);  // Not a merge: dead.
  CHECK(apply(U(3, MemberState::kAlive, 1))->state == MemberState::kDead);
  CHECK(apply(U(3, MemberState::kAlive, 2))->state == MemberState::kAlive);
  CHECK(apply(U(3, MemberState::kSuspect, 1))->state == MemberState::kAlive);  // Stale.
  CHECK(apply(U(3, MemberState::kSuspect, 2))->state == MemberState::kSuspect);
  CHECK(apply(U(3, MemberState::kAlive, 2))->state == MemberState::kSuspect);
  const auto back = apply(U(3, MemberState::kAlive, 3));
  CHECK(back->state == MemberState::kAlive);
  CHECK(back->incarnation == 3);
  CHECK(Kinds(m.TakeEvents(), 3) ==
        std::vector<K>{K::kJoined, K::kDead, K::kJoined, K::kSuspected, K::kRecovered});

  // About ourselves: any non-alive news at our incarnation, or a later incarnation of
  // our id, is refuted by a higher incarnation; older news is not.
  REQUIRE(m.HandleEnvelope(GossipFrom(2, {U(1, MemberState::kDead, 0)}), t0).ok());
  CHECK(m.incarnation() == 1);
  REQUIRE(m.HandleEnvelope(GossipFrom(2, {U(1, MemberState::kSuspect, 0)}), t0).ok());
  CHECK(m.incarnation() == 1);
  REQUIRE(m.HandleEnvelope(GossipFrom(2, {U(1, MemberState::kAlive, 5)}), t0).ok());
  CHECK(m.incarnation() == 6);
  CHECK(m.member(PeerId(1))->state == MemberState::kAlive);
  // The refutation is news: it goes out with the next gossip, at once (after the
  // ping that checks 3, which was reported suspect at an older incarnation).
  CHECK(m.NextDeadline() <= t0);
  m.Tick(t0);
  const std::vector<Outgoing> out = m.TakeOutgoing();
  CHECK(std::any_of(out.begin(), out.end(), [](const Outgoing& o) {
    return o.envelope.type == MessageType::kMembershipUpdate;
  }));
  CHECK(std::any_of(out.begin(), out.end(), [](const Outgoing& o) {
    return o.envelope.type == MessageType::kPing && o.to == PeerId(3);
  }));
}

TEST_CASE("a periodic push-pull repairs a view that no gossip reached", "[net][membership]") {
  // No piggybacking, no gossip, probes only once a minute: a member learns of the
  // others only from join answers and push-pulls.
  MembershipOptions o;
  o.max_piggyback = 0;
  o.gossip_interval = 0s;
  o.probe_interval = 60s;
  o.probe_timeout = 30s;
  SECTION("with push-pull every 2 s") {
    o.push_pull_interval = 2s;
    Cluster c(o);
    StartStar(c, 3);  // Node 1 joined before node 2: its join answer lacked 2.
    CHECK_FALSE(c.m(1).member(c.node(2).id));
    REQUIRE(c.RunUntil([&] { return c.AllAlive({0, 1, 2}); }, 2s));
  }
  SECTION("without push-pull") {
    o.push_pull_interval = 0s;
    Cluster c(o);
    StartStar(c, 3);
    c.RunFor(30s);
    CHECK_FALSE(c.m(1).member(c.node(2).id));
    CHECK(c.CountSent({0, 1, 2}, MessageType::kJoin, Clock::TimePoint{} + 1s) == 0);
  }
}

TEST_CASE("a quiet group sends no gossip, and one push-pull per member per interval",
          "[net][membership]") {
  Cluster c;
  StartStar(c, 16);
  REQUIRE(c.RunUntil([&] { return c.AllAlive(Range(0, 16)); }, 10s));
  c.RunFor(10s);  // Every piggyback queue drains.
  const auto since = c.clock().Now() + 1ms;  // After this tick: the window holds 600 ticks.
  c.RunFor(30s);
  const std::vector<std::size_t> all = Range(0, 16);
  CHECK(c.CountSent(all, MessageType::kMembershipUpdate, since) == 0);
  const std::size_t push_pulls = c.CountSent(all, MessageType::kJoin, since);
  CHECK(push_pulls == 3 * 16);  // Every 10 s, each member.
  CHECK(c.CountSent(all, MessageType::kJoinAck, since) == push_pulls);
  for (std::size_t i : all) CHECK_FALSE(c.FirstEvent(i, MemberEvent::Kind::kSuspected));
  CHECK(c.AllAlive(all));
}

}  // namespace
}  // namespace sotto::net
