#include "daemon/node.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <unordered_map>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>

#include "algo/gossip_algorithm.h"
#include "algo/model.h"
#include "algo/partition.h"
#include "algo/sampler.h"
#include "common/clock.h"
#include "daemon/checkpoint.h"
#include "daemon/cli.h"
#include "daemon/keygen.h"
#include "daemon/lab_command.h"
#include "daemon/metrics_http.h"
#include "net/envelope.h"
#include "net/faulty_transport.h"
#include "net/membership.h"
#include "net/zmq_curve.h"
#include "net/zmq_transport.h"
#include "topology/membership_view.h"
#include "topology/mixing_weights.h"

namespace sotto::daemon {

namespace {

namespace asio = boost::asio;
using json = nlohmann::json;
using Millis = std::chrono::milliseconds;

constexpr std::size_t kModelChunkBytes = 1 << 20;
constexpr std::size_t kMaxPendingResiduals = 4096;
constexpr std::uint64_t kMaxRoundLead = 1 << 20;  // Rounds a neighbour may be ahead of us.
// Residual streams (compressed gossip only; see Node::OnResidualEnvelope): how many
// missing messages a receiver tracks per sender, how far back it asks, how often
// it repeats a resend request, and how much of its own recent output a sender keeps.
constexpr std::size_t kMaxMissingPerSender = 64;
constexpr std::uint64_t kResendWindow = 256;
constexpr auto kResendRepeat = std::chrono::milliseconds(100);
constexpr std::size_t kMinResendHistory = 8;

std::string HexId(PeerId id) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id.value()));
  return buf;
}

// Little-endian helpers for the daemon's own small bodies (model chunks).
void PutU64(std::vector<std::uint8_t>* b, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) b->push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
bool GetU64(std::span<const std::uint8_t> b, std::size_t at, std::uint64_t* v) {
  if (b.size() < at + 8) return false;
  *v = 0;
  for (int i = 0; i < 8; ++i) *v |= std::uint64_t{b[at + i]} << (8 * i);
  return true;
}

struct PendingResidual {
  PeerId from;
  RoundId round;
  std::vector<std::uint8_t> bytes;
  bool resent = false;  // A message that was missing from its sender's stream.
  bool copy = false;    // Not a residual: the sender's whole x_hat (raw floats), see kCopy.
};

// Bodies of the daemon's residual-stream messages (little-endian u64s):
//   kResidual body: stream id, sequence number (the sender's count of residuals it
//     broadcast since it started; the stream id is drawn at start so a restarted
//     sender is a new stream).
//     A third word carries flags (kWantAck: the sender measures delivery times;
//     kHasStep: a fourth word holds the consensus step the sender mixes with, an IEEE
//     double, so both ends of a link mix it with the smaller -- see
//     GossipAlgorithm::SetNeighbourStep; adaptive senders set it).
//   kStatus body 'N' + stream + seqs: "resend these"; 'S' + stream + seqs: "cannot";
//     'A' + stream + seq: "received" (sent at once when the residual asked for it).
constexpr std::uint8_t kResendRequest = 'N';
constexpr std::uint8_t kResendRefused = 'S';
constexpr std::uint8_t kDeliveryAck = 'A';  // 'A' + stream + seq: "got it" (adaptive compression).
// Exact copies on new links. A receiver's copy of a neighbour's x_hat is the sum of
// the residuals it absorbed, so a link made mid-training (a join, a restart, a view
// that lagged) starts with a stand-in that is off by everything the neighbour sent
// before, for good -- and offsets that do not cancel around a cycle make the models
// drift apart without bound. So when a sender adds a neighbour it sends it its x_hat
// ('C' + stream + S, payload: the floats, zlib): x_hat as of its residual S, the
// newest it broadcast; the receiver replaces its copy and continues the stream after
// S (messages on one link arrive in order, so every residual <= S came before). A
// receiver that adds a neighbour asks for the same ('P' + stream): the neighbour may
// have been sending to it already, while it was not yet listening.
constexpr std::uint8_t kCopy = 'C';
constexpr std::uint8_t kCopyRequest = 'P';
constexpr std::uint64_t kWantAck = 1;  // Flags in a residual body's third word.
constexpr std::uint64_t kHasStep = 2;

// What a receiver knows of one sender's residual stream.
struct StreamState {
  std::uint64_t stream = 0;
  std::uint64_t last_seq = 0;       // Newest sequence number seen.
  std::set<std::uint64_t> missing;  // Older ones never seen (lost, or still in flight).
  std::chrono::steady_clock::time_point last_request{};
};

// One residual this node broadcast, kept for resend requests: the bytes each
// recipient got (one shared message, or one per link with per-link compression).
struct SentResidual {
  using Bytes = std::shared_ptr<const std::vector<std::uint8_t>>;
  std::uint64_t seq;
  RoundId round;
  std::vector<std::pair<PeerId, Bytes>> to;
  std::size_t bytes = 0;  // Distinct bytes held.
  std::chrono::steady_clock::time_point sent_at;

  const Bytes* For(PeerId peer) const {
    for (const auto& [id, b] : to) {
      if (id == peer) return &b;
    }
    return nullptr;
  }
};

// Adaptive compression: the sender asks for an ack of every residual and keeps, per
// neighbour link, an average of the delivery time (send -> ack, both on its own
// clock) and the link's base round trip (the lowest delivery time seen, creeping up
// slowly so a changed route is learnt). What a message costs on a link is the excess
// of its delivery time over the base: queueing and transmission, the part a smaller
// message shortens; the base (latency, the receiver's wake-up) no compression can
// remove. After each step the top-k fraction F moves by NextAdaptiveDensity(slowest
// link's excess, target), but at most once per kAdaptHoldRounds rounds and only once
// every link has acked kAdaptMinSamples messages of the current F (so each change is
// judged by its own effect, not by the queue the previous F left). The target
// defaults to half the round's wall time (at least the local step's time): the
// messages' transmission takes about as long as the rest of the round (computation,
// and on a shared host the wait for the CPU). Not the step time alone: with many
// daemons per core a step is a fraction of the round, and a target of one step sits
// inside the acks' scheduling jitter (~2 ms measured with 8 MLP daemons on 2 cores),
// which drove F to its floor on any link. One F for all links: every neighbour must receive the
// same message (their copies of x̂ must agree) -- unless the algorithm compresses per
// link ([gossip].per_link: a public copy per link), when every link has its own F,
// judged by its own excess alone (Node::AdaptLinks). The algorithm scales its consensus
// step with F's contraction (GossipAlgorithm::SetCompressor / SetLinkCompressor).
constexpr std::uint64_t kAdaptHoldRounds = 16;
constexpr std::uint64_t kAdaptMinSamples = 4;

// An exponentially weighted average: the sample itself when it is the first.
double Smoothed(double average, double sample, double weight, bool first) {
  return first ? sample : average + weight * (sample - average);
}

struct LinkDelay {
  double delivery_ms = 0;     // EWMA over acks of messages sent at the current F.
  std::uint64_t samples = 0;  // Acks since the last change of F.
  double base_ms = -1;        // Lowest delivery seen (creeps up 0.2 % of the gap per ack).
  // Per-link compression only: this link's own F and its controller's state.
  double density = 0;
  double threshold = std::numeric_limits<double>::infinity();
  std::uint64_t rounds_since_change = 0;
  std::uint64_t first_seq = 0;  // First message sent on the link at its current F.
};

struct AdaptiveState {
  double density = 0;
  double initial_density = 0;  // The configured fraction; a tenth of it is the additive step.
  double threshold =
      std::numeric_limits<double>::infinity();  // Slow start below (NextAdaptiveDensity).
  std::unordered_map<PeerId, LinkDelay> links;
  double step_ms = 0;            // EWMA of the local step.
  double round_ms = 0;           // EWMA of the round's wall time (start to mix).
  double slowest_excess_ms = 0;  // At the last decision.
  std::uint64_t rounds_since_change = 0;
  std::uint64_t first_seq = 0;  // First message sent at the current F.
  std::uint64_t changes = 0;
  double consensus_step = 0;  // The algorithm's, after the last change.
};

// What the worker reports after a training step.
struct StepResult {
  Status status;
  double loss = 0;
  bool evaluated = false;
  double test_accuracy = NAN;
  double density = NAN;
  double consensus = NAN;
  double gradient_s = 0;  // Time in the gradient oracle.
  double step_s = 0;      // Whole local step (gradient + update + compression + encoding).
  std::vector<std::uint8_t> message;
};

// FNV-1a of a vector's bytes, as 16 hex digits: lets tests (and operators) check
// that a node's copy of a neighbour's x_hat is bit for bit the neighbour's own.
std::string Fingerprint(std::span<const float> v) {
  std::uint64_t h = 14695981039346656037ull;
  const auto* b = reinterpret_cast<const std::uint8_t*>(v.data());
  for (std::size_t k = 0; k < 4 * v.size(); ++k) h = (h ^ b[k]) * 1099511628211ull;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// zlib at its fast level (models and public copies: sparse l1 models shrink a lot,
// dense ones a little); false if zlib fails.
bool Deflate(std::span<const std::uint8_t> in, std::vector<std::uint8_t>* out) {
  uLongf size = compressBound(static_cast<uLong>(in.size()));
  out->resize(size);
  if (compress2(out->data(), &size, in.data(), static_cast<uLong>(in.size()), 1) != Z_OK)
    return false;
  out->resize(size);
  return true;
}

double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

class Node {
 public:
  explicit Node(NodeConfig config)
      : config_(std::move(config)),
        signals_(io_, SIGINT, SIGTERM),
        membership_timer_(io_),
        round_timer_(io_),
        pace_timer_(io_),
        exit_timer_(io_),
        join_timer_(io_),
        worker_(1) {}

  ~Node() { worker_.join(); }

  Status Init();
  int Run();

 private:
  // Setup.
  Status LoadData();
  Status StartTransport();
  Status StartControl();
  void LoadCheckpointIfAny();

  // Membership.
  void OnEnvelope(PeerId from, net::Envelope envelope);  // Loop thread.
  void Flush();                                          // Send membership output, react to events.
  void ArmMembershipTimer();
  void RecomputeNeighbours();
  void ApplyWeightsIfIdle();

  // Training.
  void MaybeStartRound();
  void StartRound();
  void OnStepDone(StepResult result);
  void OnResidualEnvelope(PeerId from, net::Envelope e);
  void OnResendMessage(PeerId from, const net::Envelope& e);
  void RequestResends(PeerId from, StreamState& st);
  void OnResidual(PeerId from, RoundId round, std::vector<std::uint8_t> bytes, bool resent = false);
  void OnPending(PendingResidual p);  // A residual or a copy that waited for the worker.
  void SendCopy(PeerId to);           // Our x_hat (see kCopy); after the step if computing.
  void OnCopy(PeerId from, const net::Envelope& e, std::uint64_t stream, std::uint64_t seq);
  void ApplyCopy(const PendingResidual& p);
  void ExchangeCopies(const std::vector<PeerId>& peers);  // Send ours and ask for theirs.
  bool AbsorbNow(const PendingResidual& r);  // False (counted) when the bytes do not decode.
  void RejectResidual(const char* kind, std::string why);
  void CheckRoundComplete();
  void FinishRound();
  void SaveCheckpoint();

  // Joining mid-training: pull the model from a neighbour.
  void AwaitModel();  // Start training only with a neighbour's model (or after 5 s).
  void RequestModel();
  // asker_crc: the checksum of the asker's own model blob (ModelBlob), if it sent one.
  void ServeModel(PeerId to, const std::string& endpoint, std::optional<std::uint64_t> asker_crc);
  // What a donor sends (round, d, model, public copy) and its crc32.
  std::uint64_t ModelBlob(std::vector<std::uint8_t>* blob) const;
  void OnModelChunk(const net::Envelope& e);

  // Control socket.
  void Accept();
  json StatusJson() const;
  json MembersJson() const;

  void Shutdown(const std::string& why);
  void FinishShutdown();
  void Send(PeerId to, net::Envelope e);

  NodeConfig config_;
  SteadyClock clock_;
  Clock::TimePoint started_ = clock_.Now();
  asio::io_context io_;
  asio::signal_set signals_;
  asio::steady_timer membership_timer_, round_timer_, pace_timer_, exit_timer_, join_timer_;
  asio::thread_pool worker_;
  std::optional<asio::local::stream_protocol::acceptor> control_;
  std::string control_path_;
  std::string checkpoint_path_;
  std::unique_ptr<MetricsHttpServer> metrics_;  // After io_: destroyed first.

  std::optional<net::CurveOptions> curve_;  // From the [security] files, when enabled.
  std::unique_ptr<net::Transport> transport_;
  net::FaultyTransport* faulty_ = nullptr;  // transport_ itself when [faults] asks for any.
  std::unique_ptr<net::Membership> membership_;
  std::unique_ptr<net::Discovery> discovery_;  // When [discovery] is on; reset when Run() returns.
  PeerId self_;
  std::string endpoint_;
  int exit_code_ = kExitOk;

  // Training state. Touched by the worker only while computing_.
  algo::Dataset train_, test_;
  std::unique_ptr<algo::Model> model_, eval_model_;
  std::unique_ptr<algo::Sampler> sampler_;
  std::unique_ptr<algo::GossipAlgorithm> algo_;
  std::int64_t dimension_ = 0;
  bool computing_ = false;
  bool training_started_ = false;
  bool shutting_down_ = false;
  bool awaiting_model_ = false;
  bool finished_logged_ = false;
  RoundId round_;
  std::atomic<std::uint64_t> samples_seen_{0};  // Written by the worker.
  Clock::TimePoint round_started_{};
  bool round_sent_ = false;  // The message of round_ has gone out.

  // Neighbourhood (loop thread).
  algo::NeighbourWeights weights_;
  bool weights_dirty_ = false;
  std::map<PeerId, std::string> neighbour_endpoints_;
  std::unordered_map<PeerId, std::uint64_t> last_round_from_;  // Newest round absorbed + 1.
  std::deque<PendingResidual> pending_;
  // Residual streams: ours (for resends) and each neighbour's (to find gaps).
  std::uint64_t stream_id_ = 0;
  std::uint64_t next_seq_ = 1;
  std::deque<SentResidual> sent_history_;
  std::size_t sent_history_bytes_ = 0;
  std::unordered_map<PeerId, StreamState> streams_;
  std::uint64_t resends_requested_ = 0, resends_served_ = 0, resends_recovered_ = 0;
  std::set<PeerId> copy_owed_;  // Neighbours to send our x_hat once the step is done.
  std::unordered_map<PeerId, std::chrono::steady_clock::time_point>
      copy_served_at_;              // Rate limit of 'P'.
  std::set<PeerId> copy_deferred_;  // 'P' answered when its second is over.
  std::uint64_t copies_sent_ = 0, copies_applied_ = 0, copies_ignored_ = 0;
  AdaptiveState adaptive_;
  std::unordered_map<PeerId, double>
      neighbour_steps_;  // Announced (kHasStep); handed to the algorithm before Mix.
  void Adapt(double step_ms);
  void AdaptLinks();  // Adapt with per-link compression.

  // Model transfer to a newcomer.
  std::vector<std::uint8_t> incoming_model_;
  std::uint64_t incoming_chunks_ = 0;
  Clock::TimePoint model_requested_at_{};  // Requests are repeated at most every 2 s.
  std::unordered_map<PeerId, Clock::TimePoint> model_served_at_;  // Transfers of the last 5 s.
  std::uint64_t models_served_ = 0, models_same_ = 0, model_requests_repeated_ = 0;
  std::uint64_t model_requests_made_ = 0;
  std::string join_model_;  // How this node's model was set on joining: "donor", "same", "initial".

  // Metrics for status.
  double last_loss_ = NAN, last_accuracy_ = NAN, last_density_ = NAN, last_consensus_ = NAN;
  double last_message_bits_ = 0;
  std::uint64_t residuals_rejected_ = 0, residuals_late_ = 0, rounds_timed_out_ = 0;
  std::string last_residual_error_;
  std::map<std::string, std::uint64_t> rejects_by_kind_;  // Daemon-level rejections, by kind.
  LatencyHistogram round_hist_, gradient_hist_, encode_hist_, decode_hist_, mix_hist_;
};

Status Node::LoadData() {
  LabConfig lc;
  lc.data = config_.training.data;
  lc.lab.nodes = config_.shards;
  lc.lab.seed = config_.seed;
  SOTTO_ASSIGN_OR_RETURN(LabData data, LoadLabData(lc));
  const auto& shard = data.shards[static_cast<std::size_t>(config_.shard)];
  train_ = algo::Subset(data.train, shard);
  test_ = std::move(data.test);
  const int classes = std::max(train_.num_classes, test_.num_classes);
  const auto& t = config_.training;
  SOTTO_ASSIGN_OR_RETURN(model_, algo::MakeModel(t.model, train_.num_features(), classes, t.l2));
  SOTTO_ASSIGN_OR_RETURN(eval_model_,
                         algo::MakeModel(t.model, train_.num_features(), classes, t.l2));
  dimension_ = model_->num_parameters();
  std::vector<std::int64_t> rows(static_cast<std::size_t>(train_.num_samples()));
  for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<std::int64_t>(i);
  sampler_ = std::make_unique<algo::Sampler>(
      std::move(rows), t.batch_size, t.sampling,
      Rng(config_.seed, 0x5A3Bull).Fork(static_cast<std::uint64_t>(config_.shard)));
  spdlog::info("data: shard {}/{} of {}: {} training samples, {} test samples, {} parameters ({})",
               config_.shard, config_.shards, t.data.source, train_.num_samples(),
               test_.num_samples(), dimension_, t.model);
  return Status::Ok();
}

Status Node::StartTransport() {
  net::ZmqTransportOptions o;
  std::string advertise = config_.advertise;
  o.curve = curve_;
  if (o.curve) {
    // Peers dial "address#<our public key>" (net/zmq_curve.h); add it if missing.
    if (!advertise.empty() && net::SplitCurveEndpoint(advertise).server_key.empty()) {
      advertise = net::JoinCurveEndpoint(advertise, o.curve->public_key);
    }
    spdlog::info("security: CURVE on; public key {}, {} allowed keys", o.curve->public_key,
                 o.curve->allowed_keys.size());
  }
  if (!advertise.empty()) o.self = net::PeerIdFromEndpoint(advertise);
  SOTTO_ASSIGN_OR_RETURN(std::unique_ptr<net::ZmqTransport> zmq, net::ZmqTransport::Create(o));
  net::ZmqTransport* const zmq_transport = zmq.get();
  if (config_.faults.any()) {
    const auto& f = config_.faults;
    spdlog::warn("faults: injecting drop {} duplicate {} delay {} reorder {} on the send path",
                 f.drop, f.duplicate, f.delay, f.reorder);
    auto wrapped = std::make_unique<net::FaultyTransport>(
        std::move(zmq), net::FaultOptions{.drop = f.drop,
                                          .duplicate = f.duplicate,
                                          .delay = f.delay,
                                          .reorder = f.reorder,
                                          .seed = f.seed * 0x9E3779B97F4A7C15ull +
                                                  static_cast<std::uint64_t>(config_.shard)});
    faulty_ = wrapped.get();
    transport_ = std::move(wrapped);
  } else {
    transport_ = std::move(zmq);
  }
  SOTTO_RETURN_IF_ERROR(transport_->Start(config_.listen, [this](PeerId from, net::Envelope e) {
    asio::post(io_, [this, from, e = std::move(e)]() mutable { OnEnvelope(from, std::move(e)); });
  }));
  endpoint_ = advertise.empty() ? transport_->local_endpoint() : advertise;
  self_ = zmq_transport->self();
  return Status::Ok();
}

Status Node::StartControl() {
  control_path_ = config_.control;
  if (control_path_.empty()) {
    control_path_ = config_.data_dir.empty() ? "/tmp/sotto-" + HexId(self_) + ".sock"
                                             : config_.data_dir + "/control.sock";
  }
  std::error_code ec;
  std::filesystem::remove(control_path_, ec);
  const mode_t old = ::umask(0077);  // The socket is created owner-only (0600).
  try {
    control_.emplace(io_, asio::local::stream_protocol::endpoint(control_path_));
  } catch (const boost::system::system_error& e) {
    ::umask(old);
    return Unavailable("control socket '" + control_path_ + "': " + e.what());
  }
  ::umask(old);
  ::chmod(control_path_.c_str(), 0600);
  Accept();
  return Status::Ok();
}

void Node::LoadCheckpointIfAny() {
  if (config_.data_dir.empty()) return;
  checkpoint_path_ = config_.data_dir + "/checkpoint.bin";
  auto c = ReadCheckpoint(checkpoint_path_);
  if (!c) {
    if (c.error().code() != StatusCode::kNotFound) {
      spdlog::error("checkpoint: {} (starting fresh; the bad file is kept as {}.bad)",
                    c.error().ToString(), checkpoint_path_);
      std::error_code ec;
      std::filesystem::rename(checkpoint_path_, checkpoint_path_ + ".bad", ec);
    }
    return;
  }
  if (c->algorithm != algo_->name()) {
    spdlog::warn("checkpoint: written by {}, running {}: ignored", c->algorithm, algo_->name());
    return;
  }
  const auto s = algo_->LoadState(c->state);
  if (!s.ok()) {
    spdlog::warn("checkpoint: {}: ignored", s.ToString());
    return;
  }
  round_ = RoundId(c->round);
  samples_seen_.store(c->samples_seen);
  training_started_ = true;  // A restarted node resumes; it does not pull a model.
  spdlog::info("checkpoint: resumed at round {} from {}", c->round, checkpoint_path_);
}

Status Node::Init() {
  auto level = spdlog::level::from_str(config_.log_level);
  spdlog::set_level(level);
  // UTC time to the millisecond first, as Serf and Consul log: lines from many
  // daemons on one machine can be merged and ordered, and benchmarks time events
  // by the daemon's own clock instead of by when a reader saw the line.
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%eZ [%l] %v", spdlog::pattern_time_type::utc);
  if (!config_.data_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(config_.data_dir, ec);
    if (ec)
      return Unavailable("cannot create data_dir '" + config_.data_dir + "': " + ec.message());
  }
  if (config_.security.enabled) {  // Before the (slow) data: a key problem fails fast.
    SOTTO_ASSIGN_OR_RETURN(curve_, LoadCurveOptions(config_.security));
  }
  SOTTO_RETURN_IF_ERROR(LoadData());
  algo::NeighbourWeights alone;
  SOTTO_ASSIGN_OR_RETURN(
      algo_, algo::MakeGossipAlgorithm(config_.training.gossip, PeerId(0), dimension_, alone));
  std::vector<float> x0(static_cast<std::size_t>(dimension_));
  Rng init_rng(config_.seed, 0x1A17ull);
  model_->Initialize(x0, init_rng);
  algo_->SetModel(x0);
  SOTTO_RETURN_IF_ERROR(StartTransport());
  if (config_.adaptive) {
    adaptive_.density = TopKFraction(config_.training.gossip.compressor).value_or(0.01);
    adaptive_.initial_density = adaptive_.density;
    adaptive_.consensus_step = config_.training.gossip.consensus_step;
  }
  std::random_device entropy;  // Our residual stream's id: new at every start.
  while (stream_id_ == 0) stream_id_ = (std::uint64_t{entropy()} << 32) | entropy();
  // The algorithm keys its dither by the node id: rebuild it now that we know it.
  SOTTO_ASSIGN_OR_RETURN(
      algo_, algo::MakeGossipAlgorithm(config_.training.gossip, self_, dimension_, alone));
  algo_->SetModel(x0);
  // Compressed gossip drifts apart when gamma is far above the compressor's delta
  // (sotto lab, softmax, top-0.1 %: gamma = 75 delta grew the consensus distance
  // without bound, 16 delta converged; bench/scale's 64 daemons at 270 delta hit NaN).
  if (const double delta = algo_->compressor_delta(), gamma = algo_->consensus_step();
      gamma > 20 * delta) {
    spdlog::warn(
        "gossip: consensus_step {} is {:.0f}x the compressor's contraction delta {:.3g} ({}): the "
        "models "
        "may drift apart and diverge; consider consensus_step <= {:.3g}",
        gamma, gamma / delta, delta, config_.training.gossip.compressor, 20 * delta);
  }
  LoadCheckpointIfAny();
  SOTTO_RETURN_IF_ERROR(StartControl());
  if (!config_.metrics.empty()) {
    SOTTO_ASSIGN_OR_RETURN(
        metrics_, MetricsHttpServer::Create(io_, config_.metrics, [this] { return StatusJson(); }));
    spdlog::info("metrics: http://{}/metrics", metrics_->address());
  }

  net::MembershipOptions mo;
  mo.probe_interval = Millis(config_.probe_interval_ms);
  mo.probe_timeout = Millis(config_.probe_timeout_ms);
  mo.suspicion_multiplier = config_.suspicion_multiplier;
  mo.indirect_checks = static_cast<std::size_t>(config_.indirect_checks);
  mo.gossip_interval = Millis(config_.gossip_interval_ms);
  mo.gossip_nodes = static_cast<std::size_t>(config_.gossip_nodes);
  mo.push_pull_interval = Millis(config_.push_pull_interval_ms);
  mo.rng_seed = self_.value();
  membership_ = std::make_unique<net::Membership>(self_, endpoint_, mo);
  std::printf("sotto node: listening on %s id %s control %s\n", endpoint_.c_str(),
              HexId(self_).c_str(), control_path_.c_str());
  std::fflush(stdout);
  return Status::Ok();
}

int Node::Run() {
  signals_.async_wait([this](const boost::system::error_code& ec, int sig) {
    if (!ec) Shutdown(sig == SIGINT ? "SIGINT" : "SIGTERM");
  });
  // A timestamped start of membership (the "listening on" line is for scripts and
  // carries no time): how long a join takes is read from here to the "joined" lines.
  if (config_.join.empty()) {
    spdlog::info("membership: starting a new mesh (no join address)");
  } else {
    std::string seeds;
    for (const auto& seed : config_.join) seeds += (seeds.empty() ? "" : ", ") + seed;
    spdlog::info("membership: joining through {}", seeds);
  }
  membership_->Join(config_.join, clock_.Now());
  // LAN discovery (net/discovery.h): join members of our mesh heard by beacon. Its thread
  // posts here, and it stops (joins the thread) when Run() returns, before io_ is gone.
  struct StopDiscovery {
    std::unique_ptr<net::Discovery>& d;
    ~StopDiscovery() { d.reset(); }
  } stop_discovery{discovery_};
  if (config_.discovery.enabled) {
    auto options = MakeDiscoveryOptions(config_, self_.value());
    auto made = options ? net::Discovery::Create(*options, self_, endpoint_)
                        : Result<std::unique_ptr<net::Discovery>>(options.error());
    net::Discovery::Handlers h;
    h.on_beacon = [this](const net::Beacon& b, const std::string& from) {
      asio::post(io_, [this, b, from] {
        const auto m = membership_->member(b.id);
        const bool live =
            m && (m->state == net::MemberState::kAlive || m->state == net::MemberState::kSuspect);
        if (shutting_down_ || live) return;
        spdlog::info("discovery: {} at {} (beacon from {}): joining through it", HexId(b.id),
                     b.endpoint, from);
        membership_->JoinThrough(b.endpoint, clock_.Now());
        if (!training_started_ && !awaiting_model_)
          AwaitModel();  // Like --join: pull the mesh's model.
        Flush();
      });
    };
    h.on_reject = [](const Status& why, const std::string& from) {
      spdlog::debug("discovery: dropped a datagram from {}: {}", from, why.message());
    };
    const Status started = made ? (*made)->Start(std::move(h)) : made.error();
    if (started.ok()) {
      discovery_ = std::move(*made);
      spdlog::info("discovery: mesh '{}'{}, beacons on udp port {}", config_.discovery.mesh,
                   options->secret.empty() ? " (no secret)" : " (HMAC-SHA256)",
                   config_.discovery.port);
    } else {
      spdlog::error("{}", started.ToString());
      exit_code_ = started.code() == StatusCode::kUnavailable ? kExitUnavailable : kExitConfig;
      asio::post(io_, [this] { Shutdown("discovery failed"); });
    }
  }
  if (!config_.join.empty() && !training_started_) AwaitModel();
  Flush();
  MaybeStartRound();
  io_.run();
  return exit_code_;
}

void Node::AwaitModel() {
  awaiting_model_ = true;  // Pull the current model once we know a neighbour.
  join_timer_.expires_after(Millis(5000));
  join_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || !awaiting_model_) return;
    spdlog::warn("join: no model received in 5 s: training from the initial model");
    awaiting_model_ = false;
    join_model_ = "initial";
    MaybeStartRound();
  });
}

void Node::Send(PeerId to, net::Envelope e) {
  const auto s = transport_->Send(to, std::move(e));
  if (!s.ok()) spdlog::debug("net: send to {}: {}", HexId(to), s.ToString());
}

void Node::OnEnvelope(PeerId from, net::Envelope e) {
  if (shutting_down_ && e.type != net::MessageType::kModelRequest) {
    if (!net::Membership::IsMembershipMessage(e.type)) return;
  }
  if (net::Membership::IsMembershipMessage(e.type)) {
    const auto s = membership_->HandleEnvelope(e, clock_.Now());
    if (!s.ok()) {
      ++rejects_by_kind_["bad_membership_message"];
      spdlog::debug("membership: from {}: {}", HexId(from), s.ToString());
    }
    Flush();
    return;
  }
  switch (e.type) {
    case net::MessageType::kResidual:
      OnResidualEnvelope(from, std::move(e));
      break;
    case net::MessageType::kStatus:
      OnResendMessage(from, e);
      break;
    case net::MessageType::kModelRequest: {
      // A node still waiting for the mesh's model has none to give (the asker retries,
      // another neighbour) -- unless both hold the same initial model, which it says.
      const auto m = membership_->member(from);
      std::uint64_t crc = 0;
      const bool has_crc = GetU64(e.body, 0, &crc);
      if (m && (!awaiting_model_ || has_crc))
        ServeModel(from, m->endpoint, has_crc ? std::optional<std::uint64_t>(crc) : std::nullopt);
      break;
    }
    case net::MessageType::kModelChunk:
      OnModelChunk(e);
      break;
    default:
      break;
  }
}

void Node::Flush() {
  for (auto& o : membership_->TakeOutgoing()) {
    (void)transport_->Connect(o.to, o.endpoint);
    Send(o.to, std::move(o.envelope));
  }
  bool view_changed = false;
  for (const auto& ev : membership_->TakeEvents()) {
    spdlog::info("membership: {} {} ({})", HexId(ev.member.id), net::MemberEventKindName(ev.kind),
                 ev.member.endpoint);
    if (ev.kind != net::MemberEvent::Kind::kSuspected &&
        ev.kind != net::MemberEvent::Kind::kRecovered) {
      view_changed = true;
    }
    if (ev.kind == net::MemberEvent::Kind::kDead || ev.kind == net::MemberEvent::Kind::kLeft) {
      transport_->Disconnect(ev.member.id);
    }
  }
  if (view_changed) {
    RecomputeNeighbours();
    MaybeStartRound();
  }
  if (awaiting_model_ && membership_->joined() && !neighbour_endpoints_.empty() &&
      incoming_chunks_ == 0 && clock_.Now() - model_requested_at_ > Millis(2000)) {
    RequestModel();
  }
  ArmMembershipTimer();
}

void Node::ArmMembershipTimer() {
  if (shutting_down_) return;
  membership_timer_.expires_at(membership_->NextDeadline());
  membership_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    if (faulty_ != nullptr) faulty_->Tick();  // Held envelopes also fall due with time.
    membership_->Tick(clock_.Now());
    Flush();
  });
}

void Node::RecomputeNeighbours() {
  std::vector<std::uint64_t> ids;
  std::map<PeerId, std::string> endpoints;
  for (const auto& m : membership_->live_members()) {
    ids.push_back(m.id.value());
    endpoints[m.id] = m.endpoint;
  }
  auto graph = topology::GraphFromView(ids, config_.topology, config_.seed);
  if (!graph) {
    spdlog::error("topology: {}", graph.error().ToString());
    return;
  }
  const auto me = std::find(ids.begin(), ids.end(), self_.value());
  if (me == ids.end()) return;
  const auto row = topology::LocalMixingRow(*graph, static_cast<int>(me - ids.begin()),
                                            topology::WeightRule::kMetropolisHastings);
  algo::NeighbourWeights w;
  w.self = row.self_weight;
  std::map<PeerId, std::string> neighbours;
  for (std::size_t k = 0; k < row.neighbours.size(); ++k) {
    const PeerId id(ids[static_cast<std::size_t>(row.neighbours[k])]);
    w.neighbours.emplace_back(id, row.weights[k]);
    neighbours[id] = endpoints[id];
    (void)transport_->Connect(id, endpoints[id]);
  }
  if (neighbours == neighbour_endpoints_ && w.self == weights_.self) return;
  std::erase_if(streams_, [&](const auto& kv) {
    return !neighbours.count(kv.first);
  });  // A returning neighbour starts afresh.
  std::erase_if(neighbour_steps_, [&](const auto& kv) { return !neighbours.count(kv.first); });
  std::vector<PeerId> added;
  for (const auto& [id, ep] : neighbours) {
    if (!neighbour_endpoints_.count(id)) added.push_back(id);
  }
  neighbour_endpoints_ = std::move(neighbours);
  weights_ = std::move(w);
  weights_dirty_ = true;
  std::string names;
  for (const auto& [id, ep] : neighbour_endpoints_) names += " " + HexId(id);
  spdlog::info("topology: {} members, neighbours:{}", ids.size(), names.empty() ? " none" : names);
  ApplyWeightsIfIdle();
  ExchangeCopies(added);  // New links: exact copies both ways (see kCopy).
  CheckRoundComplete();   // A departed neighbour may be all we were waiting for.
}

void Node::ApplyWeightsIfIdle() {
  if (computing_ || !weights_dirty_) return;
  algo_->SetWeights(weights_);
  weights_dirty_ = false;
  if (config_.adaptive && algo_->per_link()) {
    // A link the algorithm just made starts at the node's compressor: at the link's F.
    for (const auto& [id, link] : adaptive_.links) {
      if (link.density > 0)
        (void)algo_->SetLinkCompressor(
            id, WithTopKFraction(config_.training.gossip.compressor, link.density));
    }
  }
}

void Node::MaybeStartRound() {
  // round_sent_: this round's step is done and sent, the round waits for the
  // neighbours (FinishRound). A second step for the same round would send a second
  // residual under the same round number, which receivers drop as a duplicate while
  // our x_hat keeps it: the copies would disagree for good.
  if (shutting_down_ || computing_ || awaiting_model_ || round_sent_) return;
  if (config_.rounds > 0 && round_.value() >= static_cast<std::uint64_t>(config_.rounds)) return;
  if (!training_started_ &&
      static_cast<int>(membership_->live_members().size()) < config_.min_members)
    return;  // A start gate only.
  training_started_ = true;
  const auto since = clock_.Now() - round_started_;
  if (config_.min_round_ms > 0 && since < Millis(config_.min_round_ms)) {
    pace_timer_.expires_after(Millis(config_.min_round_ms) - since);
    pace_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) StartRound();
    });
    return;
  }
  StartRound();
}

void Node::StartRound() {
  if (shutting_down_ || computing_ || round_sent_) return;
  computing_ = true;
  round_sent_ = false;
  round_started_ = clock_.Now();
  const RoundId round = round_;
  const bool evaluate = config_.eval_every > 0 &&
                        (round.value() + 1) % static_cast<std::uint64_t>(config_.eval_every) == 0;
  asio::post(worker_, [this, round, evaluate] {
    StepResult r;
    algo::GradientOracle oracle = [this, &r](std::span<const float> x, std::span<float> g) {
      const auto t = std::chrono::steady_clock::now();
      const auto rows = sampler_->Next();
      samples_seen_.fetch_add(rows.size());
      auto result = model_->LossAndGradient(x, train_, rows, g);
      r.gradient_s += SecondsSince(t);
      return result;
    };
    const auto step_start = std::chrono::steady_clock::now();
    auto loss = algo_->LocalStep(oracle, round);
    r.step_s = SecondsSince(step_start);
    if (!loss) {
      r.status = loss.error();
    } else {
      r.loss = *loss;
      r.message.assign(algo_->message().begin(), algo_->message().end());
      if (evaluate) {
        const auto state = algo_->SaveState();
        r.evaluated = true;
        r.test_accuracy = eval_model_->Evaluate(state.model, test_).accuracy;
        std::size_t nnz = 0;
        double dist = 0;
        for (std::size_t k = 0; k < state.model.size(); ++k) {
          nnz += state.model[k] != 0.0f;
          if (!state.mixed.empty())
            dist += std::pow(static_cast<double>(state.model[k]) - state.mixed[k], 2);
        }
        r.density = static_cast<double>(nnz) / static_cast<double>(state.model.size());
        r.consensus = dist;
      }
    }
    asio::post(io_, [this, r = std::move(r)]() mutable { OnStepDone(std::move(r)); });
  });
}

void Node::OnStepDone(StepResult r) {
  computing_ = false;
  if (!r.status.ok()) {
    spdlog::error("training: round {}: {}", round_.value(), r.status.ToString());
    exit_code_ = kExitFailure;
    Shutdown("training failed");
    return;
  }
  last_loss_ = r.loss;  // The smooth part on the last mini-batch.
  gradient_hist_.Observe(r.gradient_s);
  encode_hist_.Observe(r.step_s - r.gradient_s);
  if (r.evaluated) {
    last_accuracy_ = r.test_accuracy;
    last_density_ = r.density;
    last_consensus_ = r.consensus;
    spdlog::info("training: round {} loss {:.4f} test accuracy {:.4f} density {:.3f}",
                 round_.value() + 1, r.loss, r.test_accuracy, r.density);
  }
  // What each neighbour gets: the one message, or (per-link compression) its link's.
  // The worker is done, so the algorithm can be read here. A link the algorithm does
  // not have yet (neighbours changed during the step) gets nothing this round: its
  // copy exchange starts it.
  SentResidual sent{0, round_, {}, 0, std::chrono::steady_clock::now()};
  double bits = 0;
  if (algo_->per_link()) {
    for (const auto& [id, ep] : neighbour_endpoints_) {
      const auto m = algo_->link_message(id);
      if (m.empty()) continue;
      sent.to.emplace_back(id,
                           std::make_shared<const std::vector<std::uint8_t>>(m.begin(), m.end()));
      sent.bytes += m.size();
    }
    if (!sent.to.empty())  // The mean over the links.
      bits = 8.0 * static_cast<double>(sent.bytes) / static_cast<double>(sent.to.size());
  } else {
    auto shared = std::make_shared<const std::vector<std::uint8_t>>(std::move(r.message));
    for (const auto& [id, ep] : neighbour_endpoints_) sent.to.emplace_back(id, shared);
    sent.bytes = shared->size();
    bits = 8.0 * static_cast<double>(shared->size());
  }
  last_message_bits_ = bits;
  const bool stream = algo_->AbsorbsLateMessages();
  if (stream) {  // A numbered stream, so receivers can ask for what they lost.
    sent.seq = next_seq_++;
    sent_history_bytes_ += sent.bytes;
    sent_history_.push_back(sent);
    // Keep about one model's worth of recent messages (and at least a few).
    const std::size_t budget = static_cast<std::size_t>(dimension_) * sizeof(float);
    while (sent_history_.size() > kMinResendHistory && sent_history_bytes_ > budget) {
      sent_history_bytes_ -= sent_history_.front().bytes;
      sent_history_.pop_front();
    }
  }
  for (const auto& [id, bytes] : sent.to) {
    net::Envelope e;
    e.type = net::MessageType::kResidual;
    e.round = round_;
    if (stream) {
      PutU64(&e.body, stream_id_);
      PutU64(&e.body, sent.seq);
      PutU64(&e.body, config_.adaptive ? kWantAck | kHasStep : 0);
      if (config_.adaptive)
        PutU64(&e.body, std::bit_cast<std::uint64_t>(algo_->link_consensus_step(id)));
    }
    e.payload = *bytes;
    Send(id, std::move(e));
  }
  round_sent_ = true;
  if (config_.adaptive) Adapt(1000.0 * r.step_s);
  // Weights before the owed copies: with per-link compression a new link's copy
  // exists only once the algorithm has the link.
  ApplyWeightsIfIdle();
  std::set<PeerId> owed;
  owed.swap(copy_owed_);
  for (PeerId id : owed) SendCopy(id);  // x_hat as of the residual just sent.
  // Residuals that arrived while the worker held the algorithm.
  std::deque<PendingResidual> pending;
  pending.swap(pending_);
  for (auto& p : pending) OnPending(std::move(p));
  if (shutting_down_) {
    FinishShutdown();
    return;
  }
  round_timer_.expires_after(Millis(config_.round_timeout_ms));
  round_timer_.async_wait([this, round = round_](const boost::system::error_code& ec) {
    if (ec || round != round_ || computing_ || !round_sent_) return;
    ++rounds_timed_out_;
    spdlog::debug("gossip: round {} deadline: mixing with what arrived", round.value());
    FinishRound();
  });
  CheckRoundComplete();
}

// Compressed gossip needs every residual exactly once: a receiver's copy of a
// neighbour's public model x̂ is the sum of all the residuals it absorbed, so one
// lost message would bias it for good. Each sender numbers its broadcasts; a
// receiver that sees a gap asks for the missing numbers (again every 100 ms while
// messages keep coming), the sender resends them from its recent history, or says
// it cannot (too old, or never sent to this receiver), and the receiver stops
// waiting for them. Messages without a stream (D-PSGD, which needs no reliability)
// skip all this.
void Node::OnResidualEnvelope(PeerId from, net::Envelope e) {
  std::uint64_t stream = 0, seq = 0;
  if (!algo_->AbsorbsLateMessages() || !GetU64(e.body, 0, &stream) || !GetU64(e.body, 8, &seq)) {
    OnResidual(from, e.round, std::move(e.payload));
    return;
  }
  if (!neighbour_endpoints_.count(from)) {
    RejectResidual("residual_from_non_neighbour", "residual from non-neighbour " + HexId(from));
    return;
  }
  StreamState& st = streams_[from];
  if (st.stream != stream) {
    st = StreamState{stream, seq - 1, {}, {}};  // First message, or a restarted sender.
    neighbour_steps_.erase(from);               // It announces its step again, if it has one.
  }
  if (seq <= st.last_seq) {
    if (st.missing.erase(seq) ==
        0) {  // Seen already: a duplicate or a resend that crossed the original.
      ++residuals_late_;
      spdlog::debug("gossip: residual {} of {} is not newer than {}: dropped", seq, HexId(from),
                    st.last_seq);
      return;
    }
    ++resends_recovered_;
    OnResidual(from, e.round, std::move(e.payload), /*resent=*/true);
    return;
  }
  for (std::uint64_t k = std::max(st.last_seq + 1, seq > kResendWindow ? seq - kResendWindow : 1);
       k < seq; ++k) {
    st.missing.insert(k);
  }
  st.last_seq = seq;
  std::uint64_t flags = 0;
  GetU64(e.body, 16, &flags);
  if (std::uint64_t bits = 0; (flags & kHasStep) != 0 && GetU64(e.body, 24, &bits)) {
    const double gamma = std::bit_cast<double>(bits);
    if (gamma > 0 && gamma <= 1) {
      neighbour_steps_[from] = gamma;
    } else {
      spdlog::debug("gossip: {} announced consensus step {}: not in (0, 1], ignored", HexId(from),
                    gamma);
    }
  }
  if ((flags & kWantAck) != 0) {
    net::Envelope ack;
    ack.type = net::MessageType::kStatus;
    ack.body.push_back(kDeliveryAck);
    PutU64(&ack.body, stream);
    PutU64(&ack.body, seq);
    Send(from, std::move(ack));
  }
  while (!st.missing.empty() &&
         (st.missing.size() > kMaxMissingPerSender || *st.missing.begin() + kResendWindow < seq)) {
    st.missing.erase(st.missing.begin());  // Too old to ask for: give up on it.
  }
  if (!st.missing.empty()) RequestResends(from, st);
  OnResidual(from, e.round, std::move(e.payload));
}

void Node::Adapt(double step_ms) {
  auto& a = adaptive_;
  a.step_ms = Smoothed(a.step_ms, step_ms, 0.1, a.step_ms == 0);
  std::erase_if(a.links, [&](const auto& kv) { return !neighbour_endpoints_.count(kv.first); });
  if (algo_->per_link()) {
    AdaptLinks();
    return;
  }
  if (++a.rounds_since_change < kAdaptHoldRounds) return;
  double excess = -1;
  for (const auto& [id, ep] : neighbour_endpoints_) {
    const auto it = a.links.find(id);
    if (it == a.links.end() || it->second.samples < kAdaptMinSamples) return;  // Not judged yet.
    excess = std::max(excess, it->second.delivery_ms - it->second.base_ms);
  }
  if (excess < 0) return;  // No neighbours.
  a.slowest_excess_ms = excess;
  const double target = AdaptiveTargetMs(config_.adaptive_target_ms, a.step_ms, a.round_ms);
  const double additive = std::max(config_.adaptive_min_density, 0.1 * a.initial_density);
  const double next = NextAdaptiveDensity(a.density, excess, target, config_.adaptive_min_density,
                                          config_.adaptive_max_density, additive, &a.threshold);
  if (next == a.density) return;
  const auto s = algo_->SetCompressor(WithTopKFraction(config_.training.gossip.compressor, next));
  if (!s.ok()) {
    spdlog::error("adaptive: {}", s.ToString());
    return;
  }
  spdlog::debug(
      "adaptive: top-k fraction {:.4g} -> {:.4g} (slowest link {:.2f} ms over its base, target "
      "{:.2f} "
      "ms), consensus step {:.4g}",
      a.density, next, excess, target, algo_->consensus_step());
  a.density = next;
  a.consensus_step = algo_->consensus_step();
  a.rounds_since_change = 0;
  a.first_seq = next_seq_;
  for (auto& [id, link] : a.links) {
    link.samples = 0;
    link.delivery_ms = 0;
  }
  ++a.changes;
}

// Per-link compression: every link's F follows that link's own excess against the
// target, with its own hold and sample count; the link's consensus step follows its F
// (announced with each residual on it, and both ends mix the link with the smaller).
// (Letting a faster link aim for the slowest link's excess instead -- a neighbour
// waits for its slowest link anyway -- was tried: on the LAN bench a slow node's two
// links share its port, so each one's growth slowed the other and they raced up to
// 18-23 %; bench/results/lan_adaptive_link.json, notes.)
void Node::AdaptLinks() {
  auto& a = adaptive_;
  const double target = AdaptiveTargetMs(config_.adaptive_target_ms, a.step_ms, a.round_ms);
  const double additive = std::max(config_.adaptive_min_density, 0.1 * a.initial_density);
  double slowest = -1, sum = 0;
  int count = 0;
  for (const auto& [id, ep] : neighbour_endpoints_) {
    LinkDelay& link = a.links[id];
    if (link.density == 0) link.density = a.initial_density;
    sum += link.density;
    ++count;
    if (++link.rounds_since_change < kAdaptHoldRounds || link.samples < kAdaptMinSamples) continue;
    const double excess = link.delivery_ms - link.base_ms;
    slowest = std::max(slowest, excess);
    const double next =
        NextAdaptiveDensity(link.density, excess, target, config_.adaptive_min_density,
                            config_.adaptive_max_density, additive, &link.threshold);
    if (next == link.density) continue;
    const auto s =
        algo_->SetLinkCompressor(id, WithTopKFraction(config_.training.gossip.compressor, next));
    if (!s.ok()) {  // The algorithm lacks the link for now (weights pending): later.
      spdlog::debug("adaptive: link to {}: {}", HexId(id), s.ToString());
      continue;
    }
    spdlog::debug(
        "adaptive: link to {}: top-k fraction {:.4g} -> {:.4g} ({:.2f} ms over its base, "
        "target {:.2f} ms), consensus step {:.4g}",
        HexId(id), link.density, next, excess, target, algo_->link_consensus_step(id));
    sum += next - link.density;
    link.density = next;
    link.rounds_since_change = 0;
    link.first_seq = next_seq_;
    link.samples = 0;
    link.delivery_ms = 0;
    ++a.changes;
  }
  if (slowest >= 0) a.slowest_excess_ms = slowest;
  if (count > 0) a.density = sum / count;  // The mean over the links, for status.
  a.consensus_step = algo_->consensus_step();
}

void Node::ExchangeCopies(const std::vector<PeerId>& peers) {
  if (!algo_->AbsorbsLateMessages()) return;
  for (PeerId id : peers) {
    SendCopy(id);
    net::Envelope ask;
    ask.type = net::MessageType::kStatus;
    ask.body.push_back(kCopyRequest);
    PutU64(&ask.body, stream_id_);
    Send(id, std::move(ask));
  }
}

void Node::SendCopy(PeerId to) {
  if (!algo_->AbsorbsLateMessages()) return;
  if (computing_) {  // The worker holds the algorithm: right after its step.
    copy_owed_.insert(to);
    return;
  }
  const std::span<const float> x_hat = algo_->LinkPublicCopy(to);
  if (x_hat.empty()) {  // Per-link compression, link not made yet: when it is.
    if (neighbour_endpoints_.count(to)) copy_owed_.insert(to);
    return;
  }
  net::Envelope e;
  e.type = net::MessageType::kStatus;
  e.round = round_;
  const std::span<const std::uint8_t> raw(reinterpret_cast<const std::uint8_t*>(x_hat.data()),
                                          4 * x_hat.size());
  if (!Deflate(raw, &e.payload)) {
    spdlog::error("gossip: cannot compress our public copy for {}", HexId(to));
    return;
  }
  e.body.push_back(kCopy);
  PutU64(&e.body, stream_id_);
  PutU64(&e.body, next_seq_ - 1);  // x_hat holds every residual up to this one.
  ++copies_sent_;
  Send(to, std::move(e));
}

void Node::OnCopy(PeerId from, const net::Envelope& e, std::uint64_t stream, std::uint64_t seq) {
  if (!algo_->AbsorbsLateMessages()) return;
  if (!neighbour_endpoints_.count(
          from)) {  // Not (yet) our neighbour: our request when it is covers it.
    ++copies_ignored_;
    return;
  }
  const auto want = static_cast<uLongf>(4 * dimension_);
  std::vector<std::uint8_t> raw(want);
  uLongf raw_size = want;
  if (e.payload.empty() ||
      uncompress(raw.data(), &raw_size, e.payload.data(), static_cast<uLong>(e.payload.size())) !=
          Z_OK ||
      raw_size != want) {
    RejectResidual("bad_copy", "copy from " + HexId(from) + " does not inflate to " +
                                   std::to_string(dimension_) + " floats");
    return;
  }
  StreamState& st = streams_[from];
  if (st.stream == stream &&
      st.last_seq > seq) {  // Older than residuals we hold (delayed): ours is newer.
    ++copies_ignored_;
    return;
  }
  if (st.stream != stream) {
    st = StreamState{stream, seq, {}, {}};
  } else {
    st.last_seq = seq;
    std::erase_if(st.missing, [seq](std::uint64_t k) { return k <= seq; });
  }
  PendingResidual p{from, e.round, std::move(raw), false, true};
  if (computing_) {  // In order with the residuals that wait for the worker.
    if (pending_.size() >= kMaxPendingResiduals) {
      RejectResidual("pending_queue_full", "pending residual queue full");
      return;
    }
    pending_.push_back(std::move(p));
    return;
  }
  ApplyCopy(p);
}

void Node::ApplyCopy(const PendingResidual& p) {
  std::vector<float> copy(p.bytes.size() / 4);
  std::memcpy(copy.data(), p.bytes.data(), 4 * copy.size());
  const auto s = algo_->SetNeighbourCopy(p.from, copy);
  if (!s.ok()) {
    ++copies_ignored_;  // The link went away meanwhile.
    spdlog::debug("gossip: copy from {}: {}", HexId(p.from), s.ToString());
    return;
  }
  ++copies_applied_;
}

void Node::OnPending(PendingResidual p) {
  if (p.copy) {
    if (neighbour_endpoints_.count(p.from)) ApplyCopy(p);
    return;
  }
  OnResidual(p.from, p.round, std::move(p.bytes), p.resent);
}

void Node::RequestResends(PeerId from, StreamState& st) {
  const auto now = std::chrono::steady_clock::now();
  if (now - st.last_request < kResendRepeat) return;
  st.last_request = now;
  net::Envelope e;
  e.type = net::MessageType::kStatus;
  e.body.push_back(kResendRequest);
  PutU64(&e.body, st.stream);
  for (std::uint64_t seq : st.missing) PutU64(&e.body, seq);
  resends_requested_ += st.missing.size();
  Send(from, std::move(e));
}

void Node::OnResendMessage(PeerId from, const net::Envelope& e) {
  std::uint64_t stream = 0;
  if (e.body.empty() || !GetU64(e.body, 1, &stream) || (e.body.size() - 9) % 8 != 0 ||
      (e.body.size() - 9) / 8 > kMaxMissingPerSender) {
    RejectResidual("bad_resend_message", "malformed resend message from " + HexId(from));
    return;
  }
  std::vector<std::uint64_t> seqs((e.body.size() - 9) / 8);
  for (std::size_t k = 0; k < seqs.size(); ++k) GetU64(e.body, 9 + 8 * k, &seqs[k]);
  if (e.body[0] == kCopyRequest) {
    if (!membership_->member(from)) return;
    // At most one a second per peer (a copy is a whole model); a request within the
    // second is answered when it ends, once however many came.
    const auto now = std::chrono::steady_clock::now();
    auto [at, fresh] = copy_served_at_.try_emplace(from, now);
    if (!fresh && now - at->second < std::chrono::seconds(1)) {
      if (!copy_deferred_.insert(from).second) return;
      auto timer = std::make_shared<asio::steady_timer>(io_, at->second + std::chrono::seconds(1));
      timer->async_wait([this, timer, from](const boost::system::error_code& ec) {
        copy_deferred_.erase(from);
        if (ec || shutting_down_ || !membership_->member(from)) return;
        copy_served_at_[from] = std::chrono::steady_clock::now();
        SendCopy(from);
      });
      return;
    }
    at->second = now;
    SendCopy(from);
    return;
  }
  if (e.body[0] == kCopy) {
    if (seqs.size() != 1) {
      RejectResidual("bad_copy", "malformed copy message from " + HexId(from));
      return;
    }
    OnCopy(from, e, stream, seqs[0]);
    return;
  }
  if (e.body[0] == kDeliveryAck) {
    if (seqs.size() != 1 || stream != stream_id_ || !config_.adaptive) return;
    const auto it = std::find_if(sent_history_.begin(), sent_history_.end(),
                                 [&](const SentResidual& r) { return r.seq == seqs[0]; });
    if (it == sent_history_.end() || it->For(from) == nullptr) return;
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - it->sent_at)
            .count();
    LinkDelay& link = adaptive_.links[from];
    link.base_ms =
        link.base_ms < 0 || ms < link.base_ms ? ms : link.base_ms + 0.002 * (ms - link.base_ms);
    if (it->seq < (algo_->per_link() ? link.first_seq : adaptive_.first_seq))
      return;  // Sent at an earlier F.
    link.delivery_ms = Smoothed(link.delivery_ms, ms, 0.25, link.samples++ == 0);
    return;
  }
  if (e.body[0] == kResendRefused) {
    const auto it = streams_.find(from);
    if (it == streams_.end() || it->second.stream != stream) return;
    for (std::uint64_t seq : seqs) it->second.missing.erase(seq);
    return;
  }
  if (e.body[0] != kResendRequest || stream != stream_id_)
    return;  // Not our current stream: ignore.
  net::Envelope refused;
  refused.type = net::MessageType::kStatus;
  refused.body.push_back(kResendRefused);
  PutU64(&refused.body, stream_id_);
  for (std::uint64_t seq : seqs) {
    const auto it = std::find_if(sent_history_.begin(), sent_history_.end(),
                                 [seq](const SentResidual& r) { return r.seq == seq; });
    const SentResidual::Bytes* bytes = it == sent_history_.end() ? nullptr : it->For(from);
    if (bytes == nullptr) {
      PutU64(&refused.body, seq);
      continue;
    }
    net::Envelope again;
    again.type = net::MessageType::kResidual;
    again.round = it->round;
    PutU64(&again.body, stream_id_);
    PutU64(&again.body, seq);
    again.payload = **bytes;
    ++resends_served_;
    Send(from, std::move(again));
  }
  if (refused.body.size() > 9) Send(from, std::move(refused));
}

void Node::OnResidual(PeerId from, RoundId round, std::vector<std::uint8_t> bytes, bool resent) {
  if (!neighbour_endpoints_.count(from)) {
    RejectResidual("residual_from_non_neighbour", "residual from non-neighbour " + HexId(from));
    return;
  }
  if (resent) {  // Its stream position is new; its round may be long past. Absorb it once.
    if (computing_) {
      if (pending_.size() >= kMaxPendingResiduals) {
        RejectResidual("pending_queue_full", "pending residual queue full");
        return;
      }
      pending_.push_back({from, round, std::move(bytes), true});
      return;
    }
    AbsorbNow({from, round, std::move(bytes), true});
    return;
  }
  auto& next = last_round_from_[from];
  if (round.value() + 1 <= next) {  // Duplicate or replay: never applied twice.
    ++residuals_late_;
    spdlog::debug("gossip: residual of {} for round {} after its round {}: dropped", HexId(from),
                  round.value(), next - 1);
    return;
  }
  const bool late_ok = algo_->AbsorbsLateMessages();
  // Busy, or (D-PSGD, which mixes only the models of the round it has stepped in) a
  // residual for a round it has not stepped in yet: keep it for later.
  if (computing_ || (!late_ok && (round > round_ || !round_sent_))) {
    if (pending_.size() >= kMaxPendingResiduals) {
      RejectResidual("pending_queue_full", "pending residual queue full");
      return;
    }
    pending_.push_back({from, round, std::move(bytes)});
    return;
  }
  if (round < round_ && !late_ok) {  // D-PSGD mixes current models only.
    next = round.value() + 1;
    ++residuals_late_;
    return;
  }
  // A round far ahead of ours is a lie (or a bug): it would drag our round counter,
  // and through our messages the mesh's, out of range. A fresh node accepts any.
  if (round_.value() > 0 && round.value() > round_.value() + kMaxRoundLead) {
    RejectResidual("implausible_round", "residual from " + HexId(from) + " claims round " +
                                            std::to_string(round.value()) + ", we are at " +
                                            std::to_string(round_.value()));
    return;
  }
  // Compressed gossip absorbs every residual exactly once, whatever its round, so
  // every holder's copy of the sender stays the same. A residual that does not
  // decode is dropped (counted) but still counts as the sender's message of that
  // round: waiting for another would only stall the round to its deadline.
  next = round.value() + 1;
  AbsorbNow({from, round, std::move(bytes)});
  CheckRoundComplete();
}

bool Node::AbsorbNow(const PendingResidual& r) {
  const auto t = std::chrono::steady_clock::now();
  const auto s = algo_->Absorb(r.from, r.bytes);
  decode_hist_.Observe(SecondsSince(t));
  if (!s.ok()) {
    RejectResidual("bad_residual", s.ToString());
    spdlog::debug("gossip: dropped residual from {}: {}", HexId(r.from), s.ToString());
  }
  return s.ok();
}

void Node::RejectResidual(const char* kind, std::string why) {
  ++residuals_rejected_;
  ++rejects_by_kind_[kind];
  last_residual_error_ = std::move(why);
}

void Node::CheckRoundComplete() {
  if (computing_ || !round_sent_ || shutting_down_) return;
  // A neighbour has delivered this round once it sent a residual for it or a later one.
  for (const auto& [id, ep] : neighbour_endpoints_) {
    const auto it = last_round_from_.find(id);
    if (it == last_round_from_.end() || it->second <= round_.value()) return;
  }
  FinishRound();
}

void Node::FinishRound() {
  round_timer_.cancel();
  for (const auto& [id, ep] : neighbour_endpoints_) {
    const auto it = neighbour_steps_.find(id);
    algo_->SetNeighbourStep(id,
                            it == neighbour_steps_.end() ? 0.0 : it->second);  // 0: not announced.
  }
  const auto t = std::chrono::steady_clock::now();
  algo_->Mix();
  mix_hist_.Observe(SecondsSince(t));
  const double round_s = std::chrono::duration<double>(clock_.Now() - round_started_).count();
  round_hist_.Observe(round_s);
  if (config_.adaptive) {
    auto& a = adaptive_;
    a.round_ms = Smoothed(a.round_ms, 1000.0 * round_s, 0.1, a.round_ms == 0);
  }
  // A node that fell behind (restart, stall) jumps to its neighbours' round: the
  // round number only keys the dither and pairs messages with rounds. To the
  // slowest neighbour's, so one neighbour (lying, or itself off) cannot drag it.
  std::optional<std::uint64_t> behind;
  for (const auto& [id, ep] : neighbour_endpoints_) {
    const auto it = last_round_from_.find(id);
    if (it == last_round_from_.end() || it->second == 0) {  // Not heard from everyone yet: no jump.
      behind.reset();
      break;
    }
    behind = std::min(behind.value_or(it->second - 1), it->second - 1);
  }
  round_ = RoundId(std::max(round_.value() + 1, behind.value_or(0)));
  round_sent_ = false;
  if (config_.checkpoint_every > 0 &&
      round_.value() % static_cast<std::uint64_t>(config_.checkpoint_every) == 0) {
    SaveCheckpoint();
  }
  if (config_.rounds > 0 && round_.value() >= static_cast<std::uint64_t>(config_.rounds) &&
      !finished_logged_) {
    finished_logged_ = true;
    spdlog::info("training: finished {} rounds; still serving (sotto leave to stop)",
                 config_.rounds);
    SaveCheckpoint();
  }
  // Residuals of the new round that came early.
  std::deque<PendingResidual> pending;
  pending.swap(pending_);
  for (auto& p : pending) OnPending(std::move(p));
  asio::post(io_, [this] { MaybeStartRound(); });
}

void Node::SaveCheckpoint() {
  if (checkpoint_path_.empty() || computing_) return;
  Checkpoint c;
  c.round = round_.value();
  c.samples_seen = samples_seen_.load();
  c.algorithm = algo_->name();
  c.state = algo_->SaveState();
  const auto s = WriteCheckpoint(checkpoint_path_, c);
  if (!s.ok()) spdlog::error("checkpoint: {}", s.ToString());
}

std::uint64_t Node::ModelBlob(std::vector<std::uint8_t>* blob) const {
  const auto state = algo_->SaveState();
  blob->clear();
  PutU64(blob, round_.value());
  PutU64(blob, state.model.size());
  const auto put = [&](const std::vector<float>& v) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(v.data());
    blob->insert(blob->end(), p, p + 4 * v.size());
  };
  put(state.model);
  put(state.public_copy.empty() ? state.model : state.public_copy);
  return static_cast<std::uint64_t>(crc32(0L, blob->data(), static_cast<uInt>(blob->size())));
}

// The request carries the checksum of the asker's own blob (its round, model and public
// copy): a mesh that starts together (same seed, nobody has stepped) holds one initial
// model everywhere, and the donor then answers "you have it" instead of ~1 model of
// bytes per joiner -- on a slow link, seconds of traffic that delay the first rounds.
void Node::RequestModel() {
  model_requested_at_ = clock_.Now();
  // Each retry asks the next neighbour: one that is itself still joining does not answer.
  auto it = neighbour_endpoints_.begin();
  std::advance(it,
               static_cast<std::ptrdiff_t>(model_requests_made_++ % neighbour_endpoints_.size()));
  const PeerId donor = it->first;
  net::Envelope e;
  e.type = net::MessageType::kModelRequest;
  if (!computing_) {
    std::vector<std::uint8_t> blob;
    PutU64(&e.body, ModelBlob(&blob));
  }
  Send(donor, std::move(e));
  spdlog::info("join: asking {} for the current model", HexId(donor));
}

void Node::ServeModel(PeerId to, const std::string& endpoint,
                      std::optional<std::uint64_t> asker_crc) {
  if (computing_) {  // The worker holds the algorithm: answer right after.
    asio::post(io_, [this, to, endpoint, asker_crc] { ServeModel(to, endpoint, asker_crc); });
    return;
  }
  // The asker repeats its request every 2 s until a first chunk arrives; on a slow link
  // the first transfer is still under way then, and a second would only queue behind it.
  const auto now = clock_.Now();
  std::erase_if(model_served_at_,
                [&](const auto& served) { return now - served.second >= Millis(5000); });
  if (model_served_at_.count(to)) {
    ++model_requests_repeated_;
    spdlog::debug("join: {} asked again within 5 s: the model is on its way", HexId(to));
    return;
  }
  std::vector<std::uint8_t> blob;
  const std::uint64_t crc = ModelBlob(&blob);
  const bool same = asker_crc && *asker_crc == crc;
  if (!same && awaiting_model_) return;  // Ours is not the mesh's model yet.
  (void)transport_->Connect(to, endpoint);
  if (same) {  // A chunk-less answer: count 0, our checksum.
    net::Envelope e;
    e.type = net::MessageType::kModelChunk;
    e.round = round_;
    for (std::uint64_t v : {std::uint64_t{0}, std::uint64_t{0}, std::uint64_t{0}, crc,
                            static_cast<std::uint64_t>(blob.size())})
      PutU64(&e.body, v);
    Send(to, std::move(e));
    ++models_same_;
    spdlog::info("join: {} already holds our model (round {}): told it so", HexId(to),
                 round_.value());
    return;
  }
  model_served_at_[to] = now;
  ++models_served_;
  std::vector<std::uint8_t> packed;
  if (!Deflate(blob, &packed)) {
    spdlog::error("join: cannot compress the model for {}", HexId(to));
    return;
  }
  const std::uint64_t chunks = (packed.size() + kModelChunkBytes - 1) / kModelChunkBytes;
  for (std::uint64_t k = 0; k < chunks; ++k) {
    net::Envelope e;
    e.type = net::MessageType::kModelChunk;
    e.round = round_;
    PutU64(&e.body, k);
    PutU64(&e.body, chunks);
    PutU64(&e.body, packed.size());
    PutU64(&e.body, crc);
    PutU64(&e.body, blob.size());
    const std::size_t begin = k * kModelChunkBytes,
                      end = std::min(packed.size(), begin + kModelChunkBytes);
    e.payload.assign(packed.begin() + static_cast<std::ptrdiff_t>(begin),
                     packed.begin() + static_cast<std::ptrdiff_t>(end));
    Send(to, std::move(e));
  }
  spdlog::info("join: sent the model ({} bytes, {} compressed, {} chunks) to {}", blob.size(),
               packed.size(), chunks, HexId(to));
}

void Node::OnModelChunk(const net::Envelope& e) {
  if (!awaiting_model_) return;
  std::uint64_t index = 0, count = 0, total = 0, crc = 0, raw = 0;
  const auto bad = [&](const std::string& why) {
    RejectResidual("bad_model_chunk", "model chunk: " + why);
    spdlog::warn("join: model chunk from {}: {}", HexId(e.sender), why);
  };
  if (!GetU64(e.body, 0, &index) || !GetU64(e.body, 8, &count) || !GetU64(e.body, 16, &total) ||
      !GetU64(e.body, 24, &crc) || !GetU64(e.body, 32, &raw)) {
    return bad("short header");
  }
  const std::uint64_t want = 16 + 8 * static_cast<std::uint64_t>(dimension_);
  if (count == 0) {  // "You hold our model": only if our own blob has that checksum.
    std::vector<std::uint8_t> blob;
    if (index != 0 || total != 0 || raw != want || incoming_chunks_ != 0 || computing_ ||
        ModelBlob(&blob) != crc) {
      return bad("a 'same model' answer whose checksum is not that of our model");
    }
    awaiting_model_ = false;
    join_model_ = "same";
    join_timer_.cancel();
    spdlog::info("join: {} holds the same model (round {}): no transfer needed", HexId(e.sender),
                 round_.value());
    MaybeStartRound();
    return;
  }
  if (raw != want || total == 0 || total > compressBound(static_cast<uLong>(want)) ||
      count != (total + kModelChunkBytes - 1) / kModelChunkBytes || index >= count ||
      index != incoming_chunks_) {
    return bad("chunk " + std::to_string(index) + "/" + std::to_string(count) + " of " +
               std::to_string(total) + " bytes does not fit a model of " +
               std::to_string(dimension_));
  }
  incoming_model_.insert(incoming_model_.end(), e.payload.begin(), e.payload.end());
  ++incoming_chunks_;
  if (incoming_chunks_ < count) return;
  std::vector<std::uint8_t> blob(want);
  uLongf blob_size = static_cast<uLongf>(want);
  const bool inflated = incoming_model_.size() == total &&
                        uncompress(blob.data(), &blob_size, incoming_model_.data(),
                                   static_cast<uLong>(incoming_model_.size())) == Z_OK &&
                        blob_size == want;
  incoming_model_.clear();
  if (!inflated || crc32(0L, blob.data(), static_cast<uInt>(blob.size())) != crc) {
    incoming_chunks_ = 0;
    return bad("does not inflate to a model with the announced checksum");
  }
  incoming_model_ = std::move(blob);
  std::uint64_t round = 0, d = 0;
  GetU64(incoming_model_, 0, &round);
  GetU64(incoming_model_, 8, &d);
  if (d != static_cast<std::uint64_t>(dimension_)) {
    incoming_model_.clear();
    incoming_chunks_ = 0;
    return bad("model of " + std::to_string(d) + " parameters, want " + std::to_string(dimension_));
  }
  algo::AlgorithmState s;
  s.model.resize(d);
  s.public_copy.resize(d);
  std::memcpy(s.model.data(), incoming_model_.data() + 16, 4 * d);
  std::memcpy(s.public_copy.data(), incoming_model_.data() + 16 + 4 * d, 4 * d);
  incoming_model_.clear();
  const auto st = algo_->LoadState(s);
  if (!st.ok()) return bad(st.ToString());
  round_ = RoundId(round);
  awaiting_model_ = false;
  join_model_ = "donor";
  join_timer_.cancel();
  // Our x_hat is now the donor's and our copies are stand-ins again: exchange anew.
  std::vector<PeerId> links;
  for (const auto& [id, ep] : neighbour_endpoints_) links.push_back(id);
  ExchangeCopies(links);
  spdlog::info("join: model received from {}; training from round {}", HexId(e.sender), round);
  MaybeStartRound();
}

void Node::Accept() {
  control_->async_accept([this](const boost::system::error_code& ec,
                                asio::local::stream_protocol::socket sock) {
    if (ec) return;
    // The socket file is 0600; also refuse other users explicitly (peer credentials).
    struct ucred cred {};
    socklen_t len = sizeof cred;
    if (::getsockopt(sock.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
        cred.uid != ::getuid() && cred.uid != 0) {
      sock.close();
      Accept();
      return;
    }
    auto s = std::make_shared<asio::local::stream_protocol::socket>(std::move(sock));
    auto buf = std::make_shared<asio::streambuf>(64 * 1024);
    asio::async_read_until(
        *s, *buf, '\n', [this, s, buf](const boost::system::error_code& ec2, std::size_t n) {
          json answer;
          if (ec2) {
            answer = {{"error", "no request line (send one JSON object and a newline)"}};
          } else {
            std::string line(asio::buffers_begin(buf->data()),
                             asio::buffers_begin(buf->data()) + static_cast<std::ptrdiff_t>(n));
            json req = json::parse(line, nullptr, false);
            const std::string cmd = req.is_object() && req.contains("cmd") && req["cmd"].is_string()
                                        ? req["cmd"].get<std::string>()
                                        : "";
            if (cmd == "status") {
              answer = StatusJson();
            } else if (cmd == "members") {
              answer = MembersJson();
            } else if (cmd == "leave") {
              answer = {{"ok", true}, {"message", "leaving"}};
              asio::post(io_, [this] { Shutdown("sotto leave"); });
            } else {
              answer = {{"error", req.is_discarded()
                                      ? "request is not JSON"
                                      : "unknown cmd (want status, members or leave)"}};
            }
          }
          auto out = std::make_shared<std::string>(answer.dump() + "\n");
          asio::async_write(*s, asio::buffer(*out),
                            [s, out](const boost::system::error_code&, std::size_t) {});
        });
    Accept();
  });
}

json Node::StatusJson() const {
  const auto now = clock_.Now();
  const auto c = transport_->counters();
  json j;
  j["id"] = HexId(self_);
  j["address"] = endpoint_;
  j["uptime_s"] = std::chrono::duration<double>(now - started_).count();
  j["state"] =
      shutting_down_       ? "leaving"
      : awaiting_model_    ? "joining"
      : !training_started_ ? "waiting"
      : (config_.rounds > 0 && round_.value() >= static_cast<std::uint64_t>(config_.rounds))
          ? "finished"
          : "training";
  j["round"] = round_.value();
  j["rounds_target"] = config_.rounds;
  j["epoch"] = train_.num_samples() > 0 ? static_cast<double>(samples_seen_.load()) /
                                              static_cast<double>(train_.num_samples())
                                        : 0.0;
  auto num = [](double v) { return std::isnan(v) ? json(nullptr) : json(v); };
  j["loss"] = num(last_loss_);
  j["test_accuracy"] = num(last_accuracy_);
  j["density"] = num(last_density_);
  j["consensus_distance"] = num(last_consensus_);
  j["bytes_sent"] = c.bytes_sent;
  j["bytes_received"] = c.bytes_received;
  j["messages_sent"] = c.messages_sent;
  j["messages_received"] = c.messages_received;
  j["rejected_messages"] = c.rejected_malformed + residuals_rejected_;
  j["rejected_envelopes"] = c.rejected_malformed;
  j["rejected_unauthenticated"] = c.rejected_unauthenticated;
  j["security"] = config_.security.enabled ? "curve" : "off";
  j["rejected_residuals"] = residuals_rejected_;
  j["last_reject_reason"] =
      c.last_reject_reason.empty() ? last_residual_error_ : c.last_reject_reason;
  j["late_or_duplicate_residuals"] = residuals_late_;
  j["resends_requested"] = resends_requested_;
  j["resends_served"] = resends_served_;
  j["resends_recovered"] = resends_recovered_;
  j["copies"] = {
      {"sent", copies_sent_}, {"applied", copies_applied_}, {"ignored", copies_ignored_}};
  j["join"] = {{"model", join_model_.empty() ? json(nullptr) : json(join_model_)},
               {"models_served", models_served_},
               {"models_same", models_same_},
               {"requests_repeated", model_requests_repeated_}};
  if (config_.adaptive) {
    double slowest = 0;
    for (const auto& [id, link] : adaptive_.links) slowest = std::max(slowest, link.delivery_ms);
    j["adaptive"] = {
        {"density", adaptive_.density},
        {"step_ms", adaptive_.step_ms},
        {"round_ms", adaptive_.round_ms},
        {"slowest_delivery_ms", slowest},
        {"slowest_excess_ms", adaptive_.slowest_excess_ms},
        {"consensus_step", adaptive_.consensus_step},
        {"changes", adaptive_.changes},
        {"threshold", std::isinf(adaptive_.threshold) ? json(nullptr) : json(adaptive_.threshold)},
        {"compressor", WithTopKFraction(config_.training.gossip.compressor, adaptive_.density)}};
  }
  j["rounds_timed_out"] = rounds_timed_out_;
  j["dropped_backpressure"] = c.dropped_backpressure;
  j["message_bits"] = last_message_bits_;
  j["bits_per_parameter_per_round"] =
      dimension_ > 0 ? last_message_bits_ / static_cast<double>(dimension_) : 0.0;
  j["parameters"] = dimension_;
  j["algorithm"] = config_.training.gossip.algorithm;
  json neighbours = json::array();
  for (const auto& [id, w] : weights_.neighbours) {
    json n;
    n["id"] = HexId(id);
    n["weight"] = w;
    const auto m = membership_->member(id);
    n["endpoint"] = m ? m->endpoint : "";
    n["health"] = m ? net::MemberStateName(m->state) : "unknown";
    n["last_heard_ms"] = m && m->last_heard != Clock::TimePoint{}
                             ? json(std::chrono::duration_cast<Millis>(now - m->last_heard).count())
                             : json(nullptr);
    // Read only while the worker does not hold the algorithm.
    const auto copy = computing_ ? std::span<const float>() : algo_->NeighbourCopy(id);
    n["copy_fingerprint"] = copy.empty() ? json(nullptr) : json(Fingerprint(copy));
    // The consensus step it announced (adaptive senders; null: it mixes with ours).
    const auto step = neighbour_steps_.find(id);
    n["consensus_step"] = step == neighbour_steps_.end() ? json(nullptr) : json(step->second);
    if (algo_->per_link()) {  // What this link carries from us: its copy, step and F.
      const auto out = computing_ ? std::span<const float>() : algo_->LinkPublicCopy(id);
      n["link_public_copy_fingerprint"] = out.empty() ? json(nullptr) : json(Fingerprint(out));
      n["link_consensus_step"] = computing_ ? json(nullptr) : json(algo_->link_consensus_step(id));
      const auto link = adaptive_.links.find(id);
      n["link_density"] =
          config_.adaptive && link != adaptive_.links.end() && link->second.density > 0
              ? json(link->second.density)
              : json(nullptr);
    }
    neighbours.push_back(n);
  }
  j["self_weight"] = weights_.self;
  j["per_link"] = algo_->per_link();
  const auto x_hat = computing_ ? std::span<const float>() : algo_->PublicCopy();
  j["public_copy_fingerprint"] = x_hat.empty() ? json(nullptr) : json(Fingerprint(x_hat));
  j["neighbours"] = neighbours;
  std::map<std::string, int> counts{{"alive", 0}, {"suspect", 0}, {"dead", 0}, {"left", 0}};
  for (const auto& m : membership_->members()) ++counts[net::MemberStateName(m.state)];
  j["members"] = counts;
  j["membership_size"] = membership_->live_members().size();
  json traffic = json::array();
  for (const auto& [direction, by] :
       {std::pair{"sent", &c.sent_by}, std::pair{"received", &c.received_by}}) {
    for (const auto& [key, count] : *by) {
      traffic.push_back({{"peer", HexId(key.first)},
                         {"type", net::MessageTypeName(key.second)},
                         {"direction", direction},
                         {"messages", count.messages},
                         {"bytes", count.bytes}});
    }
  }
  j["traffic"] = traffic;
  j["rejected_by_reason"] = c.rejected_by_reason;
  for (const auto& [kind, n] : rejects_by_kind_) j["rejected_by_reason"][kind] = n;
  j["histograms"] = {{"round_duration", round_hist_.ToJson()},
                     {"gradient", gradient_hist_.ToJson()},
                     {"encode", encode_hist_.ToJson()},
                     {"decode", decode_hist_.ToJson()},
                     {"mix", mix_hist_.ToJson()}};
  if (discovery_) {
    const auto d = discovery_->counters();
    j["discovery"] = {{"beacons_sent", d.beacons_sent},
                      {"beacons_accepted", d.beacons_accepted},
                      {"datagrams_received", d.datagrams_received},
                      {"rejected", d.rejected},
                      {"rejected_by_reason", d.rejected_by_reason},
                      {"peers_heard", d.peers_heard},
                      {"fast", d.fast},
                      {"last_reject_reason", d.last_reject_reason}};
  }
  if (faulty_ != nullptr) {
    const auto f = faulty_->fault_counters();
    j["faults"] = {{"dropped", f.dropped},
                   {"duplicated", f.duplicated},
                   {"delayed", f.delayed},
                   {"reordered", f.reordered}};
  }
  return j;
}

json Node::MembersJson() const {
  const auto now = clock_.Now();
  json list = json::array();
  for (const auto& m : membership_->members()) {
    list.push_back({{"id", HexId(m.id)},
                    {"address", m.endpoint},
                    {"status", net::MemberStateName(m.state)},
                    {"incarnation", m.incarnation},
                    {"self", m.id == self_},
                    {"last_heard_ms",
                     m.last_heard != Clock::TimePoint{}
                         ? json(std::chrono::duration_cast<Millis>(now - m.last_heard).count())
                         : json(nullptr)}});
  }
  return {{"members", list}};
}

void Node::Shutdown(const std::string& why) {
  if (shutting_down_) return;
  spdlog::info("node: shutting down ({})", why);
  shutting_down_ = true;
  round_timer_.cancel();
  pace_timer_.cancel();
  join_timer_.cancel();
  if (!computing_) FinishShutdown();  // Else OnStepDone() calls it.
}

void Node::FinishShutdown() {
  SaveCheckpoint();
  membership_->Leave(clock_.Now());
  for (auto& o : membership_->TakeOutgoing()) {
    (void)transport_->Connect(o.to, o.endpoint);
    Send(o.to, std::move(o.envelope));
  }
  membership_timer_.cancel();
  // Give the leave messages a moment to go out, then stop.
  exit_timer_.expires_after(Millis(200));
  exit_timer_.async_wait([this](const boost::system::error_code&) {
    transport_->Stop();
    if (control_) {
      boost::system::error_code ec;
      control_->close(ec);
      std::error_code fec;
      std::filesystem::remove(control_path_, fec);
    }
    signals_.cancel();
    if (metrics_) metrics_->Stop();
    io_.stop();
  });
}

}  // namespace

int RunNode(const NodeConfig& config) {
  Node node(config);
  const auto s = node.Init();
  if (!s.ok()) {
    std::fprintf(stderr, "sotto node: %s\n", s.ToString().c_str());
    return s.code() == StatusCode::kInvalidArgument ? kExitConfig
           : s.code() == StatusCode::kNotFound || s.code() == StatusCode::kCorrupted
               ? kExitDataErr
               : kExitUnavailable;
  }
  return node.Run();
}

}  // namespace sotto::daemon
