#pragma once

// IDX reader (the MNIST file format) and the Fashion-MNIST loader, the default
// job's data. One of algo/'s data readers: they read files the caller names and
// nothing else; models and algorithms only ever see the resulting Dataset.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "algo/dataset.h"
#include "common/status.h"

namespace sotto::algo {

// Where Debian's `dataset-fashion-mnist` package installs the four IDX files.
inline constexpr char kFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";

// Fashion-MNIST has 10 classes of 28x28 grey-scale images (Xiao et al. 2017).
inline constexpr int kFashionMnistClasses = 10;
inline constexpr std::int64_t kFashionMnistFeatures = 28 * 28;

// Reads one image file and its label file into a Dataset: row k holds the
// pixels of image k scaled from [0, 255] to [0, 1] (row-major over the image),
// labels[k] its label. Either file may be gzip-compressed or raw (detected from
// the content, not the name). num_classes is 1 + the largest label in the whole
// label file, so a prefix read with `max_samples` still sees every class.
//
// `max_samples` < 0 reads everything; otherwise at most that many samples. With a
// limit only the records needed are decompressed, so bytes after them (a
// truncated tail, trailing garbage, the gzip CRC) are not checked.
//
// Errors: kNotFound if a file does not exist; kInvalidArgument if a file is
// not an unsigned-byte IDX file of the right rank (images rank >= 2, labels
// rank 1), e.g. the two paths swapped; kCorrupted if the bytes contradict the
// header (bad magic, truncated, trailing bytes, broken gzip stream) or the two
// files disagree on the sample count. Messages name the file.
Result<Dataset> ReadIdxDataset(const std::string& images_path, const std::string& labels_path,
                               std::int64_t max_samples = -1);

// As ReadIdxDataset, on the bytes of the two files (raw or gzip) already in memory;
// `images_name` and `labels_name` stand for the paths in messages and
// Dataset::name. ReadIdxDataset reads the files and calls this. Errors as
// ReadIdxDataset, without kNotFound.
Result<Dataset> ParseIdxDataset(std::span<const std::uint8_t> images,
                                std::span<const std::uint8_t> labels,
                                std::int64_t max_samples = -1,
                                const std::string& images_name = "images",
                                const std::string& labels_name = "labels");

struct FashionMnist {
  Dataset train;  // 60000 samples, name "fashion-mnist/train".
  Dataset test;   // 10000 samples, name "fashion-mnist/test".
};

// Loads train-{images,labels} and t10k-{images,labels} from `dir`, taking
// "<name>-idx?-ubyte.gz" or, failing that, the uncompressed "<name>-idx?-ubyte".
// `max_train` / `max_test` < 0 mean all samples, as in ReadIdxDataset.
//
// Errors: kNotFound naming the missing path and suggesting
// `apt-get install dataset-fashion-mnist`; otherwise as ReadIdxDataset, plus
// kCorrupted if the shapes are not 784 features and 10 classes.
Result<FashionMnist> LoadFashionMnist(const std::string& dir = kFashionMnistDir,
                                      std::int64_t max_train = -1, std::int64_t max_test = -1);

// Returns the whole content of `path`, gunzipped if it is gzip data (raw files
// are returned as they are). Shared by the text readers (LIBSVM).
// Errors: kNotFound if missing; kCorrupted for a broken gzip stream;
// kInvalidArgument if the content exceeds `max_bytes`.
Result<std::string> ReadFileMaybeGzip(const std::string& path,
                                      std::int64_t max_bytes = std::int64_t{1} << 34);

// Returns `bytes` gunzipped if they are gzip data (they start 1f 8b), else as they
// are. As zlib's gzread (which the file readers used to call): concatenated gzip
// members are joined, and bytes after the last member that do not start another
// one are ignored. `name` prefixes messages. Errors: kCorrupted for a broken or
// truncated gzip stream (CRC included); kInvalidArgument if the result would
// exceed `max_bytes`.
Result<std::string> GunzipIfCompressed(std::span<const std::uint8_t> bytes,
                                       const std::string& name,
                                       std::int64_t max_bytes = std::int64_t{1} << 34);

}  // namespace sotto::algo
