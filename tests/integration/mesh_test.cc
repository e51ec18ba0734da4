// Starts real `sotto node` processes on loopback and checks the mesh through their
// control sockets: membership, training, SIGKILL and restart from a checkpoint,
// and hostile bytes from a raw ZeroMQ socket. Every process is stopped by its pid.

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "daemon/control_client.h"

namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// One `sotto node` process; killed (SIGKILL) and reaped on destruction if still running.
class NodeProcess {
 public:
  NodeProcess(std::string dir, std::vector<std::string> extra) : dir_(std::move(dir)), extra_(std::move(extra)) {}
  ~NodeProcess() { Kill(); }

  void Start() {
    std::filesystem::create_directories(dir_);
    log_ = dir_ + "/node.log." + std::to_string(starts_++);
    std::vector<std::string> args{SOTTO_BINARY, "node", "--node.data_dir", dir_};
    args.insert(args.end(), extra_.begin(), extra_.end());
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      const int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }

  // The endpoint from the "listening on" line (waits for it).
  std::string Endpoint() {
    std::string ep;
    const bool ok = WaitFor([&] {
      std::ifstream in(log_);
      std::string line;
      while (std::getline(in, line)) {
        const auto at = line.find("listening on ");
        if (at != std::string::npos) {
          std::istringstream(line.substr(at + 13)) >> ep;
          return true;
        }
      }
      return false;
    }, 60s);
    INFO(Log());
    REQUIRE(ok);
    return ep;
  }

  json Status() const {
    auto r = sotto::daemon::ControlRequest(dir_ + "/control.sock", "status", 2000ms);
    return r ? *r : json();
  }
  json Members() const {
    auto r = sotto::daemon::ControlRequest(dir_ + "/control.sock", "members", 2000ms);
    return r ? *r : json();
  }

  void Signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
  }
  // Waits for the process to exit; returns its exit code (or 128+signal).
  int Wait() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  void Kill() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  std::string Log() const {
    std::ifstream in(log_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  static bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (condition()) return true;
      std::this_thread::sleep_for(50ms);  // Polling a condition with a deadline, not hoping.
    }
    return condition();
  }

 private:
  std::string dir_;
  std::vector<std::string> extra_;
  std::string log_;
  int starts_ = 0;
  pid_t pid_ = -1;
};

std::vector<std::string> CommonFlags() {
  return {"--data.source", "synthetic", "--data.synthetic_samples", "3000", "--data.synthetic_features", "50",
          "--data.synthetic_support", "5", "--model.kind", "softmax", "--algorithm.name", "malcom",
          "--algorithm.lr", "0.2", "--algorithm.compressor", "dither:s=16", "--algorithm.consensus_step", "0.3",
          "--algorithm.batch_size", "16", "--gossip.eval_every", "20", "--gossip.checkpoint_every", "20",
          "--gossip.min_round_ms", "20", "--gossip.round_timeout_ms", "300", "--gossip.shards", "5",
          "--membership.probe_interval_ms", "200", "--membership.probe_timeout_ms", "100",
          "--node.log_level", "info"};
}

int CountState(const json& members, const std::string& state) {
  int n = 0;
  if (!members.contains("members")) return -1;
  for (const auto& m : members["members"]) n += m.value("status", "") == state;
  return n;
}

TEST_CASE("five real nodes form a mesh, train, survive SIGKILL and resume from a checkpoint",
          "[integration][mesh]") {
  const std::string root = std::filesystem::temp_directory_path() / ("sotto-it-" + std::to_string(::getpid()));
  std::filesystem::remove_all(root);
  std::vector<std::unique_ptr<NodeProcess>> nodes;
  for (int i = 0; i < 5; ++i) {
    auto flags = CommonFlags();
    flags.insert(flags.end(), {"--gossip.shard", std::to_string(i), "--node.listen", "tcp://127.0.0.1:*"});
    if (i > 0) flags.insert(flags.end(), {"--node.join", nodes[0]->Endpoint()});
    nodes.push_back(std::make_unique<NodeProcess>(root + "/node-" + std::to_string(i), flags));
    nodes.back()->Start();
  }
  // Everyone sees everyone.
  for (auto& n : nodes) {
    INFO(n->Log());
    CHECK(NodeProcess::WaitFor([&] { return CountState(n->Members(), "alive") == 5; }, 20s));
  }
  // Training makes progress and the accuracy is well above chance (0.5).
  CHECK(NodeProcess::WaitFor([&] {
    const json s = nodes[1]->Status();
    return s.value("round", std::uint64_t{0}) >= 100 && s["test_accuracy"].is_number() && s["test_accuracy"].get<double>() > 0.7;
  }, 60s));
  const json before = nodes[2]->Status();
  INFO(before.dump());
  CHECK(before["neighbours"].size() == 2);  // A ring of 5.

  // SIGKILL node 3: the others mark it dead and drop it from their neighbour weights.
  const std::string victim_endpoint = nodes[3]->Endpoint();
  const std::string victim_id = nodes[3]->Status().value("id", "");
  REQUIRE_FALSE(victim_id.empty());
  const std::uint64_t victim_round = nodes[3]->Status().value("round", std::uint64_t{0});
  nodes[3]->Kill();
  for (int i : {0, 1, 2, 4}) {
    CHECK(NodeProcess::WaitFor([&] {
      const json m = nodes[i]->Members();
      bool dead = false;
      for (const auto& e : m.value("members", json::array())) dead |= e.value("id", "") == victim_id && e.value("status", "") == "dead";
      const json s = nodes[i]->Status();
      bool neighbour = false;
      for (const auto& nb : s.value("neighbours", json::array())) neighbour |= nb.value("id", "") == victim_id;
      return dead && !neighbour;
    }, 15s));
  }
  // Training goes on without it.
  const std::uint64_t r0 = nodes[0]->Status().value("round", std::uint64_t{0});
  CHECK(NodeProcess::WaitFor([&] { return nodes[0]->Status().value("round", std::uint64_t{0}) > r0 + 20; }, 20s));

  // Restart it on the same address (same id): it resumes from its checkpoint and rejoins.
  auto flags = CommonFlags();
  flags.insert(flags.end(), {"--gossip.shard", "3", "--node.listen", victim_endpoint, "--node.join", nodes[0]->Endpoint()});
  nodes[3] = std::make_unique<NodeProcess>(root + "/node-3", flags);
  nodes[3]->Start();
  CHECK(NodeProcess::WaitFor([&] { return nodes[3]->Log().find("checkpoint: resumed at round") != std::string::npos; }, 20s));
  CHECK(NodeProcess::WaitFor([&] { return nodes[3]->Status().value("round", std::uint64_t{0}) >= victim_round - victim_round % 20; }, 20s));
  for (int i : {0, 2, 4}) {
    CHECK(NodeProcess::WaitFor([&] { return CountState(nodes[i]->Members(), "alive") == 5; }, 20s));
  }
  CHECK(nodes[3]->Status().value("id", "") == victim_id);

  // Graceful stop: SIGTERM checkpoints, leaves, exits 0; the others see "left".
  nodes[4]->Signal(SIGTERM);
  CHECK(nodes[4]->Wait() == 0);
  CHECK(NodeProcess::WaitFor([&] { return CountState(nodes[0]->Members(), "left") == 1; }, 10s));
  for (auto& n : nodes) n->Kill();
  std::filesystem::remove_all(root);
}

TEST_CASE("malformed envelopes from a raw socket are counted and dropped while training goes on",
          "[integration][hostile]") {
  const std::string root = std::filesystem::temp_directory_path() / ("sotto-hostile-" + std::to_string(::getpid()));
  std::filesystem::remove_all(root);
  auto flags = CommonFlags();
  flags.insert(flags.end(), {"--gossip.shards", "1", "--node.listen", "tcp://127.0.0.1:*"});
  NodeProcess node(root, flags);
  node.Start();
  const std::string endpoint = node.Endpoint();
  REQUIRE(NodeProcess::WaitFor([&] { return node.Status().value("round", std::uint64_t{0}) > 5; }, 20s));

  zmq::context_t ctx;
  zmq::socket_t rogue(ctx, zmq::socket_type::dealer);
  const char id[9] = {'S', 1, 2, 3, 4, 5, 6, 7, 8};
  rogue.set(zmq::sockopt::routing_id, zmq::const_buffer(id, 9));
  rogue.set(zmq::sockopt::linger, 0);
  rogue.connect(endpoint);
  const std::vector<std::string> junk = {"", "\x01", "garbage that is not msgpack", std::string(100, '\x95'),
                                          std::string("\x95\x01\x08\xcf\x00\x00\x00\x00\x00\x00\x00\x01\x00\xc4\x00", 15)};
  for (int k = 0; k < 50; ++k) {
    const auto& j = junk[static_cast<std::size_t>(k) % junk.size()];
    (void)rogue.send(zmq::buffer(j), zmq::send_flags::dontwait);
  }
  CHECK(NodeProcess::WaitFor([&] { return node.Status().value("rejected_messages", std::uint64_t{0}) >= 40; }, 10s));
  const std::uint64_t r = node.Status().value("round", std::uint64_t{0});
  CHECK(NodeProcess::WaitFor([&] { return node.Status().value("round", std::uint64_t{0}) > r + 10; }, 10s));
  const json s = node.Status();
  INFO(s.dump());
  CHECK_FALSE(s.value("last_reject_reason", "").empty());
  node.Signal(SIGTERM);
  CHECK(node.Wait() == 0);
  std::filesystem::remove_all(root);
}

}  // namespace
