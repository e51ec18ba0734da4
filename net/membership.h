#pragma once

// Membership: SWIM-style group membership (Das, Gupta, Motivala, DSN 2002) with the
// refinements of HashiCorp memberlist: suspicion before death, incarnation numbers
// and refutation, piggybacked updates, gossip independent of probes, push-pull
// full-state exchange on join and periodically.
// A pure state machine: no sockets, threads or clocks. The caller feeds it time and
// received envelopes and sends what it returns (sans-I/O, like algo/).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/ids.h"
#include "common/random.h"
#include "common/status.h"
#include "net/envelope.h"

namespace sotto::net {

enum class MemberState : std::uint8_t {
  kAlive = 0,
  kSuspect = 1,  // Missed a probe; dead unless it refutes within the suspicion timeout.
  kDead = 2,     // Declared failed. Remembered, and retried now and then (partition heal).
  kLeft = 3,     // Announced a graceful leave.
};
const char* MemberStateName(MemberState state);

// What one node knows about one member (itself included).
struct Member {
  PeerId id;
  std::string endpoint;  // Where its ROUTER listens (a Transport endpoint).
  MemberState state = MemberState::kAlive;
  // Bumped only by the member itself, to refute suspicion; orders conflicting news.
  std::uint64_t incarnation = 0;
  // When we last received a message sent by it (epoch if never directly).
  Clock::TimePoint last_heard{};
  // When `state` last changed (drives suspicion and reaping).
  Clock::TimePoint state_since{};

  friend bool operator==(const Member&, const Member&) = default;
};

// One piece of membership news as it travels on the wire ("id is <state> at
// <incarnation>, reachable at <endpoint>"). Exposed for tests and tools.
struct MembershipUpdate {
  PeerId id;
  std::string endpoint;
  MemberState state = MemberState::kAlive;
  std::uint64_t incarnation = 0;
};

// A change of some member's state, as seen by this node.
struct MemberEvent {
  enum class Kind : std::uint8_t {
    kJoined,     // New member, or a dead/left one that came back.
    kSuspected,  // alive -> suspect.
    kRecovered,  // suspect -> alive (it refuted).
    kDead,       // -> dead.
    kLeft,       // -> left.
  };
  Kind kind;
  Member member;  // The record after the change.
};
const char* MemberEventKindName(MemberEvent::Kind kind);

// An envelope to send, with where to send it. `endpoint` lets the caller connect on
// demand: `transport.Connect(to, endpoint)` (a no-op when already connected), then
// `transport.Send(to, envelope)`. For a seed whose id is not known yet, `to` is
// PeerIdFromEndpoint(endpoint).
struct Outgoing {
  PeerId to;
  std::string endpoint;
  Envelope envelope;
};

// Defaults are memberlist's DefaultLANConfig, except push_pull_interval (scaled down
// for meshes of tens of members, see below).
struct MembershipOptions {
  // One probe every interval (the SWIM protocol period).
  Clock::Duration probe_interval = std::chrono::seconds(1);
  // Wait this long for a direct ack before asking others to probe indirectly.
  // Requires: < probe_interval.
  Clock::Duration probe_timeout = std::chrono::milliseconds(500);
  // How many members are asked to probe indirectly (ping-req fan-out, SWIM's k).
  std::size_t indirect_checks = 3;
  // Suspicion timeout = suspicion_multiplier * max(1, log10(N)) * probe_interval.
  int suspicion_multiplier = 4;
  // Each update is sent retransmit_multiplier * ceil(log10(N + 1)) times (λ), on
  // probes and gossip together; the least-sent, then newest, go first (memberlist's
  // TransmitLimitedQueue).
  int retransmit_multiplier = 4;
  // At most this many updates ride on one message.
  std::size_t max_piggyback = 8;
  // Every gossip_interval, while updates are queued, they are sent to gossip_nodes
  // random alive or suspect members in a membership_update, besides riding on probes
  // (memberlist: 200 ms, 3). News then spreads in about log_(gossip_nodes+1)(N)
  // gossip intervals instead of log_3(N) probe intervals. Zero disables gossip.
  // A tick is only due for gossip while updates are queued: a quiet group sends none.
  Clock::Duration gossip_interval = std::chrono::milliseconds(200);
  std::size_t gossip_nodes = 3;
  // Every push_pull_interval a full-state exchange (join / join_ack, both sides
  // merge) with one random live member repairs whatever gossip missed, e.g. news
  // dropped from the piggyback queue. memberlist's LAN default is 30 s for groups of
  // hundreds; a full state of 64 members is ~3 KB, so 10 s costs little. The first
  // one comes after a random fraction of the interval. Zero disables.
  Clock::Duration push_pull_interval = std::chrono::seconds(10);
  // A suspect or dead report about a member we hold alive at a newer incarnation is
  // conflicting news. SWIM lets the newer incarnation win, so the report changes
  // nothing, but the member may have failed after it refuted: with round-robin
  // probing we would find out only when our turn to probe it comes, up to N probe
  // intervals later (bench/scale at 64: observers that heard a refutation late
  // waited over 60 s). So such a member is probed directly at the next tick, ahead
  // of the round-robin order, at most once per probe_interval, and if it does not
  // answer the usual suspicion runs at the incarnation we hold. At most this many
  // of these probes are outstanding at once (more wait their turn); zero disables.
  std::size_t max_verify_probes = 4;
  // Join retries: first after join_retry_initial, doubling up to join_retry_max.
  Clock::Duration join_retry_initial = std::chrono::seconds(1);
  Clock::Duration join_retry_max = std::chrono::seconds(30);
  // Every reconnect_interval one random dead member is sent a join (push-pull), so
  // two halves of a healed partition find each other again (Serf's reconnect).
  Clock::Duration reconnect_interval = std::chrono::seconds(10);
  // Dead and left records are forgotten after this long (then never retried).
  Clock::Duration reap_after = std::chrono::hours(1);
  // Decoding bounds for membership bodies from peers.
  std::size_t max_updates_per_message = 4096;
  std::size_t max_endpoint_bytes = 256;
  // Seeds the probe order and the choice of indirect probers.
  std::uint64_t rng_seed = 1;
};

// SWIM suspicion timeout: multiplier * max(1, log10(n)) * interval (memberlist's
// suspicionTimeout without Lifeguard's confirmations). n counts live members, self
// included; n <= 1 counts as 1.
Clock::Duration SuspicionTimeout(int multiplier, std::size_t n, Clock::Duration interval);

// How many times an update is piggybacked: multiplier * ceil(log10(n + 1)).
int RetransmitLimit(int multiplier, std::size_t n);

// Returns an envelope of `type` from `sender` (at `sender_endpoint`, `sender_incarnation`)
// that carries `updates` and no probe fields: for kJoin / kJoinAck a full state to
// merge, for kMembershipUpdate gossip. For tests and tools that speak the protocol;
// a Membership builds its own messages.
Envelope MakeMembershipEnvelope(MessageType type, PeerId sender, const std::string& sender_endpoint,
                                std::uint64_t sender_incarnation,
                                std::vector<MembershipUpdate> updates);

// One node's membership.
//
//   Membership m(self_id, advertised_endpoint, options);
//   m.Join(seeds, clock.Now());                      // empty seeds: first node
//   loop:
//     on envelope e of a membership type:  m.HandleEnvelope(e, clock.Now());
//     when clock.Now() >= m.NextDeadline(): m.Tick(clock.Now());
//     after either: send m.TakeOutgoing(); react to m.TakeEvents();
//   m.Leave(clock.Now()); send m.TakeOutgoing(); stop.
//
// Ids: PeerIds, by sotto convention PeerIdFromEndpoint(advertised endpoint) (see
// envelope.h); any unique nonzero 64-bit ids work. Time only moves forward.
// Not thread-safe: the daemon drives it from its event loop only.
class Membership {
 public:
  // Requires: self.value() != 0, endpoint non-empty, options.probe_timeout <
  // options.probe_interval.
  Membership(PeerId self, std::string endpoint, MembershipOptions options = {});

  // Starts the protocol. With seeds (endpoints; our own endpoint is skipped), sends
  // a join to every seed and resends with exponential back-off until one answers.
  // Without seeds, this node is a group of one and is joined at once.
  void Join(const std::vector<std::string>& seed_endpoints, Clock::TimePoint now);

  // Sends one join (a full-state push-pull) to `endpoint`, a member found after Join(),
  // e.g. by LAN discovery (net/discovery.h): how two groups that started apart merge.
  // Not retried like a seed; the finder calls again when it hears of the member again.
  // Ignored before Join(), after Leave(), and for our own endpoint.
  void JoinThrough(const std::string& endpoint, Clock::TimePoint now);

  // Announces a graceful leave to every live member and stops probing. After it,
  // incoming envelopes and ticks are ignored.
  void Leave(Clock::TimePoint now);

  // Whether `type` is handled by HandleEnvelope() (ping .. membership_update).
  static bool IsMembershipMessage(MessageType type);

  // Applies one received membership envelope. Returns kCorrupted for a malformed
  // body and kInvalidArgument for a non-membership type; the state is then unchanged.
  Status HandleEnvelope(const Envelope& envelope, Clock::TimePoint now);

  // Runs due timers: probes (round-robin and verification), indirect probes, gossip,
  // push-pull, suspicion expiry, join retries, reconnects, reaping. Calling it more
  // often than NextDeadline() is harmless.
  void Tick(Clock::TimePoint now);

  // The earliest time Tick() has something to do.
  Clock::TimePoint NextDeadline() const;

  // Removes and returns what to send / what happened since the last call.
  std::vector<Outgoing> TakeOutgoing();
  std::vector<MemberEvent> TakeEvents();

  // Every known member, self included, sorted by id (all states).
  std::vector<Member> members() const;
  // Alive and suspect members, self included, sorted by id: the view the daemon
  // derives its neighbours from (suspects stay until declared dead).
  std::vector<Member> live_members() const;
  // The record of `id`, if known.
  std::optional<Member> member(PeerId id) const;

  PeerId self() const { return self_; }
  std::uint64_t incarnation() const { return incarnation_; }
  // True once a seed answered (or at once without seeds); false after Leave().
  bool joined() const { return joined_ && !left_; }

 private:
  using Update = MembershipUpdate;
  struct Broadcast {
    Update update;
    int transmits = 0;
  };
  struct Probe {
    PeerId target;
    std::uint64_t seq;
    Clock::TimePoint sent;
    bool indirect_sent = false;
  };
  struct Relay {  // A ping we send on behalf of another member's ping-req.
    PeerId requester;
    std::string requester_endpoint;
    std::uint64_t requester_seq;
    Clock::TimePoint expires;
  };

  std::size_t LiveCount() const;
  // `merge`: the update comes from a full-state exchange (join, join_ack), where
  // "dead" is taken as "suspect" so a stale view cannot kill a live member outright
  // (memberlist's mergeState).
  void ApplyUpdate(const Update& u, Clock::TimePoint now, bool merge);
  void Refute(std::uint64_t heard_incarnation);
  void SetState(Member& m, MemberState state, std::uint64_t incarnation, Clock::TimePoint now);
  void QueueBroadcast(const Update& u);
  std::vector<Update> TakePiggyback();
  std::vector<Update> FullState() const;
  Update SelfUpdate() const;
  void Send(PeerId to, const std::string& endpoint, MessageType type, std::uint64_t seq,
            PeerId target, const std::string& target_endpoint, std::vector<Update> updates);
  void StartProbe(Clock::TimePoint now);
  void FinishProbe(Clock::TimePoint now);
  // Asks a few alive members (ping-req) to probe `p.target` for us; marks it sent.
  void SendIndirect(Probe& p);
  // A probe of `target` went unanswered: suspect it, if still alive.
  void SuspectUnanswered(PeerId target, Clock::TimePoint now);
  // Queues a verification probe of `m` (see MembershipOptions::max_verify_probes)
  // unless one is queued, running, or ran within the last probe interval.
  void RequestVerify(const Member& m, Clock::TimePoint now);
  // Sends queued verification probes, up to the limit.
  void StartVerifies(Clock::TimePoint now);
  // Times out running verification probes and starts queued ones.
  void TickVerifies(Clock::TimePoint now);
  void SendJoins(Clock::TimePoint now);
  void SetJoined(Clock::TimePoint now);
  // Whether gossip is on, news is queued and someone is there to hear it.
  bool GossipDue() const;
  void Gossip();
  void PushPull();
  // Up to k random members other than self and `exclude`, in random order: alive
  // ones, plus suspect ones when `with_suspects` (gossip reaches a suspect so it can
  // refute; probe helpers must be healthy).
  std::vector<PeerId> RandomMembers(std::size_t k, PeerId exclude, bool with_suspects);

  const PeerId self_;
  const std::string endpoint_;
  const MembershipOptions options_;
  Rng rng_;

  std::uint64_t incarnation_ = 0;
  bool started_ = false;
  bool joined_ = false;
  bool left_ = false;
  std::unordered_map<PeerId, Member> members_;  // Includes self.

  std::vector<std::string> seeds_;
  Clock::Duration join_backoff_{};
  Clock::TimePoint next_join_{};

  Clock::TimePoint next_probe_{};
  std::vector<PeerId> probe_order_;
  std::size_t probe_index_ = 0;
  std::optional<Probe> probe_;
  std::uint64_t next_seq_ = 1;
  std::unordered_map<std::uint64_t, Relay> relays_;  // By the seq of our relayed ping.
  // Verification probes (conflicting news, see max_verify_probes): queued with the
  // time they were asked for, running, and when each member was last verified.
  std::vector<std::pair<PeerId, Clock::TimePoint>> verify_queue_;
  std::vector<Probe> verifies_;
  std::unordered_map<PeerId, Clock::TimePoint> last_verify_;

  Clock::TimePoint next_gossip_{};
  Clock::TimePoint next_push_pull_{};
  Clock::TimePoint next_reconnect_{};
  std::vector<Broadcast> broadcasts_;
  std::vector<Outgoing> outgoing_;
  std::vector<MemberEvent> events_;
};

}  // namespace sotto::net
