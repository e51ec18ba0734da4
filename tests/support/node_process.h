#pragma once

// NodeProcess: one real `sotto node` child process for integration tests, with its
// log file and control socket; SIGKILLed and reaped by pid on destruction.
// Requires SOTTO_BINARY (the path of `sotto`) to be defined by the test target.
// Not thread-safe.

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "daemon/control_client.h"

namespace sotto::testing {

class NodeProcess {
 public:
  // `dir` is the node's data_dir (control.sock, checkpoint.bin, node.log.N).
  NodeProcess(std::string dir, std::vector<std::string> extra) : dir_(std::move(dir)), extra_(std::move(extra)) {}
  ~NodeProcess() { Kill(); }
  NodeProcess(const NodeProcess&) = delete;
  NodeProcess& operator=(const NodeProcess&) = delete;

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
  std::string Endpoint(std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
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
    }, timeout);
    INFO(Log());
    REQUIRE(ok);
    return ep;
  }

  nlohmann::json Status() const { return Request("status"); }
  nlohmann::json Members() const { return Request("members"); }
  nlohmann::json Request(const char* cmd) const {
    auto r = sotto::daemon::ControlRequest(dir_ + "/control.sock", cmd, std::chrono::milliseconds(2000));
    return r ? *r : nlohmann::json();
  }

  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_; }

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
  // True if the process has exited (reaps it).
  bool Exited() {
    if (pid_ <= 0) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return true;
    }
    return false;
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

  // Polls `condition` every 50 ms until true or `timeout` passes.
  static bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (condition()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
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

}  // namespace sotto::testing
