#include "algo/data_idx.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <system_error>
#include <utility>
#include <vector>

namespace sotto::algo {
namespace {

constexpr std::uint8_t kGzipMagic0 = 0x1f, kGzipMagic1 = 0x8b;

bool StartsGzip(std::span<const std::uint8_t> bytes) {
  return bytes.size() >= 2 && bytes[0] == kGzipMagic0 && bytes[1] == kGzipMagic1;
}

// Reads the whole file at `path`. kNotFound if it is missing; kInvalidArgument for a
// directory, or for a file above `max_raw_bytes` that is not gzip data.
Result<std::vector<std::uint8_t>> ReadWholeFile(const std::string& path,
                                                std::int64_t max_raw_bytes) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return NotFound(path + ": no such file");
  if (std::filesystem::is_directory(path, ec)) {
    return InvalidArgument(path + ": is a directory, want a file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(path + ": cannot open for reading");
  const auto size = static_cast<std::int64_t>(std::filesystem::file_size(path, ec));
  if (ec) return NotFound(path + ": cannot stat: " + ec.message());
  // Peek at the magic first, so a huge raw file is refused before it is read.
  std::array<std::uint8_t, 2> magic{};
  in.read(reinterpret_cast<char*>(magic.data()), magic.size());
  if (size > max_raw_bytes && !StartsGzip(magic)) {
    return InvalidArgument(path + ": larger than the limit of " + std::to_string(max_raw_bytes) +
                           " bytes");
  }
  in.clear();  // A file shorter than the magic set eof.
  in.seekg(0);
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size));
  if (in.gcount() != static_cast<std::streamsize>(size)) {
    return Corrupted(path + ": cannot read (did the file change while being read?)");
  }
  return bytes;
}

// A stream over the bytes of one file in memory: raw bytes pass through, gzip data
// (magic 1f 8b) is inflated member after member. Bytes after a gzip member that do
// not start another member are ignored, as zlib's gzread does. Not copyable.
class ByteStream {
 public:
  ByteStream(std::span<const std::uint8_t> bytes, std::string name)
      : bytes_(bytes), name_(std::move(name)), gzip_(StartsGzip(bytes)) {
    if (gzip_) {
      // 16 + MAX_WBITS: a gzip wrapper (header, CRC-32 and length trailer) only.
      zlib_ok_ = inflateInit2(&z_, 16 + MAX_WBITS) == Z_OK;
    }
  }
  ~ByteStream() {
    if (gzip_ && zlib_ok_) inflateEnd(&z_);
  }
  ByteStream(const ByteStream&) = delete;
  ByteStream& operator=(const ByteStream&) = delete;

  const std::string& name() const { return name_; }
  bool gzip() const { return gzip_; }
  std::int64_t size() const { return static_cast<std::int64_t>(bytes_.size()); }

  // Reads up to `n` bytes; returns how many were read (fewer only at the end).
  Result<std::int64_t> ReadUpTo(char* dst, std::int64_t n) {
    if (!gzip_) {
      const auto got = std::min<std::int64_t>(n, size() - static_cast<std::int64_t>(pos_));
      if (got > 0) std::memcpy(dst, bytes_.data() + pos_, static_cast<std::size_t>(got));
      pos_ += static_cast<std::size_t>(got);
      return got;
    }
    if (!zlib_ok_) return Internal(name_ + ": cannot initialise zlib");
    std::int64_t done = 0;
    while (done < n) {
      if (member_ended_) {
        if (!StartsGzip(bytes_.subspan(pos_))) break;  // End, or ignored trailing bytes.
        inflateReset(&z_);
        member_ended_ = false;
      }
      // zlib counts in uInt: feed and drain in slices below 2^30.
      const std::size_t in_slice = std::min<std::size_t>(bytes_.size() - pos_, 1u << 30);
      const auto out_slice = static_cast<uInt>(std::min<std::int64_t>(n - done, 1 << 30));
      z_.next_in = const_cast<Bytef*>(bytes_.data() + pos_);  // zlib never writes input.
      z_.avail_in = static_cast<uInt>(in_slice);
      z_.next_out = reinterpret_cast<Bytef*>(dst + done);
      z_.avail_out = out_slice;
      const int rc = inflate(&z_, Z_NO_FLUSH);
      pos_ += in_slice - z_.avail_in;
      done += out_slice - z_.avail_out;
      if (rc == Z_STREAM_END) {
        member_ended_ = true;
      } else if (rc == Z_BUF_ERROR || (rc == Z_OK && pos_ == bytes_.size() && z_.avail_out > 0)) {
        // No progress possible: the input ran out inside a member.
        return Corrupted(name_ + ": truncated gzip stream (compressed data ends early)");
      } else if (rc != Z_OK) {
        return Corrupted(name_ + ": cannot read: " +
                         (z_.msg != nullptr ? z_.msg : "zlib error " + std::to_string(rc)));
      }
    }
    return done;
  }

 private:
  std::span<const std::uint8_t> bytes_;
  std::string name_;
  bool gzip_;
  bool zlib_ok_ = false;
  bool member_ended_ = false;
  std::size_t pos_ = 0;  // Next unread input byte.
  z_stream z_{};
};

Status ReadExactly(ByteStream& in, char* dst, std::int64_t n, const std::string& what) {
  SOTTO_ASSIGN_OR_RETURN(const std::int64_t got, in.ReadUpTo(dst, n));
  if (got < n) {
    return Corrupted(in.name() + ": truncated: " + what + " needs " + std::to_string(n) +
                     " more bytes, the file has " + std::to_string(got));
  }
  return Status::Ok();
}

Status ExpectEndOfFile(ByteStream& in, std::int64_t records) {
  std::array<char, 4096> scratch;
  SOTTO_ASSIGN_OR_RETURN(const std::int64_t extra, in.ReadUpTo(scratch.data(), scratch.size()));
  if (extra > 0) {
    return Corrupted(in.name() + ": has bytes after the last of its " + std::to_string(records) +
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
Status CheckRecordsFit(const IdxHeader& header, const std::string& name, std::int64_t records,
                       std::int64_t record_bytes) {
  if (records > header.max_payload_bytes / record_bytes) {
    return Corrupted(name + ": truncated: the header promises " + std::to_string(records) +
                     " records of " + std::to_string(record_bytes) + " bytes, the file has " +
                     "room for at most " + std::to_string(header.max_payload_bytes) + " bytes");
  }
  return Status::Ok();
}

Result<IdxHeader> ReadIdxHeader(ByteStream& in) {
  const std::string& name = in.name();
  std::array<unsigned char, 4> magic;
  SOTTO_RETURN_IF_ERROR(ReadExactly(in, reinterpret_cast<char*>(magic.data()), 4, "the IDX magic"));
  const std::uint32_t magic_value = (std::uint32_t{magic[0]} << 24) |
                                    (std::uint32_t{magic[1]} << 16) |
                                    (std::uint32_t{magic[2]} << 8) | magic[3];
  if (magic[0] != 0 || magic[1] != 0 || magic[3] == 0) {
    return Corrupted(name + ": bad magic " + Hex32(magic_value) +
                     ", not an IDX file (want 0x0000TTRR: type TT, rank RR > 0)");
  }
  if (magic[2] != 0x08) {
    return InvalidArgument(name + ": IDX element type " + Hex32(magic_value) +
                           " is not unsigned byte (0x08); only ubyte IDX files are supported");
  }
  const int rank = magic[3];
  std::vector<unsigned char> raw(static_cast<std::size_t>(rank) * 4);
  SOTTO_RETURN_IF_ERROR(ReadExactly(in, reinterpret_cast<char*>(raw.data()),
                                    static_cast<std::int64_t>(raw.size()), "the IDX dimensions"));
  IdxHeader header;
  const std::int64_t header_bytes = 4 + 4 * rank;
  header.max_payload_bytes = in.gzip() ? in.size() * kMaxDeflateRatio : in.size() - header_bytes;
  for (int r = 0; r < rank; ++r) {
    const unsigned char* b = raw.data() + 4 * r;
    header.dims.push_back((std::int64_t{b[0]} << 24) | (std::int64_t{b[1]} << 16) |
                          (std::int64_t{b[2]} << 8) | std::int64_t{b[3]});
  }
  return header;
}

// Reads a rank-1 label file completely (it is small), checking its length.
Result<std::vector<std::uint8_t>> ReadIdxLabels(ByteStream& in) {
  SOTTO_ASSIGN_OR_RETURN(IdxHeader header, ReadIdxHeader(in));
  if (header.dims.size() != 1) {
    return InvalidArgument(in.name() + ": a label file has rank 1, this one has rank " +
                           std::to_string(header.dims.size()) + " (images and labels swapped?)");
  }
  const std::int64_t n = header.dims[0];
  SOTTO_RETURN_IF_ERROR(CheckRecordsFit(header, in.name(), n, 1));
  std::vector<std::uint8_t> labels(static_cast<std::size_t>(n));
  SOTTO_RETURN_IF_ERROR(ReadExactly(in, reinterpret_cast<char*>(labels.data()), n,
                                    std::to_string(n) + " labels"));
  SOTTO_RETURN_IF_ERROR(ExpectEndOfFile(in, n));
  return labels;
}

// The images of an IDX pair, given its labels (already read).
Result<Dataset> ParseIdxImages(std::span<const std::uint8_t> images, const std::string& images_name,
                               std::vector<std::uint8_t> all_labels,
                               const std::string& labels_name, std::int64_t max_samples) {
  ByteStream in(images, images_name);
  SOTTO_ASSIGN_OR_RETURN(IdxHeader header, ReadIdxHeader(in));
  if (header.dims.size() < 2) {
    return InvalidArgument(images_name + ": an image file has rank >= 2, this one has rank " +
                           std::to_string(header.dims.size()) + " (images and labels swapped?)");
  }
  const std::int64_t n = header.dims[0];
  if (n != static_cast<std::int64_t>(all_labels.size())) {
    return Corrupted(images_name + " holds " + std::to_string(n) + " images but " + labels_name +
                     " holds " + std::to_string(all_labels.size()) + " labels");
  }
  // Product of the trailing dimensions, bounded so it cannot overflow.
  constexpr std::int64_t kMaxFeatures = std::int64_t{1} << 31;
  std::int64_t features = 1;
  for (std::size_t r = 1; r < header.dims.size(); ++r) {
    features *= header.dims[r];
    if (features == 0 || features > kMaxFeatures) {
      return Corrupted(images_name + ": image dimensions give " +
                       (features == 0 ? std::string("zero") : std::string("over 2^31")) +
                       " pixels per image");
    }
  }
  const std::int64_t m = max_samples < 0 ? n : std::min(n, max_samples);
  SOTTO_RETURN_IF_ERROR(CheckRecordsFit(header, images_name, m, features));

  Dataset data;
  data.features.resize(m, features);
  data.labels.assign(all_labels.begin(), all_labels.begin() + m);
  data.num_classes =
      all_labels.empty() ? 0 : 1 + *std::max_element(all_labels.begin(), all_labels.end());
  data.name = images_name;

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
    SOTTO_RETURN_IF_ERROR(ReadExactly(in, reinterpret_cast<char*>(chunk.data()), bytes,
                                      "images " + std::to_string(row) + ".." +
                                          std::to_string(row + rows - 1) + " of " +
                                          std::to_string(n)));
    for (std::int64_t k = 0; k < bytes; ++k) out[k] = scale[chunk[static_cast<std::size_t>(k)]];
    out += bytes;
  }
  if (m == n) SOTTO_RETURN_IF_ERROR(ExpectEndOfFile(in, n));
  return data;
}

}  // namespace

Result<Dataset> ReadIdxDataset(const std::string& images_path, const std::string& labels_path,
                               std::int64_t max_samples) {
  // Labels first, so a broken label file is reported before the image file is read.
  constexpr std::int64_t kNoLimit = std::numeric_limits<std::int64_t>::max();
  SOTTO_ASSIGN_OR_RETURN(const std::vector<std::uint8_t> labels,
                         ReadWholeFile(labels_path, kNoLimit));
  ByteStream label_stream(labels, labels_path);
  SOTTO_ASSIGN_OR_RETURN(std::vector<std::uint8_t> all_labels, ReadIdxLabels(label_stream));
  SOTTO_ASSIGN_OR_RETURN(const std::vector<std::uint8_t> images,
                         ReadWholeFile(images_path, kNoLimit));
  return ParseIdxImages(images, images_path, std::move(all_labels), labels_path, max_samples);
}

Result<Dataset> ParseIdxDataset(std::span<const std::uint8_t> images,
                                std::span<const std::uint8_t> labels, std::int64_t max_samples,
                                const std::string& images_name, const std::string& labels_name) {
  ByteStream label_stream(labels, labels_name);
  SOTTO_ASSIGN_OR_RETURN(std::vector<std::uint8_t> all_labels, ReadIdxLabels(label_stream));
  return ParseIdxImages(images, images_name, std::move(all_labels), labels_name, max_samples);
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
  SOTTO_ASSIGN_OR_RETURN(const std::vector<std::uint8_t> bytes, ReadWholeFile(path, max_bytes));
  return GunzipIfCompressed(bytes, path, max_bytes);
}

Result<std::string> GunzipIfCompressed(std::span<const std::uint8_t> bytes,
                                       const std::string& name, std::int64_t max_bytes) {
  auto too_large = [&] {
    return InvalidArgument(name + ": larger than the limit of " + std::to_string(max_bytes) +
                           " bytes");
  };
  ByteStream in(bytes, name);
  if (!in.gzip()) {
    if (in.size() > max_bytes) return too_large();
    return std::string(bytes.begin(), bytes.end());
  }
  std::string content;
  constexpr std::int64_t kChunk = std::int64_t{1} << 20;
  for (;;) {
    const auto old_size = static_cast<std::int64_t>(content.size());
    if (old_size > max_bytes) return too_large();
    // Grow by the chunk, or to just past the limit, whichever is smaller.
    const std::int64_t want = std::min(kChunk, max_bytes - old_size + 1);
    content.resize(static_cast<std::size_t>(old_size + want));
    SOTTO_ASSIGN_OR_RETURN(const std::int64_t got, in.ReadUpTo(content.data() + old_size, want));
    content.resize(static_cast<std::size_t>(old_size + got));
    if (got < want) break;
  }
  if (static_cast<std::int64_t>(content.size()) > max_bytes) return too_large();
  return content;
}

}  // namespace sotto::algo
