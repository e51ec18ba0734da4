#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "common/ids.h"
#include "common/status.h"
#include "tests/support/fake_clock.h"

namespace sotto {
namespace {

Result<int> ParsePositive(int v) {
  if (v <= 0) return InvalidArgument("want a positive number, got " + std::to_string(v));
  return v;
}

Result<int> Doubled(int v) {
  SOTTO_ASSIGN_OR_RETURN(int x, ParsePositive(v));
  return 2 * x;
}

Status Validate(int v) {
  SOTTO_RETURN_IF_ERROR(ParsePositive(v).status());
  return Status::Ok();
}

TEST_CASE("status carries code and message", "[common][status]") {
  Status ok;
  CHECK(ok.ok());
  CHECK(ok.ToString() == "OK");
  Status bad = Corrupted("peer 7: payload has 1024 floats, want 4096");
  CHECK_FALSE(bad.ok());
  CHECK(bad.code() == StatusCode::kCorrupted);
  CHECK(bad.ToString() == "CORRUPTED: peer 7: payload has 1024 floats, want 4096");
  CHECK(bad.WithContext("round 3").message() == "round 3: peer 7: payload has 1024 floats, want 4096");
}

TEST_CASE("result holds a value or an error and the macros propagate", "[common][status]") {
  CHECK(Doubled(4).value() == 8);
  auto r = Doubled(-1);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code() == StatusCode::kInvalidArgument);
  CHECK(r.error().message() == "want a positive number, got -1");
  CHECK(Validate(3).ok());
  CHECK(Validate(0).code() == StatusCode::kInvalidArgument);
  Result<std::unique_ptr<int>> moved = std::make_unique<int>(5);
  std::unique_ptr<int> p = std::move(moved).value();
  CHECK(*p == 5);
}

TEST_CASE("strong ids compare and do not mix", "[common][ids]") {
  PeerId a(3), b(5);
  CHECK(a < b);
  CHECK(a == PeerId(3));
  CHECK(RoundId(7).Next() == RoundId(8));
  STATIC_REQUIRE_FALSE(std::is_convertible_v<PeerId, RoundId>);
  STATIC_REQUIRE_FALSE(std::is_convertible_v<std::uint64_t, PeerId>);
}

TEST_CASE("fake clock moves only when advanced", "[common][clock]") {
  testing::FakeClock clock;
  const auto t0 = clock.Now();
  CHECK(clock.Now() == t0);
  clock.Advance(std::chrono::milliseconds(1500));
  CHECK(clock.Now() - t0 == std::chrono::milliseconds(1500));
}

}  // namespace
}  // namespace sotto
