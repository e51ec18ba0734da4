#pragma once

// The client side of a node's control socket (one JSON request line, one JSON
// answer line): used by `sotto status`, `sotto members`, `sotto leave` and
// `sotto mesh`. `socat - UNIX-CONNECT:PATH` speaks the same protocol.

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace sotto::daemon {

// Sends {"cmd": cmd} to the socket at `path` and returns the parsed answer.
// kUnavailable when no node answers there (with the reason), kCorrupted for a
// reply that is not JSON.
Result<nlohmann::json> ControlRequest(const std::string& path, const std::string& cmd,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(5));

// The control socket path from --control or --data-dir (data_dir/control.sock).
Result<std::string> ControlPath(const std::string& control, const std::string& data_dir);

// Human-readable renderings (what `sotto status` and `sotto members` print).
std::string FormatStatus(const nlohmann::json& status);
std::string FormatMembers(const nlohmann::json& members);

}  // namespace sotto::daemon
