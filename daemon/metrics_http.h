#pragma once

// Metrics over HTTP: the node's status JSON (the control socket's "status" answer)
// rendered in the Prometheus text exposition format 0.0.4, and a small HTTP/1.1
// server for it on the daemon's Boost.Asio loop. daemon/ only.

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "common/status.h"

namespace sotto::daemon {

// A latency histogram with fixed buckets (seconds), as a Prometheus histogram:
// cumulative counts per upper bound, plus +Inf (== count), sum and count.
// Not thread-safe: one owner (the daemon's loop thread) observes and reads it.
class LatencyHistogram {
 public:
  // 100 µs .. 10 s, roughly 1-2.5-5 per decade (Prometheus client defaults, extended down).
  static constexpr std::array<double, 16> kBounds = {1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025,
                                                     0.05, 0.1,    0.25,   0.5,  1,      2.5,    5,    10};
  void Observe(double seconds);
  std::uint64_t count() const { return count_; }
  double sum() const { return sum_; }
  // {"buckets": [[le, cumulative count], ...], "sum": s, "count": n}; +Inf is implied by count.
  nlohmann::json ToJson() const;

 private:
  std::array<std::uint64_t, kBounds.size()> counts_{};  // Not cumulative.
  std::uint64_t count_ = 0;
  double sum_ = 0;
};

// Returns `status` (as built by the node's StatusJson()) in the Prometheus text
// format 0.0.4: a "# HELP" and a "# TYPE" line per family, then its samples.
//   counters: sotto_{bytes,messages}_{sent,received}_total, sotto_rejected_messages_total,
//             sotto_rounds_total, sotto_rounds_timed_out_total, ...
//   gauges:   sotto_loss, sotto_test_accuracy, sotto_model_density,
//             sotto_consensus_distance, sotto_members{state="alive"|...},
//             sotto_neighbour_weight{peer="<id>"}, sotto_bits_per_parameter,
//             sotto_uptime_seconds, sotto_info{id=...,algorithm=...} 1, ...
//   per peer and message type (status "traffic": [{peer, type, direction, messages, bytes}]):
//             sotto_peer_{messages,bytes}_{sent,received}_total{peer="<id>",type="residual"|...}
//   by reason (status "rejected_by_reason": {reason: n}): sotto_rejected_by_reason_total{reason=...}
//   histograms (status "histograms": {name: LatencyHistogram::ToJson()}): sotto_<name>_seconds
//             with _bucket{le=...}, _sum and _count (round duration, gradient, encode, decode, mix)
// Keys that are absent, null or not numbers produce no sample, and a family with
// no sample is left out entirely. Never fails; label values are escaped.
std::string PrometheusText(const nlohmann::json& status);

// A plain-HTTP/1.1 server answering
//   GET /metrics  200, text/plain; version=0.0.4   PrometheusText(source())
//   GET /status   200, application/json            source().dump()
//   other paths   404; other methods 405
// one request per connection (the answer carries "Connection: close").
//
//   auto server = MetricsHttpServer::Create(io, "127.0.0.1:9464", [&] { return StatusJson(); });
//
// `source` runs on the io_context's thread, once per request, so it may read
// state owned by that loop. The server must not outlive `io`. Not thread-safe:
// Stop() and the destructor must run on the loop thread or while the loop is not
// running. A slow client is cut off after a few seconds; requests are capped at
// a few KiB (the server is meant for a scraper, not the open internet).
class MetricsHttpServer {
 public:
  using StatusSource = std::function<nlohmann::json()>;

  // Binds and listens on `address`, "HOST:PORT" with HOST an IPv4 or IPv6
  // literal ("[::1]:9464") or "localhost"; port 0 picks a free one (see port()).
  // Accepting starts when `io` runs. Returns kInvalidArgument for a malformed
  // address, kUnavailable when it cannot bind (with the reason).
  static Result<std::unique_ptr<MetricsHttpServer>> Create(boost::asio::io_context& io,
                                                           const std::string& address,
                                                           StatusSource source);
  ~MetricsHttpServer();  // Stop().
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // The port actually bound (differs from the request when it asked for 0).
  std::uint16_t port() const { return port_; }
  // "HOST:PORT" actually bound, e.g. "127.0.0.1:9464".
  const std::string& address() const { return address_; }

  // Closes the listening socket and every open connection; pending handlers
  // finish with an error, so the loop runs dry. Idempotent.
  void Stop();

 private:
  struct Impl;
  explicit MetricsHttpServer(std::shared_ptr<Impl> impl);

  std::shared_ptr<Impl> impl_;  // Shared with in-flight handlers.
  std::uint16_t port_ = 0;
  std::string address_;
};

}  // namespace sotto::daemon
