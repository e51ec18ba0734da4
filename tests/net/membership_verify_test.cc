// SWIM membership, one observer at a time: conflicting news about a member (a
// suspicion or death at an older incarnation than the observer holds) and the
// events every state change must produce. The observer is a real Membership; its
// peers are Memberships that only answer (no ticks, no piggyback), so what the
// observer knows comes from what the test injects. No network, explicit time.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "common/random.h"
#include "net/membership.h"

namespace sotto::net {
namespace {

using namespace std::chrono_literals;
using K = MemberEvent::Kind;

std::string Endpoint(std::uint64_t id) { return "mem://" + std::to_string(id); }

MembershipUpdate U(std::uint64_t id, MemberState state, std::uint64_t incarnation) {
  return MembershipUpdate{PeerId(id), Endpoint(id), state, incarnation};
}

// `type` from member `from` (alive at incarnation 0) carrying `updates`.
Envelope From(std::uint64_t from, std::vector<MembershipUpdate> updates,
              MessageType type = MessageType::kMembershipUpdate) {
  return MakeMembershipEnvelope(type, PeerId(from), Endpoint(from), 0, std::move(updates));
}

struct TimedEvent {
  Clock::TimePoint at;
  MemberEvent event;
};

// Observer 1 and answering peers 2..n. Messages between them are delivered at once;
// a peer that is down drops everything sent to it.
class Star {
 public:
  explicit Star(std::uint64_t n) {
    observer_ = std::make_unique<Membership>(PeerId(1), Endpoint(1));
    observer_->Join({}, now_);
    MembershipOptions quiet;  // Peers answer pings and ping-reqs and say nothing else.
    quiet.max_piggyback = 0;
    quiet.gossip_interval = 0s;
    quiet.push_pull_interval = 0s;
    for (std::uint64_t id = 2; id <= n; ++id) {
      auto peer = std::make_unique<Membership>(PeerId(id), Endpoint(id), quiet);
      peer->Join({}, now_);
      peers_.emplace(id, std::move(peer));
    }
    // Peer 2 pushes a full state of everyone alive at incarnation 0.
    std::vector<MembershipUpdate> all;
    for (std::uint64_t id = 2; id <= n; ++id) all.push_back(U(id, MemberState::kAlive, 0));
    Inject(From(2, all, MessageType::kJoin));
  }

  // Delivers `e` to the observer now, and whatever follows from it.
  void Inject(const Envelope& e) {
    REQUIRE(observer_->HandleEnvelope(e, now_).ok());
    Deliver();
  }

  void Step(Clock::Duration dt) {
    now_ += dt;
    observer_->Tick(now_);
    Deliver();
  }

  bool RunUntil(const std::function<bool()>& pred, Clock::Duration limit,
                Clock::Duration step = 10ms) {
    const Clock::TimePoint end = now_ + limit;
    while (!pred()) {
      if (now_ >= end) return false;
      Step(step);
    }
    return true;
  }

  void SetDown(std::uint64_t id) { down_.insert(id); }

  MemberState StateOf(std::uint64_t id) const { return observer_->member(PeerId(id))->state; }

  // Pings the observer sent to `id` at or after `since`.
  std::size_t PingsTo(std::uint64_t id, Clock::TimePoint since) const {
    return static_cast<std::size_t>(std::count_if(
        pings_.begin(), pings_.end(),
        [&](const auto& p) { return p.first == PeerId(id) && p.second >= since; }));
  }

  // The observer's events about `id` at or after `since`.
  std::vector<TimedEvent> EventsAbout(std::uint64_t id, Clock::TimePoint since) const {
    std::vector<TimedEvent> out;
    for (const TimedEvent& e : events_) {
      if (e.event.member.id == PeerId(id) && e.at >= since) out.push_back(e);
    }
    return out;
  }

  Membership& observer() { return *observer_; }
  Clock::TimePoint now() const { return now_; }

 private:
  void Deliver() {
    for (;;) {
      bool any = false;
      for (Outgoing& out : observer_->TakeOutgoing()) {
        any = true;
        if (out.envelope.type == MessageType::kPing) pings_.emplace_back(out.to, now_);
        ToPeer(out);
      }
      for (MemberEvent& e : observer_->TakeEvents()) events_.push_back({now_, std::move(e)});
      for (auto& [id, peer] : peers_) {
        (void)peer->TakeEvents();
        for (Outgoing& out : peer->TakeOutgoing()) {
          any = true;
          if (down_.count(id) != 0) continue;  // A crashed member sends nothing.
          if (out.to == PeerId(1)) {
            REQUIRE(observer_->HandleEnvelope(out.envelope, now_).ok());
          } else {
            ToPeer(out);  // A helper's relayed ping, or its answer.
          }
        }
      }
      if (!any) return;
    }
  }

  void ToPeer(const Outgoing& out) {
    auto it = peers_.find(out.to.value());
    if (it == peers_.end() || down_.count(out.to.value()) != 0) return;
    REQUIRE(it->second->HandleEnvelope(out.envelope, now_).ok());
  }

  Clock::TimePoint now_{};
  std::unique_ptr<Membership> observer_;
  std::map<std::uint64_t, std::unique_ptr<Membership>> peers_;
  std::set<std::uint64_t> down_;
  std::vector<std::pair<PeerId, Clock::TimePoint>> pings_;
  std::vector<TimedEvent> events_;
};

// bench/scale at 64: the victim was falsely suspected under load and refuted; the
// refutation reached this observer late, after the others had already moved on. Then
// the victim is killed, the others declare it dead at the old incarnation, and the
// observer must not wait for its round-robin probe (up to 63 probe periods) to
// find out.
TEST_CASE("a member held alive at a newer incarnation is checked at once on older news "
          "of its failure, in a 64-member table",
          "[net][membership]") {
  constexpr std::uint64_t kN = 64;
  constexpr std::uint64_t kVictim = 40;
  Star star(kN);
  REQUIRE(star.observer().live_members().size() == kN);
  star.Step(5s);
  // Just after the observer's round-robin probe of the victim: its next one is as
  // far away as the permutation allows.
  REQUIRE(star.RunUntil([&] { return star.PingsTo(kVictim, Clock::TimePoint{}) > 0; }, 70s));
  star.Step(1s);
  // Suspected at 0, refuted at 1.
  star.Inject(From(3, {U(kVictim, MemberState::kSuspect, 0)}));
  REQUIRE(star.StateOf(kVictim) == MemberState::kSuspect);
  star.Inject(From(4, {U(kVictim, MemberState::kAlive, 1)}));
  REQUIRE(star.StateOf(kVictim) == MemberState::kAlive);
  star.Step(1s);
  star.SetDown(kVictim);
  star.Step(100ms);

  const Clock::TimePoint claim = star.now();
  SECTION("dead at the older incarnation, gossiped") {
    star.Inject(From(5, {U(kVictim, MemberState::kDead, 0)}));
  }
  SECTION("suspect at the older incarnation, gossiped") {
    star.Inject(From(5, {U(kVictim, MemberState::kSuspect, 0)}));
  }
  SECTION("dead at the older incarnation, in a push-pull full state") {
    std::vector<MembershipUpdate> state;
    for (std::uint64_t id = 2; id <= kN; ++id) {
      state.push_back(U(id, id == kVictim ? MemberState::kDead : MemberState::kAlive, 0));
    }
    star.Inject(From(5, state, MessageType::kJoin));
  }
  // SWIM: older news does not override; the observer checks for itself.
  const Member held = *star.observer().member(PeerId(kVictim));
  CHECK(held.state == MemberState::kAlive);
  CHECK(held.incarnation >= 1);  // 2 if the victim heard of its 1 and refuted it.
  CHECK(star.observer().NextDeadline() <= claim);  // The daemon ticks at once.
  star.Step(10ms);
  CHECK(star.PingsTo(kVictim, claim) == 1);

  REQUIRE(star.RunUntil([&] { return star.StateOf(kVictim) == MemberState::kDead; }, 90s));
  const MembershipOptions o;
  const Clock::Duration bound =
      o.probe_timeout + SuspicionTimeout(o.suspicion_multiplier, kN, o.probe_interval) +
      2 * o.probe_interval;
  const Clock::Duration took = star.now() - claim;
  INFO("dead " << std::chrono::duration<double>(took).count() << " s after the older news");
  CHECK(took <= bound);
  // Through its own suspicion at the incarnation it holds, each step reported.
  const std::vector<TimedEvent> events = star.EventsAbout(kVictim, claim);
  REQUIRE(events.size() == 2);
  CHECK(events[0].event.kind == K::kSuspected);
  CHECK(events[0].event.member.incarnation == held.incarnation);
  CHECK(events[0].at - claim <= o.probe_interval + 20ms);
  CHECK(events[1].event.kind == K::kDead);
  CHECK(events[1].event.member.incarnation == held.incarnation);
  CHECK(star.observer().live_members().size() == kN - 1);
}

TEST_CASE("older news about a live member costs one check per probe interval and changes "
          "nothing",
          "[net][membership]") {
  constexpr std::uint64_t kN = 64;
  constexpr std::uint64_t kMember = 17;
  Star star(kN);
  star.Inject(From(3, {U(kMember, MemberState::kAlive, 2)}));
  star.Step(2s);
  const Clock::TimePoint start = star.now();
  // The stale claim keeps arriving, from different members, every 100 ms for 3 s.
  for (int i = 0; i < 30; ++i) {
    star.Inject(From(4 + static_cast<std::uint64_t>(i % 5),
                     {U(kMember, i % 2 == 0 ? MemberState::kSuspect : MemberState::kDead, 1)}));
    star.Step(100ms);
  }
  // One check per probe interval (3), plus at most one round-robin probe.
  const std::size_t pings = star.PingsTo(kMember, start);
  CHECK(pings >= 3);
  CHECK(pings <= 4);
  star.Step(5s);
  CHECK(star.StateOf(kMember) == MemberState::kAlive);
  // 3 once it heard of its injected 2 on our pings and refuted it.
  CHECK(star.observer().member(PeerId(kMember))->incarnation >= 2);
  CHECK(star.EventsAbout(kMember, start).empty());
  CHECK(star.observer().live_members().size() == kN);
}

TEST_CASE("a stale full state contradicting many members checks a few at a time, all in turn",
          "[net][membership]") {
  constexpr std::uint64_t kN = 64;
  const std::vector<std::uint64_t> gone{10, 11, 12, 13, 14, 15, 16, 17, 18, 19};
  Star star(kN);
  star.Step(100ms);
  for (std::uint64_t id : gone) star.Inject(From(3, {U(id, MemberState::kAlive, 1)}));
  for (std::uint64_t id : gone) star.SetDown(id);
  const Clock::TimePoint claim = star.now();
  std::vector<MembershipUpdate> stale;
  for (std::uint64_t id = 2; id <= kN; ++id) stale.push_back(U(id, MemberState::kAlive, 0));
  for (std::uint64_t id : gone) stale[id - 2].state = MemberState::kDead;
  star.Inject(From(5, stale, MessageType::kJoin));
  auto pings = [&] {
    std::size_t n = 0;
    for (std::uint64_t id : gone) n += star.PingsTo(id, claim);
    return n;
  };
  const std::size_t limit = MembershipOptions{}.max_verify_probes;
  star.Step(10ms);
  CHECK(pings() >= limit);
  CHECK(pings() <= limit + 1);  // Plus, by chance, the round-robin probe.
  star.Step(900ms);  // Unanswered, so the limit holds the rest back.
  CHECK(pings() <= limit + 1);
  // Every probe interval the next few: all suspected within three, then dead.
  REQUIRE(star.RunUntil(
      [&] {
        return std::all_of(gone.begin(), gone.end(), [&](std::uint64_t id) {
          return star.StateOf(id) == MemberState::kSuspect;
        });
      },
      3s + 50ms));
  REQUIRE(star.RunUntil(
      [&] {
        return std::all_of(gone.begin(), gone.end(), [&](std::uint64_t id) {
          return star.StateOf(id) == MemberState::kDead;
        });
      },
      SuspicionTimeout(4, kN, 1s)));
  CHECK(star.observer().live_members().size() == kN - gone.size());
}

TEST_CASE("news at the incarnation held, or about a member already suspected, needs no check",
          "[net][membership]") {
  Star star(8);
  star.Step(100ms);  // Lets the first round-robin probe go out and be answered.
  const Clock::TimePoint start = star.now();
  // Equal incarnation: applied as is (the normal path), no extra ping.
  star.Inject(From(3, {U(5, MemberState::kSuspect, 0)}));
  CHECK(star.StateOf(5) == MemberState::kSuspect);
  // Suspected at 1 while older death news comes in: the suspicion timer is running.
  star.Inject(From(3, {U(6, MemberState::kSuspect, 1)}));
  star.Inject(From(4, {U(6, MemberState::kDead, 0)}));
  CHECK(star.StateOf(6) == MemberState::kSuspect);
  star.Step(10ms);
  star.Step(10ms);
  CHECK(star.PingsTo(5, start) == 0);
  CHECK(star.PingsTo(6, start) == 0);
}

// (b): a member table must never change without the event the daemon logs. Checked
// against a shadow table built only from events, after every message and tick.
MemberState StateAfter(const MemberEvent& e) {
  switch (e.kind) {
    case K::kJoined: return e.member.state;  // A stranger can arrive as a suspect.
    case K::kSuspected: return MemberState::kSuspect;
    case K::kRecovered: return MemberState::kAlive;
    case K::kDead: return MemberState::kDead;
    case K::kLeft: return MemberState::kLeft;
  }
  return MemberState::kAlive;
}

TEST_CASE("every state change, by gossip, push-pull merge or timer, is reported as an event",
          "[net][membership]") {
  using S = MemberState;
  SECTION("push-pull merges, one transition at a time") {
    Membership m(PeerId(1), Endpoint(1));
    const Clock::TimePoint t0{};
    m.Join({}, t0);
    auto merge = [&](std::vector<MembershipUpdate> state, Clock::TimePoint at,
                     MessageType type = MessageType::kJoin) {
      REQUIRE(m.HandleEnvelope(From(2, std::move(state), type), at).ok());
      std::vector<K> kinds;
      for (const MemberEvent& e : m.TakeEvents()) {
        if (e.member.id == PeerId(3)) kinds.push_back(e.kind);
      }
      return kinds;
    };
    CHECK(merge({U(3, S::kAlive, 0)}, t0) == std::vector<K>{K::kJoined});
    CHECK(merge({U(3, S::kDead, 0)}, t0) == std::vector<K>{K::kSuspected});  // Dead as suspect.
    CHECK(merge({U(3, S::kAlive, 1)}, t0, MessageType::kJoinAck) ==
          std::vector<K>{K::kRecovered});
    CHECK(merge({U(3, S::kSuspect, 1)}, t0) == std::vector<K>{K::kSuspected});
    // Its suspicion expires on our timer: dead, reported.
    const Clock::TimePoint later = t0 + SuspicionTimeout(4, m.live_members().size(), 1s);
    m.Tick(later);
    std::vector<MemberEvent> timer = m.TakeEvents();
    REQUIRE(timer.size() == 1);
    CHECK(timer[0].kind == K::kDead);
    CHECK(merge({U(3, S::kAlive, 2)}, later) == std::vector<K>{K::kJoined});  // Back.
    CHECK(merge({U(3, S::kLeft, 2)}, later, MessageType::kJoinAck) == std::vector<K>{K::kLeft});
    CHECK(merge({U(3, S::kDead, 5)}, later).empty());  // Left stays left.
    CHECK(m.member(PeerId(3))->state == S::kLeft);
  }
  SECTION("random news from several members") {
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
      Rng rng(seed);
      Membership m(PeerId(1), Endpoint(1));
      Clock::TimePoint now{};
      m.Join({}, now);
      std::map<PeerId, MemberState> shadow;
      auto check = [&] {
        for (const MemberEvent& e : m.TakeEvents()) {
          REQUIRE(e.member.state == StateAfter(e));
          shadow[e.member.id] = StateAfter(e);
        }
        (void)m.TakeOutgoing();
        for (const Member& member : m.members()) {
          if (member.id == m.self()) continue;
          INFO("seed " << seed << ", member " << member.id.value());
          REQUIRE(shadow.count(member.id) == 1);
          REQUIRE(shadow[member.id] == member.state);
        }
      };
      const MessageType types[] = {MessageType::kMembershipUpdate, MessageType::kJoin,
                                   MessageType::kJoinAck, MessageType::kPing,
                                   MessageType::kLeave};
      for (int step = 0; step < 400; ++step) {
        std::vector<MembershipUpdate> updates;
        const std::size_t count = 1 + rng.UniformInt(4);
        for (std::size_t i = 0; i < count; ++i) {
          updates.push_back(U(2 + rng.UniformInt(6), static_cast<S>(rng.UniformInt(4)),
                              rng.UniformInt(4)));
        }
        REQUIRE(m.HandleEnvelope(From(2 + rng.UniformInt(6), updates, types[rng.UniformInt(5)]),
                                 now)
                    .ok());
        check();
        now += std::chrono::milliseconds(static_cast<std::int64_t>(rng.UniformInt(1500)));
        m.Tick(now);
        check();
      }
    }
  }
}

}  // namespace
}  // namespace sotto::net
