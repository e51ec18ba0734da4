#pragma once

// `sotto plot`: draws training curves from the JSONL metrics that `sotto lab
// --metrics` and `sotto fedlab --metrics` write, with gnuplot (pngcairo). Lives in
// daemon/ next to the commands whose output it reads; benchmarks can call
// PlotMetrics() directly.

#include <string>
#include <vector>

#include "common/status.h"

namespace sotto::daemon {

// One metrics file, reduced to the columns that are plotted. A value that a row
// lacks or holds as null (e.g. test_accuracy between evaluations) is NaN.
struct MetricsRun {
  std::string name;  // Legend entry: the file stem ("runs/a.jsonl" -> "a").
  std::vector<double> round;
  std::vector<double> cumulative_bits;  // cumulative_bits_per_node, or fedlab's
                                        // cumulative_uplink_bits_per_node.
  std::vector<double> train_loss;       // train_loss, or fedlab's loss.
  std::vector<double> test_loss;
  std::vector<double> test_accuracy;
  std::vector<double> density;
  std::vector<double> consensus_distance;
};

// Reads one JSONL metrics file: one JSON object per line, blank lines ignored.
// Every row needs a numeric "round"; the other columns are optional.
// Returns kNotFound when the file cannot be opened, kInvalidArgument naming the
// file and line ("run.jsonl:7: ...") for a line that is not a JSON object or has no
// numeric round, and for a file with no rows.
Result<MetricsRun> ReadMetricsJsonl(const std::string& path);

struct PlotOptions {
  std::vector<std::string> inputs;  // JSONL files; each becomes one line per panel.
  std::string output = "curves.png";
  std::string title;                // Figure title; "" = the input names.
  int width_px = 1500;
  int height_px = 1300;
  std::string script_path;          // Also keep the gnuplot script here ("" = don't).
  std::string gnuplot = "gnuplot";  // Executable, looked up in PATH.
};

// Returns a self-contained gnuplot script (data inlined as datablocks) drawing six
// panels: test accuracy and loss vs round and vs cumulative bits per node (log x),
// model density and consensus distance vs round. Pure: no I/O.
std::string GnuplotScript(const std::vector<MetricsRun>& runs, const PlotOptions& options);

// Reads every input, writes the script to a temporary file (or script_path) and
// runs gnuplot on it. Returns the reading errors above, kUnavailable when gnuplot
// cannot be run, kInternal when it fails or leaves no output file.
Status PlotMetrics(const PlotOptions& options);

// The `sotto plot` subcommand; returns the process exit code (cli.h).
int RunPlotCommand(const PlotOptions& options);

}  // namespace sotto::daemon
