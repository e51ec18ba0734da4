#pragma once

// FakeClock: a Clock that moves only when a test advances it. Thread-safe.

#include <atomic>

#include "common/clock.h"

namespace sotto::testing {

class FakeClock final : public Clock {
 public:
  TimePoint Now() const override { return TimePoint(Duration(ticks_.load())); }
  void Advance(Duration d) { ticks_.fetch_add(d.count()); }

 private:
  std::atomic<Duration::rep> ticks_{0};
};

}  // namespace sotto::testing
