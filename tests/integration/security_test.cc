// CURVE security with real `sotto node` processes on loopback: `sotto keygen`
// files, two allowed nodes forming a mesh, and a node whose key is not on their
// allow-list never getting in. Every process is stopped by its pid.

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "daemon/control_client.h"
#include "tests/support/node_process.h"

namespace {

using json = nlohmann::json;
using sotto::testing::NodeProcess;
using namespace std::chrono_literals;

std::string RunSotto(const std::string& args, int* exit_code) {
  FILE* pipe = ::popen((std::string(SOTTO_BINARY) + " " + args + " 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), pipe) != nullptr) out += buf.data();
  const int status = ::pclose(pipe);
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

std::string FirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::vector<std::string> Flags(const std::string& dir, const std::string& name, const std::string& allow) {
  return {"--data.source", "synthetic", "--data.synthetic_samples", "1000", "--data.synthetic_features", "20",
          "--data.synthetic_support", "5", "--model.kind", "softmax", "--algorithm.name", "malcom",
          "--algorithm.compressor", "dither:s=16", "--algorithm.batch_size", "16", "--gossip.eval_every", "0",
          "--gossip.min_round_ms", "20", "--gossip.round_timeout_ms", "300", "--gossip.shards", "1",
          "--membership.probe_interval_ms", "200", "--membership.probe_timeout_ms", "100",
          "--node.listen", "tcp://127.0.0.1:*", "--security.enabled", "true",
          "--security.secret_key_file", dir + "/" + name + ".key", "--security.public_key_file",
          dir + "/" + name + ".pub", "--security.allow_list_file", allow};
}

int CountAlive(const json& members) {
  if (!members.contains("members")) return -1;
  int n = 0;
  for (const auto& m : members["members"]) n += m.value("status", "") == "alive";
  return n;
}

TEST_CASE("sotto keygen writes a 0600 secret key and a public key, never printing the secret",
          "[integration][security]") {
  const std::string dir = std::filesystem::temp_directory_path() / ("sotto-keygen-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  int rc = -1;
  const std::string out = RunSotto("keygen -o " + dir + "/n", &rc);
  CHECK(rc == 0);
  struct stat st {};
  REQUIRE(::stat((dir + "/n.key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  const std::string secret = FirstLine(dir + "/n.key"), pub = FirstLine(dir + "/n.pub");
  CHECK(secret.size() == 40);
  CHECK(pub.size() == 40);
  CHECK(out.find(pub) != std::string::npos);
  CHECK(out.find(secret) == std::string::npos);
  // It never overwrites a key.
  RunSotto("keygen -o " + dir + "/n", &rc);
  CHECK(rc == 64);
  CHECK(FirstLine(dir + "/n.key") == secret);
  // A node refuses a secret key others can read, without printing it.
  ::chmod((dir + "/n.key").c_str(), 0644);
  std::ofstream(dir + "/allow") << "# the mesh\n" << pub << "  node n\n";
  const std::string refused = RunSotto("node --node.data_dir " + dir + "/d --security.enabled true "
                                       "--security.secret_key_file " + dir + "/n.key --security.allow_list_file " +
                                       dir + "/allow", &rc);
  CHECK(rc != 0);
  CHECK(refused.find("readable by others") != std::string::npos);
  CHECK(refused.find(secret) == std::string::npos);
  ::chmod((dir + "/n.key").c_str(), 0600);
  // With security on, a seed must carry its server key; an allow-list holds keys only.
  const std::string base = "node --node.data_dir " + dir + "/d --security.enabled true --security.secret_key_file " +
                           dir + "/n.key --security.allow_list_file ";
  const std::string no_key = RunSotto(base + dir + "/allow --node.join tcp://127.0.0.1:1", &rc);
  CHECK(rc == 78);
  CHECK(no_key.find("#<server public key>") != std::string::npos);
  std::ofstream(dir + "/bad-allow") << pub << "\n" << secret << "x\n";
  const std::string bad_line = RunSotto(base + dir + "/bad-allow", &rc);
  CHECK(rc != 0);
  CHECK(bad_line.find("line 2") != std::string::npos);
  CHECK(bad_line.find(secret) == std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("with CURVE on, allowed nodes form a mesh and a node with an unlisted key cannot join",
          "[integration][security]") {
  const std::string root = std::filesystem::temp_directory_path() / ("sotto-sec-" + std::to_string(::getpid()));
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root);
  int rc = -1;
  for (const char* n : {"a", "b", "c"}) {
    RunSotto("keygen -o " + root + "/" + n, &rc);
    REQUIRE(rc == 0);
  }
  // A and B allow each other; C allows everyone but nobody allows C.
  const std::string pa = FirstLine(root + "/a.pub"), pb = FirstLine(root + "/b.pub"), pc = FirstLine(root + "/c.pub");
  std::ofstream(root + "/allow-ab") << "# mesh keys\n" << pa << " a\n" << pb << " b\n";
  std::ofstream(root + "/allow-abc") << pa << "\n" << pb << "\n" << pc << "\n";

  NodeProcess a(root + "/a", Flags(root, "a", root + "/allow-ab"));
  a.Start();
  const std::string seed = a.Endpoint();
  CHECK(seed.ends_with("#" + pa));
  auto fb = Flags(root, "b", root + "/allow-ab");
  fb.insert(fb.end(), {"--node.join", seed});
  NodeProcess b(root + "/b", fb);
  b.Start();
  auto fc = Flags(root, "c", root + "/allow-abc");
  fc.insert(fc.end(), {"--node.join", seed});
  NodeProcess c(root + "/c", fc);
  c.Start();

  CHECK(NodeProcess::WaitFor([&] { return CountAlive(a.Members()) == 2 && CountAlive(b.Members()) == 2; }, 15s));
  // Both train together: each absorbs the other's residuals.
  CHECK(NodeProcess::WaitFor([&] {
    const json s = a.Status();
    return s.value("round", std::uint64_t{0}) > 20 && s.value("neighbours", json::array()).size() == 1;
  }, 15s));
  // C knocks (joins) and is refused at the handshake.
  CHECK(NodeProcess::WaitFor([&] { return a.Status().value("rejected_unauthenticated", std::uint64_t{0}) >= 1; }, 10s));
  const json sa = a.Status(), sc = c.Status(), mc = c.Members();
  INFO(sa.dump() << "\n" << sc.dump() << "\n" << c.Log());
  CHECK(CountAlive(a.Members()) == 2);
  CHECK(CountAlive(b.Members()) == 2);
  CHECK(CountAlive(mc) == 1);  // Only itself.
  CHECK(sc.value("neighbours", json::array()).empty());
  CHECK(sa.value("rejected_residuals", std::uint64_t{1}) == 0);
  CHECK(sa.value("rejected_envelopes", std::uint64_t{1}) == 0);
  CHECK(sa.value("security", "") == "curve");
  // No secret key in any log.
  for (const char* n : {"a", "b", "c"}) {
    const std::string secret = FirstLine(root + "/" + n + ".key");
    for (NodeProcess* p : {&a, &b, &c}) CHECK(p->Log().find(secret) == std::string::npos);
  }
  for (NodeProcess* p : {&a, &b, &c}) p->Kill();
  std::filesystem::remove_all(root);
}

// Asks the node's control socket for its status as user `uid` (in a child);
// returns whether an answer came back.
bool StatusAnsweredAs(uid_t uid, const std::string& socket) {
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    if (::setgid(uid) != 0 || ::setuid(uid) != 0) ::_exit(2);
    const auto answer = sotto::daemon::ControlRequest(socket, "status", 2000ms);
    ::_exit(answer.has_value() && answer->contains("round") ? 0 : 1);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) != 2);
  return WEXITSTATUS(status) == 0;
}

TEST_CASE("the control socket answers its owner only", "[integration][security]") {
  if (::getuid() != 0) {
    WARN("needs root to act as another user: skipped");
    return;
  }
  const std::string dir = std::filesystem::temp_directory_path() / ("sotto-ctl-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  NodeProcess node(dir, {"--data.source", "synthetic", "--data.synthetic_samples", "500", "--data.synthetic_features",
                         "10", "--gossip.eval_every", "0", "--gossip.min_round_ms", "50"});
  node.Start();
  node.Endpoint();
  const std::string socket = dir + "/control.sock";
  struct stat st {};
  REQUIRE(::stat(socket.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(StatusAnsweredAs(0, socket));  // The owner (root here).
  const uid_t nobody = 65534;
  CHECK_FALSE(StatusAnsweredAs(nobody, socket));  // Refused by the file mode...
  ::chmod(socket.c_str(), 0666);
  ::chmod(dir.c_str(), 0755);
  CHECK_FALSE(StatusAnsweredAs(nobody, socket));  // ... and, were it open, by SO_PEERCRED.
  CHECK(StatusAnsweredAs(0, socket));
  node.Kill();
  std::filesystem::remove_all(dir);
}

}  // namespace
