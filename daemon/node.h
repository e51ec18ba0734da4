#pragma once

// Node: one sotto daemon. Owns every long-lived object of the process and is the
// only place where algo/ and net/ meet (STYLE.md §1.4). main() -> RunNode() builds
// one from a NodeConfig and runs it until SIGINT/SIGTERM or `sotto leave`.
//
// Threads: one Boost.Asio loop thread runs everything (membership, round logic,
// control socket); the transport has its own I/O thread whose callbacks are
// post()ed onto the loop; training steps (gradient + compression, evaluation) run
// on one worker thread, during which the loop does not touch the algorithm and
// buffers arriving residuals.

#include <memory>

#include "common/status.h"
#include "daemon/node_config.h"

namespace sotto::daemon {

// Runs a node until it is told to stop; returns the process exit code.
int RunNode(const NodeConfig& config);

}  // namespace sotto::daemon
