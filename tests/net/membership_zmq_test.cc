// Membership over real ZmqTransports on loopback, wired the way the daemon will
// wire it: the receive handler (I/O thread) feeds HandleEnvelope under a mutex,
// a driver thread calls Tick, and Outgoing is sent with Connect-then-Send.

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "net/membership.h"
#include "net/zmq_transport.h"

namespace sotto::net {
namespace {

using namespace std::chrono_literals;

// One node: a transport and a membership guarded by one mutex.
class LiveNode {
 public:
  // Binds a free loopback port; the id is derived from it (ZmqTransportOptions),
  // then membership starts with that id and endpoint.
  LiveNode(const MembershipOptions& options, const std::vector<std::string>& seeds) {
    transport_ = ZmqTransport::Create(ZmqTransportOptions{}).value();
    REQUIRE(transport_
                ->Start("tcp://127.0.0.1:*",
                        [this](PeerId, Envelope e) {
                          std::lock_guard lock(mu_);
                          if (!membership_ || !Membership::IsMembershipMessage(e.type)) return;
                          (void)membership_->HandleEnvelope(e, clock_.Now());
                          FlushLocked();
                        })
                .ok());
    endpoint_ = transport_->local_endpoint();
    id_ = transport_->self();
    std::lock_guard lock(mu_);
    membership_ = std::make_unique<Membership>(id_, endpoint_, options);
    membership_->Join(seeds, clock_.Now());
    FlushLocked();
  }

  void Tick() {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    membership_->Tick(clock_.Now());
    FlushLocked();
  }

  void Stop() {
    transport_->Stop();
    std::lock_guard lock(mu_);
    stopped_ = true;
  }

  std::vector<Member> live() {
    std::lock_guard lock(mu_);
    return membership_->live_members();
  }
  const std::string& endpoint() const { return endpoint_; }
  PeerId id() const { return id_; }

 private:
  void FlushLocked() {
    for (Outgoing& out : membership_->TakeOutgoing()) {
      if (!transport_->Connect(out.to, out.endpoint).ok()) continue;
      (void)transport_->Send(out.to, std::move(out.envelope));  // Drops are fine.
    }
    (void)membership_->TakeEvents();
  }

  SteadyClock clock_;
  std::mutex mu_;
  std::string endpoint_;
  PeerId id_;
  std::unique_ptr<ZmqTransport> transport_;
  std::unique_ptr<Membership> membership_;
  bool stopped_ = false;
};

// Ticks every node until `pred` holds or `limit` passes.
template <typename Pred>
bool TickUntil(std::vector<std::unique_ptr<LiveNode>>& nodes, Pred pred,
               std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::mutex mu;
  std::condition_variable never;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    for (auto& n : nodes) n->Tick();
    std::unique_lock lock(mu);
    never.wait_for(lock, 5ms);  // Pacing for the protocol timers, not a race guess.
  }
  return true;
}

TEST_CASE("membership over zmq transports converges and detects a crash",
          "[net][membership][zmq]") {
  MembershipOptions options;
  options.probe_interval = 100ms;
  options.probe_timeout = 40ms;
  options.join_retry_initial = 100ms;
  std::vector<std::unique_ptr<LiveNode>> nodes;
  for (int i = 0; i < 3; ++i) {
    std::vector<std::string> seeds;
    if (i > 0) seeds.push_back(nodes[0]->endpoint());
    nodes.push_back(std::make_unique<LiveNode>(options, seeds));
  }
  auto all_see = [&](std::size_t count) {
    for (auto& n : nodes) {
      if (n->live().size() != count) return false;
    }
    return true;
  };
  REQUIRE(TickUntil(nodes, [&] { return all_see(3); }, 5000ms));
  const PeerId crashed = nodes[2]->id();
  nodes[2]->Stop();
  nodes.pop_back();
  REQUIRE(TickUntil(nodes, [&] { return all_see(2); }, 10000ms));
  for (auto& n : nodes) {
    for (const Member& m : n->live()) CHECK(m.id != crashed);
  }
  for (auto& n : nodes) n->Stop();
}

}  // namespace
}  // namespace sotto::net
