#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include <unistd.h>

#include <catch2/catch.hpp>

#include "daemon/checkpoint.h"

namespace sotto::daemon {
namespace {

std::string TempPath(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("sotto-ck-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

Checkpoint Sample() {
  Checkpoint c;
  c.round = 1234;
  c.samples_seen = 99999;
  c.algorithm = "malcom";
  c.state.model = {1.5f, -2.0f, 0.0f, 3.25f};
  c.state.public_copy = {1.0f, -1.0f, 0.5f, 3.0f};
  c.state.mixed = {0.9f, -1.1f, 0.4f, 2.9f};
  return c;
}

TEST_CASE("a checkpoint round-trips exactly", "[daemon][checkpoint]") {
  const std::string path = TempPath("a.bin");
  REQUIRE(WriteCheckpoint(path, Sample()).ok());
  auto c = ReadCheckpoint(path);
  REQUIRE(c.ok());
  CHECK(c->round == 1234);
  CHECK(c->samples_seen == 99999);
  CHECK(c->algorithm == "malcom");
  CHECK(c->state.model == Sample().state.model);
  CHECK(c->state.public_copy == Sample().state.public_copy);
  CHECK(c->state.mixed == Sample().state.mixed);
  CHECK(c->state.velocity.empty());
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
  CHECK((std::filesystem::status(path).permissions() & std::filesystem::perms::others_read) == std::filesystem::perms::none);
}

TEST_CASE("a checkpoint parses from its bytes as from its file", "[daemon][checkpoint]") {
  const std::string path = TempPath("bytes.bin");
  REQUIRE(WriteCheckpoint(path, Sample()).ok());
  std::ifstream in(path, std::ios::binary);
  const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                        std::istreambuf_iterator<char>());
  auto c = ParseCheckpoint(bytes, "in-memory");
  REQUIRE(c.ok());
  CHECK(c->round == 1234);
  CHECK(c->state.model == Sample().state.model);
  auto cut = ParseCheckpoint(std::span(bytes).first(bytes.size() - 1), "in-memory");
  REQUIRE_FALSE(cut.ok());
  CHECK(cut.error().code() == StatusCode::kCorrupted);
  CHECK(cut.error().message().find("checkpoint 'in-memory'") != std::string::npos);
}

TEST_CASE("a damaged checkpoint is refused with the reason, never half-loaded", "[daemon][checkpoint]") {
  const std::string path = TempPath("b.bin");
  REQUIRE(WriteCheckpoint(path, Sample()).ok());
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  auto write = [&](const std::vector<char>& b) {
    std::ofstream(path, std::ios::binary | std::ios::trunc).write(b.data(), static_cast<std::streamsize>(b.size()));
  };
  SECTION("every truncation") {
    for (std::size_t n = 0; n < bytes.size(); ++n) {
      write(std::vector<char>(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n)));
      auto c = ReadCheckpoint(path);
      REQUIRE_FALSE(c.ok());
      CHECK(c.error().code() == StatusCode::kCorrupted);
    }
  }
  SECTION("every flipped bit is caught") {
    for (std::size_t k = 0; k < bytes.size(); ++k) {
      auto b = bytes;
      b[k] = static_cast<char>(b[k] ^ (1 << (k % 8)));
      write(b);
      auto c = ReadCheckpoint(path);
      REQUIRE_FALSE(c.ok());
      CHECK(c.error().code() == StatusCode::kCorrupted);
    }
  }
  SECTION("not a checkpoint at all") {
    write({'h', 'e', 'l', 'l', 'o'});
    CHECK(ReadCheckpoint(path).error().message().find("bad magic") != std::string::npos);
  }
  CHECK(ReadCheckpoint(TempPath("missing.bin")).error().code() == StatusCode::kNotFound);
}

TEST_CASE("a crash while writing leaves the previous checkpoint intact", "[daemon][checkpoint]") {
  const std::string path = TempPath("c.bin");
  REQUIRE(WriteCheckpoint(path, Sample()).ok());
  // What a SIGKILL between write() and rename() leaves behind: a partial temp file.
  std::ofstream(path + ".tmp", std::ios::binary) << "SOTTOCK1 partial";
  auto c = ReadCheckpoint(path);
  REQUIRE(c.ok());
  CHECK(c->round == 1234);
  // The next write replaces the stale temp file.
  Checkpoint next = Sample();
  next.round = 1300;
  REQUIRE(WriteCheckpoint(path, next).ok());
  CHECK(ReadCheckpoint(path)->round == 1300);
}

}  // namespace
}  // namespace sotto::daemon
