#include "daemon/metrics_http.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <list>
#include <utility>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

namespace sotto::daemon {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using json = nlohmann::json;
using tcp = asio::ip::tcp;

constexpr std::chrono::seconds kRequestTimeout{5};
constexpr std::uint32_t kMaxHeaderBytes = 8 * 1024;
constexpr std::uint64_t kMaxBodyBytes = 1024;

// A sample value as Prometheus reads it (Go's ParseFloat): integers stay exact.
std::string Value(const json& v) {
  if (v.is_number_unsigned()) return std::to_string(v.get<std::uint64_t>());
  if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
  const double d = v.is_boolean() ? (v.get<bool>() ? 1.0 : 0.0) : v.get<double>();
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "+Inf" : "-Inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  return buf;
}

// Escapes backslash and newline, and the double quote too in label values
// (HELP text keeps its quotes): the rules of format 0.0.4.
enum class EscapeQuotes { kNo, kYes };
std::string Escape(const std::string& s, EscapeQuotes quotes) {
  std::string out;
  for (char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (c == '"' && quotes == EscapeQuotes::kYes)
      out += "\\\"";
    else
      out += c;
  }
  return out;
}

using Labels = std::vector<std::pair<std::string, std::string>>;

// Collects the samples of one family; Write() emits nothing when there are none.
class Family {
 public:
  Family(std::string name, std::string type, std::string help)
      : name_(std::move(name)), type_(std::move(type)), help_(std::move(help)) {}

  // Adds a sample when `v` is a number (or bool); null and anything else are skipped.
  void Add(const json& v, const Labels& labels = {}) {
    if (!v.is_number() && !v.is_boolean()) return;
    std::string line = name_;
    if (!labels.empty()) {
      line += '{';
      for (std::size_t i = 0; i < labels.size(); ++i) {
        line += (i ? "," : "") + labels[i].first + "=\"" +
                Escape(labels[i].second, EscapeQuotes::kYes) + '"';
      }
      line += '}';
    }
    samples_.push_back(line + ' ' + Value(v) + '\n');
  }

  void Write(std::string* out) const {
    if (samples_.empty()) return;
    *out += "# HELP " + name_ + ' ' + Escape(help_, EscapeQuotes::kNo) + '\n';
    *out += "# TYPE " + name_ + ' ' + type_ + '\n';
    for (const auto& s : samples_) *out += s;
  }

 private:
  std::string name_, type_, help_;
  std::vector<std::string> samples_;
};

const json& Get(const json& status, const char* key) {
  static const json kNull;
  if (!status.is_object()) return kNull;
  const auto it = status.find(key);
  return it == status.end() ? kNull : *it;
}

std::string StringOr(const json& v, const std::string& fallback) {
  return v.is_string() ? v.get<std::string>() : fallback;
}

}  // namespace

void LatencyHistogram::Observe(double seconds) {
  if (!(seconds >= 0)) seconds = 0;  // A clock step backwards (or NaN) counts as instant.
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    if (seconds <= kBounds[i]) {
      ++counts_[i];
      break;
    }
  }
  ++count_;
  sum_ += seconds;
}

json LatencyHistogram::ToJson() const {
  json buckets = json::array();
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += counts_[i];
    buckets.push_back({kBounds[i], cumulative});
  }
  return {{"buckets", buckets}, {"sum", sum_}, {"count", count_}};
}

std::string PrometheusText(const json& status) {
  std::string out;
  // One family per plain status key, in a fixed order.
  struct Simple {
    const char* key;
    const char* name;
    const char* type;
    const char* help;
  };
  static constexpr Simple kSimple[] = {
      {"bytes_sent", "sotto_bytes_sent_total", "counter", "Bytes sent to peers."},
      {"bytes_received", "sotto_bytes_received_total", "counter", "Bytes received from peers."},
      {"messages_sent", "sotto_messages_sent_total", "counter", "Messages sent to peers."},
      {"messages_received", "sotto_messages_received_total", "counter",
       "Messages received from peers."},
      {"rejected_messages", "sotto_rejected_messages_total", "counter",
       "Malformed envelopes and residuals dropped."},
      {"late_or_duplicate_residuals", "sotto_late_or_duplicate_residuals_total", "counter",
       "Residuals that arrived too late or twice."},
      {"resends_requested", "sotto_resends_requested_total", "counter",
       "Lost residuals this node asked its neighbours to send again."},
      {"resends_served", "sotto_resends_served_total", "counter",
       "Residuals sent again on a neighbour's request."},
      {"resends_recovered", "sotto_resends_recovered_total", "counter",
       "Missing residuals that arrived after all (resent or late) and were absorbed."},
      {"rounds_timed_out", "sotto_rounds_timed_out_total", "counter",
       "Rounds that mixed without every neighbour's message."},
      {"dropped_backpressure", "sotto_dropped_backpressure_total", "counter",
       "Messages dropped because a send queue was full."},
      {"round", "sotto_rounds_total", "counter", "Gossip rounds completed."},
      {"rounds_target", "sotto_rounds_target", "gauge", "Rounds to train for (0: forever)."},
      {"epoch", "sotto_epoch", "gauge", "Passes over the local shard."},
      {"loss", "sotto_loss", "gauge", "Training loss at the last evaluation."},
      {"test_accuracy", "sotto_test_accuracy", "gauge", "Test accuracy at the last evaluation."},
      {"density", "sotto_model_density", "gauge", "Fraction of non-zero model parameters."},
      {"consensus_distance", "sotto_consensus_distance", "gauge",
       "Distance of the model from the neighbours' public copies."},
      {"message_bits", "sotto_message_bits", "gauge", "Size of the last gossip message in bits."},
      {"bits_per_parameter_per_round", "sotto_bits_per_parameter", "gauge",
       "Bits per model parameter in the last gossip message."},
      {"parameters", "sotto_parameters", "gauge", "Model parameters."},
      {"self_weight", "sotto_self_weight", "gauge", "Mixing weight of the node's own model."},
      {"membership_size", "sotto_membership_size", "gauge", "Live members in this node's view."},
      {"uptime_s", "sotto_uptime_seconds", "gauge", "Seconds since the node started."},
  };
  for (const Simple& s : kSimple) {
    Family f(s.name, s.type, s.help);
    f.Add(Get(status, s.key));
    f.Write(&out);
  }

  Family info("sotto_info", "gauge", "Always 1; the labels describe the node.");
  if (status.is_object() && !status.empty()) {
    info.Add(1, {{"id", StringOr(Get(status, "id"), "")},
                 {"address", StringOr(Get(status, "address"), "")},
                 {"algorithm", StringOr(Get(status, "algorithm"), "")},
                 {"state", StringOr(Get(status, "state"), "")}});
  }
  info.Write(&out);

  Family members("sotto_members", "gauge", "Members in this node's view, by state.");
  if (const json& m = Get(status, "members"); m.is_object()) {
    for (const auto& [state, count] : m.items()) members.Add(count, {{"state", state}});
  }
  members.Write(&out);

  Family weight("sotto_neighbour_weight", "gauge", "Mixing weight of each neighbour.");
  Family heard("sotto_neighbour_last_heard_seconds", "gauge",
               "Seconds since each neighbour was last heard.");
  Family step("sotto_neighbour_consensus_step", "gauge",
              "Consensus step each neighbour announced (adaptive senders); the link mixes with the "
              "smaller end's.");
  Family link_density("sotto_link_density", "gauge",
                      "Top-k fraction of this node's link to each neighbour (per-link adaptive "
                      "compression).");
  Family link_step("sotto_link_consensus_step", "gauge",
                   "Consensus step this node announces on its link to each neighbour (per-link "
                   "compression).");
  if (const json& ns = Get(status, "neighbours"); ns.is_array()) {
    for (const json& n : ns) {
      if (!n.is_object() || !n.contains("id") || !n["id"].is_string()) continue;
      const Labels peer{{"peer", n["id"].get<std::string>()}};
      weight.Add(Get(n, "weight"), peer);
      const json& ms = Get(n, "last_heard_ms");
      if (ms.is_number()) heard.Add(ms.get<double>() / 1000.0, peer);
      if (const json& g = Get(n, "consensus_step"); g.is_number()) step.Add(g, peer);
      if (const json& f = Get(n, "link_density"); f.is_number()) link_density.Add(f, peer);
      if (const json& g = Get(n, "link_consensus_step"); g.is_number()) link_step.Add(g, peer);
    }
  }
  weight.Write(&out);
  heard.Write(&out);
  step.Write(&out);
  link_density.Write(&out);
  link_step.Write(&out);

  Family density("sotto_adaptive_density", "gauge",
                 "Top-k fraction chosen by adaptive compression.");
  Family slowest("sotto_adaptive_slowest_delivery_seconds", "gauge",
                 "Average delivery time (send to ack) of the slowest neighbour link.");
  Family excess("sotto_adaptive_slowest_excess_seconds", "gauge",
                "Delivery time beyond its base round trip of the slowest neighbour link, at the "
                "last decision.");
  Family gamma("sotto_adaptive_consensus_step", "gauge",
               "Consensus step after the last change of the top-k fraction.");
  Family round_s("sotto_adaptive_round_seconds", "gauge",
                 "Average wall time of a round; half of it is the default delivery target.");
  Family threshold("sotto_adaptive_threshold", "gauge",
                   "Top-k fraction of the last shrink: above it the fraction grows additively "
                   "(absent: slow start).");
  if (const json& a = Get(status, "adaptive"); a.is_object()) {
    density.Add(Get(a, "density"));
    if (const json& ms = Get(a, "slowest_delivery_ms"); ms.is_number())
      slowest.Add(ms.get<double>() / 1000.0);
    if (const json& ms = Get(a, "slowest_excess_ms"); ms.is_number())
      excess.Add(ms.get<double>() / 1000.0);
    gamma.Add(Get(a, "consensus_step"));
    if (const json& ms = Get(a, "round_ms"); ms.is_number()) round_s.Add(ms.get<double>() / 1000.0);
    if (const json& t = Get(a, "threshold"); t.is_number()) threshold.Add(t);
  }
  density.Write(&out);
  slowest.Write(&out);
  excess.Write(&out);
  gamma.Write(&out);
  round_s.Write(&out);
  threshold.Write(&out);

  // Traffic by peer and message type.
  static constexpr const char* kTraffic[][3] = {
      {"sent", "messages", "Messages sent, by destination peer and message type."},
      {"sent", "bytes", "Bytes sent, by destination peer and message type."},
      {"received", "messages", "Messages received, by sending peer and message type."},
      {"received", "bytes", "Bytes received, by sending peer and message type."}};
  for (const auto& [direction, what, help] : kTraffic) {
    Family f(std::string("sotto_peer_") + what + "_" + direction + "_total", "counter", help);
    if (const json& t = Get(status, "traffic"); t.is_array()) {
      for (const json& row : t) {
        if (StringOr(Get(row, "direction"), "") != direction) continue;
        f.Add(Get(row, what),
              {{"peer", StringOr(Get(row, "peer"), "")}, {"type", StringOr(Get(row, "type"), "")}});
      }
    }
    f.Write(&out);
  }

  Family by_reason("sotto_rejected_by_reason_total", "counter",
                   "Rejected messages and peers, by reason.");
  if (const json& r = Get(status, "rejected_by_reason"); r.is_object()) {
    for (const auto& [reason, count] : r.items()) by_reason.Add(count, {{"reason", reason}});
  }
  by_reason.Write(&out);

  // Histograms: one family each, samples _bucket (cumulative, le ascending, then
  // +Inf), _sum and _count.
  static constexpr const char* kHistograms[][2] = {
      {"round_duration", "Wall time of a gossip round, from its local step to its mix."},
      {"gradient", "Time of the stochastic gradients of one local step."},
      {"encode",
       "Time of a local step outside the gradient: update, proximal step, compression, encoding."},
      {"decode", "Time to decode and absorb one neighbour's residual."},
      {"mix", "Time of the gossip mixing step."}};
  if (const json& hs = Get(status, "histograms"); hs.is_object()) {
    for (const auto& [key, help] : kHistograms) {
      const json& h = Get(hs, key);
      const json& buckets = Get(h, "buckets");
      const json& count = Get(h, "count");
      const json& sum = Get(h, "sum");
      if (!buckets.is_array() || !count.is_number() || !sum.is_number()) continue;
      const std::string name = std::string("sotto_") + key + "_seconds";
      out += "# HELP " + name + ' ' + Escape(help, EscapeQuotes::kNo) + '\n';
      out += "# TYPE " + name + " histogram\n";
      for (const json& b : buckets) {
        if (!b.is_array() || b.size() != 2 || !b[0].is_number() || !b[1].is_number()) continue;
        char le[32];  // Shortest form, as Prometheus clients write bounds ("0.00025", "10").
        std::snprintf(le, sizeof le, "%g", b[0].get<double>());
        out += name + "_bucket{le=\"" + le + "\"} " + Value(b[1]) + '\n';
      }
      out += name + "_bucket{le=\"+Inf\"} " + Value(count) + '\n';
      out += name + "_sum " + Value(sum) + '\n';
      out += name + "_count " + Value(count) + '\n';
    }
  }
  return out;
}

// Shared by the server object and every in-flight handler, so a handler that
// completes after Stop() (with operation_aborted) still has somewhere to look.
struct MetricsHttpServer::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& io, StatusSource s) : acceptor(io), source(std::move(s)) {}

  class Session;
  void Accept();
  void Stop();

  tcp::acceptor acceptor;
  StatusSource source;
  std::list<std::weak_ptr<Session>> sessions;
  bool stopped = false;
};

// One connection: read one request, write one answer, close.
class MetricsHttpServer::Impl::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<Impl> server)
      : stream_(std::move(socket)), server_(std::move(server)) {
    parser_.header_limit(kMaxHeaderBytes);
    parser_.body_limit(kMaxBodyBytes);
  }

  void Start() {
    stream_.expires_after(kRequestTimeout);
    http::async_read(
        stream_, buffer_, parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnRead(ec); });
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().close(ec);
  }

 private:
  void OnRead(beast::error_code ec) {
    if (ec || server_->stopped) return;  // Timeout, reset, garbage or shutdown: just drop it.
    const auto& req = parser_.get();
    std::string target(req.target());
    if (const auto q = target.find('?'); q != std::string::npos) target.resize(q);
    res_.version(11);
    res_.keep_alive(false);
    res_.set(http::field::server, "sotto");
    if (req.method() != http::verb::get) {
      Reply(http::status::method_not_allowed, "text/plain", "only GET\n");
      res_.set(http::field::allow, "GET");
    } else if (target == "/metrics" || target == "/status") {
      try {
        const json status = server_->source();
        if (target == "/metrics") {
          Reply(http::status::ok, "text/plain; version=0.0.4; charset=utf-8",
                PrometheusText(status));
        } else {
          Reply(http::status::ok, "application/json", status.dump() + "\n");
        }
      } catch (const std::exception& e) {
        Reply(http::status::internal_server_error, "text/plain", std::string(e.what()) + "\n");
      }
    } else {
      Reply(http::status::not_found, "text/plain", "not found: try /metrics or /status\n");
    }
    http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code, std::size_t) {
      beast::error_code ignored;
      self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      self->Close();
    });
  }

  void Reply(http::status code, const char* type, std::string body) {
    res_.result(code);
    res_.set(http::field::content_type, type);
    res_.body() = std::move(body);
    res_.prepare_payload();
  }

  beast::tcp_stream stream_;
  std::shared_ptr<Impl> server_;
  beast::flat_buffer buffer_;
  http::request_parser<http::string_body> parser_;
  http::response<http::string_body> res_;
};

void MetricsHttpServer::Impl::Accept() {
  acceptor.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    if (self->stopped || ec == asio::error::operation_aborted) return;
    if (!ec) {
      auto session = std::make_shared<Session>(std::move(socket), self);
      self->sessions.remove_if([](const std::weak_ptr<Session>& w) { return w.expired(); });
      self->sessions.push_back(session);
      session->Start();
    }
    self->Accept();  // Also after a transient error (e.g. EMFILE): keep serving.
  });
}

void MetricsHttpServer::Impl::Stop() {
  if (stopped) return;
  stopped = true;
  beast::error_code ec;
  acceptor.close(ec);
  for (auto& w : sessions) {
    if (auto s = w.lock()) s->Close();
  }
  sessions.clear();
}

Result<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Create(asio::io_context& io,
                                                                     const std::string& address,
                                                                     StatusSource source) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    return InvalidArgument("metrics address '" + address +
                           "': want HOST:PORT, e.g. 127.0.0.1:9464");
  }
  std::string host = address.substr(0, colon);
  const std::string port_text = address.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";
  unsigned long port = 0;
  std::size_t used = 0;
  try {
    port = std::stoul(port_text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != port_text.size() || port > 65535) {
    return InvalidArgument("metrics address '" + address + "': bad port '" + port_text + "'");
  }
  beast::error_code ec;
  const auto ip = asio::ip::make_address(host, ec);
  if (ec)
    return InvalidArgument("metrics address '" + address + "': '" + host +
                           "' is not an IP address");

  auto impl = std::make_shared<Impl>(io, std::move(source));
  const tcp::endpoint endpoint(ip, static_cast<std::uint16_t>(port));
  auto fail = [&](const char* what) {
    return Unavailable("metrics: cannot " + std::string(what) + " " + address + ": " +
                       ec.message());
  };
  if (impl->acceptor.open(endpoint.protocol(), ec); ec) return fail("open");
  if (impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec); ec)
    return fail("configure");
  if (impl->acceptor.bind(endpoint, ec); ec) return fail("bind");
  if (impl->acceptor.listen(asio::socket_base::max_listen_connections, ec); ec)
    return fail("listen on");
  const tcp::endpoint bound = impl->acceptor.local_endpoint(ec);
  if (ec) return fail("read the address of");

  std::unique_ptr<MetricsHttpServer> server(new MetricsHttpServer(impl));
  server->port_ = bound.port();
  const std::string ip_text = bound.address().to_string();
  server->address_ = (bound.address().is_v6() ? "[" + ip_text + "]" : ip_text) + ":" +
                     std::to_string(bound.port());
  impl->Accept();
  return server;
}

MetricsHttpServer::MetricsHttpServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsHttpServer::~MetricsHttpServer() { Stop(); }

void MetricsHttpServer::Stop() { impl_->Stop(); }

}  // namespace sotto::daemon
