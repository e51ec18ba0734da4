#pragma once

// Inbox: collects what a Transport delivers (on its I/O thread) so a test thread
// can wait for it with a deadline; Eventually(): polls a condition that has no
// notification (counters) until a deadline. No test waits by guessing a sleep.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "common/ids.h"
#include "net/envelope.h"
#include "net/transport.h"

namespace sotto::testing {

// Thread-safe.
class Inbox {
 public:
  net::Transport::ReceiveHandler Handler() {
    return [this](PeerId from, net::Envelope e) {
      std::lock_guard lock(mu_);
      received_.push_back({from, std::move(e)});
      cv_.notify_all();
    };
  }
  // True if at least `n` envelopes arrived within `timeout`.
  bool WaitFor(std::size_t n, std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return received_.size() >= n; });
  }
  std::vector<std::pair<PeerId, net::Envelope>> Take() {
    std::lock_guard lock(mu_);
    return std::exchange(received_, {});
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<PeerId, net::Envelope>> received_;
};

// Polls `pred` until it holds or `timeout` passes; returns whether it held.
template <typename Pred>
bool Eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

}  // namespace sotto::testing
