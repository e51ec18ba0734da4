// Prometheus exposition of the node status (checked by a strict parser of the
// text format 0.0.4, and by promtool when installed) and the HTTP server serving
// it, exercised over a real loopback socket.

#include "daemon/metrics_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

namespace {

using json = nlohmann::json;
using sotto::daemon::MetricsHttpServer;
using sotto::daemon::PrometheusText;

// A status answer shaped like Node::StatusJson()'s, with a null loss (no
// evaluation yet) and a label value that needs escaping.
json SampleStatus() {
  return json::parse(R"({
    "id": "00000000deadbeef", "address": "tcp://127.0.0.1:7000", "uptime_s": 12.5,
    "state": "training", "round": 42, "rounds_target": 0, "epoch": 0.75,
    "loss": null, "test_accuracy": 0.8125, "density": 0.031, "consensus_distance": 1.5e-3,
    "bytes_sent": 123456789012, "bytes_received": 1000, "messages_sent": 84,
    "messages_received": 80, "rejected_messages": 1, "rejected_envelopes": 1,
    "rejected_residuals": 0, "last_reject_reason": "bad \"header\"\n",
    "late_or_duplicate_residuals": 2, "rounds_timed_out": 0, "dropped_backpressure": 0,
    "message_bits": 2048.0, "bits_per_parameter_per_round": 0.26, "parameters": 7850,
    "algorithm": "mal\"com\\x", "self_weight": 0.34,
    "neighbours": [
      {"id": "0000000000000001", "weight": 0.33, "endpoint": "tcp://127.0.0.1:7001",
       "health": "alive", "last_heard_ms": 250, "consensus_step": 0.07, "link_density": 0.25,
       "link_consensus_step": 0.5, "link_public_copy_fingerprint": "0123456789abcdef"},
      {"id": "0000000000000002", "weight": 0.33, "endpoint": "", "health": "unknown",
       "last_heard_ms": null}],
    "members": {"alive": 3, "dead": 0, "left": 0, "suspect": 1},
    "membership_size": 3,
    "adaptive": {"density": 0.02, "step_ms": 1.8, "round_ms": 12.0, "slowest_delivery_ms": 9.5,
                 "slowest_excess_ms": 4.0, "consensus_step": 0.16, "changes": 7, "threshold": null,
                 "compressor": "chain:topk:0.02+dither:s=256"},
    "traffic": [
      {"peer": "0000000000000001", "type": "residual", "direction": "sent", "messages": 42, "bytes": 9000},
      {"peer": "0000000000000001", "type": "ping", "direction": "received", "messages": 7, "bytes": 210},
      {"peer": "0000000000000002", "type": "residual", "direction": "received", "messages": 40, "bytes": 8000}],
    "rejected_by_reason": {"bad_envelope": 3, "bad_routing_id": 1},
    "histograms": {"round_duration": {"buckets": [[0.001, 1], [0.01, 5], [0.1, 9]], "sum": 0.42, "count": 10},
                   "decode": {"buckets": [[0.00025, 2], [0.0005, 2]], "sum": 0.0004, "count": 2}}
  })");
}

// One parsed sample line.
struct Sample {
  std::string name;
  std::string
      family;  // name, or for histogram/summary samples the name without _bucket/_sum/_count.
  std::map<std::string, std::string> labels;
  double value = 0;
};

// Parses Prometheus text format 0.0.4 strictly; every violation is a test failure.
// Checks: metric and label name syntax, at most one HELP and one TYPE per family,
// both before its first sample, a known TYPE, a family's samples contiguous,
// label syntax with only \\ \" \n escapes, values Go's ParseFloat accepts, an
// optional integer timestamp, no duplicate series, and a final newline.
std::vector<Sample> ParseExposition(const std::string& text) {
  static const std::regex kName("[a-zA-Z_:][a-zA-Z0-9_:]*");
  static const std::regex kLabelName("[a-zA-Z_][a-zA-Z0-9_]*");
  REQUIRE(!text.empty());
  REQUIRE(text.back() == '\n');
  std::vector<Sample> samples;
  std::set<std::string> help_seen, type_seen, families_done, series;
  std::map<std::string, std::string> type_of;
  std::string current;  // Family whose samples are being read.
  std::istringstream in(text);
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    INFO("line " << line_no << ": " << line);
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::istringstream words(line.substr(1));
      std::string kind, name;
      words >> kind >> name;
      if (kind != "HELP" && kind != "TYPE") continue;  // A plain comment.
      REQUIRE(std::regex_match(name, kName));
      CHECK(families_done.count(name) == 0);  // HELP/TYPE come before the family's samples.
      CHECK(name != current);
      if (kind == "HELP") {
        CHECK(help_seen.insert(name).second);
      } else {
        CHECK(type_seen.insert(name).second);
        std::string type, extra;
        words >> type;
        type_of[name] = type;
        CHECK(std::set<std::string>{"counter", "gauge", "histogram", "summary", "untyped"}.count(
                  type) == 1);
        CHECK(!(words >> extra));
      }
      continue;
    }
    Sample s;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = line.substr(0, i);
    REQUIRE(std::regex_match(s.name, kName));
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (true) {
        REQUIRE(i < line.size());
        if (line[i] == '}') break;
        const std::size_t eq = line.find('=', i);
        REQUIRE(eq != std::string::npos);
        const std::string label = line.substr(i, eq - i);
        REQUIRE(std::regex_match(label, kLabelName));
        REQUIRE(label.rfind("__", 0) != 0);  // Reserved.
        i = eq + 1;
        REQUIRE(i < line.size());
        REQUIRE(line[i] == '"');
        ++i;
        std::string value;
        while (true) {
          REQUIRE(i < line.size());
          const char c = line[i++];
          if (c == '"') break;
          if (c == '\\') {
            REQUIRE(i < line.size());
            const char e = line[i++];
            REQUIRE((e == '\\' || e == '"' || e == 'n'));
            value += e == 'n' ? '\n' : e;
          } else {
            REQUIRE(c != '\n');
            value += c;
          }
        }
        REQUIRE(s.labels.emplace(label, value).second);  // No label twice.
        REQUIRE(i < line.size());
        if (line[i] == ',')
          ++i;
        else
          REQUIRE(line[i] == '}');
      }
      ++i;  // '}'
    }
    REQUIRE(i < line.size());
    REQUIRE(line[i] == ' ');
    std::istringstream rest(line.substr(i + 1));
    std::string value, timestamp, extra;
    rest >> value >> timestamp >> extra;
    REQUIRE(!value.empty());
    CHECK(extra.empty());
    if (!timestamp.empty()) CHECK(std::regex_match(timestamp, std::regex("-?[0-9]+")));
    if (value == "+Inf" || value == "-Inf" || value == "NaN") {
      s.value = value == "NaN" ? NAN : value == "+Inf" ? INFINITY : -INFINITY;
    } else {
      REQUIRE(std::regex_match(value,
                               std::regex(R"([-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?)")));
      s.value = std::strtod(value.c_str(), nullptr);
    }
    // A histogram's samples are NAME_bucket (with le), NAME_sum and NAME_count.
    s.family = s.name;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string base = s.name.size() > std::strlen(suffix) && s.name.ends_with(suffix)
                                   ? s.name.substr(0, s.name.size() - std::strlen(suffix))
                                   : "";
      if (!base.empty() && type_of.count(base) && type_of[base] == "histogram") s.family = base;
    }
    if (s.family != s.name) {
      CHECK(s.name.ends_with("_bucket") == (s.labels.count("le") == 1));
    } else {
      CHECK(type_of[s.name] != "histogram");  // A histogram has no plain sample.
    }
    // Families are contiguous: a new name closes the previous family.
    if (s.family != current) {
      if (!current.empty()) families_done.insert(current);
      REQUIRE(families_done.count(s.family) == 0);
      current = s.family;
      CHECK(help_seen.count(s.family) == 1);
      CHECK(type_seen.count(s.family) == 1);
    }
    std::string key = s.name;
    for (const auto& [k, v] : s.labels) key += "|" + k + "=" + v;
    CHECK(series.insert(key).second);  // No duplicate series.
    samples.push_back(std::move(s));
  }
  // Histogram rules: buckets in increasing le with non-decreasing cumulative counts,
  // a last bucket le="+Inf" equal to _count, and one _sum and one _count.
  for (const auto& [family, type] : type_of) {
    if (type != "histogram") continue;
    INFO("histogram " << family);
    double last_le = -INFINITY, last_count = 0, count = -1;
    int sums = 0;
    bool inf = false;
    for (const auto& s : samples) {
      if (s.family != family) continue;
      if (s.name == family + "_bucket") {
        CHECK(!inf);  // +Inf is the last bucket.
        const std::string& le = s.labels.at("le");
        const double bound = le == "+Inf" ? INFINITY : std::strtod(le.c_str(), nullptr);
        CHECK(bound > last_le);
        CHECK(s.value >= last_count);
        last_le = bound;
        last_count = s.value;
        inf = le == "+Inf";
      } else if (s.name == family + "_count") {
        count = s.value;
      } else {
        ++sums;
      }
    }
    CHECK(inf);
    CHECK(sums == 1);
    CHECK(count == last_count);
  }
  return samples;
}

// The samples named `name`, keyed by their labels rendered as "k=v,...".
std::map<std::string, double> Find(const std::vector<Sample>& samples, const std::string& name) {
  std::map<std::string, double> out;
  for (const auto& s : samples) {
    if (s.name != name) continue;
    std::string key;
    for (const auto& [k, v] : s.labels) key += (key.empty() ? "" : ",") + k + "=" + v;
    out[key] = s.value;
  }
  return out;
}

TEST_CASE("node status becomes valid Prometheus text", "[daemon][metrics]") {
  const std::string text = PrometheusText(SampleStatus());
  INFO(text);
  const auto samples = ParseExposition(text);
  CHECK(Find(samples, "sotto_bytes_sent_total").at("") == 123456789012.0);
  CHECK(text.find("sotto_bytes_sent_total 123456789012\n") !=
        std::string::npos);  // Exact, not 1.2e11.
  CHECK(text.find("# TYPE sotto_bytes_sent_total counter\n") != std::string::npos);
  CHECK(text.find("# TYPE sotto_loss") == std::string::npos);  // Null: no sample, no family.
  CHECK(Find(samples, "sotto_loss").empty());
  for (const char* counter :
       {"sotto_bytes_received_total", "sotto_messages_sent_total", "sotto_messages_received_total",
        "sotto_rejected_messages_total", "sotto_rounds_total"}) {
    INFO(counter);
    CHECK(Find(samples, counter).size() == 1);
    CHECK(text.find(std::string("# TYPE ") + counter + " counter\n") != std::string::npos);
  }
  CHECK(Find(samples, "sotto_rounds_total").at("") == 42);
  CHECK(Find(samples, "sotto_test_accuracy").at("") == Approx(0.8125));
  CHECK(Find(samples, "sotto_model_density").at("") == Approx(0.031));
  CHECK(Find(samples, "sotto_consensus_distance").at("") == Approx(1.5e-3));
  CHECK(Find(samples, "sotto_bits_per_parameter").at("") == Approx(0.26));
  CHECK(Find(samples, "sotto_uptime_seconds").at("") == Approx(12.5));
  const auto members = Find(samples, "sotto_members");
  CHECK(members.size() == 4);
  CHECK(members.at("state=alive") == 3);
  CHECK(members.at("state=suspect") == 1);
  const auto weights = Find(samples, "sotto_neighbour_weight");
  CHECK(weights.size() == 2);
  CHECK(weights.at("peer=0000000000000001") == Approx(0.33));
  CHECK(Find(samples, "sotto_neighbour_last_heard_seconds").size() == 1);  // The other is null.
  const auto steps = Find(samples, "sotto_neighbour_consensus_step");
  CHECK(steps.size() == 1);  // The other announced none.
  CHECK(steps.at("peer=0000000000000001") == Approx(0.07));
  const auto link_density = Find(samples, "sotto_link_density");  // Per-link compression only.
  CHECK(link_density.size() == 1);
  CHECK(link_density.at("peer=0000000000000001") == Approx(0.25));
  CHECK(Find(samples, "sotto_link_consensus_step").at("peer=0000000000000001") == Approx(0.5));
  CHECK(Find(samples, "sotto_adaptive_density").at("") == Approx(0.02));
  CHECK(Find(samples, "sotto_adaptive_round_seconds").at("") == Approx(0.012));
  CHECK(Find(samples, "sotto_adaptive_slowest_excess_seconds").at("") == Approx(0.004));
  CHECK(Find(samples, "sotto_adaptive_threshold").empty());  // Null: slow start, no sample.
  const auto info = Find(samples, "sotto_info");
  REQUIRE(info.size() == 1);
  CHECK(info.begin()->first.find("algorithm=mal\"com\\x") !=
        std::string::npos);  // Escaped and back.
  const auto sent = Find(samples, "sotto_peer_bytes_sent_total");
  CHECK(sent.size() == 1);
  CHECK(sent.at("peer=0000000000000001,type=residual") == 9000);
  CHECK(Find(samples, "sotto_peer_messages_received_total").size() == 2);
  CHECK(Find(samples, "sotto_peer_messages_received_total").at("peer=0000000000000001,type=ping") ==
        7);
  CHECK(Find(samples, "sotto_rejected_by_reason_total").at("reason=bad_envelope") == 3);
  const auto round = Find(samples, "sotto_round_duration_seconds_bucket");
  CHECK(round.size() == 4);
  CHECK(round.at("le=0.01") == 5);
  CHECK(round.at("le=+Inf") == 10);
  CHECK(Find(samples, "sotto_round_duration_seconds_sum").at("") == Approx(0.42));
  CHECK(Find(samples, "sotto_decode_seconds_bucket").at("le=0.00025") == 2);
  CHECK(Find(samples, "sotto_encode_seconds_count").empty());  // Absent in the status: no family.
}

TEST_CASE("a latency histogram is cumulative and counts every observation", "[daemon][metrics]") {
  sotto::daemon::LatencyHistogram h;
  for (double v : {5e-5, 1e-4, 3e-3, 0.2, 99.0, -1.0}) h.Observe(v);
  CHECK(h.count() == 6);
  CHECK(h.sum() == Approx(5e-5 + 1e-4 + 3e-3 + 0.2 + 99.0));  // The negative one counts as 0.
  const json j = h.ToJson();
  REQUIRE(j["buckets"].size() == sotto::daemon::LatencyHistogram::kBounds.size());
  CHECK(j["buckets"][0][1] == 3);      // 5e-5, 1e-4 (le is inclusive) and the clamped -1.
  CHECK(j["buckets"][5][1] == 4);      // le 0.005: + 3e-3.
  CHECK(j["buckets"][10][1] == 5);     // le 0.25: + 0.2.
  CHECK(j["buckets"].back()[1] == 5);  // 99 s is only in +Inf (== count).
  CHECK(j["count"] == 6);
  const auto samples = ParseExposition(PrometheusText(json{{"histograms", {{"mix", j}}}}));
  CHECK(Find(samples, "sotto_mix_seconds_bucket").at("le=+Inf") == 6);
  CHECK(Find(samples, "sotto_mix_seconds_bucket").at("le=0.0001") == 3);
}

TEST_CASE("an empty or odd status gives an empty but valid exposition", "[daemon][metrics]") {
  CHECK(PrometheusText(json::object()).empty());
  CHECK(PrometheusText(json(nullptr)).empty());
  const std::string text =
      PrometheusText(json{{"round", "seven"}, {"members", 3}, {"neighbours", {1, 2}}});
  CHECK(text.find("sotto_rounds_total") == std::string::npos);
  ParseExposition(text + "\n");
}

TEST_CASE("promtool accepts the exposition when installed", "[daemon][metrics]") {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    WARN("promtool is not installed: skipping its check (the strict parser above still ran)");
    return;
  }
  const auto path = std::filesystem::temp_directory_path() /
                    ("sotto-metrics-" + std::to_string(::getpid()) + ".prom");
  std::ofstream(path) << PrometheusText(SampleStatus());
  const int rc = std::system(("promtool check metrics < " + path.string()).c_str());
  std::filesystem::remove(path);
  CHECK(rc == 0);
}

// A blocking HTTP client on a plain socket: sends `request`, reads until the
// server closes. Returns "" when it cannot connect.
std::string HttpExchange(std::uint16_t port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  timeval tv{5, 0};  // Never hang the test on a broken server.
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return "";
  }
  REQUIRE(::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size()));
  std::string response;
  char buf[4096];
  ssize_t n = 0;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0)
    response.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return response;
}

std::string Get(std::uint16_t port, const std::string& path) {
  return HttpExchange(port,
                      "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
}

std::string Body(const std::string& response) {
  const auto end = response.find("\r\n\r\n");
  return end == std::string::npos ? "" : response.substr(end + 4);
}

TEST_CASE("the metrics server answers /metrics, /status and 404 over HTTP", "[daemon][metrics]") {
  boost::asio::io_context io;
  std::atomic<int> calls{0};
  auto created = MetricsHttpServer::Create(io, "127.0.0.1:0", [&calls] {
    ++calls;  // Runs on the io thread, one request at a time.
    return SampleStatus();
  });
  REQUIRE(created.ok());
  std::unique_ptr<MetricsHttpServer> server = std::move(created.value());
  const std::uint16_t port = server->port();
  REQUIRE(port != 0);
  CHECK(server->address() == "127.0.0.1:" + std::to_string(port));
  auto done = std::async(std::launch::async, [&io] { io.run(); });

  const std::string metrics = Get(port, "/metrics");
  INFO(metrics);
  CHECK(metrics.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(metrics.find("Content-Type: text/plain; version=0.0.4") != std::string::npos);
  const auto samples = ParseExposition(Body(metrics));
  CHECK(Find(samples, "sotto_rounds_total").at("") == 42);

  const std::string status = Get(port, "/status?pretty=0");
  CHECK(status.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(status.find("Content-Type: application/json") != std::string::npos);
  CHECK(json::parse(Body(status)) == SampleStatus());

  CHECK(Get(port, "/nope").rfind("HTTP/1.1 404 Not Found\r\n", 0) == 0);
  CHECK(HttpExchange(port, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            .rfind("HTTP/1.1 405", 0) == 0);
  CHECK(HttpExchange(port, "garbage\r\n\r\n").empty());  // Dropped, not answered.
  CHECK(calls == 2);

  // Stop on the loop thread: the loop runs dry and returns, the port is closed.
  boost::asio::post(io, [&server] { server->Stop(); });
  REQUIRE(done.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  CHECK(Get(port, "/metrics").empty());
}

TEST_CASE("the metrics server rejects bad addresses and busy ports", "[daemon][metrics]") {
  boost::asio::io_context io;
  auto source = [] { return json::object(); };
  for (const char* bad :
       {"9464", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:70000", "example.com:9464"}) {
    INFO(bad);
    auto s = MetricsHttpServer::Create(io, bad, source);
    REQUIRE(!s.ok());
    CHECK(s.error().code() == sotto::StatusCode::kInvalidArgument);
  }
  auto first = MetricsHttpServer::Create(io, "localhost:0", source);
  REQUIRE(first.ok());
  auto second =
      MetricsHttpServer::Create(io, "127.0.0.1:" + std::to_string(first.value()->port()), source);
  REQUIRE(!second.ok());
  CHECK(second.error().code() == sotto::StatusCode::kUnavailable);
  CHECK(second.error().message().find("cannot bind") != std::string::npos);
}

}  // namespace
