#include "daemon/plot_command.h"

#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include <nlohmann/json.hpp>

#include "daemon/cli.h"

extern char** environ;

namespace sotto::daemon {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The first of `keys` that the row holds as a number, else NaN (null = absent).
double Column(const nlohmann::json& row, std::initializer_list<const char*> keys) {
  for (const char* k : keys) {
    const auto it = row.find(k);
    if (it != row.end() && it->is_number()) return it->get<double>();
  }
  return kNaN;
}

// A gnuplot single-quoted string: '' stands for one quote; newlines are not allowed.
std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "''";
    } else if (c == '\n' || c == '\r') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out + "'";
}

// One line of one panel: the (x, y) pairs where both are finite (and x > 0 on a log axis).
struct Series {
  std::string block;  // Datablock name, "$d0_acc_r".
  std::string title;
  int color = 1;
  bool dashed = false;
};

struct Panel {
  Panel(std::string t, std::string x, std::string y, bool logx = false)
      : title(std::move(t)), xlabel(std::move(x)), ylabel(std::move(y)), log_x(logx) {}
  std::string title, xlabel, ylabel;
  bool log_x = false;
  bool log_y = false;
  std::vector<Series> series;
};

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

// Legend names: file stems, made unique with the directory when two runs share one.
std::vector<std::string> LegendNames(const std::vector<MetricsRun>& runs) {
  std::map<std::string, int> count;
  for (const auto& r : runs) ++count[r.name];
  std::vector<std::string> names;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    names.push_back(count[runs[i].name] > 1 ? runs[i].name + " #" + std::to_string(i + 1) : runs[i].name);
  }
  return names;
}

}  // namespace

Result<MetricsRun> ReadMetricsJsonl(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFound(path + ": cannot open metrics file");
  MetricsRun run;
  run.name = std::filesystem::path(path).stem().string();
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const auto row = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    const std::string where = path + ":" + std::to_string(line_no) + ": ";
    if (row.is_discarded()) return InvalidArgument(where + "not valid JSON");
    if (!row.is_object()) return InvalidArgument(where + "want a JSON object per line");
    const double round = Column(row, {"round"});
    if (std::isnan(round)) return InvalidArgument(where + "no numeric \"round\"");
    run.round.push_back(round);
    run.cumulative_bits.push_back(Column(row, {"cumulative_bits_per_node", "cumulative_uplink_bits_per_node"}));
    run.train_loss.push_back(Column(row, {"train_loss", "loss"}));
    run.test_loss.push_back(Column(row, {"test_loss"}));
    run.test_accuracy.push_back(Column(row, {"test_accuracy"}));
    run.density.push_back(Column(row, {"density"}));
    run.consensus_distance.push_back(Column(row, {"consensus_distance"}));
  }
  if (in.bad()) return NotFound(path + ": read error");
  if (run.round.empty()) return InvalidArgument(path + ": no metrics rows");
  return run;
}

std::string GnuplotScript(const std::vector<MetricsRun>& runs, const PlotOptions& options) {
  std::ostringstream data, plots;
  const auto names = LegendNames(runs);

  // Writes the finite points of (x, y) as a datablock; returns false (and writes
  // nothing) when there are none, so empty lines never reach `plot`.
  auto block = [&data](const std::string& name, const std::vector<double>& x, const std::vector<double>& y,
                       bool log_x) {
    std::ostringstream rows;
    bool any = false;
    for (std::size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!std::isfinite(x[i]) || !std::isfinite(y[i]) || (log_x && x[i] <= 0)) continue;
      rows << Num(x[i]) << ' ' << Num(y[i]) << '\n';
      any = true;
    }
    if (any) data << name << " << EOD\n" << rows.str() << "EOD\n";
    return any;
  };

  Panel acc_r{"test accuracy vs round", "round", "test accuracy"};
  Panel acc_b{"test accuracy vs bits", "cumulative bits per node", "test accuracy", true};
  Panel loss_r{"loss vs round (dashed: test)", "round", "loss"};
  Panel loss_b{"loss vs bits (dashed: test)", "cumulative bits per node", "loss", true};
  Panel dens{"model density vs round", "round", "density (non-zeros / parameters)"};
  Panel cons{"consensus distance vs round", "round", "consensus distance"};
  bool consensus_positive = true;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const MetricsRun& r = runs[i];
    const int color = static_cast<int>(i % 8) + 1;
    const std::string p = "$d" + std::to_string(i) + "_";
    auto add = [&](Panel& panel, const std::string& id, const std::vector<double>& x, const std::vector<double>& y,
                   const std::string& title, bool dashed) {
      if (block(p + id, x, y, panel.log_x)) panel.series.push_back({p + id, title, color, dashed});
    };
    add(acc_r, "acc_r", r.round, r.test_accuracy, names[i], false);
    add(acc_b, "acc_b", r.cumulative_bits, r.test_accuracy, names[i], false);
    add(loss_r, "trl_r", r.round, r.train_loss, names[i], false);
    add(loss_r, "tel_r", r.round, r.test_loss, names[i] + " (test)", true);
    add(loss_b, "trl_b", r.cumulative_bits, r.train_loss, names[i], false);
    add(loss_b, "tel_b", r.cumulative_bits, r.test_loss, names[i] + " (test)", true);
    add(dens, "den_r", r.round, r.density, names[i], false);
    add(cons, "con_r", r.round, r.consensus_distance, names[i], false);
    for (double v : r.consensus_distance) {
      if (std::isfinite(v) && v <= 0) consensus_positive = false;
    }
  }
  cons.log_y = consensus_positive;  // Consensus distance spans decades; log only when it can.

  std::string title = options.title;
  if (title.empty()) {
    for (std::size_t i = 0; i < names.size(); ++i) title += (i ? ", " : "") + names[i];
  }
  std::ostringstream s;
  s << "# Written by `sotto plot`; run it again with: gnuplot THIS_FILE\n"
    << "set terminal pngcairo size " << options.width_px << "," << options.height_px
    << " noenhanced font 'sans,10'\n"
    << "set output " << Quote(options.output) << "\n"
    << data.str() << "set multiplot layout 3,2 title " << Quote(title) << "\n"
    << "set grid\nset key on inside right top box opaque\n";
  for (const Panel* panel : {&acc_r, &acc_b, &loss_r, &loss_b, &dens, &cons}) {
    s << "set title " << Quote(panel->title) << "\nset xlabel " << Quote(panel->xlabel) << "\nset ylabel "
      << Quote(panel->ylabel) << "\nunset logscale\nunset label\nset autoscale\n";
    if (panel->log_x) s << "set logscale x 10\nset format x '10^%L'\n";
    else s << "set format x '%g'\n";
    if (panel->log_y) s << "set logscale y 10\n";
    if (panel->series.empty()) {
      // Nothing to draw: an empty frame that says so (plotting no data is an error).
      s << "set label 'no data' at graph 0.5, 0.5 center\nset xrange [0:1]\nset yrange [0:1]\n"
        << "unset logscale\nplot 2 notitle\n";
      continue;
    }
    s << "plot ";
    for (std::size_t k = 0; k < panel->series.size(); ++k) {
      const Series& e = panel->series[k];
      s << (k ? ", \\\n     " : "") << e.block << " using 1:2 with lines lw 2 lc " << e.color
        << (e.dashed ? " dt 2" : " dt 1") << " title " << Quote(e.title);
    }
    s << "\n";
  }
  s << "unset multiplot\nset output\n";
  return s.str();
}

Status PlotMetrics(const PlotOptions& options) {
  if (options.inputs.empty()) return InvalidArgument("no metrics files given");
  if (options.output.empty()) return InvalidArgument("no output file given (-o)");
  std::vector<MetricsRun> runs;
  for (const auto& path : options.inputs) {
    SOTTO_ASSIGN_OR_RETURN(MetricsRun run, ReadMetricsJsonl(path));
    runs.push_back(std::move(run));
  }
  namespace fs = std::filesystem;
  const fs::path out(options.output);
  if (out.has_parent_path() && !fs::is_directory(out.parent_path())) {
    return InvalidArgument(options.output + ": directory " + out.parent_path().string() + " does not exist");
  }

  // The script goes to script_path when asked for, else to a temporary file.
  std::string script_path = options.script_path;
  bool temporary = false;
  if (script_path.empty()) {
    std::string tmpl = (fs::temp_directory_path() / "sotto-plot-XXXXXX.gp").string();
    const int fd = ::mkstemps(tmpl.data(), 3);
    if (fd < 0) return Internal(std::string("cannot create a temporary script: ") + std::strerror(errno));
    ::close(fd);
    script_path = tmpl;
    temporary = true;
  }
  {
    std::ofstream f(script_path, std::ios::trunc);
    f << GnuplotScript(runs, options);
    if (!f) return Internal(script_path + ": cannot write the gnuplot script");
  }
  std::error_code ec;
  fs::remove(out, ec);  // So a stale file never passes for this run's output.

  std::string exe = options.gnuplot;
  std::vector<char*> argv{exe.data(), script_path.data(), nullptr};
  pid_t pid = 0;
  const int err = ::posix_spawnp(&pid, exe.c_str(), nullptr, nullptr, argv.data(), environ);
  Status result = Status::Ok();
  if (err != 0) {
    result = Unavailable("cannot run '" + options.gnuplot + "': " + std::strerror(err) +
                         " (Debian: apt-get install gnuplot-nox)");
  } else {
    int wstatus = 0;
    while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
      result = Internal(options.gnuplot + " failed on " + (temporary ? "the generated script" : script_path) +
                        " (exit " + std::to_string(WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1) + ")");
    } else if (!fs::exists(out, ec) || fs::file_size(out, ec) == 0) {
      result = Internal(options.gnuplot + " wrote no image to " + options.output);
    }
  }
  if (temporary) fs::remove(script_path, ec);
  return result;
}

int RunPlotCommand(const PlotOptions& options) {
  const Status s = PlotMetrics(options);
  if (s.ok()) {
    std::printf("sotto plot: wrote %s (%zu run%s)\n", options.output.c_str(), options.inputs.size(),
                options.inputs.size() == 1 ? "" : "s");
    return kExitOk;
  }
  std::fprintf(stderr, "sotto plot: %s\n", s.message().c_str());
  switch (s.code()) {
    case StatusCode::kNotFound:
    case StatusCode::kInvalidArgument: return kExitDataErr;
    case StatusCode::kUnavailable: return kExitUnavailable;
    default: return kExitFailure;
  }
}

}  // namespace sotto::daemon
