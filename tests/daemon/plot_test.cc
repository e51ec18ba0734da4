// `sotto plot`: reading JSONL metrics (errors carry the line number), the gnuplot
// script, and a real PNG when gnuplot is installed.

#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "daemon/cli.h"
#include "daemon/plot_command.h"

namespace {

namespace fs = std::filesystem;
using sotto::daemon::GnuplotScript;
using sotto::daemon::MetricsRun;
using sotto::daemon::PlotMetrics;
using sotto::daemon::PlotOptions;
using sotto::daemon::ReadMetricsJsonl;

// A fresh directory under the system temp dir, removed at scope exit.
struct TempDir {
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "sotto-plot-test-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string File(const std::string& name) const { return (path / name).string(); }
  fs::path path;
};

void Write(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
}

// A small lab-style run: evaluations every other round, nulls in between.
std::string LabJsonl(double acc_scale) {
  std::string out;
  for (int r = 0; r <= 10; ++r) {
    const bool eval = r % 2 == 0;
    char line[512];
    std::snprintf(line, sizeof line,
                  "{\"round\":%d,\"epoch\":%.2f,\"train_loss\":%.3f,\"test_loss\":%s,\"test_accuracy\":%s,"
                  "\"node_accuracy_mean\":null,\"density\":%.3f,\"consensus_distance\":%.4f,"
                  "\"message_bits\":1000,\"bits_sent_per_node\":2000,\"cumulative_bits_per_node\":%d,"
                  "\"active_nodes\":4}\n",
                  r, r * 0.1, 2.0 / (r + 1), eval ? std::to_string(2.1 / (r + 1)).c_str() : "null",
                  eval ? std::to_string(acc_scale * r / 10.0).c_str() : "null", 0.5 - r * 0.01, 1.0 / (r + 2),
                  r * 2000);
    out += line;
  }
  return out;
}

bool GnuplotInstalled() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

TEST_CASE("metrics JSONL is read with nulls as gaps", "[daemon][plot]") {
  TempDir dir;
  const std::string path = dir.File("malcom-ring.jsonl");
  Write(path, LabJsonl(0.8) + "\n");  // A trailing blank line is fine.
  auto run = ReadMetricsJsonl(path);
  REQUIRE(run.ok());
  CHECK(run->name == "malcom-ring");
  REQUIRE(run->round.size() == 11);
  CHECK(run->test_accuracy[2] == Approx(0.16));
  CHECK(std::isnan(run->test_accuracy[1]));
  CHECK(run->cumulative_bits[10] == 20000);
}

TEST_CASE("fedlab metrics use their own loss and bits keys", "[daemon][plot]") {
  TempDir dir;
  const std::string path = dir.File("fed.jsonl");
  Write(path, "{\"round\":1,\"loss\":0.5,\"cumulative_uplink_bits_per_node\":64,\"test_accuracy\":null}\n");
  auto run = ReadMetricsJsonl(path);
  REQUIRE(run.ok());
  CHECK(run->train_loss[0] == 0.5);
  CHECK(run->cumulative_bits[0] == 64);
}

TEST_CASE("malformed metrics name the file and line", "[daemon][plot]") {
  TempDir dir;
  const std::string path = dir.File("bad.jsonl");
  SECTION("a line that is not JSON") {
    Write(path, "{\"round\":0}\n\n{\"round\":1,\"train_loss\":\n");
    auto run = ReadMetricsJsonl(path);
    REQUIRE(!run.ok());
    CHECK(run.error().message() == path + ":3: not valid JSON");
  }
  SECTION("a row without a round") {
    Write(path, "{\"round\":0}\n{\"epoch\":1}\n");
    auto run = ReadMetricsJsonl(path);
    REQUIRE(!run.ok());
    CHECK(run.error().message().find(path + ":2: no numeric \"round\"") == 0);
  }
  SECTION("not an object") {
    Write(path, "[1,2]\n");
    auto run = ReadMetricsJsonl(path);
    REQUIRE(!run.ok());
    CHECK(run.error().message().find(":1: want a JSON object") != std::string::npos);
  }
  SECTION("empty") {
    Write(path, "\n");
    CHECK(!ReadMetricsJsonl(path).ok());
  }
  SECTION("missing") {
    auto run = ReadMetricsJsonl(dir.File("nope.jsonl"));
    REQUIRE(!run.ok());
    CHECK(run.error().code() == sotto::StatusCode::kNotFound);
  }
}

TEST_CASE("the gnuplot script has six panels, log bits and one line per run", "[daemon][plot]") {
  TempDir dir;
  Write(dir.File("a.jsonl"), LabJsonl(0.8));
  Write(dir.File("b.jsonl"), LabJsonl(0.6));
  std::vector<MetricsRun> runs{ReadMetricsJsonl(dir.File("a.jsonl")).value(),
                               ReadMetricsJsonl(dir.File("b.jsonl")).value()};
  PlotOptions o;
  o.output = "it's.png";
  const std::string s = GnuplotScript(runs, o);
  CHECK(s.find("set terminal pngcairo") != std::string::npos);
  CHECK(s.find("set output 'it''s.png'") != std::string::npos);  // Quotes are escaped.
  CHECK(s.find("set multiplot layout 3,2") != std::string::npos);
  CHECK(s.find("set logscale x 10") != std::string::npos);
  CHECK(s.find("title 'a'") != std::string::npos);
  CHECK(s.find("title 'b'") != std::string::npos);
  // Round 0 has zero bits: it is left out of the log-x datablocks.
  const std::string header = "$d0_acc_b << EOD\n";
  const auto acc_b = s.find(header);
  REQUIRE(acc_b != std::string::npos);
  CHECK(s.compare(acc_b + header.size(), 5, "4000 ") == 0);
}

TEST_CASE("sotto plot writes a PNG of several runs", "[daemon][plot]") {
  TempDir dir;
  Write(dir.File("a.jsonl"), LabJsonl(0.8));
  Write(dir.File("b.jsonl"), LabJsonl(0.6));
  const std::string png = dir.File("curves.png");
  if (!GnuplotInstalled()) {
    WARN("gnuplot is not installed: skipping the PNG check (Debian: gnuplot-nox)");
    return;
  }
  PlotOptions o;
  o.inputs = {dir.File("a.jsonl"), dir.File("b.jsonl")};
  o.output = png;
  o.script_path = dir.File("curves.gp");
  const sotto::Status s = PlotMetrics(o);
  INFO(s.ToString());
  REQUIRE(s.ok());
  CHECK(fs::exists(o.script_path));  // Kept when asked for, for rerunning by hand.
  std::ifstream f(png, std::ios::binary);
  std::array<char, 8> sig{};
  f.read(sig.data(), sig.size());
  CHECK(std::string(sig.data(), 8) == std::string("\x89PNG\r\n\x1a\n", 8));
  CHECK(fs::file_size(png) > 1000);
}

TEST_CASE("sotto plot reports bad input with the line number", "[daemon][plot]") {
  TempDir dir;
  Write(dir.File("bad.jsonl"), "{\"round\":0}\nnot json\n");
  PlotOptions o;
  o.inputs = {dir.File("bad.jsonl")};
  o.output = dir.File("x.png");
  CHECK(PlotMetrics(o).message() == dir.File("bad.jsonl") + ":2: not valid JSON");
  CHECK(sotto::daemon::RunPlotCommand(o) == sotto::daemon::kExitDataErr);
  o.inputs = {dir.File("none.jsonl")};
  CHECK(sotto::daemon::RunPlotCommand(o) == sotto::daemon::kExitDataErr);
  CHECK(!fs::exists(o.output));
  Write(dir.File("good.jsonl"), LabJsonl(0.5));
  o.inputs = {dir.File("good.jsonl")};
  o.output = dir.File("no-such-dir/x.png");
  CHECK(PlotMetrics(o).message().find("does not exist") != std::string::npos);
}

TEST_CASE("sotto plot has help", "[daemon][plot]") {
  std::array<std::string, 3> args{"sotto", "plot", "--help"};
  std::array<char*, 3> argv{args[0].data(), args[1].data(), args[2].data()};
  CHECK(sotto::daemon::RunCli(3, argv.data()) == sotto::daemon::kExitOk);
}

}  // namespace
