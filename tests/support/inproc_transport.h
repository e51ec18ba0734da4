#pragma once

// InprocNetwork and InprocTransport: an in-memory Transport for tests. Messages go
// through the real wire encoding (EncodeEnvelope / DecodeEnvelope) but wait in one
// FIFO queue until the test calls DeliverAll(), so delivery is single-threaded and
// deterministic. Links can be cut (partitions) and healed.
//
//   InprocNetwork net;
//   auto a = net.CreateTransport(PeerId(1));
//   a->Start("mem://a", handler);          // "mem://*" picks a fresh name
//   a->Connect(PeerId(2), "mem://b");
//   a->Send(PeerId(2), envelope);
//   net.DeliverAll();                      // runs handlers on this thread
//
// Ownership: the network must outlive its transports. Thread safety: every method
// may be called from any thread (one mutex), but handlers run inside DeliverAll()
// on the caller's thread, one at a time.

#include <algorithm>
#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/ids.h"
#include "common/status.h"
#include "net/envelope.h"
#include "net/transport.h"

namespace sotto::testing {

class InprocTransport;

class InprocNetwork {
 public:
  InprocNetwork() = default;
  InprocNetwork(const InprocNetwork&) = delete;
  InprocNetwork& operator=(const InprocNetwork&) = delete;

  // A transport that sends as `self`. Requires: the network outlives it.
  inline std::unique_ptr<InprocTransport> CreateTransport(PeerId self);

  // Delivers queued messages in FIFO order, including those queued by handlers
  // meanwhile, until the queue is empty or `max_messages` were taken. Returns how
  // many were taken (delivered or dropped).
  inline std::size_t DeliverAll(std::size_t max_messages = 1'000'000);

  // Cuts (or restores) both directions between two endpoints.
  void SetLinkBroken(const std::string& a, const std::string& b, bool broken) {
    std::lock_guard lock(mu_);
    const auto key = std::minmax(a, b);
    if (broken) {
      broken_.insert({key.first, key.second});
    } else {
      broken_.erase({key.first, key.second});
    }
  }
  // Cuts (or restores) every link between the two groups.
  void SetPartition(const std::vector<std::string>& side_a, const std::vector<std::string>& side_b,
                    bool broken) {
    for (const auto& a : side_a) {
      for (const auto& b : side_b) SetLinkBroken(a, b, broken);
    }
  }
  // Cuts (or restores) every link of `endpoint`, including future peers.
  void SetIsolated(const std::string& endpoint, bool isolated) {
    std::lock_guard lock(mu_);
    if (isolated) {
      isolated_.insert(endpoint);
    } else {
      isolated_.erase(endpoint);
    }
  }

  std::size_t queued() const {
    std::lock_guard lock(mu_);
    return queue_.size();
  }
  // Messages dropped: broken link, isolated endpoint or nobody listening.
  std::size_t dropped() const {
    std::lock_guard lock(mu_);
    return dropped_;
  }

 private:
  friend class InprocTransport;
  struct InFlight {
    std::string from_endpoint;
    std::string to_endpoint;
    PeerId from;
    net::EncodedEnvelope frames;
  };

  std::string Bind(const std::string& requested, InprocTransport* t) {
    std::lock_guard lock(mu_);
    std::string name = requested;
    if (name.ends_with("*")) {
      name = name.substr(0, name.size() - 1) + "auto-" + std::to_string(next_auto_++);
    }
    if (listeners_.count(name) != 0) return "";
    listeners_[name] = t;
    return name;
  }
  void Unbind(const std::string& endpoint) {
    std::lock_guard lock(mu_);
    listeners_.erase(endpoint);
  }
  void Enqueue(InFlight m) {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(m));
  }
  bool Blocked(const std::string& a, const std::string& b) const {
    const auto key = std::minmax(a, b);
    return isolated_.count(a) != 0 || isolated_.count(b) != 0 ||
           broken_.count({key.first, key.second}) != 0;
  }

  mutable std::mutex mu_;
  std::deque<InFlight> queue_;
  std::unordered_map<std::string, InprocTransport*> listeners_;
  std::set<std::pair<std::string, std::string>> broken_;
  std::set<std::string> isolated_;
  std::size_t dropped_ = 0;
  std::size_t next_auto_ = 0;
};

// A Transport on an InprocNetwork. Send() never blocks and never refuses for
// back-pressure (the queue is unbounded); it refuses unknown peers and a stopped
// transport, like ZmqTransport.
class InprocTransport final : public net::Transport {
 public:
  InprocTransport(InprocNetwork& network, PeerId self) : network_(network), self_(self) {}
  ~InprocTransport() override { Stop(); }

  Status Start(const std::string& listen_endpoint, ReceiveHandler on_receive) override {
    std::lock_guard lock(mu_);
    if (started_) return InvalidArgument("InprocTransport::Start called twice");
    std::string bound = network_.Bind(listen_endpoint, this);
    if (bound.empty()) return Unavailable("endpoint '" + listen_endpoint + "' is in use");
    endpoint_ = std::move(bound);
    handler_ = std::move(on_receive);
    started_ = true;
    running_ = true;
    return Status();
  }
  std::string local_endpoint() const override {
    std::lock_guard lock(mu_);
    return endpoint_;
  }
  Status Connect(PeerId peer, const std::string& endpoint) override {
    std::lock_guard lock(mu_);
    if (!running_) return Unavailable("InprocTransport is not running");
    peers_[peer] = endpoint;
    return Status();
  }
  void Disconnect(PeerId peer) override {
    std::lock_guard lock(mu_);
    peers_.erase(peer);
  }
  Status Send(PeerId to, net::Envelope envelope) override {
    envelope.sender = self_;
    Result<net::EncodedEnvelope> encoded = net::EncodeEnvelope(std::move(envelope));
    if (!encoded) return encoded.error();
    std::lock_guard lock(mu_);
    if (!running_) return Unavailable("InprocTransport is not running");
    auto it = peers_.find(to);
    if (it == peers_.end()) return Unavailable("peer " + std::to_string(to.value()) + " is not connected");
    ++counters_.messages_sent;
    counters_.bytes_sent += encoded->header.size() + encoded->payload.size();
    network_.Enqueue({endpoint_, it->second, self_, std::move(encoded).value()});
    return Status();
  }
  void Stop() override {
    std::string endpoint;
    {
      std::lock_guard lock(mu_);
      if (!running_) return;
      running_ = false;
      endpoint = endpoint_;
    }
    network_.Unbind(endpoint);
  }
  net::TransportCounters counters() const override {
    std::lock_guard lock(mu_);
    return counters_;
  }
  PeerId self() const { return self_; }

 private:
  friend class InprocNetwork;

  // Called by InprocNetwork::DeliverAll(), never under the network's mutex.
  void Deliver(PeerId from, const net::EncodedEnvelope& frames) {
    ReceiveHandler handler;
    Result<net::Envelope> envelope = net::DecodeEnvelope(frames.header, frames.payload);
    {
      std::lock_guard lock(mu_);
      if (!running_) return;
      if (!envelope || envelope->sender != from) {
        ++counters_.rejected_malformed;
        counters_.last_reject_reason =
            envelope ? "sender mismatch" : envelope.error().message();
        return;
      }
      ++counters_.messages_received;
      counters_.bytes_received += frames.header.size() + frames.payload.size();
      handler = handler_;
    }
    handler(from, std::move(envelope).value());
  }

  InprocNetwork& network_;
  const PeerId self_;
  mutable std::mutex mu_;
  bool started_ = false;
  bool running_ = false;
  std::string endpoint_;
  ReceiveHandler handler_;
  std::map<PeerId, std::string> peers_;
  net::TransportCounters counters_;
};

std::unique_ptr<InprocTransport> InprocNetwork::CreateTransport(PeerId self) {
  return std::make_unique<InprocTransport>(*this, self);
}

std::size_t InprocNetwork::DeliverAll(std::size_t max_messages) {
  std::size_t taken = 0;
  while (taken < max_messages) {
    InFlight m;
    InprocTransport* target = nullptr;
    {
      std::lock_guard lock(mu_);
      if (queue_.empty()) break;
      m = std::move(queue_.front());
      queue_.pop_front();
      auto it = listeners_.find(m.to_endpoint);
      if (it == listeners_.end() || Blocked(m.from_endpoint, m.to_endpoint)) {
        ++dropped_;
      } else {
        target = it->second;
      }
    }
    ++taken;
    if (target != nullptr) target->Deliver(m.from, m.frames);
  }
  return taken;
}

}  // namespace sotto::testing
