#include "algo/compressed_gossip.h"

#include <algorithm>
#include <cmath>

namespace sotto::algo {

void SoftThreshold(std::span<float> x, float threshold) {
  if (threshold <= 0) return;
  for (float& v : x) {
    const float a = std::abs(v) - threshold;
    v = a > 0 ? std::copysign(a, v) : 0.0f;
  }
}

Result<std::unique_ptr<GossipAlgorithm>> CompressedGossip::Create(const GossipOptions& options,
                                                                  PeerId self,
                                                                  std::int64_t dimension,
                                                                  NeighbourWeights weights) {
  auto compressor = coding::MakeCompressor(options.compressor);
  if (!compressor) return compressor.error().WithContext("algorithm " + options.algorithm);
  return std::unique_ptr<GossipAlgorithm>(new CompressedGossip(
      options, self, dimension, std::move(weights), std::move(compressor).value()));
}

CompressedGossip::CompressedGossip(const GossipOptions& options, PeerId self,
                                   std::int64_t dimension, NeighbourWeights weights,
                                   std::unique_ptr<coding::Compressor> compressor)
    : options_(options), self_(self), compressor_(std::move(compressor)) {
  const auto d = static_cast<std::size_t>(dimension);
  x_.assign(d, 0.0f);
  x_hat_.assign(d, 0.0f);
  mixed_.assign(d, 0.0f);
  scratch_.assign(d, 0.0f);
  if (options_.momentum > 0) velocity_.assign(d, 0.0f);
  limits_.max_dimension = d;
  base_consensus_step_ = options_.consensus_step;
  base_delta_ = compressor_->Delta(d);
  UpdateScale();
  IndexWeights(std::move(weights));
}

void CompressedGossip::UpdateScale() { scale_ = ScaleOf(*compressor_); }

float CompressedGossip::ScaleOf(const coding::Compressor& c) const {
  if (options_.scale == CompressionScale::kAuto &&
      c.compressor_class() == coding::CompressorClass::kUnbiased) {
    return static_cast<float>(1.0 / (1.0 + c.Omega(x_.size())));
  }
  return 1.0f;
}

double CompressedGossip::StepOf(const coding::Compressor& c) const {
  return ScaledConsensusStep(base_consensus_step_, base_delta_, c.Delta(x_.size()),
                             options_.consensus_step_exponent, options_.consensus_step_max);
}

double ScaledConsensusStep(double gamma0, double delta0, double delta, double exponent,
                           double max_step) {
  if (!(delta0 > 0) || !(delta > 0)) return gamma0;
  const double gamma = gamma0 * std::pow(delta / delta0, exponent);
  return std::min({gamma, std::max(gamma0, max_step), 1.0});
}

Status CompressedGossip::SetCompressor(const std::string& spec) {
  auto compressor = coding::MakeCompressor(spec);
  if (!compressor) return compressor.error().WithContext("algorithm " + options_.algorithm);
  compressor_ = std::move(compressor).value();
  options_.compressor = spec;
  UpdateScale();
  options_.consensus_step = StepOf(*compressor_);
  for (auto& [peer, link] : links_) {  // Every link back to the node's compressor.
    link.compressor.reset();
    link.scale = scale_;
    link.step = options_.consensus_step;
  }
  return Status::Ok();
}

Status CompressedGossip::SetLinkCompressor(PeerId peer, const std::string& spec) {
  const auto it = links_.find(peer);
  if (it == links_.end()) {
    if (!options_.per_link)
      return InvalidArgument(options_.algorithm + " compresses per node (per_link is off)");
    return InvalidArgument(options_.algorithm + ": peer " + std::to_string(peer.value()) +
                           " is not a neighbour of peer " + std::to_string(self_.value()));
  }
  auto compressor = coding::MakeCompressor(spec);
  if (!compressor) return compressor.error().WithContext("algorithm " + options_.algorithm);
  Link& link = it->second;
  link.compressor = std::move(compressor).value();
  link.scale = ScaleOf(*link.compressor);
  link.step = StepOf(*link.compressor);
  return Status::Ok();
}

std::span<const std::uint8_t> CompressedGossip::link_message(PeerId peer) const {
  if (!options_.per_link) return message_;
  const auto it = links_.find(peer);
  if (it == links_.end()) return {};
  return it->second.message;
}

double CompressedGossip::link_consensus_step(PeerId peer) const {
  const auto it = links_.find(peer);
  return it == links_.end() ? options_.consensus_step : it->second.step;
}

double CompressedGossip::link_compressor_delta(PeerId peer) const {
  const auto it = links_.find(peer);
  if (it == links_.end() || !it->second.compressor) return compressor_->Delta(x_.size());
  return it->second.compressor->Delta(x_.size());
}

std::span<const float> CompressedGossip::LinkPublicCopy(PeerId peer) const {
  if (!options_.per_link) return x_hat_;
  const auto it = links_.find(peer);
  if (it == links_.end()) return {};
  return it->second.out;
}

std::span<const float> CompressedGossip::NeighbourCopy(PeerId peer) const {
  const auto it = copies_.find(peer);
  if (it == copies_.end()) return {};
  return it->second;
}

Status CompressedGossip::SetNeighbourCopy(PeerId peer, std::span<const float> copy) {
  const auto it = copies_.find(peer);
  if (it == copies_.end()) {
    return InvalidArgument(options_.algorithm + ": peer " + std::to_string(peer.value()) +
                           " is not a neighbour of peer " + std::to_string(self_.value()));
  }
  if (copy.size() != x_.size()) {
    return InvalidArgument(options_.algorithm + ": copy of peer " + std::to_string(peer.value()) +
                           " has " + std::to_string(copy.size()) + " elements, want " +
                           std::to_string(x_.size()));
  }
  it->second.assign(copy.begin(), copy.end());
  Recompute();
  return Status::Ok();
}

void CompressedGossip::SetWeights(NeighbourWeights weights) {
  IndexWeights(std::move(weights));
  Recompute();  // See GossipAlgorithm::SetWeights.
}

void CompressedGossip::IndexWeights(NeighbourWeights weights) {
  weights_ = std::move(weights);
  weight_of_.clear();
  for (const auto& [peer, w] : weights_.neighbours) weight_of_[peer] = static_cast<float>(w);
  std::erase_if(copies_, [&](const auto& kv) { return weight_of_.count(kv.first) == 0; });
  std::erase_if(neighbour_step_, [&](const auto& kv) { return weight_of_.count(kv.first) == 0; });
  std::erase_if(links_, [&](const auto& kv) { return weight_of_.count(kv.first) == 0; });
  for (const auto& [peer, w] : weights_.neighbours) {
    if (!options_.per_link) {
      if (!copies_.count(peer))
        copies_.emplace(peer, x_hat_);  // Unknown: stands in as equal to ours.
      continue;
    }
    if (links_.count(peer)) continue;
    // A new link: both copies start as x_hat_ -- zeros, or the loaded public copy or
    // model -- as the one public copy does without per_link (a copy of a fresh model
    // would cost a whole model's bytes for every link the joining mesh makes and
    // re-makes); the daemon then sends the exact copy.
    copies_[peer] = x_hat_;
    Link& link = links_[peer];
    link.out = x_hat_;
    link.scale = scale_;
    link.step = options_.consensus_step;
  }
}

void CompressedGossip::Recompute() {
  if (options_.per_link) {
    std::fill(mixed_.begin(), mixed_.end(), 0.0f);
    for (const auto& [peer, w] : weights_.neighbours) {
      const std::vector<float>& in = copies_.at(peer);
      const std::vector<float>& out = links_.at(peer).out;
      const auto wf = static_cast<float>(w);
      for (std::size_t k = 0; k < in.size(); ++k) mixed_[k] += wf * (in[k] - out[k]);
    }
    return;
  }
  const auto self_w = static_cast<float>(weights_.self);
  for (std::size_t k = 0; k < x_hat_.size(); ++k) mixed_[k] = self_w * x_hat_[k];
  for (const auto& [peer, w] : weights_.neighbours) {
    const std::vector<float>& copy = copies_.at(peer);
    const auto wf = static_cast<float>(w);
    for (std::size_t k = 0; k < copy.size(); ++k) mixed_[k] += wf * copy[k];
  }
}

AlgorithmState CompressedGossip::SaveState() const {
  AlgorithmState s;
  s.model = x_;
  s.velocity = velocity_;
  if (options_.per_link) {
    // No one public copy; `mixed` as the per-node form would hold it with x_hat_i = x_i
    // (model + the links' pull), so a per-node restart mixes the same way.
    s.mixed = x_;
    for (std::size_t k = 0; k < x_.size(); ++k) s.mixed[k] += mixed_[k];
    return s;
  }
  s.public_copy = x_hat_;
  s.mixed = mixed_;
  return s;
}

Status CompressedGossip::LoadState(const AlgorithmState& state) {
  const std::size_t d = x_.size();
  auto bad = [&](const char* what, std::size_t got) {
    return InvalidArgument(options_.algorithm + ": state " + what + " has " + std::to_string(got) +
                           " elements, want " + std::to_string(d));
  };
  if (state.model.size() != d) return bad("model", state.model.size());
  if (!state.public_copy.empty() && state.public_copy.size() != d)
    return bad("public copy", state.public_copy.size());
  if (!state.mixed.empty() && state.mixed.size() != d) return bad("mixed", state.mixed.size());
  if (!state.velocity.empty() && state.velocity.size() != velocity_.size())
    return bad("velocity", state.velocity.size());
  x_ = state.model;
  x_hat_ = state.public_copy.empty() ? state.model : state.public_copy;
  if (!state.velocity.empty()) velocity_ = state.velocity;
  if (options_.per_link) {
    // Every link starts again from x_hat (the daemon then exchanges the copies).
    for (auto& [peer, copy] : copies_) copy = x_hat_;
    for (auto& [peer, link] : links_) link.out = x_hat_;
    Recompute();
    return Status::Ok();
  }
  mixed_ = state.mixed.empty() ? x_hat_ : state.mixed;
  // The copies are not part of the state: they stand in as x_hat_i until re-weighted.
  for (auto& [peer, copy] : copies_) copy = x_hat_;
  return Status::Ok();
}

Result<double> CompressedGossip::LocalStep(const GradientOracle& oracle, RoundId round) {
  eta_ = LearningRateAt(options_, round.value());
  const double loss = oracle(x_, scratch_);
  const auto eta = static_cast<float>(eta_);
  // The step and the residual x - x_hat in one pass (scratch_ holds the gradient, then
  // the residual), unless the prox comes in between.
  const bool prox_now = options_.l1 > 0 && options_.prox_order == ProxOrder::kAfterCompression;
  if (!velocity_.empty()) {
    const auto beta = static_cast<float>(options_.momentum);
    for (std::size_t k = 0; k < x_.size(); ++k) {
      velocity_[k] = beta * velocity_[k] + scratch_[k];
      x_[k] -= eta * velocity_[k];
      scratch_[k] = x_[k] - x_hat_[k];
    }
  } else {
    for (std::size_t k = 0; k < x_.size(); ++k) {
      x_[k] -= eta * scratch_[k];
      scratch_[k] = x_[k] - x_hat_[k];
    }
  }
  if (prox_now) {
    SoftThreshold(x_, static_cast<float>(eta_ * options_.l1));
    for (std::size_t k = 0; k < x_.size(); ++k) scratch_[k] = x_[k] - x_hat_[k];
  }
  if (options_.per_link) {
    SOTTO_RETURN_IF_ERROR(CompressPerLink(round));
    return loss;
  }
  coding::CompressContext context;
  context.seed = options_.seed;
  context.round = round.value();
  context.sender = self_.value();
  context.scale = scale_;
  // x_hat += q and mixed += w_ii q, as the neighbours' copies absorb it (O(non-zeros)).
  SOTTO_RETURN_IF_ERROR(compressor_
                            ->CompressAddWeighted(scratch_, context, &message_, x_hat_, mixed_,
                                                  static_cast<float>(weights_.self))
                            .WithContext("peer " + std::to_string(self_.value()) + " round " +
                                         std::to_string(round.value())));
  return loss;
}

Status CompressedGossip::CompressPerLink(RoundId round) {
  coding::CompressContext context;
  context.seed = options_.seed;
  context.round = round.value();
  context.sender = self_.value();
  for (const auto& [peer, w] : weights_.neighbours) {
    Link& link = links_.at(peer);
    for (std::size_t k = 0; k < x_.size(); ++k) scratch_[k] = x_[k] - link.out[k];
    context.scale = link.scale;
    coding::Compressor& c = link.compressor ? *link.compressor : *compressor_;
    // x_hat_{i->j} += q and the pull -= w_ij q, as j's copy absorbs it.
    SOTTO_RETURN_IF_ERROR(c.CompressAddWeighted(scratch_, context, &link.message, link.out, mixed_,
                                                -static_cast<float>(w))
                              .WithContext("peer " + std::to_string(self_.value()) + " round " +
                                           std::to_string(round.value()) + " link to peer " +
                                           std::to_string(peer.value())));
  }
  return Status::Ok();
}

Status CompressedGossip::Absorb(PeerId from, std::span<const std::uint8_t> bytes) {
  const auto it = weight_of_.find(from);
  if (it == weight_of_.end()) {
    return InvalidArgument(options_.algorithm + ": peer " + std::to_string(from.value()) +
                           " is not a neighbour of peer " + std::to_string(self_.value()));
  }
  // copy += q and mixed += w q without a dense q: O(non-zeros) for sparse messages.
  return coding::DecodeAddWeighted(bytes, limits_, copies_.at(from), mixed_, it->second)
      .WithContext("message from peer " + std::to_string(from.value()));
}

void CompressedGossip::SetNeighbourStep(PeerId peer, double gamma) {
  if (!(gamma > 0 && gamma <= 1) || !weight_of_.count(peer)) {
    neighbour_step_.erase(peer);
    return;
  }
  neighbour_step_[peer] = gamma;
}

void CompressedGossip::MixPerLink() {
  for (const auto& [peer, w] : weights_.neighbours) {
    const Link& link = links_.at(peer);
    double gamma = link.step;
    if (const auto it = neighbour_step_.find(peer); it != neighbour_step_.end())
      gamma = std::min(gamma, it->second);
    const auto c = static_cast<float>(gamma * w);
    const std::vector<float>& in = copies_.at(peer);
    for (std::size_t k = 0; k < x_.size(); ++k) x_[k] += c * (in[k] - link.out[k]);
  }
}

void CompressedGossip::Mix() {
  if (options_.per_link) {
    MixPerLink();
    if (options_.l1 > 0 && options_.prox_order == ProxOrder::kBeforeCompression) {
      SoftThreshold(x_, static_cast<float>(eta_ * options_.l1));
    }
    return;
  }
  const auto gamma = static_cast<float>(options_.consensus_step);
  for (std::size_t k = 0; k < x_.size(); ++k) x_[k] += gamma * (mixed_[k] - x_hat_[k]);
  // Links to neighbours that mix with a smaller step: gamma_ij = gamma_j there, so
  // take back (gamma_i - gamma_j) w_ij (x_hat_j - x_hat_i) of the step above.
  for (const auto& [peer, gamma_j] : neighbour_step_) {
    if (gamma_j >= options_.consensus_step) continue;
    const auto c = static_cast<float>((gamma_j - options_.consensus_step) * weight_of_.at(peer));
    const std::vector<float>& copy = copies_.at(peer);
    for (std::size_t k = 0; k < x_.size(); ++k) x_[k] += c * (copy[k] - x_hat_[k]);
  }
  if (options_.l1 > 0 && options_.prox_order == ProxOrder::kBeforeCompression) {
    SoftThreshold(x_, static_cast<float>(eta_ * options_.l1));
  }
}

}  // namespace sotto::algo
