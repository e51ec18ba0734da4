#include "algo/federated_lab.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>
#include <utility>

#include "coding/compressor.h"
#include "common/check.h"

namespace sotto::algo {

namespace {

using Vec = Eigen::VectorXf;
using ConstMap = Eigen::Map<const Eigen::VectorXf>;
using MutMap = Eigen::Map<Eigen::VectorXf>;

struct MethodInfo {
  FederatedMethod method;
  const char* name;
};
constexpr MethodInfo kMethods[] = {
    {FederatedMethod::kQsgd, "qsgd"},
    {FederatedMethod::kDiana, "diana"},
    {FederatedMethod::kQrr, "q-rr"},
    {FederatedMethod::kDianaRr, "diana-rr"},
    {FederatedMethod::kNastya, "nastya"},
    {FederatedMethod::kQNastya, "q-nastya"},
    {FederatedMethod::kDianaNastya, "diana-nastya"},
    {FederatedMethod::kFedCom, "fedcom"},
    {FederatedMethod::kDcgd, "dcgd"},
    {FederatedMethod::kEf, "ef"},
    {FederatedMethod::kEf21, "ef21"},
    {FederatedMethod::kCocoEf, "coco-ef"},
    {FederatedMethod::kCodedUnbiased, "coded-unbiased"},
};

bool IsLocalEpoch(FederatedMethod m) {
  return m == FederatedMethod::kNastya || m == FederatedMethod::kQNastya || m == FederatedMethod::kDianaNastya ||
         m == FederatedMethod::kFedCom;
}
bool IsCoded(FederatedMethod m) { return m == FederatedMethod::kCocoEf || m == FederatedMethod::kCodedUnbiased; }
bool UsesShifts(FederatedMethod m) {
  return m == FederatedMethod::kDiana || m == FederatedMethod::kDianaRr || m == FederatedMethod::kDianaNastya;
}
bool NeedsUnbiased(FederatedMethod m) {
  return m != FederatedMethod::kNastya && m != FederatedMethod::kEf && m != FederatedMethod::kEf21 &&
         m != FederatedMethod::kCocoEf;
}
bool UsesErrorFeedback(FederatedMethod m) {
  return m == FederatedMethod::kEf || m == FederatedMethod::kCocoEf;
}

FederatedSampling SamplingOf(FederatedMethod m) {
  switch (m) {
    case FederatedMethod::kQrr:
    case FederatedMethod::kDianaRr:
    case FederatedMethod::kNastya:
    case FederatedMethod::kQNastya:
    case FederatedMethod::kDianaNastya:
      return FederatedSampling::kReshuffle;
    default:
      return FederatedSampling::kWithReplacement;
  }
}

std::string Num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

}  // namespace

Result<FederatedMethod> ParseFederatedMethod(std::string_view name) {
  for (const MethodInfo& m : kMethods) {
    if (name == m.name) return m.method;
  }
  std::string all;
  for (const MethodInfo& m : kMethods) all += std::string(all.empty() ? "" : ", ") + m.name;
  return InvalidArgument("unknown federated method '" + std::string(name) + "' (want one of " + all + ")");
}

std::string_view FederatedMethodName(FederatedMethod method) {
  for (const MethodInfo& m : kMethods) {
    if (m.method == method) return m.name;
  }
  return "?";
}

// One virtual node: its data order(s) and the method's per-node memory.
struct FederatedLab::Node {
  std::vector<int> parts;              // Data parts held (own shard, or the code's parts).
  std::vector<FederatedOrder> orders;  // One per held part.
  std::vector<Vec> shifts;             // DIANA: 1; DIANA-RR: one per component.
  Vec error;                           // EF / COCO-EF memory e_i.
  Vec state;                           // EF21 g_i.
};

FederatedLab::FederatedLab(const FederatedOptions& options, const Dataset& train, const Dataset& test)
    : options_(options), train_(train), test_(test), server_rng_(options.seed, 0x5e77e7) {}

FederatedLab::~FederatedLab() = default;

Result<std::unique_ptr<FederatedLab>> FederatedLab::Create(const FederatedOptions& options,
                                                           const Dataset& train, const Dataset& test,
                                                           std::vector<std::vector<std::int64_t>> shards) {
  std::unique_ptr<FederatedLab> lab(new FederatedLab(options, train, test));
  SOTTO_RETURN_IF_ERROR(lab->Init(std::move(shards)));
  return lab;
}

Status FederatedLab::Init(std::vector<std::vector<std::int64_t>> shards) {
  const FederatedOptions& o = options_;
  const FederatedMethod method = o.method;
  const std::string name(FederatedMethodName(method));
  if (o.nodes < 1) return InvalidArgument("federated: nodes must be >= 1");
  if (shards.size() != static_cast<std::size_t>(o.nodes)) {
    return InvalidArgument("federated: " + std::to_string(shards.size()) + " shards for " +
                           std::to_string(o.nodes) + " nodes");
  }
  for (std::size_t i = 0; i < shards.size(); ++i) {
    if (shards[i].empty()) return InvalidArgument("federated: node " + std::to_string(i) + " has no data");
    for (std::int64_t r : shards[i]) {
      if (r < 0 || r >= train_.num_samples()) return InvalidArgument("federated: shard row out of range");
    }
  }
  if (!(o.gamma > 0)) return InvalidArgument("federated: gamma must be > 0");
  if (IsLocalEpoch(method) && !(o.eta > 0)) return InvalidArgument("federated: eta must be > 0");
  if (o.batch_size < 0) return InvalidArgument("federated: batch_size must be >= 0 (0 = whole shard)");
  if (!(o.participation > 0 && o.participation <= 1)) {
    return InvalidArgument("federated: participation must be in (0, 1]");
  }
  if (!(o.straggler_probability >= 0 && o.straggler_probability < 1)) {
    return InvalidArgument("federated: straggler_probability must be in [0, 1)");
  }
  if (IsCoded(method) && o.participation < 1) {
    return InvalidArgument("federated: " + name + " models absent nodes as stragglers; leave participation at 1");
  }
  if (o.eval_every < 1) return InvalidArgument("federated: eval_every must be >= 1");
  if (o.rounds < 0) return InvalidArgument("federated: rounds must be >= 0");

  SOTTO_ASSIGN_OR_RETURN(model_, MakeModel(o.model, train_.num_features(), train_.num_classes, o.l2));
  dim_ = model_->num_parameters();
  x_.assign(static_cast<std::size_t>(dim_), 0.0f);
  Rng init_rng(o.seed, 0x1417);
  model_->Initialize(x_, init_rng);
  grad_ = Vec::Zero(dim_);
  server_state_ = Vec::Zero(dim_);
  visits_.assign(static_cast<std::size_t>(train_.num_samples()), 0);

  // Compressor and its class (ALGORITHMS.md §1): unbiased methods need U(omega).
  const std::string spec = method == FederatedMethod::kNastya ? "identity" : o.compressor;
  auto made = coding::MakeCompressor(spec);
  if (!made) return made.error().WithContext("federated: compressor");
  compressor_ = std::move(made).value();
  const bool unbiased = compressor_->compressor_class() == coding::CompressorClass::kUnbiased;
  omega_ = unbiased ? compressor_->Omega(static_cast<std::size_t>(dim_)) : 0.0;
  if (NeedsUnbiased(method) && !unbiased) {
    return InvalidArgument("federated: " + name + " needs an unbiased compressor, but '" + spec +
                           "' is contractive (use an induced compressor such as "
                           "'induced:topk:0.01+randk:0.01', or method ef / ef21 / coco-ef)");
  }
  // EF-type methods need a contraction: scale an unbiased one by 1 / (1 + omega).
  if ((UsesErrorFeedback(method) || method == FederatedMethod::kEf21) && unbiased) {
    compress_scale_ = static_cast<float>(1.0 / (1.0 + omega_));
  }
  if (UsesShifts(method)) {
    const double bound = 1.0 / (1.0 + omega_);
    alpha_ = o.alpha < 0 ? bound : o.alpha;
    if (!(alpha_ > 0)) return InvalidArgument("federated: alpha must be > 0");
    if (alpha_ > bound * (1 + 1e-9)) {
      const std::string msg = "federated: alpha = " + Num(alpha_) + " exceeds the theory's bound 1/(1+omega) = " +
                              Num(bound) + " for '" + spec + "' (omega = " + Num(omega_) + " at d = " +
                              std::to_string(dim_) + ")";
      if (o.alpha_check == AlphaCheck::kError) return InvalidArgument(msg + "; set alpha_check = \"warn\" to run anyway");
      warnings_.push_back(msg);
    }
  }

  // Fixed components: each part's rows, shuffled once (LIBSVM files are often
  // sorted by label), then cut into mini-batches.
  const std::int64_t whole = std::numeric_limits<std::int64_t>::max();
  const std::int64_t batch =
      method == FederatedMethod::kDcgd || o.batch_size == 0 ? whole : o.batch_size;
  Rng cut_rng(o.seed, 0xc07);
  for (std::size_t k = 0; k < shards.size(); ++k) {
    std::vector<std::int64_t> rows = std::move(shards[k]);
    Rng r = cut_rng.Fork(k);
    r.Shuffle(rows.begin(), rows.end());
    std::vector<std::vector<std::int64_t>> comps;
    for (std::size_t start = 0; start < rows.size();) {
      const std::size_t len = std::min<std::size_t>(rows.size() - start, static_cast<std::size_t>(std::min<std::int64_t>(batch, static_cast<std::int64_t>(rows.size()))));
      comps.emplace_back(rows.begin() + static_cast<std::ptrdiff_t>(start),
                         rows.begin() + static_cast<std::ptrdiff_t>(start + len));
      start += len;
    }
    part_components_.push_back(std::move(comps));
  }
  for (const auto& part : part_components_) {
    for (const auto& comp : part) all_rows_.insert(all_rows_.end(), comp.begin(), comp.end());
  }
  std::sort(all_rows_.begin(), all_rows_.end());

  if (IsCoded(method)) {
    SOTTO_ASSIGN_OR_RETURN(GradientCode code, GradientCode::Create(o.nodes, o.redundancy, o.code));
    code_ = std::make_unique<GradientCode>(std::move(code));
    std::vector<std::uint8_t> all(static_cast<std::size_t>(o.nodes), 1);
    auto w = code_->DecodingWeights(all, o.straggler_probability, o.decoding);
    if (!w) return w.error().WithContext("federated");
  }

  const FederatedSampling sampling = SamplingOf(method);
  Rng order_rng(o.seed, 0x0de5);
  nodes_.resize(static_cast<std::size_t>(o.nodes));
  for (int i = 0; i < o.nodes; ++i) {
    Node& node = nodes_[static_cast<std::size_t>(i)];
    node.parts = code_ ? code_->parts(i) : std::vector<int>{i};
    for (std::size_t t = 0; t < node.parts.size(); ++t) {
      const auto comps = static_cast<std::int64_t>(part_components_[static_cast<std::size_t>(node.parts[t])].size());
      node.orders.emplace_back(comps, sampling, order_rng.Fork(static_cast<std::uint64_t>(i) * 1024 + t));
    }
    if (method == FederatedMethod::kDianaRr) {
      node.shifts.assign(part_components_[static_cast<std::size_t>(i)].size(), Vec::Zero(dim_));
    } else if (UsesShifts(method)) {
      node.shifts.assign(1, Vec::Zero(dim_));
    }
    if (UsesErrorFeedback(method)) node.error = Vec::Zero(dim_);
    if (method == FederatedMethod::kEf21) node.state = Vec::Zero(dim_);
  }

  model_->LossAndGradient(x_, train_, all_rows_, {grad_.data(), static_cast<std::size_t>(dim_)});
  initial_grad_norm_sq_ = static_cast<double>(grad_.squaredNorm());
  return Status::Ok();
}

double FederatedLab::shifts_per_node() const {
  double total = 0;
  for (const Node& n : nodes_) total += static_cast<double>(n.shifts.size());
  return nodes_.empty() ? 0 : total / static_cast<double>(nodes_.size());
}

void FederatedLab::Gradient(std::span<const float> params, std::span<const std::int64_t> rows) {
  model_->LossAndGradient(params, train_, rows, {grad_.data(), static_cast<std::size_t>(dim_)});
  for (std::int64_t r : rows) ++visits_[static_cast<std::size_t>(r)];
  samples_computed_ += static_cast<double>(rows.size());
}

Status FederatedLab::Compress(int node, const Vec& in, float scale, Vec* out) {
  out->resize(dim_);
  coding::CompressContext ctx;
  ctx.seed = options_.seed;
  ctx.round = static_cast<std::uint64_t>(round_);
  ctx.sender = static_cast<std::uint64_t>(node);
  ctx.scale = scale;
  const Status s = compressor_->Compress({in.data(), static_cast<std::size_t>(dim_)}, ctx, &bytes_,
                                         {out->data(), static_cast<std::size_t>(dim_)});
  if (!s.ok()) return s.WithContext("node " + std::to_string(node) + ", round " + std::to_string(round_));
  round_bits_ += 8.0 * static_cast<double>(bytes_.size());
  round_error_ += static_cast<double>((*out - in).squaredNorm());
  ++round_messages_;
  return Status::Ok();
}

Result<FederatedRoundMetrics> FederatedLab::Step() {
  const FederatedOptions& o = options_;
  const FederatedMethod method = o.method;
  ++round_;
  round_bits_ = 0;
  round_error_ = 0;
  round_messages_ = 0;
  const int n = o.nodes;
  const double q = IsCoded(method) ? 1.0 - o.straggler_probability : o.participation;
  std::vector<std::uint8_t> active(static_cast<std::size_t>(n), 1);
  int active_count = 0;
  for (int i = 0; i < n; ++i) {
    active[static_cast<std::size_t>(i)] = (q >= 1 || server_rng_.Uniform01() < q) ? 1 : 0;
    active_count += active[static_cast<std::size_t>(i)];
  }
  MutMap x(x_.data(), dim_);
  Vec agg = Vec::Zero(dim_);
  Vec msg(dim_), dec(dim_);
  // Unbiased estimate of the mean over all n nodes from the participants.
  const float inv_nq = static_cast<float>(1.0 / (n * q));
  const auto gamma = static_cast<float>(o.gamma);
  const auto alpha = static_cast<float>(alpha_);
  auto component = [&](int part, std::int64_t c) -> std::span<const std::int64_t> {
    return part_components_[static_cast<std::size_t>(part)][static_cast<std::size_t>(c)];
  };

  switch (method) {
    case FederatedMethod::kQsgd:
    case FederatedMethod::kQrr:
    case FederatedMethod::kDcgd:
    case FederatedMethod::kDiana:
    case FederatedMethod::kDianaRr: {
      for (int i = 0; i < n; ++i) {
        if (active[static_cast<std::size_t>(i)] == 0) continue;
        Node& node = nodes_[static_cast<std::size_t>(i)];
        const std::int64_t k = node.orders[0].Next();
        Gradient(x_, component(i, k));
        if (!UsesShifts(method)) {
          SOTTO_RETURN_IF_ERROR(Compress(i, grad_, 1.0f, &dec));
          agg += dec;
          continue;
        }
        // DIANA: send Q(g - h); both ends know h, so g_hat = h + Q(g - h).
        Vec& h = node.shifts[method == FederatedMethod::kDianaRr ? static_cast<std::size_t>(k) : 0];
        msg = grad_ - h;
        SOTTO_RETURN_IF_ERROR(Compress(i, msg, 1.0f, &dec));
        if (method == FederatedMethod::kDianaRr) agg += h;
        agg += dec;
        h += alpha * dec;
      }
      if (method == FederatedMethod::kDiana) {
        // g_hat = mean_all h_i + (1/(nq)) sum_S Q(g_i - h_i); then the mean shift moves.
        x -= gamma * (server_state_ + inv_nq * agg);
        server_state_ += (alpha / static_cast<float>(n)) * agg;
      } else {
        x -= gamma * inv_nq * agg;
      }
      break;
    }
    case FederatedMethod::kNastya:
    case FederatedMethod::kQNastya:
    case FederatedMethod::kDianaNastya:
    case FederatedMethod::kFedCom: {
      std::vector<float> y(x_.size());
      for (int i = 0; i < n; ++i) {
        if (active[static_cast<std::size_t>(i)] == 0) continue;
        Node& node = nodes_[static_cast<std::size_t>(i)];
        // One local epoch with step gamma (NASTYA, Malinovsky et al. 2022).
        std::copy(x_.begin(), x_.end(), y.begin());
        MutMap ym(y.data(), dim_);
        const std::int64_t m = node.orders[0].components();
        for (std::int64_t j = 0; j < m; ++j) {
          Gradient(y, component(i, node.orders[0].Next()));
          ym -= gamma * grad_;
        }
        msg = (x - ym) / (gamma * static_cast<float>(m));
        if (method == FederatedMethod::kDianaNastya) {
          Vec& h = node.shifts[0];
          msg -= h;
          SOTTO_RETURN_IF_ERROR(Compress(i, msg, 1.0f, &dec));
          agg += h + dec;
          h += alpha * dec;
        } else {
          SOTTO_RETURN_IF_ERROR(Compress(i, msg, 1.0f, &dec));
          agg += dec;
        }
      }
      x -= static_cast<float>(o.eta) * inv_nq * agg;
      break;
    }
    case FederatedMethod::kEf: {
      for (int i = 0; i < n; ++i) {
        if (active[static_cast<std::size_t>(i)] == 0) continue;
        Node& node = nodes_[static_cast<std::size_t>(i)];
        Gradient(x_, component(i, node.orders[0].Next()));
        msg = gamma * grad_ + node.error;
        SOTTO_RETURN_IF_ERROR(Compress(i, msg, compress_scale_, &dec));
        node.error = msg - dec;
        agg += dec;
      }
      x -= inv_nq * agg;
      break;
    }
    case FederatedMethod::kEf21: {
      for (int i = 0; i < n; ++i) {
        if (active[static_cast<std::size_t>(i)] == 0) continue;
        Node& node = nodes_[static_cast<std::size_t>(i)];
        Gradient(x_, component(i, node.orders[0].Next()));
        msg = grad_ - node.state;
        SOTTO_RETURN_IF_ERROR(Compress(i, msg, compress_scale_, &dec));
        node.state += dec;
        agg += dec;
      }
      // The server keeps g = mean_i g_i (stale for absent nodes: EF21-PP).
      server_state_ += agg / static_cast<float>(n);
      x -= gamma * server_state_;
      break;
    }
    case FederatedMethod::kCocoEf:
    case FederatedMethod::kCodedUnbiased: {
      SOTTO_ASSIGN_OR_RETURN(std::vector<double> w,
                             code_->DecodingWeights(active, o.straggler_probability, o.decoding));
      for (int i = 0; i < n; ++i) {
        if (active[static_cast<std::size_t>(i)] == 0) continue;
        Node& node = nodes_[static_cast<std::size_t>(i)];
        // Coded gradient c_i = sum_{k in S_i} grad f_k(x) (a_ik = 1).
        msg.setZero();
        for (std::size_t t = 0; t < node.parts.size(); ++t) {
          Gradient(x_, component(node.parts[t], node.orders[t].Next()));
          msg += grad_;
        }
        if (method == FederatedMethod::kCocoEf) {
          msg += node.error;
          SOTTO_RETURN_IF_ERROR(Compress(i, msg, compress_scale_, &dec));
          node.error = msg - dec;
        } else {
          SOTTO_RETURN_IF_ERROR(Compress(i, msg, 1.0f, &dec));
        }
        agg += static_cast<float>(w[static_cast<std::size_t>(i)]) * dec;
      }
      x -= gamma / static_cast<float>(n) * agg;
      break;
    }
  }

  if (!x.allFinite()) {
    return InvalidArgument("federated: " + std::string(FederatedMethodName(method)) + " diverged at round " +
                           std::to_string(round_) + " (model is not finite; lower gamma / eta)");
  }
  FederatedRoundMetrics m;
  m.round = round_;
  m.epoch = samples_computed_ / static_cast<double>(all_rows_.size());
  m.active_nodes = active_count;
  m.uplink_bits = round_bits_;
  cumulative_uplink_bits_ += round_bits_;
  cumulative_downlink_bits_ += 32.0 * static_cast<double>(dim_) * active_count;
  m.cumulative_uplink_bits_per_node = cumulative_uplink_bits_ / n;
  m.cumulative_downlink_bits_per_node = cumulative_downlink_bits_ / n;
  m.compression_error = round_messages_ > 0 ? round_error_ / round_messages_ : 0;
  if (round_ % o.eval_every == 0 || round_ == 1 || round_ == o.rounds) Evaluate(&m);
  return m;
}

void FederatedLab::Evaluate(FederatedRoundMetrics* m) {
  // Loss and gradient of f = mean over the training rows (with the l2 term).
  m->loss = model_->LossAndGradient(x_, train_, all_rows_, {grad_.data(), static_cast<std::size_t>(dim_)});
  m->grad_norm_sq = static_cast<double>(grad_.squaredNorm());
  m->relative_grad_norm_sq = initial_grad_norm_sq_ > 0 ? m->grad_norm_sq / initial_grad_norm_sq_ : 0;
  if (options_.eval_test && test_.num_samples() > 0) m->test_accuracy = model_->Evaluate(x_, test_).accuracy;
}

Status FederatedLab::Run(const std::function<void(const FederatedRoundMetrics&)>& observer) {
  while (round_ < options_.rounds) {
    SOTTO_ASSIGN_OR_RETURN(FederatedRoundMetrics m, Step());
    if (observer) observer(m);
    if (options_.target_relative_grad_sq > 0 && !std::isnan(m.relative_grad_norm_sq) &&
        m.relative_grad_norm_sq <= options_.target_relative_grad_sq) {
      break;
    }
  }
  return Status::Ok();
}

ReferenceOptimum MinimizeFullBatch(Model& model, const Dataset& data, std::int64_t max_iterations,
                                   double grad_tolerance_sq) {
  // Nesterov's accelerated gradient with backtracking on L and gradient-based
  // adaptive restart (O'Donoghue & Candes 2015): ~sqrt(kappa) log(1/eps) passes.
  const auto dim = static_cast<Eigen::Index>(model.num_parameters());
  std::vector<std::int64_t> rows(static_cast<std::size_t>(data.num_samples()));
  std::iota(rows.begin(), rows.end(), std::int64_t{0});
  std::vector<float> xs(static_cast<std::size_t>(dim), 0.0f), ys = xs, trial = xs;
  Vec gx(dim), gy(dim), gt(dim);
  MutMap x(xs.data(), dim), y(ys.data(), dim), t(trial.data(), dim);
  auto eval = [&](std::span<const float> p, Vec* g) {
    return model.LossAndGradient(p, data, rows, {g->data(), static_cast<std::size_t>(dim)});
  };
  double L = 1.0, theta = 1.0;
  ReferenceOptimum out;
  double fx = eval(xs, &gx);
  double best = fx;
  std::int64_t it = 0, stalled = 0;
  for (; it < max_iterations; ++it) {
    if (static_cast<double>(gx.squaredNorm()) <= grad_tolerance_sq) break;
    // Float precision floor: stop when f has not improved for a while.
    if (fx < best) {
      best = fx;
      stalled = 0;
    } else if (++stalled > 100) {
      break;
    }
    const double fy = eval(ys, &gy);
    double ft = 0;
    for (int tries = 0; tries < 60; ++tries) {
      t = y - static_cast<float>(1.0 / L) * gy;
      ft = eval(trial, &gt);
      if (ft <= fy - 0.5 / L * static_cast<double>(gy.squaredNorm()) + 1e-12 * std::abs(fy)) break;
      L *= 2;
    }
    const Vec step = t - x;
    // Restart when the momentum points uphill.
    if (static_cast<double>(gy.dot(step)) > 0 || ft > fx) {
      theta = 1.0;
      if (ft > fx) {
        y = x;
        continue;
      }
    }
    const double theta_next = 0.5 * (1 + std::sqrt(1 + 4 * theta * theta));
    const float beta = static_cast<float>((theta - 1) / theta_next);
    y = t + beta * step;
    x = t;
    fx = ft;
    gx = gt;
    theta = theta_next;
    L *= 0.95;  // Let the step grow back.
  }
  out.x = xs;
  out.loss = fx;
  out.grad_norm_sq = static_cast<double>(gx.squaredNorm());
  out.iterations = it;
  return out;
}

}  // namespace sotto::algo
