#pragma once

// Model: a differentiable classifier over a flat float parameter vector. The
// algorithms only ever see the flat vector (what is gossiped); the model knows its
// layout. Loss is the smooth part only (mean cross-entropy plus an optional l2
// term); the l1 term lambda*||x||_1 is handled by the algorithm's prox step and
// added to reported losses by the caller.
//
// Thread safety: not thread-safe (keeps scratch buffers); one Model per thread.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "algo/dataset.h"
#include "common/random.h"
#include "common/status.h"

namespace sotto::algo {

class Model {
 public:
  virtual ~Model() = default;

  virtual std::string spec() const = 0;            // "softmax", "mlp:256,128".
  virtual std::int64_t num_parameters() const = 0;

  // Writes initial parameters (seeded; zeros for convex models).
  virtual void Initialize(std::span<float> params, Rng& rng) const = 0;

  // Mean loss over the samples `rows` of `data` and its gradient (written to `grad`,
  // which must have num_parameters() elements).
  virtual double LossAndGradient(std::span<const float> params, const Dataset& data,
                                 std::span<const std::int64_t> rows, std::span<float> grad) = 0;

  // Mean loss and accuracy over all of `data` (evaluated in chunks).
  struct Evaluation {
    double loss = 0;
    double accuracy = 0;
  };
  virtual Evaluation Evaluate(std::span<const float> params, const Dataset& data) = 0;
};

// Builds a model for inputs of `num_features` and `num_classes` from a spec:
// "softmax" (multinomial logistic regression; binary problems included) or
// "mlp" / "mlp:256,128" (ReLU hidden layers). `l2` adds (l2/2)||x||^2 to the loss.
Result<std::unique_ptr<Model>> MakeModel(std::string_view spec, std::int64_t num_features,
                                         int num_classes, double l2 = 0.0);

}  // namespace sotto::algo
