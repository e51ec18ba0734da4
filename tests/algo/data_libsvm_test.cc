#include "algo/data_libsvm.h"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace sotto::algo {
namespace {

const std::string kFixtures = std::string(SOTTO_SOURCE_DIR) + "/tests/algo/data/";

// The error message of parsing `text` as "a9a"; the parse must fail.
std::string ParseError(std::string_view text, LibsvmOptions options = {}) {
  options.name = "a9a";
  Result<LibsvmData> data = ParseLibsvm(text, options);
  REQUIRE_FALSE(data.ok());
  CHECK(data.error().code() == StatusCode::kInvalidArgument);
  return data.error().message();
}

TEST_CASE("libsvm text parses into dense rows with 1-based indices", "[algo][data][libsvm]") {
  Result<LibsvmData> data = ParseLibsvm("+1 1:0.5 3:2\n-1 2:-1.5e1\n+1\n");
  REQUIRE(data.ok());
  const Dataset& d = data->data;
  CHECK(d.num_samples() == 3);
  CHECK(d.num_features() == 3);
  CHECK(d.num_classes == 2);
  CHECK(d.name == "libsvm");
  CHECK(d.labels == std::vector<std::int32_t>{1, 0, 1});
  CHECK(data->label_values == std::vector<double>{-1, 1});
  CHECK(d.features(0, 0) == 0.5f);
  CHECK(d.features(0, 1) == 0.0f);
  CHECK(d.features(0, 2) == 2.0f);
  CHECK(d.features(1, 1) == -15.0f);
  CHECK(d.features.row(2).isZero());
}

TEST_CASE("binary label conventions all map to 0 and 1", "[algo][data][libsvm]") {
  const std::string text = GENERATE(std::string("-1 1:1\n+1 1:2\n-1 1:3\n"),
                                    std::string("0 1:1\n1 1:2\n0 1:3\n"),
                                    std::string("1 1:1\n2 1:2\n1 1:3\n"));
  Result<LibsvmData> data = ParseLibsvm(text);
  REQUIRE(data.ok());
  CHECK(data->data.num_classes == 2);
  CHECK(data->data.labels == std::vector<std::int32_t>{0, 1, 0});
}

TEST_CASE("multi-class labels map to their rank among the distinct labels",
          "[algo][data][libsvm]") {
  Result<LibsvmData> data = ParseLibsvm("7 1:1\n3 1:1\n5 1:1\n3 2:1\n");
  REQUIRE(data.ok());
  CHECK(data->data.num_classes == 3);
  CHECK(data->data.labels == std::vector<std::int32_t>{2, 0, 1, 0});
  CHECK(data->label_values == std::vector<double>{3, 5, 7});
}

TEST_CASE("libsvm comments, blank lines, qid and crlf are accepted", "[algo][data][libsvm]") {
  Result<LibsvmData> data =
      ParseLibsvm("# header comment\n\n  \t\n1 qid:3 2:1\r\n0 1:4 # trailing\n# end");
  REQUIRE(data.ok());
  CHECK(data->data.num_samples() == 2);
  CHECK(data->data.num_features() == 2);
  CHECK(data->data.features(0, 1) == 1.0f);
  CHECK(data->data.features(1, 0) == 4.0f);
}

TEST_CASE("num_features pads the columns and bounds the indices", "[algo][data][libsvm]") {
  LibsvmOptions options;
  options.num_features = 5;
  Result<LibsvmData> data = ParseLibsvm("1 2:1\n0 3:1\n", options);
  REQUIRE(data.ok());
  CHECK(data->data.num_features() == 5);
  CHECK_THAT(ParseError("1 2:1\n0 6:1\n", options),
             Catch::Equals("a9a:2: index 6 exceeds num_features 5"));
}

TEST_CASE("malformed libsvm lines are reported with their line numbers", "[algo][data][libsvm]") {
  using Catch::Equals;
  CHECK_THAT(ParseError("1 1:1\n\n0 0:1\n"), Equals("a9a:3: index 0 is not 1-based"));
  CHECK_THAT(ParseError("1 3:1 2:1\n"), Equals("a9a:1: indices not increasing: 2 after 3"));
  CHECK_THAT(ParseError("1 3:1 3:1\n"), Equals("a9a:1: indices not increasing: 3 after 3"));
  CHECK_THAT(ParseError("1 1:1\n0 5\n"), Equals("a9a:2: expected <index>:<value>, got '5'"));
  CHECK_THAT(ParseError("x 1:1\n"), Equals("a9a:1: label 'x' is not a number"));
  CHECK_THAT(ParseError("nan 1:1\n"), Equals("a9a:1: label 'nan' is not finite"));
  CHECK_THAT(ParseError("1 1:abc\n"), Equals("a9a:1: value 'abc' of index 1 is not a number"));
  CHECK_THAT(ParseError("1 1:nan\n"), Equals("a9a:1: value 'nan' of index 1 is not finite"));
  CHECK_THAT(ParseError("1 1:1\n1 2:\n"), Equals("a9a:2: value '' of index 2 is not a number"));
  CHECK_THAT(ParseError("1 -3:1\n"), Equals("a9a:1: index -3 is negative"));
  CHECK_THAT(ParseError("1 1.5:1\n"), Equals("a9a:1: index '1.5' is not an integer"));
  CHECK_THAT(ParseError("1 :1\n"), Equals("a9a:1: index '' is not an integer"));
  CHECK_THAT(ParseError("1 99999999999:1\n"), Equals("a9a:1: index 99999999999 is too large"));
  CHECK_THAT(ParseError("# only a comment\n\n"), Equals("a9a: no samples"));

  LibsvmOptions known;
  known.label_values = {-1, 1};
  CHECK_THAT(ParseError("1 1:1\n-1 1:1\n3 1:1\n", known),
             Equals("a9a:3: label 3 is not one of the known labels"));
}

TEST_CASE("an oversized dense matrix is refused before allocation", "[algo][data][libsvm]") {
  LibsvmOptions options;
  options.max_dense_bytes = 1000;
  options.name = "big";
  Result<LibsvmData> data = ParseLibsvm("1 1000:1\n", options);
  REQUIRE_FALSE(data.ok());
  CHECK_THAT(data.error().message(), Catch::StartsWith("big: 1 samples x 1000 features"));
}

TEST_CASE("libsvm files read with the path as the name", "[algo][data][libsvm]") {
  Result<LibsvmData> data = ReadLibsvmFile(kFixtures + "tiny_binary.libsvm");
  REQUIRE(data.ok());
  CHECK(data->data.num_samples() == 4);
  CHECK(data->data.num_features() == 4);
  CHECK(data->data.labels == std::vector<std::int32_t>{1, 0, 1, 0});
  CHECK(data->data.features(1, 3) == 1.5f);
  CHECK_THAT(data->data.name, Catch::EndsWith("tiny_binary.libsvm"));

  Result<LibsvmData> missing = ReadLibsvmFile(kFixtures + "absent.libsvm");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code() == StatusCode::kNotFound);
  CHECK_THAT(missing.error().message(), Catch::Contains("absent.libsvm"));
}

TEST_CASE("a train and test pair share labels and feature count", "[algo][data][libsvm]") {
  Result<LibsvmTrainTest> data =
      ReadLibsvmTrainTest(kFixtures + "tiny_binary.libsvm", kFixtures + "tiny_binary.t");
  REQUIRE(data.ok());
  CHECK(data->train.num_features() == 5);  // The test file's index 5 widens both.
  CHECK(data->test.num_features() == 5);
  CHECK(data->train.features.col(4).isZero());
  CHECK(data->test.labels == std::vector<std::int32_t>{0, 1});
  CHECK(data->test.num_classes == 2);
  CHECK(data->test.features(0, 4) == 2.0f);
  CHECK(data->label_values == std::vector<double>{-1, 1});
}

}  // namespace
}  // namespace sotto::algo
