// A real `sotto node --metrics 127.0.0.1:0` serves Prometheus text with the
// per-peer traffic counters and latency histograms, read over a loopback socket.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <regex>
#include <string>

#include <catch2/catch.hpp>

#include "tests/support/node_process.h"

namespace {

using namespace std::chrono_literals;
using sotto::testing::NodeProcess;

std::string HttpGet(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return "";
  }
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: localhost\r\n\r\n";
  (void)::write(fd, request.data(), request.size());
  std::string answer;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) answer.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return answer;
}

TEST_CASE("a node serves Prometheus metrics with traffic per peer and latency histograms",
          "[integration][metrics]") {
  const std::string root = std::filesystem::temp_directory_path() / ("sotto-metrics-" + std::to_string(::getpid()));
  std::filesystem::remove_all(root);
  const std::vector<std::string> common = {
      "--data.source", "synthetic", "--data.synthetic_samples", "1000", "--data.synthetic_features", "20",
      "--model.kind", "softmax", "--algorithm.name", "malcom", "--algorithm.compressor", "dither:s=16",
      "--gossip.shards", "2", "--gossip.min_round_ms", "10", "--node.listen", "tcp://127.0.0.1:*"};
  auto a_flags = common;
  a_flags.insert(a_flags.end(), {"--gossip.shard", "0", "--metrics", "127.0.0.1:0"});
  NodeProcess a(root + "/a", a_flags);
  a.Start();
  auto b_flags = common;
  b_flags.insert(b_flags.end(), {"--gossip.shard", "1", "--node.join", a.Endpoint()});
  NodeProcess b(root + "/b", b_flags);
  b.Start();
  // The bound port is logged: "metrics: http://127.0.0.1:PORT/metrics".
  int port = 0;
  REQUIRE(NodeProcess::WaitFor([&] {
    std::smatch m;
    const std::string log = a.Log();
    if (!std::regex_search(log, m, std::regex(R"(metrics: http://127\.0\.0\.1:(\d+)/metrics)"))) return false;
    port = std::stoi(m[1]);
    return true;
  }, 20s));
  REQUIRE(NodeProcess::WaitFor([&] { return a.Status().value("round", std::uint64_t{0}) >= 30; }, 30s));
  const std::string text = HttpGet(port, "/metrics");
  INFO(text);
  CHECK(text.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(text.find("text/plain; version=0.0.4") != std::string::npos);
  CHECK(std::regex_search(text, std::regex(R"(sotto_peer_messages_sent_total\{peer="[0-9a-f]{16}",type="residual"\} [1-9])")));
  CHECK(std::regex_search(text, std::regex(R"(sotto_peer_bytes_received_total\{peer="[0-9a-f]{16}",type="residual"\} [1-9])")));
  CHECK(text.find("# TYPE sotto_round_duration_seconds histogram") != std::string::npos);
  CHECK(std::regex_search(text, std::regex(R"(sotto_decode_seconds_bucket\{le="\+Inf"\} [1-9])")));
  CHECK(std::regex_search(text, std::regex(R"(sotto_gradient_seconds_count [1-9])")));
  CHECK(HttpGet(port, "/nope").rfind("HTTP/1.1 404", 0) == 0);
  a.Signal(SIGTERM);
  b.Signal(SIGTERM);
  CHECK(a.Wait() == 0);
  CHECK(b.Wait() == 0);
  std::filesystem::remove_all(root);
}

}  // namespace
