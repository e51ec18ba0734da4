// Runs the real `sotto` binary as a user would and checks exit codes and messages.

#include <array>
#include <cstdio>
#include <string>

#include <sys/wait.h>

#include <catch2/catch.hpp>

namespace {

struct Outcome {
  int exit_code;
  std::string output;  // stdout and stderr.
};

Outcome Run(const std::string& args) {
  const std::string cmd = std::string(SOTTO_BINARY) + " " + args + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), pipe) != nullptr) out += buf.data();
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST_CASE("sotto --version prints the version", "[daemon][cli]") {
  const Outcome o = Run("--version");
  CHECK(o.exit_code == 0);
  CHECK(o.output.find("sotto 0.") != std::string::npos);
}

TEST_CASE("every subcommand has help", "[daemon][cli]") {
  for (const char* sub : {"node", "mesh", "lab", "status", "keygen"}) {
    const Outcome o = Run(std::string(sub) + " --help");
    INFO(sub << ": " << o.output);
    CHECK(o.exit_code == 0);
    CHECK(o.output.find("Usage") != std::string::npos);
  }
}

TEST_CASE("bad command lines exit with a usage error", "[daemon][cli]") {
  CHECK(Run("").exit_code == 64);
  CHECK(Run("frobnicate").exit_code == 64);
  CHECK(Run("lab").exit_code == 64);  // --config is required.
}

TEST_CASE("sotto lab reports a bad config file clearly", "[daemon][cli]") {
  const Outcome missing = Run("lab --config /nonexistent.toml");
  CHECK(missing.exit_code == 78);
  CHECK(missing.output.find("cannot open config file '/nonexistent.toml'") != std::string::npos);
}

}  // namespace
