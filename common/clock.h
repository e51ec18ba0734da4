#pragma once

// Clock: where net/ and daemon/ read the time. algo/, coding/ and topology/ never
// read a clock: time is passed to them. Tests substitute FakeClock
// (tests/support/fake_clock.h) to drive timeouts without sleeping.

#include <chrono>

namespace sotto {

class Clock {
 public:
  using Duration = std::chrono::steady_clock::duration;
  using TimePoint = std::chrono::steady_clock::time_point;

  virtual ~Clock() = default;
  // Monotonic time. Thread-safe in every implementation.
  virtual TimePoint Now() const = 0;
};

// The real monotonic clock. Thread-safe.
class SteadyClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
};

}  // namespace sotto
