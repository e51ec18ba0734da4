#include "net/faulty_transport.h"

#include <algorithm>
#include <utility>

#include "common/check.h"

namespace sotto::net {

FaultyTransport::FaultyTransport(std::unique_ptr<Transport> inner, FaultOptions options)
    : inner_(std::move(inner)), options_(options), rng_(options.seed, 0xFA017ull) {
  SOTTO_CHECK(inner_ != nullptr) << "FaultyTransport needs a transport to wrap";
  for (double p : {options_.drop, options_.duplicate, options_.delay, options_.reorder}) {
    SOTTO_CHECK(p >= 0 && p <= 1) << "FaultyTransport: probability " << p << " outside [0, 1]";
  }
  SOTTO_CHECK(options_.max_delay_ticks >= 1) << "FaultyTransport: max_delay_ticks must be >= 1";
}

FaultyTransport::~FaultyTransport() = default;

Status FaultyTransport::Start(const std::string& listen_endpoint, ReceiveHandler on_receive) {
  return inner_->Start(listen_endpoint, std::move(on_receive));
}

std::string FaultyTransport::local_endpoint() const { return inner_->local_endpoint(); }

Status FaultyTransport::Connect(PeerId peer, const std::string& endpoint) {
  return inner_->Connect(peer, endpoint);
}

void FaultyTransport::Disconnect(PeerId peer) {
  {
    std::lock_guard lock(mu_);
    std::erase_if(delayed_, [&](const Held& h) { return h.to == peer; });
    reordered_.erase(peer);
  }
  inner_->Disconnect(peer);
}

void FaultyTransport::TakeDue(Batch* out) {
  // Delayed envelopes leave in due order (ties: the order they were held).
  std::stable_sort(delayed_.begin(), delayed_.end(),
                   [](const Held& a, const Held& b) { return a.due < b.due; });
  auto it = delayed_.begin();
  while (it != delayed_.end() && it->due <= now_) {
    out->emplace_back(it->to, std::move(it->envelope));
    ++it;
  }
  delayed_.erase(delayed_.begin(), it);
}

Status FaultyTransport::Send(PeerId to, Envelope envelope) {
  Batch due, now;
  bool current_goes_now = false;
  {
    std::lock_guard lock(mu_);
    ++now_;
    TakeDue(&due);
    if (rng_.Uniform01() < options_.drop) {
      ++faults_.dropped;
    } else {
      int copies = 1;
      if (rng_.Uniform01() < options_.duplicate) {
        ++faults_.duplicated;
        copies = 2;
      }
      for (int k = 0; k < copies; ++k) {
        Envelope copy = k + 1 < copies ? envelope : std::move(envelope);
        if (rng_.Uniform01() < options_.delay) {
          ++faults_.delayed;
          delayed_.push_back({to, std::move(copy), now_ + 1 + rng_.UniformInt(options_.max_delay_ticks)});
        } else if (rng_.Uniform01() < options_.reorder) {
          ++faults_.reordered;
          reordered_[to].push_back(std::move(copy));
        } else {
          if (k == 0) current_goes_now = true;
          now.emplace_back(to, std::move(copy));
        }
      }
      // Envelopes held for reordering follow the next one to their peer.
      auto held = reordered_.find(to);
      if (!now.empty() && held != reordered_.end()) {
        for (auto& e : held->second) now.emplace_back(to, std::move(e));
        reordered_.erase(held);
      }
    }
  }
  for (auto& [peer, e] : due) (void)inner_->Send(peer, std::move(e));
  Status result;
  for (std::size_t i = 0; i < now.size(); ++i) {
    Status s = inner_->Send(now[i].first, std::move(now[i].second));
    if (i == 0 && current_goes_now) result = std::move(s);
  }
  return result;
}

void FaultyTransport::Tick() {
  Batch due;
  {
    std::lock_guard lock(mu_);
    ++now_;
    TakeDue(&due);
  }
  for (auto& [peer, e] : due) (void)inner_->Send(peer, std::move(e));
}

void FaultyTransport::Flush() {
  Batch all;
  {
    std::lock_guard lock(mu_);
    for (const Held& h : delayed_) now_ = std::max(now_, h.due);
    TakeDue(&all);
    for (auto& [peer, list] : reordered_) {
      for (auto& e : list) all.emplace_back(peer, std::move(e));
    }
    reordered_.clear();
  }
  for (auto& [peer, e] : all) (void)inner_->Send(peer, std::move(e));
}

void FaultyTransport::Stop() {
  {
    std::lock_guard lock(mu_);
    delayed_.clear();
    reordered_.clear();
  }
  inner_->Stop();
}

TransportCounters FaultyTransport::counters() const { return inner_->counters(); }

FaultCounters FaultyTransport::fault_counters() const {
  std::lock_guard lock(mu_);
  return faults_;
}

std::size_t FaultyTransport::held() const {
  std::lock_guard lock(mu_);
  std::size_t n = delayed_.size();
  for (const auto& [peer, list] : reordered_) n += list.size();
  return n;
}

}  // namespace sotto::net
