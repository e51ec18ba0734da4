#include "daemon/control_client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace sotto::daemon {

Result<std::string> ControlPath(const std::string& control, const std::string& data_dir) {
  if (!control.empty()) return control;
  if (!data_dir.empty()) return data_dir + "/control.sock";
  return InvalidArgument("say which node: --control PATH or --data-dir DIR");
}

Result<nlohmann::json> ControlRequest(const std::string& path, const std::string& cmd,
                                      std::chrono::milliseconds timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return InvalidArgument("control socket path too long: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Unavailable(std::string("socket: ") + std::strerror(errno));
  timeval tv{};
  tv.tv_sec = timeout.count() / 1000;
  tv.tv_usec = (timeout.count() % 1000) * 1000;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    return Unavailable("no node answers at " + path + ": " + why);
  }
  const std::string request = nlohmann::json{{"cmd", cmd}}.dump() + "\n";
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    ::close(fd);
    return Unavailable("cannot send to " + path);
  }
  std::string reply;
  char buf[4096];
  while (reply.find('\n') == std::string::npos) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    reply.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (reply.empty()) return Unavailable("no answer from " + path);
  auto j = nlohmann::json::parse(reply, nullptr, false);
  if (j.is_discarded()) return Corrupted("answer from " + path + " is not JSON");
  return j;
}

namespace {

std::string Num(const nlohmann::json& v, const char* fmt) {
  if (!v.is_number()) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v.get<double>());
  return buf;
}

}  // namespace

std::string FormatStatus(const nlohmann::json& s) {
  std::string out;
  char line[512];
  auto add = [&](const char* k, const std::string& v) {
    std::snprintf(line, sizeof line, "%-22s %s\n", k, v.c_str());
    out += line;
  };
  add("node", s.value("id", "?") + " at " + s.value("address", "?"));
  add("state", s.value("state", "?"));
  add("uptime", Num(s["uptime_s"], "%.1f s"));
  add("round", std::to_string(s.value("round", 0)) +
                   (s.value("rounds_target", 0) > 0 ? " of " + std::to_string(s.value("rounds_target", 0)) : ""));
  add("epoch", Num(s["epoch"], "%.2f"));
  add("loss", Num(s["loss"], "%.4f"));
  add("test accuracy", Num(s["test_accuracy"], "%.4f"));
  add("model density", Num(s["density"], "%.4f"));
  add("consensus distance", Num(s["consensus_distance"], "%.4g"));
  add("sent", Num(s["bytes_sent"], "%.0f") + " bytes in " + Num(s["messages_sent"], "%.0f") + " messages");
  add("received", Num(s["bytes_received"], "%.0f") + " bytes in " + Num(s["messages_received"], "%.0f") + " messages");
  add("bits/parameter/round", Num(s["bits_per_parameter_per_round"], "%.4f"));
  add("rejected messages", Num(s["rejected_messages"], "%.0f") +
                               (s.value("last_reject_reason", "").empty() ? "" : " (last: " + s.value("last_reject_reason", "") + ")"));
  add("members", std::to_string(s.value("membership_size", 0)) + " live");
  out += "neighbours\n";
  for (const auto& n : s["neighbours"]) {
    std::snprintf(line, sizeof line, "  %s  %-26s %-8s weight %.3f  heard %s ago\n",
                  n.value("id", "?").c_str(), n.value("endpoint", "").c_str(), n.value("health", "?").c_str(),
                  n.value("weight", 0.0), Num(n["last_heard_ms"], "%.0f ms").c_str());
    out += line;
  }
  return out;
}

std::string FormatMembers(const nlohmann::json& m) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-18s %-28s %-8s %s\n", "Node", "Address", "Status", "Incarnation");
  out += line;
  for (const auto& e : m["members"]) {
    std::snprintf(line, sizeof line, "%-18s %-28s %-8s %llu%s\n", e.value("id", "?").c_str(),
                  e.value("address", "").c_str(), e.value("status", "").c_str(),
                  static_cast<unsigned long long>(e.value("incarnation", 0ull)), e.value("self", false) ? "  (self)" : "");
    out += line;
  }
  return out;
}

}  // namespace sotto::daemon
