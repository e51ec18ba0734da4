#include "daemon/mesh_command.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/cli.h"
#include "daemon/control_client.h"
#include "daemon/node_config.h"

namespace sotto::daemon {

namespace {

volatile sig_atomic_t g_interrupted = 0;
void OnSignal(int) { g_interrupted = 1; }

struct Child {
  pid_t pid = -1;
  std::string dir;
  std::string log;
  std::string endpoint;
  bool exited = false;
  int exit_code = 0;
  nlohmann::json last_status;
  double rss_mb = NAN;
  double cpu_s = NAN;
};

std::string SelfExe() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("sotto") : p.string();
}

// Starts `sotto node` with `args`; stdout and stderr go to `log`.
pid_t Spawn(const std::vector<std::string>& args, const std::string& log) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd >= 0) {
    ::dup2(fd, STDOUT_FILENO);
    ::dup2(fd, STDERR_FILENO);
  }
  ::setpgid(0, 0);  // Ctrl-C reaches the launcher only; it stops the nodes itself.
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  ::execv(argv[0], argv.data());
  std::perror("exec sotto node");
  ::_exit(127);
}

// Waits until the node's log shows its endpoint ("listening on <ep> ...").
std::string WaitForEndpoint(Child& c, double timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < deadline && !g_interrupted) {
    std::ifstream in(c.log);
    std::string line;
    while (std::getline(in, line)) {
      const auto at = line.find("listening on ");
      if (at != std::string::npos) {
        std::istringstream s(line.substr(at + 13));
        std::string ep;
        s >> ep;
        return ep;
      }
    }
    int status = 0;
    if (::waitpid(c.pid, &status, WNOHANG) == c.pid) {
      c.exited = true;
      c.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return "";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return "";
}

void Reap(std::vector<Child>& children) {
  for (auto& c : children) {
    if (c.exited) continue;
    int status = 0;
    if (::waitpid(c.pid, &status, WNOHANG) == c.pid) {
      c.exited = true;
      c.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
  }
}

void StopAll(std::vector<Child>& children) {
  for (auto& c : children) {
    if (!c.exited) ::kill(c.pid, SIGTERM);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    Reap(children);
    bool all = true;
    for (const auto& c : children) all = all && c.exited;
    if (all) return;
    if (std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (auto& c : children) {
    if (!c.exited) {
      std::fprintf(stderr, "sotto mesh: node pid %d did not stop in 10 s: killing it\n", c.pid);
      ::kill(c.pid, SIGKILL);
      ::waitpid(c.pid, nullptr, 0);
      c.exited = true;
      c.exit_code = 137;
    }
  }
}

// Resident memory (MB) and CPU seconds of a running process, from /proc.
void ReadUsage(pid_t pid, double* rss_mb, double* cpu_s) {
  *rss_mb = NAN;
  *cpu_s = NAN;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) *rss_mb = std::stod(line.substr(6)) / 1024.0;
  }
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto close = all.rfind(')');
  if (close == std::string::npos) return;
  std::istringstream fields(all.substr(close + 2));
  std::string f;
  double utime = 0, stime = 0;
  for (int k = 3; fields >> f; ++k) {
    if (k == 14) utime = std::stod(f);
    if (k == 15) {
      stime = std::stod(f);
      break;
    }
  }
  *cpu_s = (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double Number(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : NAN;
}

}  // namespace

int RunMesh(const MeshOptions& o) {
  if (o.nodes < 1 || o.nodes > 256) {
    std::fprintf(stderr, "sotto mesh: -n must be in [1, 256]\n");
    return kExitUsage;
  }
  // Validate the node config once, here, so a typo fails before anything starts.
  ConfigOverrides probe = o.overrides;
  probe["gossip.shards"] = std::to_string(o.nodes);
  auto config = LoadNodeConfig(o.config_path, probe);
  if (!config) {
    std::fprintf(stderr, "sotto mesh: %s\n", config.error().ToString().c_str());
    return kExitConfig;
  }
  std::string run_dir = o.run_dir;
  if (run_dir.empty()) {
    char stamp[32];
    const std::time_t now = std::time(nullptr);
    std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
    run_dir = "runs/mesh-" + std::string(stamp);
  }
  std::error_code ec;
  std::filesystem::create_directories(run_dir, ec);
  if (ec) {
    std::fprintf(stderr, "sotto mesh: cannot create %s: %s\n", run_dir.c_str(), ec.message().c_str());
    return kExitFailure;
  }
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);

  const std::string exe = SelfExe();
  const auto start = std::chrono::steady_clock::now();
  std::vector<Child> children(static_cast<std::size_t>(o.nodes));
  std::printf("sotto mesh: %d nodes on 127.0.0.1, %s %s on %s (%s), logs in %s/\n", o.nodes,
              config->training.gossip.algorithm.c_str(), config->training.model.c_str(),
              config->training.data.source.c_str(), config->topology.c_str(), run_dir.c_str());
  std::fflush(stdout);
  for (int i = 0; i < o.nodes && !g_interrupted; ++i) {
    Child& c = children[static_cast<std::size_t>(i)];
    c.dir = run_dir + "/node-" + std::to_string(i);
    std::filesystem::create_directories(c.dir, ec);
    c.log = c.dir + "/node.log";
    std::vector<std::string> args{exe, "node"};
    if (!o.config_path.empty()) args.insert(args.end(), {"--config", o.config_path});
    for (const auto& [k, v] : o.overrides) args.insert(args.end(), {"--" + k, v});
    args.insert(args.end(), {"--node.listen", "tcp://127.0.0.1:*", "--node.data_dir", c.dir,
                             "--gossip.shard", std::to_string(i), "--gossip.shards", std::to_string(o.nodes),
                             "--gossip.min_members", std::to_string(o.nodes)});
    if (i > 0) args.insert(args.end(), {"--node.join", children[0].endpoint});
    c.pid = Spawn(args, c.log);
    if (i == 0) {
      c.endpoint = WaitForEndpoint(c, 60);
      if (c.endpoint.empty()) {
        std::fprintf(stderr, "sotto mesh: the first node did not start; see %s\n", c.log.c_str());
        StopAll(children);
        return kExitFailure;
      }
    }
  }
  for (auto& c : children) {
    if (c.endpoint.empty() && !g_interrupted) c.endpoint = WaitForEndpoint(c, 60);
  }

  const bool tty = ::isatty(STDERR_FILENO) != 0;
  auto last_line = std::chrono::steady_clock::now() - std::chrono::seconds(10);
  bool finished = false;
  int failed = 0;
  double time_to_target = NAN, mb_to_target = NAN, rounds_to_target = NAN;
  while (!g_interrupted) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    Reap(children);
    double rounds = 0, loss = 0, acc = 0, sent = 0;
    int n_loss = 0, n_acc = 0, answered = 0, done = 0, min_alive = o.nodes;
    std::uint64_t min_round = UINT64_MAX;
    failed = 0;
    for (auto& c : children) {
      if (c.exited) {
        ++failed;
        continue;
      }
      auto s = ControlRequest(c.dir + "/control.sock", "status", std::chrono::milliseconds(1000));
      if (!s) continue;
      c.last_status = *s;
      ++answered;
      const auto r = s->value("round", std::uint64_t{0});
      rounds += static_cast<double>(r);
      min_round = std::min(min_round, r);
      if (!std::isnan(Number(*s, "loss"))) { loss += Number(*s, "loss"); ++n_loss; }
      if (!std::isnan(Number(*s, "test_accuracy"))) { acc += Number(*s, "test_accuracy"); ++n_acc; }
      sent += Number(*s, "bytes_sent");
      min_alive = std::min(min_alive, static_cast<int>(s->value("membership_size", 0)));
      done += s->value("state", "") == "finished";
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (answered > 0 && (tty || std::chrono::steady_clock::now() - last_line > std::chrono::seconds(5))) {
      last_line = std::chrono::steady_clock::now();
      std::fprintf(stderr, "%s[%6.1fs] round %6.0f  loss %.4f  accuracy %s  sent %.2f MB  members %d/%d%s",
                   tty ? "\r" : "", secs, rounds / answered, n_loss ? loss / n_loss : NAN,
                   n_acc ? (std::to_string(acc / n_acc).substr(0, 6)).c_str() : "  -   ", sent / 1e6, min_alive,
                   o.nodes, tty ? "   " : "\n");
      std::fflush(stderr);
    }
    if (failed > 0) {
      std::fprintf(stderr, "\nsotto mesh: %d node(s) exited early; see their logs in %s/\n", failed, run_dir.c_str());
      break;
    }
    if (o.target_accuracy > 0 && n_acc == o.nodes && acc / n_acc >= o.target_accuracy && std::isnan(time_to_target)) {
      time_to_target = secs;
      mb_to_target = sent / 1e6 / o.nodes;
      rounds_to_target = rounds / answered;
      std::fprintf(stderr, "%ssotto mesh: mean accuracy %.4f >= %.3f after %.1f s, %.0f rounds, %.3f MB sent per node\n",
                   tty ? "\n" : "", acc / n_acc, o.target_accuracy, secs, rounds_to_target, mb_to_target);
      finished = true;
      break;
    }
    if (done == o.nodes) {
      finished = true;
      break;
    }
    if (o.timeout_s > 0 && secs > o.timeout_s) {
      std::fprintf(stderr, "\nsotto mesh: timeout after %.0f s\n", secs);
      break;
    }
  }
  if (tty) std::fprintf(stderr, "\n");
  if (g_interrupted) std::fprintf(stderr, "sotto mesh: interrupted: stopping the nodes\n");
  // Final statuses and usage, then a graceful stop (SIGTERM: checkpoint + leave).
  for (auto& c : children) {
    if (c.exited) continue;
    ReadUsage(c.pid, &c.rss_mb, &c.cpu_s);
    auto s = ControlRequest(c.dir + "/control.sock", "status", std::chrono::milliseconds(1000));
    if (s) c.last_status = *s;
  }
  StopAll(children);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::printf("\n%-5s %-18s %7s %9s %8s %9s %9s %6s %7s %6s %5s\n", "node", "id", "round", "accuracy", "loss",
              "sent MB", "recv MB", "reject", "RSS MB", "CPU s", "exit");
  nlohmann::json summary;
  double acc_sum = 0;
  int acc_n = 0;
  for (std::size_t i = 0; i < children.size(); ++i) {
    const auto& s = children[i].last_status;
    const double a = Number(s, "test_accuracy");
    if (!std::isnan(a)) { acc_sum += a; ++acc_n; }
    std::printf("%-5zu %-18s %7llu %9.4f %8.4f %9.2f %9.2f %6.0f %7.1f %6.1f %5d\n", i, s.value("id", "?").c_str(),
                static_cast<unsigned long long>(s.value("round", std::uint64_t{0})), a, Number(s, "loss"),
                Number(s, "bytes_sent") / 1e6, Number(s, "bytes_received") / 1e6, Number(s, "rejected_messages"),
                children[i].rss_mb, children[i].cpu_s, children[i].exit_code);
    nlohmann::json node = s;
    node["rss_mb"] = std::isnan(children[i].rss_mb) ? nlohmann::json(nullptr) : nlohmann::json(children[i].rss_mb);
    node["cpu_seconds"] = std::isnan(children[i].cpu_s) ? nlohmann::json(nullptr) : nlohmann::json(children[i].cpu_s);
    node["exit_code"] = children[i].exit_code;
    summary["nodes"].push_back(node);
  }
  std::printf("\nmean test accuracy %.4f over %d nodes, %.1f s wall, run directory %s\n",
              acc_n ? acc_sum / acc_n : NAN, acc_n, wall, run_dir.c_str());
  if (!o.summary_path.empty()) {
    summary["wall_seconds"] = wall;
    summary["mean_test_accuracy"] = acc_n ? acc_sum / acc_n : 0.0;
    auto num = [](double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); };
    summary["target_accuracy"] = o.target_accuracy;
    summary["seconds_to_target"] = num(time_to_target);
    summary["mb_sent_per_node_to_target"] = num(mb_to_target);
    summary["rounds_to_target"] = num(rounds_to_target);
    std::ofstream(o.summary_path) << summary.dump(2) << '\n';
  }
  if (g_interrupted) return 130;
  return finished ? kExitOk : kExitFailure;
}

}  // namespace sotto::daemon
