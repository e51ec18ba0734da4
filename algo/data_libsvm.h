#pragma once

// Reader for the LIBSVM / SVMlight text format, the usual way users bring their
// own data (binary logistic regression, LIBLINEAR reference runs):
//
//   <label> <index>:<value> <index>:<value> ...   # optional comment
//
// Indices are 1-based and strictly increasing; absent features are 0. Rows are
// stored densely in a Dataset (feature index i goes to column i-1).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "algo/dataset.h"
#include "common/status.h"

namespace sotto::algo {

struct LibsvmOptions {
  // Number of features (columns). 0: the largest index in the input. Otherwise
  // an index above it is an error.
  std::int64_t num_features = 0;

  // The original label value of each class: a label equal to label_values[k]
  // becomes class k, and any other label is an error. Empty: the distinct labels
  // of the input, sorted ascending, become classes 0..C-1, so binary data in
  // any of the usual conventions maps as {-1,+1}, {0,1} or {1,2} -> {0,1}.
  // Pass a training set's label_values when reading its test set.
  std::vector<double> label_values;

  // Name for error messages ("a9a:17: ...") and Dataset::name. Empty: "libsvm"
  // for text, the path for files.
  std::string name;

  // Refuse inputs whose dense matrix would exceed this many bytes.
  std::int64_t max_dense_bytes = std::int64_t{8} << 30;
};

struct LibsvmData {
  Dataset data;
  // label_values[k] is the label the file used for class k (see LibsvmOptions).
  std::vector<double> label_values;
};

// Parses LIBSVM text. Blank lines and '#' comments (to end of line) are skipped,
// as SVMlight and scikit-learn's load_svmlight_file do; "qid:N" tokens are
// ignored; '\r\n' line ends are accepted.
//
// Errors (kInvalidArgument), each as "<name>:<line>: <what>": a label or value
// that is not a finite number, a token without ':', an index that is not a
// positive integer ("index 0 is not 1-based"), indices not strictly increasing,
// an index above options.num_features, a label not in options.label_values;
// "<name>: no samples" for an input without data lines; and a dense matrix
// above max_dense_bytes.
Result<LibsvmData> ParseLibsvm(std::string_view text, const LibsvmOptions& options = {});

// Reads and parses the file at `path` (raw or gzip). Errors: kNotFound if the
// file is missing, else as ParseLibsvm (with the path as the default name).
Result<LibsvmData> ReadLibsvmFile(const std::string& path, const LibsvmOptions& options = {});

struct LibsvmTrainTest {
  Dataset train;
  Dataset test;
  std::vector<double> label_values;  // Shared by both.
};

// Reads a training file and its test file consistently: test labels are mapped
// with the training label_values (an unseen test label is an error), and both
// get max(largest train index, largest test index) features, as LIBSVM's tools
// treat an absent feature as 0. `num_features` > 0 fixes the count instead.
Result<LibsvmTrainTest> ReadLibsvmTrainTest(const std::string& train_path,
                                            const std::string& test_path,
                                            std::int64_t num_features = 0);

}  // namespace sotto::algo
