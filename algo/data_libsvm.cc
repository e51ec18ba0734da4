#include "algo/data_libsvm.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <utility>

#include "algo/data_idx.h"

namespace sotto::algo {
namespace {

// One stored feature value; the dense matrix is filled after the first pass,
// once the number of columns is known.
struct Entry {
  std::int64_t row;
  std::int64_t column;  // 0-based.
  float value;
};

// Accepts what strtod does for decimal numbers ("+1", "-0.5", "1e-3") but not
// hex; "nan"/"inf" parse and are then refused as non-finite by the caller.
bool ParseDouble(std::string_view text, double* out) {
  if (text.size() > 1 && text[0] == '+' && text[1] != '-' && text[1] != '+') text.remove_prefix(1);
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, *out, std::chars_format::general);
  return ec == std::errc() && ptr == end;
}

class Parser {
 public:
  Parser(std::string_view text, const LibsvmOptions& options)
      : text_(text), options_(options), name_(options.name.empty() ? "libsvm" : options.name) {}

  Result<LibsvmData> Run() {
    std::int64_t line_number = 0;
    for (std::size_t pos = 0; pos < text_.size();) {
      std::size_t end = text_.find('\n', pos);
      if (end == std::string_view::npos) end = text_.size();
      ++line_number;
      SOTTO_RETURN_IF_ERROR(ParseLine(text_.substr(pos, end - pos), line_number));
      pos = end + 1;
    }
    if (labels_.empty()) return InvalidArgument(name_ + ": no samples");
    return Assemble();
  }

 private:
  Status LineError(std::int64_t line, const std::string& what) const {
    return InvalidArgument(name_ + ":" + std::to_string(line) + ": " + what);
  }

  Status ParseLine(std::string_view line, std::int64_t line_number) {
    if (const std::size_t hash = line.find('#'); hash != std::string_view::npos) {
      line = line.substr(0, hash);
    }
    std::vector<std::string_view> tokens;
    constexpr std::string_view kSpace = " \t\r\v\f";
    for (std::size_t pos = line.find_first_not_of(kSpace); pos != std::string_view::npos;) {
      const std::size_t end = std::min(line.find_first_of(kSpace, pos), line.size());
      tokens.push_back(line.substr(pos, end - pos));
      pos = line.find_first_not_of(kSpace, end);
    }
    if (tokens.empty()) return Status::Ok();

    const auto row = static_cast<std::int64_t>(labels_.size());
    double label = 0;
    if (!ParseDouble(tokens[0], &label)) {
      return LineError(line_number, "label '" + std::string(tokens[0]) + "' is not a number");
    }
    if (!std::isfinite(label)) {
      return LineError(line_number, "label '" + std::string(tokens[0]) + "' is not finite");
    }
    std::int64_t previous = 0;
    for (std::size_t t = 1; t < tokens.size(); ++t) {
      const std::string_view token = tokens[t];
      const std::size_t colon = token.find(':');
      if (colon == std::string_view::npos) {
        return LineError(line_number, "expected <index>:<value>, got '" + std::string(token) + "'");
      }
      const std::string_view index_text = token.substr(0, colon);
      const std::string_view value_text = token.substr(colon + 1);
      if (index_text == "qid") continue;  // SVMlight ranking groups: not used here.
      std::int64_t index = 0;
      const char* index_end = index_text.data() + index_text.size();
      const auto [ptr, ec] = std::from_chars(index_text.data(), index_end, index);
      if (ec != std::errc() || ptr != index_end || index_text.empty()) {
        return LineError(line_number,
                         "index '" + std::string(index_text) + "' is not an integer");
      }
      if (index == 0) return LineError(line_number, "index 0 is not 1-based");
      if (index < 0) {
        return LineError(line_number, "index " + std::to_string(index) + " is negative");
      }
      if (index > std::numeric_limits<std::int32_t>::max()) {
        return LineError(line_number, "index " + std::to_string(index) + " is too large");
      }
      if (index <= previous) {
        return LineError(line_number, "indices not increasing: " + std::to_string(index) +
                                          " after " + std::to_string(previous));
      }
      if (options_.num_features > 0 && index > options_.num_features) {
        return LineError(line_number, "index " + std::to_string(index) + " exceeds num_features " +
                                          std::to_string(options_.num_features));
      }
      double value = 0;
      if (!ParseDouble(value_text, &value)) {
        return LineError(line_number, "value '" + std::string(value_text) + "' of index " +
                                          std::to_string(index) + " is not a number");
      }
      if (!std::isfinite(value)) {
        return LineError(line_number, "value '" + std::string(value_text) + "' of index " +
                                          std::to_string(index) + " is not finite");
      }
      previous = index;
      max_index_ = std::max(max_index_, index);
      if (value != 0) entries_.push_back({row, index - 1, static_cast<float>(value)});
    }
    labels_.push_back(label);
    lines_.push_back(line_number);
    return Status::Ok();
  }

  Result<LibsvmData> Assemble() {
    LibsvmData out;
    out.label_values = options_.label_values;
    if (out.label_values.empty()) {
      out.label_values = labels_;
      std::sort(out.label_values.begin(), out.label_values.end());
      out.label_values.erase(std::unique(out.label_values.begin(), out.label_values.end()),
                             out.label_values.end());
    }
    Dataset& data = out.data;
    data.labels.reserve(labels_.size());
    for (std::size_t i = 0; i < labels_.size(); ++i) {
      const auto it = std::find(out.label_values.begin(), out.label_values.end(), labels_[i]);
      if (it == out.label_values.end()) {
        return LineError(lines_[i], "label " + FormatLabel(labels_[i]) +
                                        " is not one of the known labels");
      }
      data.labels.push_back(static_cast<std::int32_t>(it - out.label_values.begin()));
    }
    data.num_classes = static_cast<int>(out.label_values.size());
    data.name = name_;

    const auto rows = static_cast<std::int64_t>(labels_.size());
    const std::int64_t cols = options_.num_features > 0 ? options_.num_features : max_index_;
    const double dense_bytes = static_cast<double>(rows) * static_cast<double>(cols) * 4.0;
    if (dense_bytes > static_cast<double>(options_.max_dense_bytes)) {
      return InvalidArgument(name_ + ": " + std::to_string(rows) + " samples x " +
                             std::to_string(cols) + " features need " +
                             std::to_string(dense_bytes / (1 << 30)) +
                             " GiB dense, over the limit of max_dense_bytes");
    }
    data.features = FeatureMatrix::Zero(rows, cols);
    for (const Entry& e : entries_) data.features(e.row, e.column) = e.value;
    return out;
  }

  static std::string FormatLabel(double label) {
    char text[32];
    std::snprintf(text, sizeof(text), "%g", label);
    return text;
  }

  std::string_view text_;
  const LibsvmOptions& options_;
  std::string name_;
  std::vector<double> labels_;
  std::vector<std::int64_t> lines_;  // Line number of each sample, for label errors.
  std::vector<Entry> entries_;
  std::int64_t max_index_ = 0;
};

// Adds zero columns so `data` has `cols` features.
void WidenTo(Dataset& data, std::int64_t cols) {
  if (data.num_features() >= cols) return;
  FeatureMatrix wider = FeatureMatrix::Zero(data.num_samples(), cols);
  wider.leftCols(data.num_features()) = data.features;
  data.features = std::move(wider);
}

}  // namespace

Result<LibsvmData> ParseLibsvm(std::string_view text, const LibsvmOptions& options) {
  return Parser(text, options).Run();
}

Result<LibsvmData> ReadLibsvmFile(const std::string& path, const LibsvmOptions& options) {
  SOTTO_ASSIGN_OR_RETURN(std::string text, ReadFileMaybeGzip(path));
  if (!options.name.empty()) return ParseLibsvm(text, options);
  LibsvmOptions named = options;
  named.name = path;
  return ParseLibsvm(text, named);
}

Result<LibsvmTrainTest> ReadLibsvmTrainTest(const std::string& train_path,
                                            const std::string& test_path,
                                            std::int64_t num_features) {
  LibsvmOptions options;
  options.num_features = num_features;
  SOTTO_ASSIGN_OR_RETURN(LibsvmData train, ReadLibsvmFile(train_path, options));
  options.label_values = train.label_values;
  SOTTO_ASSIGN_OR_RETURN(LibsvmData test, ReadLibsvmFile(test_path, options));
  const std::int64_t cols = std::max(train.data.num_features(), test.data.num_features());
  WidenTo(train.data, cols);
  WidenTo(test.data, cols);
  return LibsvmTrainTest{std::move(train.data), std::move(test.data),
                         std::move(train.label_values)};
}

}  // namespace sotto::algo
