#pragma once

// The `sotto` command line: parses argv with CLI11 and dispatches to a subcommand.
// main() is thin (daemon/main.cc); everything testable lives here.

namespace sotto::daemon {

// Exit codes, after BSD sysexits.h, so scripts can tell failures apart.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;        // The command ran and failed.
inline constexpr int kExitUsage = 64;         // EX_USAGE: bad command line.
inline constexpr int kExitDataErr = 65;       // EX_DATAERR: bad data file.
inline constexpr int kExitUnavailable = 69;   // EX_UNAVAILABLE: not built yet / service down.
inline constexpr int kExitConfig = 78;        // EX_CONFIG: bad configuration.

// Runs the command line; returns the process exit code.
int RunCli(int argc, char** argv);

}  // namespace sotto::daemon
