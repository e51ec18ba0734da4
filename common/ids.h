#pragma once

// Strong ids: a PeerId is not a RoundId is not an index. Both are cheap values.

#include <compare>
#include <cstdint>
#include <functional>
#include <ostream>

namespace sotto {

// Identifies one node of a mesh (or one virtual node of the lab).
class PeerId {
 public:
  constexpr PeerId() = default;
  constexpr explicit PeerId(std::uint64_t value) : value_(value) {}
  constexpr std::uint64_t value() const { return value_; }
  friend constexpr auto operator<=>(PeerId, PeerId) = default;

 private:
  std::uint64_t value_ = 0;
};

// A gossip round (iteration) number.
class RoundId {
 public:
  constexpr RoundId() = default;
  constexpr explicit RoundId(std::uint64_t value) : value_(value) {}
  constexpr std::uint64_t value() const { return value_; }
  constexpr RoundId Next() const { return RoundId(value_ + 1); }
  friend constexpr auto operator<=>(RoundId, RoundId) = default;

 private:
  std::uint64_t value_ = 0;
};

inline std::ostream& operator<<(std::ostream& os, PeerId id) { return os << "peer " << id.value(); }
inline std::ostream& operator<<(std::ostream& os, RoundId r) { return os << "round " << r.value(); }

}  // namespace sotto

template <>
struct std::hash<sotto::PeerId> {
  std::size_t operator()(sotto::PeerId id) const noexcept {
    return std::hash<std::uint64_t>()(id.value());
  }
};
template <>
struct std::hash<sotto::RoundId> {
  std::size_t operator()(sotto::RoundId id) const noexcept {
    return std::hash<std::uint64_t>()(id.value());
  }
};
