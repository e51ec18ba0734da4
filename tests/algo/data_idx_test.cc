#include "algo/data_idx.h"

#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "algo/partition.h"

namespace sotto::algo {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test case, removed afterwards.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = fs::temp_directory_path() /
            ("sotto-data-idx-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

// Big-endian IDX bytes: magic {0, 0, 0x08, rank}, dims, then the payload.
std::string IdxBytes(const std::vector<std::uint32_t>& dims, const std::vector<std::uint8_t>& payload) {
  std::string out = {0, 0, 0x08, static_cast<char>(dims.size())};
  for (const std::uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((d >> shift) & 0xff));
  }
  out.append(payload.begin(), payload.end());
  return out;
}

void WriteRaw(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void WriteGz(const std::string& path, const std::string& bytes) {
  gzFile file = gzopen(path.c_str(), "wb");
  REQUIRE(file != nullptr);
  REQUIRE(gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size())) ==
          static_cast<int>(bytes.size()));
  REQUIRE(gzclose(file) == Z_OK);
}

// Three 2x3 images with pixels 0, 1, ..., 17 (255 in the last one) and labels 2, 0, 1.
struct SmallIdx {
  std::string images = IdxBytes({3, 2, 3}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 255});
  std::string labels = IdxBytes({3}, {2, 0, 1});
};

TEST_CASE("idx files round trip, gzip-compressed or raw", "[algo][data][idx]") {
  TempDir dir;
  const SmallIdx idx;
  const bool gz = GENERATE(false, true);
  const std::string images = dir.File(gz ? "img.gz" : "img"), labels = dir.File(gz ? "lab.gz" : "lab");
  (gz ? WriteGz : WriteRaw)(images, idx.images);
  (gz ? WriteGz : WriteRaw)(labels, idx.labels);

  Result<Dataset> data = ReadIdxDataset(images, labels);
  REQUIRE(data.ok());
  CHECK(data->num_samples() == 3);
  CHECK(data->num_features() == 6);
  CHECK(data->num_classes == 3);
  CHECK(data->labels == std::vector<std::int32_t>{2, 0, 1});
  CHECK(data->features(0, 0) == 0.0f);
  CHECK(data->features(0, 1) == Approx(1.0 / 255.0));
  CHECK(data->features(1, 2) == Approx(8.0 / 255.0));
  CHECK(data->features(2, 5) == 1.0f);

  SECTION("a sample limit reads a prefix but still sees every class") {
    Result<Dataset> prefix = ReadIdxDataset(images, labels, 1);
    REQUIRE(prefix.ok());
    CHECK(prefix->num_samples() == 1);
    CHECK(prefix->labels == std::vector<std::int32_t>{2});
    CHECK(prefix->num_classes == 3);
    CHECK(prefix->features.row(0) == data->features.row(0));
  }
}

TEST_CASE("broken idx files give errors naming the file and the problem", "[algo][data][idx]") {
  TempDir dir;
  const SmallIdx idx;
  const std::string images = dir.File("img"), labels = dir.File("lab");
  WriteRaw(labels, idx.labels);

  SECTION("missing file") {
    Result<Dataset> data = ReadIdxDataset(dir.File("nope"), labels);
    REQUIRE_FALSE(data.ok());
    CHECK(data.error().code() == StatusCode::kNotFound);
    CHECK_THAT(data.error().message(), Catch::Contains("nope"));
  }
  SECTION("bad magic") {
    std::string bytes = idx.images;
    bytes[0] = 0x1f;
    WriteRaw(images, bytes);
    Result<Dataset> data = ReadIdxDataset(images, labels);
    REQUIRE_FALSE(data.ok());
    CHECK(data.error().code() == StatusCode::kCorrupted);
    CHECK_THAT(data.error().message(), Catch::Contains(images) && Catch::Contains("bad magic"));
  }
  SECTION("truncated payload, raw and gzip") {
    const std::string cut = idx.images.substr(0, idx.images.size() - 4);
    WriteRaw(images, cut);
    Result<Dataset> data = ReadIdxDataset(images, labels);
    REQUIRE_FALSE(data.ok());
    CHECK(data.error().code() == StatusCode::kCorrupted);
    CHECK_THAT(data.error().message(), Catch::Contains(images) && Catch::Contains("truncated"));

    WriteGz(images + ".gz", cut);
    data = ReadIdxDataset(images + ".gz", labels);
    REQUIRE_FALSE(data.ok());
    CHECK_THAT(data.error().message(), Catch::Contains("truncated"));
  }
  SECTION("truncated gzip stream") {
    WriteGz(images + ".gz", idx.images);
    std::ifstream in(images + ".gz", std::ios::binary);
    std::string gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    WriteRaw(images + ".gz", gz.substr(0, gz.size() - 10));
    Result<Dataset> data = ReadIdxDataset(images + ".gz", labels);
    REQUIRE_FALSE(data.ok());
    CHECK(data.error().code() == StatusCode::kCorrupted);
    CHECK_THAT(data.error().message(), Catch::Contains("truncated"));
  }
  SECTION("trailing bytes") {
    WriteRaw(images, idx.images + "xyz");
    Result<Dataset> data = ReadIdxDataset(images, labels);
    REQUIRE_FALSE(data.ok());
    CHECK(data.error().code() == StatusCode::kCorrupted);
    CHECK_THAT(data.error().message(), Catch::Contains("after the last"));
  }
  SECTION("a header that lies about the count") {
    WriteRaw(images, IdxBytes({4, 2, 3}, std::vector<std::uint8_t>(24, 7)));
    Result<Dataset> data = ReadIdxDataset(images, labels);
    REQUIRE_FALSE(data.ok());
    CHECK(data.error().code() == StatusCode::kCorrupted);
    CHECK_THAT(data.error().message(), Catch::Contains("4 images but") && Catch::Contains("3 labels"));
  }
  SECTION("a huge claimed count is refused before allocating") {
    const std::string huge_labels = IdxBytes({0xfffffff0u}, {1, 2, 3});
    const std::string huge_images = IdxBytes({3, 0x7fffu, 0x7fffu}, std::vector<std::uint8_t>(50, 1));
    const bool gz = GENERATE(false, true);
    (gz ? WriteGz : WriteRaw)(labels, huge_labels);
    Result<Dataset> data = ReadIdxDataset(images, labels);
    REQUIRE_FALSE(data.ok());
    CHECK(data.error().code() == StatusCode::kCorrupted);
    CHECK_THAT(data.error().message(), Catch::Contains("promises 4294967280 records"));

    (gz ? WriteGz : WriteRaw)(labels, idx.labels);
    (gz ? WriteGz : WriteRaw)(images, huge_images);
    data = ReadIdxDataset(images, labels);
    REQUIRE_FALSE(data.ok());
    CHECK(data.error().code() == StatusCode::kCorrupted);
    CHECK_THAT(data.error().message(), Catch::Contains(images) && Catch::Contains("truncated"));
  }
  SECTION("images and labels swapped") {
    WriteRaw(images, idx.images);
    Result<Dataset> data = ReadIdxDataset(labels, images);
    REQUIRE_FALSE(data.ok());
    CHECK(data.error().code() == StatusCode::kInvalidArgument);
    CHECK_THAT(data.error().message(), Catch::Contains("swapped"));
  }
  SECTION("non-byte element type") {
    std::string bytes = idx.images;
    bytes[2] = 0x0d;  // float
    WriteRaw(images, bytes);
    Result<Dataset> data = ReadIdxDataset(images, labels);
    REQUIRE_FALSE(data.ok());
    CHECK(data.error().code() == StatusCode::kInvalidArgument);
    CHECK_THAT(data.error().message(), Catch::Contains("unsigned byte"));
  }
}

std::vector<std::uint8_t> AsBytes(const std::string& s) { return {s.begin(), s.end()}; }

std::string GzipOf(const TempDir& dir, const std::string& bytes) {
  const std::string path = dir.File("tmp.gz");
  WriteGz(path, bytes);
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST_CASE("idx bytes in memory parse as the files do", "[algo][data][idx]") {
  TempDir dir;
  const SmallIdx idx;
  WriteRaw(dir.File("img"), idx.images);
  WriteRaw(dir.File("lab"), idx.labels);
  Result<Dataset> from_files = ReadIdxDataset(dir.File("img"), dir.File("lab"));
  REQUIRE(from_files.ok());
  const std::string gz_images = GzipOf(dir, idx.images);
  Result<Dataset> from_bytes =
      ParseIdxDataset(AsBytes(gz_images), AsBytes(idx.labels), -1, "my-images", "my-labels");
  REQUIRE(from_bytes.ok());
  CHECK(from_bytes->features == from_files->features);
  CHECK(from_bytes->labels == from_files->labels);
  CHECK(from_bytes->name == "my-images");
  Result<Dataset> cut = ParseIdxDataset(AsBytes(idx.images.substr(0, 10)), AsBytes(idx.labels),
                                        -1, "my-images", "my-labels");
  REQUIRE_FALSE(cut.ok());
  CHECK_THAT(cut.error().message(), Catch::Contains("my-images") && Catch::Contains("truncated"));
}

TEST_CASE("gunzip in memory joins members and ignores trailing bytes, as gzread does",
          "[algo][data][idx]") {
  TempDir dir;
  const std::string one = GzipOf(dir, "hello "), two = GzipOf(dir, "world");
  CHECK(*GunzipIfCompressed(AsBytes(one + two), "x") == "hello world");
  CHECK(*GunzipIfCompressed(AsBytes(one + "garbage"), "x") == "hello ");
  CHECK(*GunzipIfCompressed(AsBytes("plain \x1f text"), "x") == "plain \x1f text");
  // The file reader agrees (it calls the same code on the file's bytes).
  WriteRaw(dir.File("two.gz"), one + two + "junk");
  CHECK(*ReadFileMaybeGzip(dir.File("two.gz")) == "hello world");

  Result<std::string> truncated = GunzipIfCompressed(AsBytes(one.substr(0, one.size() - 3)), "x");
  REQUIRE_FALSE(truncated.ok());
  CHECK(truncated.error().code() == StatusCode::kCorrupted);
  CHECK_THAT(truncated.error().message(), Catch::Contains("truncated"));
  std::string bad_crc = one;
  bad_crc[bad_crc.size() - 6] ^= 1;
  Result<std::string> damaged = GunzipIfCompressed(AsBytes(bad_crc), "x");
  REQUIRE_FALSE(damaged.ok());
  CHECK(damaged.error().code() == StatusCode::kCorrupted);

  Result<std::string> big = GunzipIfCompressed(AsBytes(one), "x", 5);
  REQUIRE_FALSE(big.ok());
  CHECK(big.error().code() == StatusCode::kInvalidArgument);
  CHECK(GunzipIfCompressed(AsBytes(one), "x", 6).ok());
  CHECK(GunzipIfCompressed(AsBytes("123456"), "x", 5).error().code() ==
        StatusCode::kInvalidArgument);
}

TEST_CASE("a missing fashion-mnist directory suggests the debian package", "[algo][data][idx]") {
  TempDir dir;
  Result<FashionMnist> data = LoadFashionMnist(dir.File("absent"));
  REQUIRE_FALSE(data.ok());
  CHECK(data.error().code() == StatusCode::kNotFound);
  CHECK_THAT(data.error().message(),
             Catch::Contains("train-images-idx3-ubyte.gz") &&
                 Catch::Contains("apt-get install dataset-fashion-mnist"));
}

TEST_CASE("the real fashion-mnist loads with balanced classes", "[algo][data][idx][fashion]") {
  if (!fs::exists(kFashionMnistDir)) {
    WARN("skipped: " << kFashionMnistDir << " is absent (apt-get install dataset-fashion-mnist)");
    return;
  }
  const auto start = std::chrono::steady_clock::now();
  Result<FashionMnist> data = LoadFashionMnist();
  const auto elapsed = std::chrono::steady_clock::now() - start;
  REQUIRE(data.ok());
  INFO("load took " << std::chrono::duration<double>(elapsed).count() << " s");
  CHECK(data->train.num_samples() == 60000);
  CHECK(data->test.num_samples() == 10000);
  CHECK(data->train.num_features() == 784);
  CHECK(data->test.num_features() == 784);
  CHECK(data->train.num_classes == 10);
  CHECK(data->test.num_classes == 10);
  CHECK(data->train.name == "fashion-mnist/train");
  for (const std::int64_t count : ClassCounts(data->train.labels, 10)) CHECK(count == 6000);
  for (const std::int64_t count : ClassCounts(data->test.labels, 10)) CHECK(count == 1000);
  CHECK(data->train.features.minCoeff() == 0.0f);
  CHECK(data->train.features.maxCoeff() == 1.0f);
  const double mean = data->train.features.cast<double>().mean();
  CHECK(mean == Approx(0.286).margin(0.01));  // Known mean pixel of Fashion-MNIST.

  Result<FashionMnist> small = LoadFashionMnist(kFashionMnistDir, 100, 50);
  REQUIRE(small.ok());
  CHECK(small->train.num_samples() == 100);
  CHECK(small->test.num_samples() == 50);
  CHECK(small->train.features == data->train.features.topRows(100));
}

}  // namespace
}  // namespace sotto::algo
