#include "algo/data_idx.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <system_error>
#include <utility>
#include <vector>

namespace sotto::algo {
namespace {

struct GzCloser {
  void operator()(gzFile_s* file) const { gzclose(file); }
};
using GzHandle = std::unique_ptr<gzFile_s, GzCloser>;

// Reads raw and gzip files alike: zlib's gzread passes non-gzip content through.
Result<GzHandle> OpenForReading(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return NotFound(path + ": no such file");
  if (std::filesystem::is_directory(path, ec)) {
    return InvalidArgument(path + ": is a directory, want a file");
  }
  GzHandle file(gzopen(path.c_str(), "rb"));
  if (file == nullptr) return NotFound(path + ": cannot open for reading");
  gzbuffer(file.get(), 1u << 18);  // Fewer, larger reads: a 26 MB .gz in ~100 calls.
  return file;
}

// Reads up to `n` bytes; returns how many were read (fewer only at end of file).
Result<std::int64_t> ReadUpTo(gzFile_s* file, const std::string& path, char* dst, std::int64_t n) {
  std::int64_t done = 0;
  while (done < n) {
    // gzread takes an unsigned and returns an int: go in chunks below 2^30.
    const auto chunk = static_cast<unsigned>(std::min<std::int64_t>(n - done, 1 << 30));
    const int got = gzread(file, dst + done, chunk);
    int errnum = Z_OK;
    const char* message = gzerror(file, &errnum);
    if (errnum == Z_BUF_ERROR) {
      return Corrupted(path + ": truncated gzip stream (compressed data ends early)");
    }
    if (got < 0 || (errnum != Z_OK && errnum != Z_STREAM_END)) {
      return Corrupted(path + ": cannot read: " + (message ? message : "unknown zlib error"));
    }
    if (got == 0) break;
    done += got;
  }
  return done;
}

Status ReadExactly(gzFile_s* file, const std::string& path, char* dst, std::int64_t n,
                   const std::string& what) {
  SOTTO_ASSIGN_OR_RETURN(const std::int64_t got, ReadUpTo(file, path, dst, n));
  if (got < n) {
    return Corrupted(path + ": truncated: " + what + " needs " + std::to_string(n) +
                     " more bytes, the file has " + std::to_string(got));
  }
  return Status::Ok();
}

Status ExpectEndOfFile(gzFile_s* file, const std::string& path, std::int64_t records) {
  std::array<char, 4096> scratch;
  SOTTO_ASSIGN_OR_RETURN(const std::int64_t extra,
                         ReadUpTo(file, path, scratch.data(), scratch.size()));
  if (extra > 0) {
    return Corrupted(path + ": has bytes after the last of its " + std::to_string(records) +
                     " records (the header understates the count, or the file is not IDX)");
  }
  return Status::Ok();
}

// The header of an IDX file: magic {0, 0, type, rank}, then `rank` big-endian u32.
struct IdxHeader {
  std::vector<std::int64_t> dims;
  // An upper bound on the bytes after the header, known before any allocation:
  // exact for raw files, 1032x the compressed size for gzip (deflate's maximum
  // ratio). A header claiming more is refused, so a lying header cannot make
  // the reader allocate more than a constant multiple of the file's size.
  std::int64_t max_payload_bytes = 0;
};

std::string Hex32(std::uint32_t value) {
  char text[16];
  std::snprintf(text, sizeof(text), "0x%08x", value);
  return text;
}

constexpr std::int64_t kMaxDeflateRatio = 1032;

// Refuses a header whose records cannot all be in the file (see IdxHeader).
Status CheckRecordsFit(const IdxHeader& header, const std::string& path, std::int64_t records,
                       std::int64_t record_bytes) {
  if (records > header.max_payload_bytes / record_bytes) {
    return Corrupted(path + ": truncated: the header promises " + std::to_string(records) +
                     " records of " + std::to_string(record_bytes) + " bytes, the file has " +
                     "room for at most " + std::to_string(header.max_payload_bytes) + " bytes");
  }
  return Status::Ok();
}

Result<IdxHeader> ReadIdxHeader(gzFile_s* file, const std::string& path) {
  std::array<unsigned char, 4> magic;
  SOTTO_RETURN_IF_ERROR(
      ReadExactly(file, path, reinterpret_cast<char*>(magic.data()), 4, "the IDX magic"));
  const std::uint32_t magic_value = (std::uint32_t{magic[0]} << 24) |
                                    (std::uint32_t{magic[1]} << 16) |
                                    (std::uint32_t{magic[2]} << 8) | magic[3];
  if (magic[0] != 0 || magic[1] != 0 || magic[3] == 0) {
    return Corrupted(path + ": bad magic " + Hex32(magic_value) +
                     ", not an IDX file (want 0x0000TTRR: type TT, rank RR > 0)");
  }
  if (magic[2] != 0x08) {
    return InvalidArgument(path + ": IDX element type " + Hex32(magic_value) +
                           " is not unsigned byte (0x08); only ubyte IDX files are supported");
  }
  const int rank = magic[3];
  std::vector<unsigned char> raw(static_cast<std::size_t>(rank) * 4);
  SOTTO_RETURN_IF_ERROR(ReadExactly(file, path, reinterpret_cast<char*>(raw.data()),
                                    static_cast<std::int64_t>(raw.size()), "the IDX dimensions"));
  IdxHeader header;
  std::error_code ec;
  const auto file_bytes = static_cast<std::int64_t>(std::filesystem::file_size(path, ec));
  if (ec) return NotFound(path + ": cannot stat: " + ec.message());
  const std::int64_t header_bytes = 4 + 4 * rank;
  header.max_payload_bytes =
      gzdirect(file) ? file_bytes - header_bytes : file_bytes * kMaxDeflateRatio;
  for (int r = 0; r < rank; ++r) {
    const unsigned char* b = raw.data() + 4 * r;
    header.dims.push_back((std::int64_t{b[0]} << 24) | (std::int64_t{b[1]} << 16) |
                          (std::int64_t{b[2]} << 8) | std::int64_t{b[3]});
  }
  return header;
}

// Reads a rank-1 label file completely (it is small), checking its length.
Result<std::vector<std::uint8_t>> ReadIdxLabels(const std::string& path) {
  SOTTO_ASSIGN_OR_RETURN(GzHandle file, OpenForReading(path));
  SOTTO_ASSIGN_OR_RETURN(IdxHeader header, ReadIdxHeader(file.get(), path));
  if (header.dims.size() != 1) {
    return InvalidArgument(path + ": a label file has rank 1, this one has rank " +
                           std::to_string(header.dims.size()) + " (images and labels swapped?)");
  }
  const std::int64_t n = header.dims[0];
  SOTTO_RETURN_IF_ERROR(CheckRecordsFit(header, path, n, 1));
  std::vector<std::uint8_t> labels(static_cast<std::size_t>(n));
  SOTTO_RETURN_IF_ERROR(ReadExactly(file.get(), path, reinterpret_cast<char*>(labels.data()), n,
                                    std::to_string(n) + " labels"));
  SOTTO_RETURN_IF_ERROR(ExpectEndOfFile(file.get(), path, n));
  return labels;
}

}  // namespace

Result<Dataset> ReadIdxDataset(const std::string& images_path, const std::string& labels_path,
                               std::int64_t max_samples) {
  SOTTO_ASSIGN_OR_RETURN(std::vector<std::uint8_t> all_labels, ReadIdxLabels(labels_path));

  SOTTO_ASSIGN_OR_RETURN(GzHandle file, OpenForReading(images_path));
  SOTTO_ASSIGN_OR_RETURN(IdxHeader header, ReadIdxHeader(file.get(), images_path));
  if (header.dims.size() < 2) {
    return InvalidArgument(images_path + ": an image file has rank >= 2, this one has rank " +
                           std::to_string(header.dims.size()) + " (images and labels swapped?)");
  }
  const std::int64_t n = header.dims[0];
  if (n != static_cast<std::int64_t>(all_labels.size())) {
    return Corrupted(images_path + " holds " + std::to_string(n) + " images but " + labels_path +
                     " holds " + std::to_string(all_labels.size()) + " labels");
  }
  // Product of the trailing dimensions, bounded so it cannot overflow.
  constexpr std::int64_t kMaxFeatures = std::int64_t{1} << 31;
  std::int64_t features = 1;
  for (std::size_t r = 1; r < header.dims.size(); ++r) {
    features *= header.dims[r];
    if (features == 0 || features > kMaxFeatures) {
      return Corrupted(images_path + ": image dimensions give " +
                       (features == 0 ? std::string("zero") : std::string("over 2^31")) +
                       " pixels per image");
    }
  }
  const std::int64_t m = max_samples < 0 ? n : std::min(n, max_samples);
  SOTTO_RETURN_IF_ERROR(CheckRecordsFit(header, images_path, m, features));

  Dataset data;
  data.features.resize(m, features);
  data.labels.assign(all_labels.begin(), all_labels.begin() + m);
  data.num_classes =
      all_labels.empty() ? 0 : 1 + *std::max_element(all_labels.begin(), all_labels.end());
  data.name = images_path;

  // Decompress in ~1 MB slices and widen each through a table: exact k/255, and the
  // slice stays in cache between the two passes.
  std::array<float, 256> scale;
  for (int k = 0; k < 256; ++k) scale[k] = static_cast<float>(k) / 255.0f;
  const std::int64_t rows_per_chunk = std::max<std::int64_t>(1, (std::int64_t{1} << 20) / features);
  std::vector<unsigned char> chunk(static_cast<std::size_t>(std::min(m, rows_per_chunk) * features));
  float* out = data.features.data();
  for (std::int64_t row = 0; row < m; row += rows_per_chunk) {
    const std::int64_t rows = std::min(rows_per_chunk, m - row);
    const std::int64_t bytes = rows * features;
    SOTTO_RETURN_IF_ERROR(ReadExactly(file.get(), images_path,
                                      reinterpret_cast<char*>(chunk.data()), bytes,
                                      "images " + std::to_string(row) + ".." +
                                          std::to_string(row + rows - 1) + " of " +
                                          std::to_string(n)));
    for (std::int64_t k = 0; k < bytes; ++k) out[k] = scale[chunk[static_cast<std::size_t>(k)]];
    out += bytes;
  }
  if (m == n) SOTTO_RETURN_IF_ERROR(ExpectEndOfFile(file.get(), images_path, n));
  return data;
}

Result<FashionMnist> LoadFashionMnist(const std::string& dir, std::int64_t max_train,
                                      std::int64_t max_test) {
  namespace fs = std::filesystem;
  // Prefers the package's .gz files, then uncompressed copies of them.
  auto resolve = [&dir](const std::string& base) -> Result<std::string> {
    const fs::path gz = fs::path(dir) / (base + ".gz");
    const fs::path raw = fs::path(dir) / base;
    std::error_code ec;
    if (fs::exists(gz, ec)) return gz.string();
    if (fs::exists(raw, ec)) return raw.string();
    return NotFound("fashion-mnist: " + gz.string() +
                    " not found; install the data with `apt-get install dataset-fashion-mnist` "
                    "or point to a directory holding the four IDX files");
  };
  auto load = [&resolve](const std::string& prefix, std::int64_t max_samples,
                         const std::string& name) -> Result<Dataset> {
    SOTTO_ASSIGN_OR_RETURN(std::string images, resolve(prefix + "-images-idx3-ubyte"));
    SOTTO_ASSIGN_OR_RETURN(std::string labels, resolve(prefix + "-labels-idx1-ubyte"));
    SOTTO_ASSIGN_OR_RETURN(Dataset data, ReadIdxDataset(images, labels, max_samples));
    if (data.num_features() != kFashionMnistFeatures || data.num_classes != kFashionMnistClasses) {
      return Corrupted(images + ": Fashion-MNIST has 784 features and 10 classes, got " +
                       std::to_string(data.num_features()) + " and " +
                       std::to_string(data.num_classes));
    }
    data.name = name;
    return data;
  };
  FashionMnist out;
  SOTTO_ASSIGN_OR_RETURN(out.train, load("train", max_train, "fashion-mnist/train"));
  SOTTO_ASSIGN_OR_RETURN(out.test, load("t10k", max_test, "fashion-mnist/test"));
  return out;
}

Result<std::string> ReadFileMaybeGzip(const std::string& path, std::int64_t max_bytes) {
  SOTTO_ASSIGN_OR_RETURN(GzHandle file, OpenForReading(path));
  std::string content;
  constexpr std::int64_t kChunk = std::int64_t{1} << 20;
  for (;;) {
    const auto old_size = static_cast<std::int64_t>(content.size());
    if (old_size > max_bytes) {
      return InvalidArgument(path + ": larger than the limit of " + std::to_string(max_bytes) +
                             " bytes");
    }
    content.resize(static_cast<std::size_t>(old_size + kChunk));
    SOTTO_ASSIGN_OR_RETURN(const std::int64_t got,
                           ReadUpTo(file.get(), path, content.data() + old_size, kChunk));
    content.resize(static_cast<std::size_t>(old_size + got));
    if (got < kChunk) break;
  }
  if (static_cast<std::int64_t>(content.size()) > max_bytes) {
    return InvalidArgument(path + ": larger than the limit of " + std::to_string(max_bytes) +
                           " bytes");
  }
  return content;
}

}  // namespace sotto::algo
