#include "net/membership.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <utility>

#include <msgpack.hpp>

namespace sotto::net {
namespace {

// Body of every membership envelope, a msgpack array:
//   [seq, target, target_endpoint, sender_endpoint, sender_incarnation, updates]
// updates = array of [id, endpoint, state, incarnation].
// seq matches acks to pings; target is the probed member (ping, ping_req, ack);
// the sender's own endpoint and incarnation make every message evidence that the
// sender is alive and tell the receiver where to answer.
struct Body {
  std::uint64_t seq = 0;
  PeerId target;
  std::string target_endpoint;
  std::string sender_endpoint;
  std::uint64_t sender_incarnation = 0;
  std::vector<MembershipUpdate> updates;
};

constexpr std::uint32_t kBodyFields = 6;
constexpr std::uint32_t kUpdateFields = 4;

std::vector<std::uint8_t> EncodeBody(const Body& b) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> p(buffer);
  auto pack_str = [&p](const std::string& s) {
    p.pack_str(static_cast<std::uint32_t>(s.size()));
    p.pack_str_body(s.data(), static_cast<std::uint32_t>(s.size()));
  };
  p.pack_array(kBodyFields);
  p.pack_uint64(b.seq);
  p.pack_uint64(b.target.value());
  pack_str(b.target_endpoint);
  pack_str(b.sender_endpoint);
  p.pack_uint64(b.sender_incarnation);
  p.pack_array(static_cast<std::uint32_t>(b.updates.size()));
  for (const MembershipUpdate& u : b.updates) {
    p.pack_array(kUpdateFields);
    p.pack_uint64(u.id.value());
    pack_str(u.endpoint);
    p.pack_uint8(static_cast<std::uint8_t>(u.state));
    p.pack_uint64(u.incarnation);
  }
  const auto* data = reinterpret_cast<const std::uint8_t*>(buffer.data());
  return {data, data + buffer.size()};
}

Result<std::uint64_t> Uint(const msgpack::object& o, const char* what) {
  if (o.type != msgpack::type::POSITIVE_INTEGER) {
    return Corrupted(std::string("membership body: ") + what + " is not a uint");
  }
  return o.via.u64;
}

Result<std::string> Str(const msgpack::object& o, const char* what, std::size_t max) {
  if (o.type != msgpack::type::STR) {
    return Corrupted(std::string("membership body: ") + what + " is not a str");
  }
  if (o.via.str.size > max) {
    return Corrupted(std::string("membership body: ") + what + " has " +
                     std::to_string(o.via.str.size) + " bytes, limit " + std::to_string(max));
  }
  return std::string(o.via.str.ptr, o.via.str.size);
}

Result<Body> DecodeBody(std::span<const std::uint8_t> bytes, std::size_t max_updates,
                        std::size_t max_endpoint) {
  // Bounds every allocation before msgpack-c makes it (see DecodeEnvelope).
  const msgpack::unpack_limit limits(/*array=*/std::max<std::size_t>(max_updates, kBodyFields),
                                     /*map=*/0, /*str=*/max_endpoint, /*bin=*/0, /*ext=*/0,
                                     /*depth_limit=*/3);
  msgpack::object_handle handle;
  std::size_t offset = 0;
  try {
    handle = msgpack::unpack(reinterpret_cast<const char*>(bytes.data()), bytes.size(), offset,
                             nullptr, nullptr, limits);
  } catch (const msgpack::insufficient_bytes&) {
    return Corrupted("membership body is truncated");
  } catch (const std::exception& e) {
    return Corrupted(std::string("membership body is not valid msgpack: ") + e.what());
  }
  if (offset != bytes.size()) {
    return Corrupted("membership body has " + std::to_string(bytes.size() - offset) +
                     " trailing bytes");
  }
  const msgpack::object& root = handle.get();
  if (root.type != msgpack::type::ARRAY || root.via.array.size != kBodyFields) {
    return Corrupted("membership body is not an array of 6 fields");
  }
  const msgpack::object* f = root.via.array.ptr;
  Body b;
  SOTTO_ASSIGN_OR_RETURN(b.seq, Uint(f[0], "seq"));
  SOTTO_ASSIGN_OR_RETURN(const std::uint64_t target, Uint(f[1], "target"));
  b.target = PeerId(target);
  SOTTO_ASSIGN_OR_RETURN(b.target_endpoint, Str(f[2], "target endpoint", max_endpoint));
  SOTTO_ASSIGN_OR_RETURN(b.sender_endpoint, Str(f[3], "sender endpoint", max_endpoint));
  if (b.sender_endpoint.empty()) return Corrupted("membership body: sender endpoint is empty");
  SOTTO_ASSIGN_OR_RETURN(b.sender_incarnation, Uint(f[4], "sender incarnation"));
  if (f[5].type != msgpack::type::ARRAY) return Corrupted("membership body: updates is not an array");
  if (f[5].via.array.size > max_updates) {
    return Corrupted("membership body has " + std::to_string(f[5].via.array.size) +
                     " updates, limit " + std::to_string(max_updates));
  }
  b.updates.reserve(f[5].via.array.size);
  for (std::uint32_t i = 0; i < f[5].via.array.size; ++i) {
    const msgpack::object& o = f[5].via.array.ptr[i];
    if (o.type != msgpack::type::ARRAY || o.via.array.size != kUpdateFields) {
      return Corrupted("membership body: update " + std::to_string(i) +
                       " is not an array of 4 fields");
    }
    const msgpack::object* g = o.via.array.ptr;
    MembershipUpdate u;
    SOTTO_ASSIGN_OR_RETURN(const std::uint64_t id, Uint(g[0], "update id"));
    if (id == 0) return Corrupted("membership body: update " + std::to_string(i) + " has id 0");
    u.id = PeerId(id);
    SOTTO_ASSIGN_OR_RETURN(u.endpoint, Str(g[1], "update endpoint", max_endpoint));
    SOTTO_ASSIGN_OR_RETURN(const std::uint64_t state, Uint(g[2], "update state"));
    if (state > static_cast<std::uint64_t>(MemberState::kLeft)) {
      return Corrupted("membership body: update " + std::to_string(i) + " has unknown state " +
                       std::to_string(state));
    }
    u.state = static_cast<MemberState>(state);
    SOTTO_ASSIGN_OR_RETURN(u.incarnation, Uint(g[3], "update incarnation"));
    b.updates.push_back(std::move(u));
  }
  return b;
}

bool IsLive(MemberState s) { return s == MemberState::kAlive || s == MemberState::kSuspect; }

Envelope BodyEnvelope(MessageType type, PeerId sender, const Body& body) {
  Envelope envelope;
  envelope.type = type;
  envelope.sender = sender;
  envelope.body = EncodeBody(body);
  return envelope;
}

}  // namespace

Envelope MakeMembershipEnvelope(MessageType type, PeerId sender, const std::string& sender_endpoint,
                                std::uint64_t sender_incarnation,
                                std::vector<MembershipUpdate> updates) {
  Body body;
  body.sender_endpoint = sender_endpoint;
  body.sender_incarnation = sender_incarnation;
  body.updates = std::move(updates);
  return BodyEnvelope(type, sender, body);
}

const char* MemberStateName(MemberState state) {
  switch (state) {
    case MemberState::kAlive: return "alive";
    case MemberState::kSuspect: return "suspect";
    case MemberState::kDead: return "dead";
    case MemberState::kLeft: return "left";
  }
  return "unknown";
}

const char* MemberEventKindName(MemberEvent::Kind kind) {
  switch (kind) {
    case MemberEvent::Kind::kJoined: return "joined";
    case MemberEvent::Kind::kSuspected: return "suspected";
    case MemberEvent::Kind::kRecovered: return "recovered";
    case MemberEvent::Kind::kDead: return "dead";
    case MemberEvent::Kind::kLeft: return "left";
  }
  return "unknown";
}

Clock::Duration SuspicionTimeout(int multiplier, std::size_t n, Clock::Duration interval) {
  const double scale = std::max(1.0, std::log10(static_cast<double>(std::max<std::size_t>(n, 1))));
  return std::chrono::duration_cast<Clock::Duration>(multiplier * scale * interval);
}

int RetransmitLimit(int multiplier, std::size_t n) {
  return multiplier * static_cast<int>(std::ceil(std::log10(static_cast<double>(n) + 1.0)));
}

Membership::Membership(PeerId self, std::string endpoint, MembershipOptions options)
    : self_(self),
      endpoint_(std::move(endpoint)),
      options_(std::move(options)),
      rng_(options_.rng_seed, self.value()) {
  SOTTO_CHECK(self_.value() != 0) << "Membership: self id is 0";
  SOTTO_CHECK(!endpoint_.empty()) << "Membership: empty endpoint";
  SOTTO_CHECK(options_.probe_timeout < options_.probe_interval)
      << "Membership: probe_timeout must be shorter than probe_interval";
}

bool Membership::IsMembershipMessage(MessageType type) {
  const auto t = static_cast<std::uint8_t>(type);
  return t >= static_cast<std::uint8_t>(MessageType::kPing) &&
         t <= static_cast<std::uint8_t>(MessageType::kMembershipUpdate);
}

void Membership::Join(const std::vector<std::string>& seed_endpoints, Clock::TimePoint now) {
  if (started_) return;
  started_ = true;
  members_[self_] = Member{self_, endpoint_, MemberState::kAlive, incarnation_, now, now};
  for (const std::string& seed : seed_endpoints) {
    if (seed != endpoint_ && std::find(seeds_.begin(), seeds_.end(), seed) == seeds_.end()) {
      seeds_.push_back(seed);
    }
  }
  next_probe_ = now + options_.probe_interval;
  next_reconnect_ = now + options_.reconnect_interval;
  next_gossip_ = now;
  if (seeds_.empty()) {
    SetJoined(now);
    return;
  }
  SendJoins(now);
  join_backoff_ = options_.join_retry_initial;
  next_join_ = now + join_backoff_;
}

void Membership::JoinThrough(const std::string& endpoint, Clock::TimePoint now) {
  (void)now;
  if (!started_ || left_ || endpoint.empty() || endpoint == endpoint_) return;
  Send(PeerIdFromEndpoint(endpoint), endpoint, MessageType::kJoin, 0, PeerId(), "", FullState());
}

void Membership::Leave(Clock::TimePoint now) {
  if (!started_ || left_) return;
  Member& me = members_[self_];
  me.state = MemberState::kLeft;
  me.state_since = now;
  const Update update{self_, endpoint_, MemberState::kLeft, incarnation_};
  // Tell every live member directly rather than waiting for gossip: we stop
  // talking right after this.
  for (const auto& [id, m] : members_) {
    if (id == self_ || !IsLive(m.state)) continue;
    Send(id, m.endpoint, MessageType::kLeave, 0, PeerId(), "", {update});
  }
  left_ = true;
  probe_.reset();
  relays_.clear();
  verify_queue_.clear();
  verifies_.clear();
}

Status Membership::HandleEnvelope(const Envelope& envelope, Clock::TimePoint now) {
  if (!IsMembershipMessage(envelope.type)) {
    return InvalidArgument(std::string("membership: envelope type ") +
                           MessageTypeName(envelope.type) + " is not a membership message");
  }
  SOTTO_ASSIGN_OR_RETURN(
      Body body, DecodeBody(envelope.body, options_.max_updates_per_message,
                            options_.max_endpoint_bytes));
  const PeerId from = envelope.sender;
  if (from.value() == 0) return Corrupted("membership: sender id is 0");
  if (!started_ || left_ || from == self_) return Status();

  // Full-state exchanges (join, join_ack) merge; piggybacked news applies as is.
  const bool merge = envelope.type == MessageType::kJoin || envelope.type == MessageType::kJoinAck;
  if (envelope.type != MessageType::kLeave) {
    // Any message is direct evidence that its sender is alive at its incarnation.
    ApplyUpdate(Update{from, body.sender_endpoint, MemberState::kAlive, body.sender_incarnation},
                now, /*merge=*/false);
  }
  for (const Update& u : body.updates) ApplyUpdate(u, now, merge);

  auto it = members_.find(from);
  if (it != members_.end()) {
    it->second.last_heard = now;
    // It talks to us but our record says it is failing: make sure the record rides
    // on our next messages (this reply included), so it hears it and refutes.
    if (it->second.state == MemberState::kSuspect || it->second.state == MemberState::kDead) {
      QueueBroadcast(Update{from, it->second.endpoint, it->second.state,
                            it->second.incarnation});
    }
  }

  switch (envelope.type) {
    case MessageType::kPing:
      Send(from, body.sender_endpoint, MessageType::kAck, body.seq, self_, "", {});
      break;
    case MessageType::kPingReq: {
      if (body.target == self_ || body.target.value() == 0 || body.target_endpoint.empty()) {
        break;
      }
      const std::uint64_t seq = next_seq_++;
      relays_[seq] = Relay{from, body.sender_endpoint, body.seq, now + options_.probe_interval};
      Send(body.target, body.target_endpoint, MessageType::kPing, seq, body.target, "", {});
      break;
    }
    case MessageType::kAck: {
      if (probe_ && probe_->seq == body.seq && probe_->target == body.target) {
        probe_.reset();  // Probe succeeded (directly or through a relay).
        break;
      }
      const auto verify = std::find_if(verifies_.begin(), verifies_.end(), [&](const Probe& p) {
        return p.seq == body.seq && p.target == body.target;
      });
      if (verify != verifies_.end()) {
        verifies_.erase(verify);
        break;
      }
      auto relay = relays_.find(body.seq);
      if (relay != relays_.end()) {
        const Relay r = relay->second;
        relays_.erase(relay);
        Send(r.requester, r.requester_endpoint, MessageType::kAck, r.requester_seq, body.target,
             "", {});
      }
      break;
    }
    case MessageType::kJoin:
      Send(from, body.sender_endpoint, MessageType::kJoinAck, 0, PeerId(), "", FullState());
      break;
    case MessageType::kJoinAck:
      if (!joined_) SetJoined(now);
      break;
    case MessageType::kLeave:
    case MessageType::kMembershipUpdate:
    default:
      break;
  }
  return Status();
}

void Membership::ApplyUpdate(const Update& u, Clock::TimePoint now, bool merge) {
  if (u.id.value() == 0) return;
  if (u.id == self_) {
    if (left_) return;
    // Someone thinks we are failing (or knows a later incarnation of our id, e.g.
    // from before a restart): refute with a higher incarnation (SWIM §4.2).
    if ((u.state != MemberState::kAlive && u.incarnation >= incarnation_) ||
        u.incarnation > incarnation_) {
      Refute(u.incarnation);
    }
    return;
  }
  MemberState state = u.state;
  if (merge && state == MemberState::kDead) state = MemberState::kSuspect;

  auto it = members_.find(u.id);
  if (it == members_.end()) {
    // News of death or departure about a stranger is of no use to us (also when a
    // merge turned "dead" into "suspect").
    if (!IsLive(u.state)) return;
    Member m{u.id, u.endpoint, state, u.incarnation, Clock::TimePoint{}, now};
    members_.emplace(u.id, m);
    events_.push_back(MemberEvent{MemberEvent::Kind::kJoined, m});
    QueueBroadcast(Update{u.id, u.endpoint, state, u.incarnation});
    return;
  }
  Member& m = it->second;
  switch (state) {
    case MemberState::kAlive:
      if (u.incarnation <= m.incarnation) return;
      m.endpoint = u.endpoint;
      SetState(m, MemberState::kAlive, u.incarnation, now);
      break;
    case MemberState::kSuspect:
      // Older news of failure (a merge's "dead" included) loses to our newer
      // incarnation, but may still be true: check for ourselves.
      if (u.incarnation < m.incarnation && m.state == MemberState::kAlive) RequestVerify(m, now);
      if (!IsLive(m.state) || u.incarnation < m.incarnation) return;
      if (m.state == MemberState::kSuspect && u.incarnation == m.incarnation) return;
      SetState(m, MemberState::kSuspect, u.incarnation, now);
      break;
    case MemberState::kDead:
    case MemberState::kLeft:
      if (state == MemberState::kDead && u.incarnation < m.incarnation &&
          m.state == MemberState::kAlive) {
        RequestVerify(m, now);
      }
      if (!IsLive(m.state) || u.incarnation < m.incarnation) return;
      SetState(m, state, u.incarnation, now);
      break;
  }
  QueueBroadcast(Update{m.id, m.endpoint, m.state, m.incarnation});
}

void Membership::SetState(Member& m, MemberState state, std::uint64_t incarnation,
                          Clock::TimePoint now) {
  const MemberState old = m.state;
  m.incarnation = incarnation;
  if (old == state) return;  // E.g. suspect at a higher incarnation: the timer keeps running.
  m.state = state;
  m.state_since = now;
  MemberEvent::Kind kind = MemberEvent::Kind::kJoined;
  switch (state) {
    case MemberState::kAlive:
      kind = old == MemberState::kSuspect ? MemberEvent::Kind::kRecovered
                                          : MemberEvent::Kind::kJoined;
      break;
    case MemberState::kSuspect: kind = MemberEvent::Kind::kSuspected; break;
    case MemberState::kDead: kind = MemberEvent::Kind::kDead; break;
    case MemberState::kLeft: kind = MemberEvent::Kind::kLeft; break;
  }
  events_.push_back(MemberEvent{kind, m});
}

void Membership::Refute(std::uint64_t heard_incarnation) {
  incarnation_ = std::max(incarnation_, heard_incarnation) + 1;
  members_[self_].incarnation = incarnation_;
  QueueBroadcast(SelfUpdate());
}

Membership::Update Membership::SelfUpdate() const {
  return Update{self_, endpoint_, MemberState::kAlive, incarnation_};
}

void Membership::QueueBroadcast(const Update& u) {
  // Newer news about a member replaces older news still in the queue.
  std::erase_if(broadcasts_, [&u](const Broadcast& b) { return b.update.id == u.id; });
  broadcasts_.push_back(Broadcast{u, 0});
}

std::vector<Membership::Update> Membership::TakePiggyback() {
  // Least-sent first; among equals the newest (appended last) first.
  std::stable_sort(broadcasts_.begin(), broadcasts_.end(),
                   [](const Broadcast& a, const Broadcast& b) { return a.transmits < b.transmits; });
  std::vector<Update> out;
  const int limit = std::max(1, RetransmitLimit(options_.retransmit_multiplier, LiveCount()));
  for (std::size_t i = 0; i < broadcasts_.size() && out.size() < options_.max_piggyback; ++i) {
    out.push_back(broadcasts_[i].update);
    ++broadcasts_[i].transmits;
  }
  std::erase_if(broadcasts_, [limit](const Broadcast& b) { return b.transmits >= limit; });
  return out;
}

std::vector<Membership::Update> Membership::FullState() const {
  std::vector<Update> out;
  out.reserve(members_.size());
  for (const auto& [id, m] : members_) {
    if (out.size() >= options_.max_updates_per_message) break;
    out.push_back(Update{id, m.endpoint, m.state, m.incarnation});
  }
  return out;
}

void Membership::Send(PeerId to, const std::string& endpoint, MessageType type, std::uint64_t seq,
                      PeerId target, const std::string& target_endpoint,
                      std::vector<Update> updates) {
  Body body;
  body.seq = seq;
  body.target = target;
  body.target_endpoint = target_endpoint;
  body.sender_endpoint = endpoint_;
  body.sender_incarnation = incarnation_;
  body.updates = std::move(updates);
  if (type != MessageType::kJoin && type != MessageType::kJoinAck) {
    for (Update& u : TakePiggyback()) {
      if (body.updates.size() >= options_.max_piggyback + 1) break;
      body.updates.push_back(std::move(u));
    }
  }
  outgoing_.push_back(Outgoing{to, endpoint, BodyEnvelope(type, self_, body)});
}

void Membership::SendJoins(Clock::TimePoint now) {
  (void)now;
  for (const std::string& seed : seeds_) {
    Send(PeerIdFromEndpoint(seed), seed, MessageType::kJoin, 0, PeerId(), "", FullState());
  }
}

std::size_t Membership::LiveCount() const {
  std::size_t n = 0;
  for (const auto& [id, m] : members_) n += IsLive(m.state) ? 1 : 0;
  return n;
}

void Membership::SetJoined(Clock::TimePoint now) {
  joined_ = true;
  // A random first delay (memberlist's stagger), so that members started together do
  // not push-pull in lockstep.
  const double stagger = rng_.Uniform01();
  next_push_pull_ =
      now + std::chrono::duration_cast<Clock::Duration>(stagger * options_.push_pull_interval);
}

bool Membership::GossipDue() const {
  return options_.gossip_interval > Clock::Duration::zero() && !broadcasts_.empty() &&
         LiveCount() > 1;
}

void Membership::Gossip() {
  // memberlist's gossip(): fresh news to a few random members each interval,
  // independently of the probe schedule. Suspects are included so that news about
  // them (their suspicion) reaches them and they refute sooner.
  for (PeerId to : RandomMembers(options_.gossip_nodes, PeerId(), /*with_suspects=*/true)) {
    if (broadcasts_.empty()) break;
    Send(to, members_[to].endpoint, MessageType::kMembershipUpdate, 0, PeerId(), "", {});
  }
}

void Membership::PushPull() {
  // Anti-entropy: our full state to one random member, which merges it and answers
  // with its own (kJoin / kJoinAck, as on join and reconnect).
  for (PeerId to : RandomMembers(1, PeerId(), /*with_suspects=*/false)) {
    Send(to, members_[to].endpoint, MessageType::kJoin, 0, PeerId(), "", FullState());
  }
}

std::vector<PeerId> Membership::RandomMembers(std::size_t k, PeerId exclude, bool with_suspects) {
  std::vector<PeerId> candidates;
  for (const auto& [id, m] : members_) {
    const bool eligible =
        m.state == MemberState::kAlive || (with_suspects && m.state == MemberState::kSuspect);
    if (id != self_ && id != exclude && eligible) candidates.push_back(id);
  }
  std::sort(candidates.begin(), candidates.end());  // Map order must not leak into choices.
  rng_.Shuffle(candidates.begin(), candidates.end());
  if (candidates.size() > k) candidates.resize(k);
  return candidates;
}

void Membership::StartProbe(Clock::TimePoint now) {
  for (int pass = 0; pass < 2; ++pass) {
    while (probe_index_ < probe_order_.size()) {
      const PeerId id = probe_order_[probe_index_++];
      auto it = members_.find(id);
      if (it == members_.end() || !IsLive(it->second.state)) continue;
      probe_ = Probe{id, next_seq_++, now, false};
      Send(id, it->second.endpoint, MessageType::kPing, probe_->seq, id, "", {});
      return;
    }
    // SWIM §4.3: round-robin over a fresh random permutation, so every member is
    // probed within a bounded time.
    probe_order_.clear();
    probe_index_ = 0;
    for (const auto& [id, m] : members_) {
      if (id != self_ && IsLive(m.state)) probe_order_.push_back(id);
    }
    std::sort(probe_order_.begin(), probe_order_.end());
    rng_.Shuffle(probe_order_.begin(), probe_order_.end());
  }
}

void Membership::FinishProbe(Clock::TimePoint now) {
  if (!probe_) return;
  const PeerId target = probe_->target;
  probe_.reset();
  SuspectUnanswered(target, now);
}

void Membership::SuspectUnanswered(PeerId target, Clock::TimePoint now) {
  auto it = members_.find(target);
  if (it == members_.end() || it->second.state != MemberState::kAlive) return;
  ApplyUpdate(Update{target, it->second.endpoint, MemberState::kSuspect, it->second.incarnation},
              now, /*merge=*/false);
}

void Membership::SendIndirect(Probe& p) {
  p.indirect_sent = true;
  auto target = members_.find(p.target);
  if (target == members_.end()) return;
  for (PeerId helper : RandomMembers(options_.indirect_checks, p.target, false)) {
    Send(helper, members_[helper].endpoint, MessageType::kPingReq, p.seq, p.target,
         target->second.endpoint, {});
  }
}

void Membership::RequestVerify(const Member& m, Clock::TimePoint now) {
  // Rate limits: conflicting news tends to arrive many times over (gossip repeats
  // it, every push-pull carries it), and one probe per interval answers all of it.
  if (options_.max_verify_probes == 0 || left_) return;
  if (probe_ && probe_->target == m.id) return;  // Our round-robin probe is on it.
  const auto last = last_verify_.find(m.id);
  if (last != last_verify_.end() && now < last->second + options_.probe_interval) return;
  const auto same = [&m](const auto& entry) { return entry.first == m.id; };
  if (std::any_of(verify_queue_.begin(), verify_queue_.end(), same)) return;
  if (std::any_of(verifies_.begin(), verifies_.end(),
                  [&m](const Probe& p) { return p.target == m.id; })) {
    return;
  }
  verify_queue_.emplace_back(m.id, now);
}

void Membership::StartVerifies(Clock::TimePoint now) {
  while (!verify_queue_.empty() && verifies_.size() < options_.max_verify_probes) {
    const PeerId id = verify_queue_.front().first;
    verify_queue_.erase(verify_queue_.begin());
    auto it = members_.find(id);
    // Settled meanwhile: suspected (its timer runs), dead, gone, or being probed.
    if (it == members_.end() || it->second.state != MemberState::kAlive) continue;
    if (probe_ && probe_->target == id) continue;
    verifies_.push_back(Probe{id, next_seq_++, now, false});
    last_verify_[id] = now;
    Send(id, it->second.endpoint, MessageType::kPing, verifies_.back().seq, id, "", {});
  }
}

void Membership::TickVerifies(Clock::TimePoint now) {
  // The same life cycle as a round-robin probe: direct ping, ping-reqs after
  // probe_timeout, suspicion if nothing answered within probe_interval.
  std::vector<PeerId> unanswered;
  std::erase_if(verifies_, [&](const Probe& p) {
    if (now < p.sent + options_.probe_interval) return false;
    unanswered.push_back(p.target);
    return true;
  });
  for (PeerId target : unanswered) SuspectUnanswered(target, now);
  for (Probe& p : verifies_) {
    if (!p.indirect_sent && now >= p.sent + options_.probe_timeout) SendIndirect(p);
  }
  std::erase_if(last_verify_, [&](const auto& entry) {
    return now >= entry.second + options_.probe_interval;
  });
  StartVerifies(now);
}

void Membership::Tick(Clock::TimePoint now) {
  if (!started_ || left_) return;
  if (!joined_ && now >= next_join_) {
    SendJoins(now);
    join_backoff_ = std::min(join_backoff_ * 2, options_.join_retry_max);
    next_join_ = now + join_backoff_;
  }
  std::erase_if(relays_, [now](const auto& entry) { return entry.second.expires <= now; });

  if (probe_ && !probe_->indirect_sent && now >= probe_->sent + options_.probe_timeout) {
    SendIndirect(*probe_);
  }
  if (probe_ && now >= probe_->sent + options_.probe_interval) FinishProbe(now);
  if (now >= next_probe_) {
    FinishProbe(now);
    StartProbe(now);
    next_probe_ += options_.probe_interval;
    if (next_probe_ <= now) next_probe_ = now + options_.probe_interval;  // Long pause.
  }
  TickVerifies(now);

  const Clock::Duration suspicion =
      SuspicionTimeout(options_.suspicion_multiplier, LiveCount(), options_.probe_interval);
  for (auto& [id, m] : members_) {
    if (id != self_ && m.state == MemberState::kSuspect && now >= m.state_since + suspicion) {
      SetState(m, MemberState::kDead, m.incarnation, now);
      QueueBroadcast(Update{id, m.endpoint, m.state, m.incarnation});
    }
  }

  // After probes and suspicion expiry, so news they made leaves in this tick. The
  // schedule only advances while there is news: after a quiet spell the next news
  // goes out at once.
  if (GossipDue() && now >= next_gossip_) {
    Gossip();
    next_gossip_ = now + options_.gossip_interval;
  }
  if (joined_ && options_.push_pull_interval > Clock::Duration::zero() &&
      now >= next_push_pull_) {
    next_push_pull_ = now + options_.push_pull_interval;
    PushPull();
  }

  if (now >= next_reconnect_) {
    next_reconnect_ = now + options_.reconnect_interval;
    std::vector<PeerId> dead;
    for (const auto& [id, m] : members_) {
      if (m.state == MemberState::kDead) dead.push_back(id);
    }
    if (!dead.empty()) {
      std::sort(dead.begin(), dead.end());
      const PeerId pick = dead[rng_.UniformInt(dead.size())];
      Send(pick, members_[pick].endpoint, MessageType::kJoin, 0, PeerId(), "", FullState());
    }
  }

  std::erase_if(members_, [&](const auto& entry) {
    const Member& m = entry.second;
    return entry.first != self_ && !IsLive(m.state) && now >= m.state_since + options_.reap_after;
  });
}

Clock::TimePoint Membership::NextDeadline() const {
  if (!started_ || left_) return Clock::TimePoint::max();
  Clock::TimePoint next = std::min(next_probe_, next_reconnect_);
  if (!joined_) next = std::min(next, next_join_);
  if (GossipDue()) next = std::min(next, next_gossip_);
  if (joined_ && options_.push_pull_interval > Clock::Duration::zero()) {
    next = std::min(next, next_push_pull_);
  }
  if (probe_) {
    next = std::min(next, probe_->indirect_sent ? probe_->sent + options_.probe_interval
                                                : probe_->sent + options_.probe_timeout);
  }
  for (const Probe& p : verifies_) {
    next = std::min(next, p.indirect_sent ? p.sent + options_.probe_interval
                                          : p.sent + options_.probe_timeout);
  }
  if (!verify_queue_.empty() && verifies_.size() < options_.max_verify_probes) {
    next = std::min(next, verify_queue_.front().second);  // At once.
  }
  const Clock::Duration suspicion =
      SuspicionTimeout(options_.suspicion_multiplier, LiveCount(), options_.probe_interval);
  for (const auto& [id, m] : members_) {
    if (id == self_) continue;
    if (m.state == MemberState::kSuspect) next = std::min(next, m.state_since + suspicion);
    if (!IsLive(m.state)) next = std::min(next, m.state_since + options_.reap_after);
  }
  return next;
}

std::vector<Outgoing> Membership::TakeOutgoing() { return std::exchange(outgoing_, {}); }
std::vector<MemberEvent> Membership::TakeEvents() { return std::exchange(events_, {}); }

std::vector<Member> Membership::members() const {
  std::vector<Member> out;
  out.reserve(members_.size());
  for (const auto& [id, m] : members_) out.push_back(m);
  std::sort(out.begin(), out.end(), [](const Member& a, const Member& b) { return a.id < b.id; });
  return out;
}

std::vector<Member> Membership::live_members() const {
  std::vector<Member> out = members();
  std::erase_if(out, [](const Member& m) { return !IsLive(m.state); });
  return out;
}

std::optional<Member> Membership::member(PeerId id) const {
  auto it = members_.find(id);
  if (it == members_.end()) return std::nullopt;
  return it->second;
}

}  // namespace sotto::net
