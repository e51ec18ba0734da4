// sotto_rogue: floods one sotto node on loopback with hostile messages (random bytes,
// truncated envelopes, lying headers, oversized frames, wrong-dimension vectors; see
// tests/integration/flooder.h) and, with --watch-pid/--watch-control, samples the
// victim every second before, during and after the flood (VmRSS, round, rejected
// counters) and writes a JSON report (and a gnuplot PNG). Used by bench/hostile/run.sh.
//
//   sotto_rogue --target tcp://127.0.0.1:PORT [--seconds 30] [--dimension 7850]
//               [--watch-pid PID --watch-control SOCK --out-json F --png F]
// Exit: 0 when every claim holds (or nothing is watched), 1 when one fails.

#include <signal.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "daemon/control_client.h"
#include "tests/integration/flooder.h"

namespace {

using json = nlohmann::json;

struct Sample {
  double t = 0;  // Seconds since the flood started (negative before).
  long rss_kb = -1;
  json status;   // Empty if the control socket did not answer.
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sotto_rogue: a hostile peer for bench/hostile"};
  sotto::testing::FloodOptions o;
  double seconds = 30, pre = 5, post = 5, rss_growth_limit_mb = 20;
  bool no_insider = false;
  long large_every_ms = 500, oversized_every_ms = 2000, insider_every_ms = 20;
  int watch_pid = 0;
  std::vector<int> mesh_pids;
  std::string control, out_json, png, commit = "unknown";
  app.add_option("--target", o.target, "The victim's endpoint")->required();
  app.add_option("--seconds", seconds, "How long to flood");
  app.add_option("--seed", o.seed, "Seeds every random choice");
  app.add_option("--dimension", o.dimension, "The victim's model dimension (never sent)");
  app.add_option("--rate", o.rate, "Small hostile messages per second");
  app.add_option("--large-bytes", o.large_bytes, "Payload bytes of a large valid envelope");
  app.add_option("--large-every-ms", large_every_ms, "One large envelope every this many ms (0 = never)");
  app.add_option("--oversized-every-ms", oversized_every_ms, "One oversized frame every this many ms (0 = never)");
  app.add_option("--insider-every-ms", insider_every_ms, "Insider residuals every this many ms");
  app.add_option("--round-lead", o.round_lead, "Insider residual round = latest round heard + this");
  app.add_flag("--no-insider", no_insider, "Do not join the mesh as a member");
  app.add_option("--watch-pid", watch_pid, "The victim's pid (samples VmRSS)");
  app.add_option("--watch-control", control, "The victim's control socket (samples status)");
  app.add_option("--mesh-pid", mesh_pids, "Other nodes that must still be alive at the end");
  app.add_option("--pre", pre, "Seconds sampled before the flood");
  app.add_option("--post", post, "Seconds sampled after the flood");
  app.add_option("--rss-growth-limit-mb", rss_growth_limit_mb, "Allowed VmRSS growth over the last 20 s of the flood");
  app.add_option("--out-json", out_json, "Report file");
  app.add_option("--png", png, "Plot of RSS and rounds vs time (gnuplot)");
  app.add_option("--commit", commit, "Git commit measured");
  CLI11_PARSE(app, argc, argv);
  o.insider = !no_insider;
  o.large_every = std::chrono::milliseconds(large_every_ms);
  o.oversized_every = std::chrono::milliseconds(oversized_every_ms);
  o.insider_every = std::chrono::milliseconds(insider_every_ms);
  ::signal(SIGPIPE, SIG_IGN);

  const bool watching = watch_pid > 0 && !control.empty();
  const auto flood_start = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<long>(pre * 1000));
  std::mutex mu;
  std::vector<Sample> samples;
  std::atomic<bool> stop{false};
  std::thread watcher;
  if (watching) {
    watcher = std::thread([&] {
      auto next = std::chrono::steady_clock::now();
      while (!stop.load()) {
        Sample s;
        s.t = std::chrono::duration<double>(std::chrono::steady_clock::now() - flood_start).count();
        s.rss_kb = sotto::testing::ProcessRssKb(watch_pid);
        auto st = sotto::daemon::ControlRequest(control, "status", std::chrono::milliseconds(900));
        if (st) s.status = *st;
        {
          std::lock_guard lock(mu);
          samples.push_back(std::move(s));
        }
        next += std::chrono::seconds(1);
        std::this_thread::sleep_until(next);
      }
    });
    std::this_thread::sleep_until(flood_start);
  }

  sotto::testing::Flooder flooder(o);
  const bool insider_ok = flooder.Run(std::chrono::milliseconds(static_cast<long>(seconds * 1000)));
  const auto& c = flooder.counts();
  json sent, blocked;
  for (int k = 0; k < static_cast<int>(sotto::testing::FloodKind::kCount); ++k) {
    const auto kind = static_cast<sotto::testing::FloodKind>(k);
    sent[sotto::testing::FloodKindName(kind)] = c.sent[static_cast<std::size_t>(k)];
    blocked[sotto::testing::FloodKindName(kind)] = c.blocked[static_cast<std::size_t>(k)];
  }
  json flood = {{"seconds", seconds},
                {"total_sent", c.total_sent()},
                {"sent", sent},
                {"would_block", blocked},
                {"insider_started", insider_ok && o.insider},
                {"insider_joined", c.insider_joined},
                {"insider_received", c.insider_received}};
  if (!watching) {
    std::printf("%s\n", flood.dump().c_str());
    return 0;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<long>(post * 1000)));
  stop = true;
  watcher.join();

  // Summaries: RSS, rounds, counters.
  const auto round_of = [](const Sample& s) { return s.status.value("round", std::uint64_t{0}); };
  const auto last_before = [&](double t) -> const Sample* {
    const Sample* best = nullptr;
    for (const auto& s : samples) {
      if (s.t <= t && !s.status.is_null()) best = &s;
    }
    return best;
  };
  long rss_max = 0;
  for (const auto& s : samples) rss_max = std::max(rss_max, s.rss_kb);
  const Sample* at_start = last_before(0.0);
  const Sample* at_end = last_before(seconds);
  // Growth over the last 20 s of the flood (its last two thirds when shorter).
  const double growth_window = std::min(20.0, seconds * 2 / 3);
  const Sample* at_end_minus_20 = last_before(seconds - growth_window);
  const Sample* final_sample = last_before(1e9);
  const Sample* first = samples.empty() ? nullptr : &samples.front();
  const bool alive = ::kill(watch_pid, 0) == 0 && final_sample != nullptr;
  bool mesh_alive = true;
  for (int p : mesh_pids) mesh_alive = mesh_alive && ::kill(p, 0) == 0;
  const double rss_growth_mb = at_end && at_end_minus_20 ? (at_end->rss_kb - at_end_minus_20->rss_kb) / 1024.0 : NAN;
  const std::uint64_t rounds_in_flood = at_end && at_start ? round_of(*at_end) - round_of(*at_start) : 0;
  const double rate_before = at_start && first && at_start->t > first->t
                                 ? static_cast<double>(round_of(*at_start) - round_of(*first)) / (at_start->t - first->t)
                                 : NAN;
  const double rate_during = at_end && at_start && at_end->t > at_start->t
                                 ? static_cast<double>(rounds_in_flood) / (at_end->t - at_start->t)
                                 : NAN;
  // The longest stretch without a round increment during the flood.
  double max_gap = 0, since = 0;
  std::uint64_t prev = at_start ? round_of(*at_start) : 0;
  for (const auto& s : samples) {
    if (s.t < 0 || s.t > seconds || s.status.is_null()) continue;
    if (round_of(s) > prev) {
      prev = round_of(s);
      since = s.t;
    }
    max_gap = std::max(max_gap, s.t - since);
  }
  const json last = final_sample ? final_sample->status : json::object();
  const std::uint64_t rejected = last.value("rejected_messages", std::uint64_t{0}) -
                                 (at_start ? at_start->status.value("rejected_messages", std::uint64_t{0}) : 0);

  json claims = json::array();
  bool pass = true;
  const auto claim = [&](const std::string& what, bool ok, const json& value) {
    claims.push_back({{"claim", what}, {"ok", ok}, {"value", value}});
    pass = pass && ok;
    std::fprintf(stderr, "[hostile] %s %s: %s\n", ok ? "PASS" : "FAIL", what.c_str(), value.dump().c_str());
  };
  claim("the victim is alive and answers status after the flood", alive, alive);
  claim("the rest of the mesh is alive", mesh_alive, static_cast<int>(mesh_pids.size()));
  claim("VmRSS growth over the last " + std::to_string(static_cast<int>(growth_window)) + " s of the flood <= " +
            std::to_string(static_cast<int>(rss_growth_limit_mb)) + " MB",
        std::isfinite(rss_growth_mb) && rss_growth_mb <= rss_growth_limit_mb, rss_growth_mb);
  claim("the victim's rounds advance during the flood", rounds_in_flood > 0, rounds_in_flood);
  claim("rejected-message counters count the flood", rejected > 0, rejected);
  // A lying round must not move the victim's round counter: at most twice what its
  // pre-flood pace allows (+50).
  const double plausible = std::isfinite(rate_before) ? 2 * rate_before * seconds + 50 : 1e18;
  claim("the victim's round stays plausible (no jump from a lying round)",
        static_cast<double>(rounds_in_flood) <= plausible, {{"rounds", rounds_in_flood}, {"at_most", plausible}});

  json series = json::array();
  for (const auto& s : samples) {
    series.push_back({{"t", s.t}, {"rss_mb", s.rss_kb / 1024.0},
                      {"round", s.status.is_null() ? json(nullptr) : json(round_of(s))},
                      {"rejected_messages", s.status.is_null() ? json(nullptr) : s.status.value("rejected_messages", json(nullptr))},
                      {"state", s.status.is_null() ? json("no answer") : s.status.value("state", json(""))}});
  }
  char date[64];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%FT%TZ", std::gmtime(&now));
  json report = {
      {"benchmark", "hostile"},
      {"date", date},
      {"commit", commit},
      {"setup", {{"target", o.target}, {"dimension", o.dimension}, {"rate_per_s", o.rate},
                 {"large_bytes", o.large_bytes}, {"large_every_ms", large_every_ms},
                 {"oversized_bytes", o.oversized_bytes}, {"oversized_every_ms", oversized_every_ms},
                 {"insider", o.insider}, {"insider_every_ms", insider_every_ms}, {"seed", o.seed}}},
      {"flood", flood},
      {"victim", {{"alive", alive}, {"rss_max_mb", rss_max / 1024.0},
                  {"rss_at_flood_start_mb", at_start ? json(at_start->rss_kb / 1024.0) : json(nullptr)},
                  {"rss_growth_window_s", growth_window},
                  {"rss_growth_over_window_mb", rss_growth_mb},
                  {"rounds_during_flood", rounds_in_flood},
                  {"rounds_per_s_before", rate_before}, {"rounds_per_s_during", rate_during},
                  {"max_round_gap_during_flood_s", max_gap},
                  {"rejected_during_flood", rejected},
                  {"rejected_messages", last.value("rejected_messages", json(nullptr))},
                  {"rejected_envelopes", last.value("rejected_envelopes", json(nullptr))},
                  {"rejected_residuals", last.value("rejected_residuals", json(nullptr))},
                  {"rejected_by_reason", last.value("rejected_by_reason", json(nullptr))},
                  {"last_reject_reason", last.value("last_reject_reason", json(nullptr))},
                  {"late_or_duplicate_residuals", last.value("late_or_duplicate_residuals", json(nullptr))},
                  {"rounds_timed_out", last.value("rounds_timed_out", json(nullptr))},
                  {"members", last.value("members", json(nullptr))},
                  {"state", last.value("state", json(nullptr))},
                  {"test_accuracy", last.value("test_accuracy", json(nullptr))}}},
      {"claims", claims},
      {"pass", pass},
      {"samples", series}};
  if (!out_json.empty()) std::ofstream(out_json) << report.dump(2) << "\n";
  std::printf("%s\n", report["victim"].dump().c_str());
  if (!png.empty()) {
    const std::string dat = out_json + ".dat", gp = out_json + ".gp";
    {
      std::ofstream d(dat);
      for (const auto& s : samples) {
        d << s.t << " " << s.rss_kb / 1024.0 << " ";
        if (s.status.is_null()) d << "NaN NaN\n";
        else d << round_of(s) << " " << s.status.value("rejected_messages", std::uint64_t{0}) << "\n";
      }
    }
    std::ofstream g(gp);
    g << "set terminal pngcairo size 1200,450 font ',10'\nset output '" << png << "'\n"
      << "set title 'sotto node under a " << seconds << " s hostile flood on loopback (" << c.total_sent()
      << " messages: random, truncated, lying headers, oversized, wrong dimension); commit " << commit << "'\n"
      << "set grid\nset xlabel 'seconds since the flood started'\nset ylabel 'VmRSS (MB)'\nset y2label 'round / rejected messages (thousands)'\n"
      << "set ytics nomirror\nset y2tics\nset yrange [0:*]\nset y2range [0:*]\nset key top left\n"
      << "set object 1 rect from 0, graph 0 to " << seconds << ", graph 1 fc rgb '#ffeeee' behind\n"
      << "plot '" << dat << "' using 1:2 with linespoints lw 2 title 'victim VmRSS (MB)', "
      << "'' using 1:3 axes x1y2 with lines lw 2 title 'victim round', "
      << "'' using 1:($4/1000) axes x1y2 with lines dt 2 title 'rejected messages (thousands)'\n";
    g.close();
    if (std::system(("gnuplot '" + gp + "'").c_str()) != 0) std::fprintf(stderr, "[hostile] gnuplot failed\n");
    std::remove(dat.c_str());
    std::remove(gp.c_str());
  }
  return pass ? 0 : 1;
}
