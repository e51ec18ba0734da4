#include "algo/dpsgd.h"

#include <cstring>

namespace sotto::algo {

namespace {
constexpr std::uint8_t kMagic[4] = {'S', 'D', 'P', '1'};
constexpr std::size_t kHeaderBytes = 8;
}  // namespace

Dpsgd::Dpsgd(const GossipOptions& options, PeerId self, std::int64_t dimension,
             NeighbourWeights weights)
    : options_(options),
      self_(self),
      weights_(std::move(weights)),
      x_(static_cast<std::size_t>(dimension), 0.0f),
      mix_(x_.size(), 0.0f),
      grad_(x_.size(), 0.0f),
      message_(kHeaderBytes + 4 * x_.size()) {}

void Dpsgd::SetModel(std::span<const float> x) { x_.assign(x.begin(), x.end()); }

AlgorithmState Dpsgd::SaveState() const {
  AlgorithmState s;
  s.model = x_;
  return s;
}

Status Dpsgd::LoadState(const AlgorithmState& state) {
  if (state.model.size() != x_.size()) {
    return InvalidArgument("dpsgd: state has " + std::to_string(state.model.size()) +
                           " parameters, want " + std::to_string(x_.size()));
  }
  x_ = state.model;
  stepped_ = false;
  return Status::Ok();
}

Result<double> Dpsgd::LocalStep(const GradientOracle& oracle, RoundId round) {
  const double loss = oracle(x_, grad_);
  // The message carries the pre-step model.
  std::memcpy(message_.data(), kMagic, 4);
  const auto d = static_cast<std::uint32_t>(x_.size());
  for (int b = 0; b < 4; ++b) message_[4 + b] = static_cast<std::uint8_t>(d >> (8 * b));
  std::memcpy(message_.data() + kHeaderBytes, x_.data(), 4 * x_.size());  // Little-endian hosts.
  const auto eta = static_cast<float>(LearningRateAt(options_, round.value()));
  const auto self_w = static_cast<float>(weights_.self);
  for (std::size_t k = 0; k < x_.size(); ++k) mix_[k] = self_w * x_[k] - eta * grad_[k];
  arrived_weight_ = 0;
  arrived_.clear();
  stepped_ = true;
  return loss;
}

Status Dpsgd::Absorb(PeerId from, std::span<const std::uint8_t> bytes) {
  const std::size_t want = kHeaderBytes + 4 * x_.size();
  if (bytes.size() != want || std::memcmp(bytes.data(), kMagic, 4) != 0) {
    return Corrupted("dpsgd: message from peer " + std::to_string(from.value()) + " has " +
                     std::to_string(bytes.size()) + " bytes, want " + std::to_string(want));
  }
  double w = -1;
  for (const auto& [peer, weight] : weights_.neighbours) {
    if (peer == from) w = weight;
  }
  if (w < 0) return InvalidArgument("dpsgd: peer " + std::to_string(from.value()) + " is not a neighbour");
  if (!stepped_) return Unavailable("dpsgd: not in a round, message from peer " + std::to_string(from.value()) + " dropped");
  if (!arrived_.insert(from).second) {
    return InvalidArgument("dpsgd: second message from peer " + std::to_string(from.value()) + " this round");
  }
  const auto wf = static_cast<float>(w);
  const std::uint8_t* p = bytes.data() + kHeaderBytes;
  for (std::size_t k = 0; k < x_.size(); ++k) {
    float v;
    std::memcpy(&v, p + 4 * k, 4);
    mix_[k] += wf * v;
  }
  arrived_weight_ += w;
  return Status::Ok();
}

void Dpsgd::Mix() {
  if (!stepped_) return;
  double missing = 1.0 - weights_.self - arrived_weight_;
  if (missing < 0) missing = 0;
  const auto mf = static_cast<float>(missing);
  for (std::size_t k = 0; k < x_.size(); ++k) x_[k] = mix_[k] + mf * x_[k];
  stepped_ = false;
}

}  // namespace sotto::algo
