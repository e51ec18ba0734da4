// Runs the real `sotto` binary as a user would and checks exit codes and messages.

#include <array>
#include <cstdio>
#include <algorithm>
#include <cstdlib>
#include <string>

#include <unistd.h>

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

namespace {

std::string ReadAll(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return "";
  std::string s;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  std::fclose(f);
  return s;
}

TEST_CASE("sotto lab writes byte-identical metrics for the same seed", "[daemon][cli][lab]") {
  const std::string dir = "/tmp/sotto-cli-" + std::to_string(::getpid());
  const std::string base = std::string("lab -c ") + SOTTO_SOURCE_DIR +
                           "/configs/lab/synthetic-malcom.toml --rounds 60 --lab.eval_every 20 --progress none ";
  REQUIRE(Run("--version").exit_code == 0);
  std::system(("mkdir -p " + dir).c_str());
  const Outcome a = Run(base + "--metrics " + dir + "/a.jsonl");
  const Outcome b = Run(base + "--metrics " + dir + "/b.jsonl");
  const Outcome c = Run(base + "--seed 2 --metrics " + dir + "/c.jsonl");
  INFO(a.output);
  REQUIRE(a.exit_code == 0);
  REQUIRE(b.exit_code == 0);
  const std::string ma = ReadAll(dir + "/a.jsonl");
  CHECK(std::count(ma.begin(), ma.end(), '\n') == 60);
  CHECK(ma == ReadAll(dir + "/b.jsonl"));
  CHECK(ma != ReadAll(dir + "/c.jsonl"));
  CHECK(a.output.find("summary") != std::string::npos);
  std::system(("rm -rf " + dir).c_str());
}

TEST_CASE("sotto status without a node says so", "[daemon][cli]") {
  const Outcome o = Run("status --control /tmp/sotto-no-such-node.sock");
  CHECK(o.exit_code == 69);
  CHECK(o.output.find("no node answers at /tmp/sotto-no-such-node.sock") != std::string::npos);
  CHECK(Run("status").exit_code == 64);
}

}  // namespace
