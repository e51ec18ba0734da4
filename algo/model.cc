#include "algo/model.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <Eigen/Core>

namespace sotto::algo {

namespace {

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixMap = Eigen::Map<Matrix>;
using ConstMatrixMap = Eigen::Map<const Matrix>;
using VectorMap = Eigen::Map<Eigen::RowVectorXf>;
using ConstVectorMap = Eigen::Map<const Eigen::RowVectorXf>;

constexpr std::int64_t kEvalChunk = 2048;

// Gathers the rows of `data` into `batch` (resizing it).
void GatherRows(const Dataset& data, std::span<const std::int64_t> rows, Matrix* batch) {
  batch->resize(static_cast<Eigen::Index>(rows.size()), data.features.cols());
  for (std::size_t k = 0; k < rows.size(); ++k) batch->row(static_cast<Eigen::Index>(k)) = data.features.row(rows[k]);
}

// In place: each row of `logits` becomes softmax probabilities. Returns the summed
// cross-entropy against `labels` and counts correct argmax predictions.
double SoftmaxCrossEntropy(Matrix* logits, const std::vector<std::int32_t>& labels,
                           std::span<const std::int64_t> rows, std::int64_t row_offset,
                           std::int64_t* correct) {
  double loss = 0;
  for (Eigen::Index r = 0; r < logits->rows(); ++r) {
    auto row = logits->row(r);
    Eigen::Index arg = 0;
    const float max = row.maxCoeff(&arg);
    row.array() = (row.array() - max).exp();
    const float sum = row.sum();
    row /= sum;
    const std::int32_t y = rows.empty() ? labels[row_offset + r] : labels[rows[r]];
    loss -= std::log(std::max(row(y), 1e-30f));
    if (correct != nullptr && arg == y) ++*correct;
  }
  return loss;
}

// Dense layers with ReLU between them and softmax at the end. "softmax" is the
// special case with no hidden layer. Parameters per layer: W (in x out, row-major)
// then b (out).
class DenseNetwork final : public Model {
 public:
  DenseNetwork(std::string spec, std::vector<std::int64_t> widths, double l2)
      : spec_(std::move(spec)), widths_(std::move(widths)), l2_(l2) {
    std::int64_t offset = 0;
    for (std::size_t l = 0; l + 1 < widths_.size(); ++l) {
      offsets_.push_back(offset);
      offset += widths_[l] * widths_[l + 1] + widths_[l + 1];
    }
    num_parameters_ = offset;
    activations_.resize(widths_.size());
    deltas_.resize(widths_.size());
  }

  std::string spec() const override { return spec_; }
  std::int64_t num_parameters() const override { return num_parameters_; }

  void Initialize(std::span<float> params, Rng& rng) const override {
    std::fill(params.begin(), params.end(), 0.0f);
    if (widths_.size() == 2) return;  // Convex model: start at zero.
    for (std::size_t l = 0; l + 1 < widths_.size(); ++l) {
      // He initialisation for ReLU layers; biases zero.
      const double std = std::sqrt(2.0 / static_cast<double>(widths_[l]));
      const std::int64_t n = widths_[l] * widths_[l + 1];
      for (std::int64_t k = 0; k < n; ++k) params[offsets_[l] + k] = static_cast<float>(std * rng.Normal());
    }
  }

  double LossAndGradient(std::span<const float> params, const Dataset& data,
                         std::span<const std::int64_t> rows, std::span<float> grad) override {
    GatherRows(data, rows, &activations_[0]);
    Forward(params);
    double total = SoftmaxCrossEntropy(&activations_.back(), data.labels, rows, 0, nullptr);
    const auto batch = static_cast<float>(rows.size());
    // delta of the output: (P - Y) / B.
    Matrix& out = deltas_.back();
    out = activations_.back();
    for (std::size_t r = 0; r < rows.size(); ++r) out(static_cast<Eigen::Index>(r), data.labels[rows[r]]) -= 1.0f;
    out /= batch;
    for (std::size_t l = widths_.size() - 1; l-- > 0;) {
      const std::int64_t in = widths_[l], outw = widths_[l + 1];
      MatrixMap gw(grad.data() + offsets_[l], in, outw);
      VectorMap gb(grad.data() + offsets_[l] + in * outw, outw);
      gw.noalias() = activations_[l].transpose() * deltas_[l + 1];
      // Through an aligned temporary: Eigen computes the first columns of a reduction
      // into a destination that is not 64-byte aligned (gb maps the caller's vector)
      // with scalar code in another summation order, so results would depend on where
      // the heap put the gradient (seen with AVX-512: the lab's accuracy changed with
      // the length of a command-line path). The copy is exact.
      bias_grad_ = deltas_[l + 1].colwise().sum();
      gb = bias_grad_;
      if (l > 0) {
        ConstMatrixMap w(params.data() + offsets_[l], in, outw);
        deltas_[l].noalias() = deltas_[l + 1] * w.transpose();
        deltas_[l].array() *= (activations_[l].array() > 0.0f).cast<float>();
      }
    }
    total /= batch;
    if (l2_ > 0) {
      ConstVectorMap p(params.data(), num_parameters_);
      VectorMap g(grad.data(), num_parameters_);
      g += static_cast<float>(l2_) * p;
      total += 0.5 * l2_ * static_cast<double>(p.squaredNorm());
    }
    return total;
  }

  Evaluation Evaluate(std::span<const float> params, const Dataset& data) override {
    double loss = 0;
    std::int64_t correct = 0;
    const std::int64_t n = data.num_samples();
    for (std::int64_t start = 0; start < n; start += kEvalChunk) {
      const std::int64_t count = std::min(kEvalChunk, n - start);
      activations_[0] = data.features.middleRows(start, count);
      Forward(params);
      loss += SoftmaxCrossEntropy(&activations_.back(), data.labels, {}, start, &correct);
    }
    Evaluation e;
    e.loss = n > 0 ? loss / static_cast<double>(n) : 0;
    if (l2_ > 0) {
      ConstVectorMap p(params.data(), num_parameters_);
      e.loss += 0.5 * l2_ * static_cast<double>(p.squaredNorm());
    }
    e.accuracy = n > 0 ? static_cast<double>(correct) / static_cast<double>(n) : 0;
    return e;
  }

 private:
  // activations_[0] holds the input; fills the later activations (logits last).
  void Forward(std::span<const float> params) {
    for (std::size_t l = 0; l + 1 < widths_.size(); ++l) {
      const std::int64_t in = widths_[l], out = widths_[l + 1];
      ConstMatrixMap w(params.data() + offsets_[l], in, out);
      ConstVectorMap b(params.data() + offsets_[l] + in * out, out);
      activations_[l + 1].noalias() = activations_[l] * w;
      activations_[l + 1].rowwise() += b;
      if (l + 2 < widths_.size()) activations_[l + 1] = activations_[l + 1].cwiseMax(0.0f);
    }
  }

  std::string spec_;
  std::vector<std::int64_t> widths_;  // Input, hidden..., classes.
  std::vector<std::int64_t> offsets_;
  std::int64_t num_parameters_ = 0;
  double l2_;
  std::vector<Matrix> activations_;
  std::vector<Matrix> deltas_;
  Eigen::RowVectorXf bias_grad_;  // Aligned scratch, see LossAndGradient.
};

}  // namespace

Result<std::unique_ptr<Model>> MakeModel(std::string_view spec, std::int64_t num_features,
                                         int num_classes, double l2) {
  if (num_features <= 0) return InvalidArgument("model: data has no features");
  if (num_classes < 2) return InvalidArgument("model: need at least 2 classes, data has " + std::to_string(num_classes));
  if (!(l2 >= 0)) return InvalidArgument("model: l2 must be >= 0");
  std::vector<std::int64_t> widths{num_features};
  std::string canonical;
  if (spec == "softmax" || spec == "logistic") {
    canonical = "softmax";
  } else if (spec == "mlp" || spec.starts_with("mlp:")) {
    std::string_view rest = spec == "mlp" ? std::string_view("256,128") : spec.substr(4);
    canonical = "mlp:" + std::string(rest);
    while (!rest.empty()) {
      const std::size_t comma = rest.find(',');
      const std::string part(rest.substr(0, comma));
      char* end = nullptr;
      const long width = std::strtol(part.c_str(), &end, 10);
      if (part.empty() || *end != '\0' || width <= 0 || width > 65536) {
        return InvalidArgument("model '" + std::string(spec) + "': bad hidden width '" + part + "'");
      }
      widths.push_back(width);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
  } else {
    return InvalidArgument("unknown model '" + std::string(spec) + "' (want softmax, mlp or mlp:W1,W2,...)");
  }
  widths.push_back(num_classes);
  return std::unique_ptr<Model>(new DenseNetwork(canonical, std::move(widths), l2));
}

}  // namespace sotto::algo
