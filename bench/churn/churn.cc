// bench_churn: the churn scenario of issue 8. Starts a loopback mesh of N `sotto node`
// daemons training Fashion-MNIST softmax with MALCOM-PSGD (configs/mesh-local.toml,
// sharded as `sotto mesh` does) for a fixed number of rounds, twice with the same
// seed: once without faults (baseline) and once with churn: SIGKILL a quarter of the
// nodes at seeded random rounds, restart each later on the same data_dir and address
// (it resumes from its checkpoint and rejoins under the same id), and start fresh
// nodes mid-training through a random live member. Everything is observed through
// the nodes' control sockets (status / members JSON), polled every 100-200 ms.
//
// Measures: detection time per kill (SIGKILL -> every survivor lists the victim as
// dead) against the SWIM suspicion timeout, the longest gap between round increments
// of every survivor, rejoin time per restart (spawn -> every live member lists it
// alive) and the round it resumed from, join time per fresh node, and the final mean
// test accuracy of both runs. Writes OUT/churn.json and OUT/churn.png (gnuplot);
// exits 1 if a claim fails, 2 if the run itself broke. Processes are stopped by pid.
//
//   bench_churn --sotto PATH --config configs/mesh-local.toml [--quick] [--out bench/results]

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "daemon/control_client.h"

namespace {

using json = nlohmann::json;
using SteadyTime = std::chrono::steady_clock::time_point;
namespace fs = std::filesystem;

// Set by SIGINT/SIGTERM: the run stops and every node is stopped by pid.
volatile std::sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

struct Options {
  std::string sotto;
  std::string config;
  std::string out = "bench/results";
  std::string work;         // Scratch directory (data dirs, logs); removed at the end.
  std::string commit = "unknown";
  std::string name = "churn";  // Output file stem.
  int nodes = 12;
  int rounds = 2000;
  int eval_every = 50;      // Divides rounds, so every node evaluates at the last round.
  int checkpoint_every = 50;
  int min_round_ms = 50;    // Paces rounds so the schedule below fits the run on a loaded machine.
  double kill_fraction = 0.25;
  int joins = 2;
  std::uint64_t seed = 1;
  double kill_from = 0.1, kill_to = 0.4;  // Kill rounds, as fractions of `rounds`.
  double join_from = 0.2, join_to = 0.6;
  double restart_min_s = 10, restart_max_s = 15;  // SIGKILL -> restart.
  int probe_interval_ms = 1000, probe_timeout_ms = 500, suspicion_multiplier = 4;
  double stall_limit_s = 3.0;       // Longest allowed wait for a survivor's next round.
  double rejoin_limit_s = 15.0;     // Restart/join -> alive in every live view.
  double accuracy_tolerance = 0.01;
  double timeout_s = 900;           // Per run.
  std::vector<std::string> extra;   // More --section.key value pairs for every node.
};

double Seconds(SteadyTime a, SteadyTime b) { return std::chrono::duration<double>(b - a).count(); }

void Log(const std::string& s) {
  std::fprintf(stderr, "[churn] %s\n", s.c_str());
  std::fflush(stderr);
}

std::string Fixed(double v, int digits = 3) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}

// The suspicion timeout of net/membership.h: multiplier * max(1, log10 n) * interval.
double SuspicionSeconds(const Options& o, std::size_t live) {
  const double n = static_cast<double>(std::max<std::size_t>(live, 1));
  return o.suspicion_multiplier * std::max(1.0, std::log10(n)) * o.probe_interval_ms / 1000.0;
}

// One daemon slot: a data dir and, while running, a process.
struct Node {
  int index = 0;
  int shard = 0;
  std::string dir;
  std::string endpoint;  // Bound address (read from the log); restarts reuse it.
  std::string id;        // Hex id from status.
  pid_t pid = -1;
  int starts = 0;
  std::string log;       // Current log file.
  std::string kind = "initial";  // initial, or join (fresh node started mid-training).
  bool killed_ever = false;
  // From polling.
  std::uint64_t round = 0;
  std::string state;
  double accuracy = NAN;
  // Stalls, from polling while it trains. A round held from poll A to poll B certainly
  // lasted B - A: max_stall_s is a lower bound on the longest wait for a next round,
  // and immune to the poller itself being starved on a loaded machine. max_gap_s
  // (first poll of a round to first poll of the next) is an upper bound.
  double first_seen_s = -1;  // Run time of the first poll that saw `round`.
  double max_stall_s = 0, max_stall_at_s = 0;
  double max_gap_s = 0;
  std::uint64_t slow_rounds = 0;  // Rounds its own round_duration histogram puts above 2.5 s.
  std::vector<std::pair<double, std::uint64_t>> trace;  // (run time, round).
  bool running() const { return pid > 0; }
  std::string control() const { return dir + "/control.sock"; }
};

std::optional<json> Ask(const Node& n, const char* cmd) {
  auto r = sotto::daemon::ControlRequest(n.control(), cmd, std::chrono::milliseconds(1000));
  if (!r) return std::nullopt;
  return *r;
}

// Status of member `id` in a members answer; "absent" if not listed.
std::string MemberStatus(const json& members, const std::string& id) {
  for (const auto& m : members.value("members", json::array())) {
    if (m.value("id", "") == id) return m.value("status", "");
  }
  return "absent";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class Scenario {
 public:
  Scenario(const Options& o, bool faults) : o_(o), faults_(faults), rng_(o.seed) {}
  ~Scenario() { StopAll(); }

  // Runs the scenario; returns its JSON (with "ok" false if the run itself broke).
  json Run() {
    root_ = o_.work + (faults_ ? "/churn" : "/baseline");
    fs::remove_all(root_);
    fs::create_directories(root_);
    for (int i = 0; i < o_.nodes; ++i) AddNode(i, "initial");
    t0_ = std::chrono::steady_clock::now();
    if (!Spawn(nodes_[0], "")) return Broken("node 0 did not start");
    for (int i = 1; i < o_.nodes; ++i) {
      if (!Spawn(nodes_[static_cast<std::size_t>(i)], nodes_[0].endpoint)) return Broken("node did not start");
    }
    if (faults_) Schedule();
    const auto deadline = t0_ + std::chrono::duration<double>(o_.timeout_s);
    auto next_status = t0_;
    while (!g_stop && std::chrono::steady_clock::now() < deadline) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= next_status) {
        PollStatus();
        next_status = now + std::chrono::milliseconds(200);
      }
      if (faults_) Events();
      if (AllFinished() && EventsDone()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    PollStatus();
    if (g_stop) return Broken("interrupted");
    if (!AllFinished()) return Broken("timed out before every node finished " + std::to_string(o_.rounds) + " rounds");
    return Summary();
  }

 private:
  struct Kill {
    int victim = 0;
    std::uint64_t at_round = 0;
    double restart_after_s = 0;
    // Filled when it happens.
    bool done = false;
    double t_kill = -1;
    std::uint64_t victim_round = 0;  // Its last polled round.
    std::string victim_id;
    std::vector<int> observers;  // Running nodes at the kill.
    std::map<int, double> suspect_s, dead_s;  // Per observer: first seen suspect / dead.
    bool detected = false;
    double all_dead_s = -1;
    std::size_t live_at_kill = 0;
    bool restarted = false;
    double t_restart = -1;
    double rejoin_s = -1;
    bool rejoined = false;
    std::optional<std::uint64_t> resumed_round;
  };
  struct Join {
    std::uint64_t at_round = 0;
    int node = -1;
    double t_start = -1;
    double known_s = -1;
    bool done = false;
  };

  void AddNode(int shard, const std::string& kind) {
    Node n;
    n.index = static_cast<int>(nodes_.size());
    n.shard = shard;
    n.kind = kind;
    n.dir = root_ + "/node-" + std::to_string(n.index);
    nodes_.push_back(n);
  }

  double Now() const { return Seconds(t0_, std::chrono::steady_clock::now()); }

  // Starts `n` (first start: port *, else its old endpoint); waits for its
  // "listening on EP id ID" line. `join` empty: no seed.
  bool Spawn(Node& n, const std::string& join, int min_members = -1) {
    fs::create_directories(n.dir);
    n.log = n.dir + "/node.log." + std::to_string(n.starts++);
    std::vector<std::string> args{o_.sotto, "node", "--config", o_.config,
                                  "--node.data_dir", n.dir,
                                  "--node.listen", n.endpoint.empty() ? "tcp://127.0.0.1:*" : n.endpoint,
                                  "--node.log_level", "info",
                                  "--gossip.shard", std::to_string(n.shard),
                                  "--gossip.shards", std::to_string(o_.nodes),
                                  "--gossip.min_members", std::to_string(min_members > 0 ? min_members : (n.kind == "initial" && n.starts == 1 ? o_.nodes : 1)),
                                  "--gossip.rounds", std::to_string(o_.rounds),
                                  "--gossip.eval_every", std::to_string(o_.eval_every),
                                  "--gossip.checkpoint_every", std::to_string(o_.checkpoint_every),
                                  "--gossip.min_round_ms", std::to_string(o_.min_round_ms),
                                  "--membership.probe_interval_ms", std::to_string(o_.probe_interval_ms),
                                  "--membership.probe_timeout_ms", std::to_string(o_.probe_timeout_ms),
                                  "--membership.suspicion_multiplier", std::to_string(o_.suspicion_multiplier),
                                  "--node.seed", std::to_string(o_.seed)};
    if (!join.empty()) args.insert(args.end(), {"--node.join", join});
    args.insert(args.end(), o_.extra.begin(), o_.extra.end());
    const pid_t pid = ::fork();
    if (pid < 0) return false;
    if (pid == 0) {
      const int fd = ::open(n.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    n.pid = pid;
    n.first_seen_s = -1;
    // The endpoint and id from the log.
    const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < limit) {
      const std::string text = ReadFile(n.log);
      const auto at = text.find("listening on ");
      if (at != std::string::npos && text.find('\n', at) != std::string::npos) {
        std::istringstream line(text.substr(at + 13));
        std::string ep, id_word, id;
        line >> ep >> id_word >> id;
        n.endpoint = ep;
        n.id = id;
        return true;
      }
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        n.pid = -1;
        Log("node " + std::to_string(n.index) + " exited at start:\n" + text);
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  void SigKill(Node& n) {
    if (n.pid <= 0) return;
    ::kill(n.pid, SIGKILL);
    ::waitpid(n.pid, nullptr, 0);
    n.pid = -1;
  }

  void StopAll() {
    for (auto& n : nodes_) {
      if (n.pid > 0) ::kill(n.pid, SIGTERM);
    }
    const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (auto& n : nodes_) {
      while (n.pid > 0 && std::chrono::steady_clock::now() < limit) {
        if (::waitpid(n.pid, nullptr, WNOHANG) == n.pid) n.pid = -1;
        else std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      SigKill(n);
    }
  }

  // Seeded: which nodes die at which rounds, how long each stays down, when the
  // fresh nodes come.
  void Schedule() {
    const int kills = std::max(1, static_cast<int>(std::lround(o_.kill_fraction * o_.nodes)));
    std::vector<int> order(static_cast<std::size_t>(o_.nodes));
    for (int i = 0; i < o_.nodes; ++i) order[static_cast<std::size_t>(i)] = i;
    std::shuffle(order.begin(), order.end(), rng_);
    std::uniform_real_distribution<double> kill_at(o_.kill_from, o_.kill_to), join_at(o_.join_from, o_.join_to),
        down(o_.restart_min_s, o_.restart_max_s);
    for (int k = 0; k < kills; ++k) {
      Kill e;
      e.victim = order[static_cast<std::size_t>(k)];
      e.at_round = static_cast<std::uint64_t>(kill_at(rng_) * o_.rounds);
      e.restart_after_s = down(rng_);
      kills_.push_back(e);
    }
    std::sort(kills_.begin(), kills_.end(), [](const Kill& a, const Kill& b) { return a.at_round < b.at_round; });
    for (int j = 0; j < o_.joins; ++j) {
      Join e;
      e.at_round = static_cast<std::uint64_t>(join_at(rng_) * o_.rounds);
      joins_.push_back(e);
    }
    std::sort(joins_.begin(), joins_.end(), [](const Join& a, const Join& b) { return a.at_round < b.at_round; });
    std::string s;
    for (const auto& k : kills_) s += " kill node " + std::to_string(k.victim) + " at round " + std::to_string(k.at_round) + " (down " + Fixed(k.restart_after_s, 1) + " s);";
    for (const auto& j : joins_) s += " join at round " + std::to_string(j.at_round) + ";";
    Log("schedule:" + s);
  }

  void PollStatus() {
    for (auto& n : nodes_) {
      if (!n.running()) continue;
      int status = 0;
      if (::waitpid(n.pid, &status, WNOHANG) == n.pid) {  // Died on its own: a failure.
        Log("node " + std::to_string(n.index) + " exited unexpectedly:\n" + ReadFile(n.log));
        n.pid = -1;
        unexpected_exits_++;
        continue;
      }
      const auto s = Ask(n, "status");
      if (!s) continue;
      const auto round = s->value("round", std::uint64_t{0});
      n.state = s->value("state", "");
      if ((*s)["test_accuracy"].is_number()) n.accuracy = (*s)["test_accuracy"].get<double>();
      if (n.id.empty()) n.id = s->value("id", "");
      if (s->contains("histograms") && (*s)["histograms"].contains("round_duration")) {
        const json& h = (*s)["histograms"]["round_duration"];
        std::uint64_t upto = 0;
        for (const auto& b : h.value("buckets", json::array())) {
          if (b.is_array() && b.size() == 2 && b[0].is_number() && b[0].get<double>() <= 2.5) upto = b[1].get<std::uint64_t>();
        }
        n.slow_rounds = h.value("count", std::uint64_t{0}) - upto;
      }
      const bool training = n.state == "training";
      const double tn = Now();  // When this answer came.
      if (round != n.round || n.trace.empty() || n.first_seen_s < 0) {
        if (n.first_seen_s >= 0 && training && round > n.round) n.max_gap_s = std::max(n.max_gap_s, tn - n.first_seen_s);
        n.round = round;
        n.first_seen_s = tn;
        n.trace.emplace_back(tn, round);
      } else if (training && tn - n.first_seen_s > n.max_stall_s) {
        n.max_stall_s = tn - n.first_seen_s;
        n.max_stall_at_s = tn;
      }
      if (!training) n.first_seen_s = -1;  // Waiting for members / finished: not a stall.
    }
  }

  std::uint64_t MedianRound() const {
    std::vector<std::uint64_t> r;
    for (const auto& n : nodes_) {
      if (n.running()) r.push_back(n.round);
    }
    if (r.empty()) return 0;
    std::sort(r.begin(), r.end());
    return r[r.size() / 2];
  }

  std::vector<int> Running(int except = -1) const {
    std::vector<int> r;
    for (const auto& n : nodes_) {
      if (n.running() && n.index != except) r.push_back(n.index);
    }
    return r;
  }

  const std::string& RandomLiveEndpoint(int except) {
    auto live = Running(except);
    std::uniform_int_distribution<std::size_t> pick(0, live.size() - 1);
    return nodes_[static_cast<std::size_t>(live[pick(rng_)])].endpoint;
  }

  // True once every running node other than `who` lists `id` as `want`.
  bool SeenByAll(int who, const std::string& id, const std::string& want) {
    for (int i : Running(who)) {
      const auto m = Ask(nodes_[static_cast<std::size_t>(i)], "members");
      if (!m || MemberStatus(*m, id) != want) return false;
    }
    return true;
  }

  void Events() {
    const double t = Now();
    const std::uint64_t median = MedianRound();
    for (auto& k : kills_) {
      Node& v = nodes_[static_cast<std::size_t>(k.victim)];
      if (!k.done && median >= k.at_round && v.running()) {
        k.observers = Running(k.victim);
        k.live_at_kill = k.observers.size() + 1;
        k.victim_round = v.round;
        k.victim_id = v.id;
        k.t_kill = Now();
        SigKill(v);
        v.killed_ever = true;
        v.trace.emplace_back(k.t_kill, v.round);
        k.done = true;
        Log("t=" + Fixed(k.t_kill, 1) + " s: SIGKILL node " + std::to_string(k.victim) + " (" + k.victim_id +
            ") at its round " + std::to_string(k.victim_round));
      }
      if (k.done && !k.detected) {
        for (int i : k.observers) {
          Node& obs = nodes_[static_cast<std::size_t>(i)];
          if (!obs.running() || k.dead_s.count(i)) continue;
          const auto m = Ask(obs, "members");
          if (!m) continue;
          const std::string st = MemberStatus(*m, k.victim_id);
          if (st == "suspect" && !k.suspect_s.count(i)) k.suspect_s[i] = Now() - k.t_kill;
          if (st == "dead" || st == "absent") k.dead_s[i] = Now() - k.t_kill;
        }
        bool all = true;
        for (int i : k.observers) all = all && (k.dead_s.count(i) || !nodes_[static_cast<std::size_t>(i)].running());
        if (all) {
          k.detected = true;
          for (const auto& [i, s] : k.dead_s) k.all_dead_s = std::max(k.all_dead_s, s);
          Log("  node " + std::to_string(k.victim) + " dead at all " + std::to_string(k.dead_s.size()) + " observers after " +
              Fixed(k.all_dead_s) + " s (suspicion timeout " + Fixed(SuspicionSeconds(o_, k.live_at_kill)) + " s)");
        } else if (t - k.t_kill > 60) {
          k.detected = true;  // Gave up: recorded as undetected (all_dead_s < 0).
          Log("  node " + std::to_string(k.victim) + " NOT dead at every observer after 60 s");
        }
      }
      if (k.detected && !k.restarted && t >= k.t_kill + k.restart_after_s) {
        k.t_restart = Now();
        if (!Spawn(v, RandomLiveEndpoint(k.victim), 1)) {
          Log("restart of node " + std::to_string(k.victim) + " failed");
          k.restarted = true;
          k.rejoined = true;
          continue;
        }
        k.restarted = true;
        Log("t=" + Fixed(k.t_restart, 1) + " s: restarted node " + std::to_string(k.victim) + " on " + v.endpoint);
      }
      if (k.restarted && !k.rejoined && v.running()) {
        if (!k.resumed_round) {
          const std::string text = ReadFile(v.log);
          const auto at = text.find("checkpoint: resumed at round ");
          if (at != std::string::npos) k.resumed_round = std::strtoull(text.c_str() + at + 29, nullptr, 10);
        }
        if (SeenByAll(k.victim, k.victim_id, "alive")) {
          k.rejoined = true;
          k.rejoin_s = Now() - k.t_restart;
          Log("  node " + std::to_string(k.victim) + " alive at every member " + Fixed(k.rejoin_s) +
              " s after its restart; resumed at round " + (k.resumed_round ? std::to_string(*k.resumed_round) : "NONE"));
        } else if (t - k.t_restart > 60) {
          k.rejoined = true;
          Log("  node " + std::to_string(k.victim) + " NOT alive everywhere 60 s after restart");
        }
      }
    }
    for (auto& j : joins_) {
      if (j.node < 0 && median >= j.at_round) {
        AddNode(static_cast<int>(nodes_.size()) % o_.nodes, "join");
        j.node = static_cast<int>(nodes_.size()) - 1;
        j.t_start = Now();
        const std::string seed = RandomLiveEndpoint(j.node);
        if (!Spawn(nodes_.back(), seed, 1)) {
          Log("fresh node failed to start");
          j.done = true;
          continue;
        }
        Log("t=" + Fixed(j.t_start, 1) + " s: fresh node " + std::to_string(j.node) + " joins through " + seed);
      }
      if (j.node >= 0 && !j.done) {
        Node& n = nodes_[static_cast<std::size_t>(j.node)];
        if (!n.id.empty() && SeenByAll(j.node, n.id, "alive")) {
          j.done = true;
          j.known_s = Now() - j.t_start;
          Log("  fresh node " + std::to_string(j.node) + " alive at every member after " + Fixed(j.known_s) + " s");
        } else if (Now() - j.t_start > 60) {
          j.done = true;
        }
      }
    }
  }

  bool EventsDone() const {
    for (const auto& k : kills_) {
      if (!k.rejoined) return false;
    }
    for (const auto& j : joins_) {
      if (!j.done) return false;
    }
    return true;
  }

  bool AllFinished() const {
    int running = 0;
    for (const auto& n : nodes_) {
      if (!n.running()) continue;
      ++running;
      if (n.state != "finished") return false;
    }
    return running > 0;
  }

  json Broken(const std::string& why) {
    Log("run broke: " + why);
    json j = Summary();
    j["ok"] = false;
    j["error"] = why;
    return j;
  }

  json Summary() {
    json j;
    j["faults"] = faults_;
    j["ok"] = unexpected_exits_ == 0;
    j["wall_seconds"] = Now();
    double acc_sum = 0;
    int acc_n = 0;
    json per_node = json::array();
    double max_gap = 0, max_stall = 0;
    double orig_sum = 0;
    int orig_n = 0;
    for (const auto& n : nodes_) {
      json e = {{"index", n.index}, {"id", n.id}, {"shard", n.shard}, {"kind", n.kind},
                {"killed", n.killed_ever}, {"final_round", n.round}, {"state", n.state},
                {"max_stall_s", n.max_stall_s}, {"max_stall_at_s", n.max_stall_at_s},
                {"max_round_gap_upper_s", n.max_gap_s}, {"rounds_over_2_5_s", n.slow_rounds},
                {"test_accuracy", std::isnan(n.accuracy) ? json(nullptr) : json(n.accuracy)}};
      per_node.push_back(e);
      if (n.running() && !std::isnan(n.accuracy)) {
        acc_sum += n.accuracy;
        ++acc_n;
        if (n.kind == "initial") {
          orig_sum += n.accuracy;
          ++orig_n;
        }
      }
      if (!n.killed_ever && n.kind == "initial") {
        max_stall = std::max(max_stall, n.max_stall_s);
        max_gap = std::max(max_gap, n.max_gap_s);
      }
    }
    j["nodes"] = per_node;
    j["final_nodes"] = acc_n;
    j["mean_test_accuracy"] = acc_n ? json(acc_sum / acc_n) : json(nullptr);
    j["mean_test_accuracy_initial_nodes"] = orig_n ? json(orig_sum / orig_n) : json(nullptr);
    j["survivor_max_stall_s"] = max_stall;
    j["survivor_max_round_gap_upper_s"] = max_gap;
    json kills = json::array();
    for (const auto& k : kills_) {
      json d = json::object(), s = json::object();
      for (const auto& [i, v] : k.dead_s) d[nodes_[static_cast<std::size_t>(i)].id] = v;
      for (const auto& [i, v] : k.suspect_s) s[nodes_[static_cast<std::size_t>(i)].id] = v;
      double first_suspect = -1;
      for (const auto& [i, v] : k.suspect_s) first_suspect = first_suspect < 0 ? v : std::min(first_suspect, v);
      kills.push_back({{"victim", k.victim}, {"victim_id", k.victim_id}, {"scheduled_round", k.at_round},
                       {"victim_round", k.victim_round}, {"t_kill_s", k.t_kill},
                       {"observers", k.observers.size()}, {"live_members_at_kill", k.live_at_kill},
                       {"suspicion_timeout_s", SuspicionSeconds(o_, k.live_at_kill)},
                       {"first_suspect_s", first_suspect < 0 ? json(nullptr) : json(first_suspect)},
                       {"detected_by_all_s", k.all_dead_s < 0 ? json(nullptr) : json(k.all_dead_s)},
                       {"dead_seen_s", d}, {"suspect_seen_s", s},
                       {"down_s", k.restart_after_s}, {"t_restart_s", k.t_restart},
                       {"rejoin_s", k.rejoin_s < 0 ? json(nullptr) : json(k.rejoin_s)},
                       {"resumed_round", k.resumed_round ? json(*k.resumed_round) : json(nullptr)}});
    }
    j["kills"] = kills;
    json joins = json::array();
    for (const auto& e : joins_) {
      joins.push_back({{"node", e.node}, {"scheduled_round", e.at_round}, {"t_start_s", e.t_start},
                       {"known_by_all_s", e.known_s < 0 ? json(nullptr) : json(e.known_s)}});
    }
    j["joins"] = joins;
    return j;
  }

 public:
  const std::vector<Node>& nodes() const { return nodes_; }

 private:
  const Options& o_;
  bool faults_;
  std::mt19937_64 rng_;
  std::string root_;
  SteadyTime t0_;
  std::vector<Node> nodes_;
  std::vector<Kill> kills_;
  std::vector<Join> joins_;
  int unexpected_exits_ = 0;
};

// Timeline and event data for gnuplot, then the plot.
void Plot(const Options& o, const json& run, const std::vector<Node>& nodes, const std::string& png) {
  const std::string dir = o.work + "/plot";
  fs::create_directories(dir);
  {
    std::ofstream f(dir + "/trace.dat");
    for (const auto& n : nodes) {
      f << "# node " << n.index << " " << n.kind << (n.killed_ever ? " killed" : "") << "\n";
      double prev = -1;
      for (const auto& [t, r] : n.trace) {
        if (prev >= 0 && t - prev > 3) f << "\n";  // Down (killed): break the line.
        f << t << " " << r << "\n";
        prev = t;
      }
      f << "\n\n";
    }
  }
  std::ofstream ev(dir + "/events.dat");
  std::ofstream det(dir + "/detect.dat");
  int k = 0;
  for (const auto& e : run["kills"]) {
    ++k;
    ev << "kill " << e["t_kill_s"].get<double>() << " " << e["victim_round"].get<std::uint64_t>() << "\n";
    if (e["t_restart_s"].get<double>() >= 0) {
      ev << "restart " << e["t_restart_s"].get<double>() << " "
         << (e["resumed_round"].is_number() ? e["resumed_round"].get<std::uint64_t>() : 0) << "\n";
    }
    det << k << " " << (e["first_suspect_s"].is_number() ? e["first_suspect_s"].get<double>() : NAN) << " "
        << (e["detected_by_all_s"].is_number() ? e["detected_by_all_s"].get<double>() : NAN) << " "
        << e["suspicion_timeout_s"].get<double>() << " "
        << (e["rejoin_s"].is_number() ? e["rejoin_s"].get<double>() : NAN) << "\n";
  }
  int jn = 0;
  std::ofstream jd(dir + "/joins.dat");
  for (const auto& e : run["joins"]) {
    ++jn;
    ev << "join " << e["t_start_s"].get<double>() << " 0\n";
    jd << jn << " " << (e["known_by_all_s"].is_number() ? e["known_by_all_s"].get<double>() : NAN) << "\n";
  }
  ev.close();
  det.close();
  jd.close();
  std::ofstream gp(dir + "/churn.gp");
  gp << "set terminal pngcairo size 1500,550 font ',10'\n"
     << "set output '" << png << "'\n"
     << "set multiplot layout 1,2 title 'sotto churn: " << o.nodes << " nodes on 127.0.0.1, Fashion-MNIST softmax, MALCOM-PSGD, "
     << o.rounds << " rounds; SIGKILL + restart (same address/data dir), fresh joins (commit " << o.commit << ")'\n"
     << "set grid\nset key top left\n"
     << "set title 'round of every node vs time (red x: SIGKILL, green +: restart at resumed round, blue: fresh join)'\n"
     << "set xlabel 'seconds since launch'\nset ylabel 'round'\n"
     << "plot for [i=0:" << nodes.size() - 1 << "] '" << dir << "/trace.dat' index i using 1:2 with lines lc rgb '#888888' notitle, \\\n"
     << "  '" << dir << "/events.dat' using (strcol(1) eq 'kill' ? $2 : NaN):3 with points pt 2 ps 2.5 lw 3 lc rgb 'red' title 'SIGKILL', \\\n"
     << "  '' using (strcol(1) eq 'restart' ? $2 : NaN):3 with points pt 1 ps 2.5 lw 3 lc rgb '#008800' title 'restart (resumed round)', \\\n"
     << "  '' using (strcol(1) eq 'join' ? $2 : NaN):3 with points pt 7 ps 1.5 lc rgb 'blue' title 'fresh node joins'\n"
     << "set title 'membership: per kill and per join'\n"
     << "set xlabel 'event (kill k / join j)'\nset ylabel 'seconds'\nset yrange [0:*]\nset xrange [0.5:"
     << std::max(k, jn) + 0.5 << "]\nset xtics 1\nset key below\n"
     << "plot '" << dir << "/detect.dat' using ($1-0.15):2 with points pt 6 ps 2 lw 2 title 'kill: first suspect', \\\n"
     << "  '' using ($1-0.15):3 with points pt 7 ps 2 lc rgb 'red' title 'kill: dead at every survivor', \\\n"
     << "  '' using ($1-0.15):4 with points pt 1 ps 3 lw 2 lc rgb 'black' title 'suspicion timeout 4 max(1,log10 n) T', \\\n"
     << "  '' using ($1+0.05):5 with points pt 5 ps 2 lc rgb '#008800' title 'restart: alive at every member', \\\n"
     << "  '" << dir << "/joins.dat' using ($1+0.2):2 with points pt 9 ps 2 lc rgb 'blue' title 'fresh join: alive at every member'\n"
     << "unset multiplot\n";
  gp.close();
  if (std::system(("gnuplot '" + dir + "/churn.gp'").c_str()) != 0) Log("gnuplot failed");
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  bool quick = false;
  CLI::App app{"bench_churn: churn scenario (kills, restarts, joins) on a loopback mesh"};
  app.add_option("--sotto", o.sotto, "The sotto binary")->required();
  app.add_option("--config", o.config, "Node config (configs/mesh-local.toml)")->required();
  app.add_option("--out", o.out, "Where churn.json / churn.png go");
  app.add_option("--work", o.work, "Scratch directory (default: a new one under /tmp)");
  app.add_option("--commit", o.commit, "Git commit measured (recorded in the JSON)");
  app.add_option("--name", o.name, "Output file stem");
  app.add_option("-n,--nodes", o.nodes);
  app.add_option("--rounds", o.rounds);
  app.add_option("--eval-every", o.eval_every);
  app.add_option("--checkpoint-every", o.checkpoint_every);
  app.add_option("--min-round-ms", o.min_round_ms);
  app.add_option("--joins", o.joins);
  app.add_option("--seed", o.seed);
  app.add_option("--restart-min-s", o.restart_min_s);
  app.add_option("--restart-max-s", o.restart_max_s);
  app.add_option("--timeout", o.timeout_s, "Per run, seconds");
  app.add_option("--extra", o.extra, "More flags for every node, e.g. --extra=--data.max_train --extra=6000");
  app.add_flag("--quick", quick, "8 nodes, 600 rounds, 1 join: about a minute per run");
  CLI11_PARSE(app, argc, argv);
  if (quick) {
    o.nodes = 8;
    o.rounds = 600;
    o.joins = 1;
    o.min_round_ms = 40;
    o.eval_every = 50;
    o.checkpoint_every = 25;
    o.kill_from = 0.1;
    o.kill_to = 0.3;
    o.join_from = 0.2;
    o.join_to = 0.4;
    o.restart_min_s = 6;
    o.restart_max_s = 8;
  }
  if (o.rounds % o.eval_every != 0) {
    std::fprintf(stderr, "bench_churn: --rounds must be a multiple of --eval-every\n");
    return 64;
  }
  ::signal(SIGINT, OnSignal);
  ::signal(SIGTERM, OnSignal);
  bool own_work = false;
  if (o.work.empty()) {
    char tmpl[] = "/tmp/sotto-churn.XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return 70;
    o.work = tmpl;
    own_work = true;
  }
  fs::create_directories(o.out);

  Log("baseline: " + std::to_string(o.nodes) + " nodes, " + std::to_string(o.rounds) + " rounds, no faults");
  json baseline;
  {
    Scenario s(o, false);
    baseline = s.Run();
  }
  Log("baseline: mean test accuracy " + baseline["mean_test_accuracy"].dump() + " in " +
      Fixed(baseline["wall_seconds"].get<double>(), 1) + " s");
  if (g_stop) return 130;
  Log("churn: same seed and rounds, with kills, restarts and joins");
  json churn;
  std::vector<Node> churn_nodes;
  {
    Scenario s(o, true);
    churn = s.Run();
    churn_nodes = s.nodes();
  }

  // Claims.
  json claims = json::array();
  bool pass = true;
  const auto claim = [&](const std::string& what, bool ok, const json& value) {
    claims.push_back({{"claim", what}, {"ok", ok}, {"value", value}});
    pass = pass && ok;
    Log(std::string(ok ? "PASS " : "FAIL ") + what + ": " + value.dump());
  };
  claim("both runs completed without a daemon crash", baseline.value("ok", false) && churn.value("ok", false),
        {{"baseline", baseline.value("error", "ok")}, {"churn", churn.value("error", "ok")}});
  // "Within the suspicion time": from the first suspicion anywhere to dead at every
  // survivor, within the suspicion timeout plus one probe period (the "dead" news
  // rides on the next messages) and the 100 ms poll. How long the first suspicion
  // takes depends on when some member happens to probe the victim (reported).
  const double slack = o.probe_interval_ms / 1000.0 + 0.1;
  for (const auto& k : churn["kills"]) {
    const bool all = k["detected_by_all_s"].is_number() && k["first_suspect_s"].is_number();
    const double spread = all ? k["detected_by_all_s"].get<double>() - k["first_suspect_s"].get<double>() : NAN;
    claim("node " + std::to_string(k["victim"].get<int>()) + " marked dead by every survivor within the suspicion timeout (+ " +
              Fixed(slack, 1) + " s) of its first suspicion",
          all && spread <= k["suspicion_timeout_s"].get<double>() + slack,
          {{"first_suspect_s", k["first_suspect_s"]}, {"detected_by_all_s", k["detected_by_all_s"]},
           {"suspicion_timeout_s", k["suspicion_timeout_s"]}});
    const bool resumed = k["resumed_round"].is_number() && k["resumed_round"].get<std::uint64_t>() > 0 &&
                         k["resumed_round"].get<std::uint64_t>() + static_cast<std::uint64_t>(o.checkpoint_every) >= k["victim_round"].get<std::uint64_t>();
    claim("node " + std::to_string(k["victim"].get<int>()) + " restarted from its checkpoint (at most checkpoint_every rounds lost)",
          resumed, {{"resumed_round", k["resumed_round"]}, {"round_at_kill", k["victim_round"]}});
    const bool rejoined = k["rejoin_s"].is_number() && k["rejoin_s"].get<double>() <= o.rejoin_limit_s;
    claim("node " + std::to_string(k["victim"].get<int>()) + " alive again at every member within " + Fixed(o.rejoin_limit_s, 0) + " s of its restart",
          rejoined, k["rejoin_s"]);
  }
  for (const auto& j : churn["joins"]) {
    claim("fresh node " + std::to_string(j["node"].get<int>()) + " alive at every member within " + Fixed(o.rejoin_limit_s, 0) + " s",
          j["known_by_all_s"].is_number() && j["known_by_all_s"].get<double>() <= o.rejoin_limit_s, j["known_by_all_s"]);
  }
  claim("no survivor stalls: no round held longer than " + Fixed(o.stall_limit_s, 1) + " s (seen by polling)",
        churn["survivor_max_stall_s"].get<double>() <= o.stall_limit_s,
        {{"churn", churn["survivor_max_stall_s"]}, {"baseline", baseline["survivor_max_stall_s"]},
         {"churn_upper_bound", churn["survivor_max_round_gap_upper_s"]}});
  const bool have_acc = baseline["mean_test_accuracy"].is_number() && churn["mean_test_accuracy"].is_number();
  const double diff = have_acc ? churn["mean_test_accuracy"].get<double>() - baseline["mean_test_accuracy"].get<double>() : NAN;
  claim("final mean test accuracy within " + Fixed(100 * o.accuracy_tolerance, 1) + " point of the fault-free run",
        have_acc && std::fabs(diff) <= o.accuracy_tolerance,
        {{"baseline", baseline["mean_test_accuracy"]}, {"churn", churn["mean_test_accuracy"]},
         {"difference", have_acc ? json(diff) : json(nullptr)}});

  // Distributions over kills / restarts.
  std::vector<double> det, rej;
  for (const auto& k : churn["kills"]) {
    if (k["detected_by_all_s"].is_number()) det.push_back(k["detected_by_all_s"].get<double>());
    if (k["rejoin_s"].is_number()) rej.push_back(k["rejoin_s"].get<double>());
  }
  const auto stats = [](std::vector<double> v) {
    if (v.empty()) return json(nullptr);
    std::sort(v.begin(), v.end());
    double s = 0;
    for (double x : v) s += x;
    return json{{"n", v.size()}, {"min", v.front()}, {"median", v[v.size() / 2]}, {"mean", s / static_cast<double>(v.size())}, {"max", v.back()}};
  };
  char date[64];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%FT%TZ", std::gmtime(&now));
  double load[3] = {0, 0, 0};
  ::getloadavg(load, 3);
  json result = {{"benchmark", "churn"},
                 {"date", date},
                 {"commit", o.commit},
                 {"host_cores", std::thread::hardware_concurrency()},
                 {"loadavg_at_end", {load[0], load[1], load[2]}},
                 {"setup",
                  {{"nodes", o.nodes}, {"rounds", o.rounds}, {"config", o.config}, {"seed", o.seed},
                   {"kills", churn["kills"].size()}, {"joins", o.joins}, {"min_round_ms", o.min_round_ms},
                   {"eval_every", o.eval_every}, {"checkpoint_every", o.checkpoint_every},
                   {"probe_interval_ms", o.probe_interval_ms}, {"probe_timeout_ms", o.probe_timeout_ms},
                   {"suspicion_multiplier", o.suspicion_multiplier}, {"down_s", {o.restart_min_s, o.restart_max_s}},
                   {"poll", "status every 200 ms, members every 100 ms while an event is pending"}}},
                 {"detection_s", stats(det)},
                 {"rejoin_s", stats(rej)},
                 {"accuracy", {{"baseline", baseline["mean_test_accuracy"]}, {"churn", churn["mean_test_accuracy"]},
                               {"difference", have_acc ? json(diff) : json(nullptr)}}},
                 {"claims", claims},
                 {"pass", pass},
                 {"baseline", baseline},
                 {"churn", churn}};
  const std::string json_path = o.out + "/" + o.name + ".json";
  std::ofstream(json_path) << result.dump(2) << "\n";
  Plot(o, churn, churn_nodes, o.out + "/" + o.name + ".png");
  Log("wrote " + json_path + " and " + o.out + "/" + o.name + ".png");
  std::printf("churn: %s | detection (s) %s | rejoin (s) %s | accuracy baseline %s churn %s | survivor longest held round %.2f s\n",
              pass ? "PASS" : "FAIL", result["detection_s"].dump().c_str(), result["rejoin_s"].dump().c_str(),
              baseline["mean_test_accuracy"].dump().c_str(), churn["mean_test_accuracy"].dump().c_str(),
              churn["survivor_max_stall_s"].get<double>());
  if (own_work) fs::remove_all(o.work);
  if (!baseline.value("ok", false) || !churn.value("ok", false)) return 2;
  return pass ? 0 : 1;
}
