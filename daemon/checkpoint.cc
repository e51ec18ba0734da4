#include "daemon/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace sotto::daemon {

namespace {

constexpr char kMagic[8] = {'S', 'O', 'T', 'T', 'O', 'C', 'K', '1'};
constexpr std::uint32_t kVersion = 1;
constexpr std::uint64_t kMaxVectorElements = std::uint64_t{1} << 31;

template <typename T>
void Put(std::vector<std::uint8_t>* out, T v) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(&v);
  out->insert(out->end(), p, p + sizeof v);
}

class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> b) : b_(b) {}
  template <typename T>
  bool Get(T* v) {
    if (b_.size() - pos_ < sizeof(T)) return false;
    std::memcpy(v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool Bytes(void* dst, std::size_t n) {
    if (n == 0) return true;  // dst may be the null data() of an empty vector.
    if (b_.size() - pos_ < n) return false;
    std::memcpy(dst, b_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  std::size_t remaining() const { return b_.size() - pos_; }

 private:
  std::span<const std::uint8_t> b_;
  std::size_t pos_ = 0;
};

Status Errno(const std::string& what, const std::string& path) {
  return Unavailable(what + " '" + path + "': " + std::strerror(errno));
}

}  // namespace

Status WriteCheckpoint(const std::string& path, const Checkpoint& c) {
  std::vector<std::uint8_t> out(kMagic, kMagic + 8);
  Put(&out, kVersion);
  Put(&out, c.round);
  Put(&out, c.samples_seen);
  Put(&out, static_cast<std::uint32_t>(c.algorithm.size()));
  out.insert(out.end(), c.algorithm.begin(), c.algorithm.end());
  const std::vector<float>* vectors[] = {&c.state.model, &c.state.public_copy, &c.state.mixed,
                                         &c.state.velocity};
  Put(&out, static_cast<std::uint32_t>(4));
  for (const auto* v : vectors) {
    Put(&out, static_cast<std::uint64_t>(v->size()));
    const auto* p = reinterpret_cast<const std::uint8_t*>(v->data());
    out.insert(out.end(), p, p + 4 * v->size());
  }
  Put(&out, static_cast<std::uint32_t>(crc32(0L, out.data(), static_cast<uInt>(out.size()))));

  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("cannot create checkpoint", tmp);
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::write(fd, out.data() + done, out.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const Status s = Errno("cannot write checkpoint", tmp);
      ::close(fd);
      return s;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const Status s = Errno("cannot fsync checkpoint", tmp);
    ::close(fd);
    return s;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Errno("cannot rename checkpoint to", path);
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::Ok();
}

Result<Checkpoint> ReadCheckpoint(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("no checkpoint at '" + path + "'");
  const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                        std::istreambuf_iterator<char>());
  return ParseCheckpoint(bytes, path);
}

Result<Checkpoint> ParseCheckpoint(std::span<const std::uint8_t> file, const std::string& name) {
  auto corrupt = [&](const std::string& what) { return Corrupted("checkpoint '" + name + "': " + what); };
  if (file.size() < 8 + 4 + 4 || std::memcmp(file.data(), kMagic, 8) != 0) return corrupt("not a sotto checkpoint (bad magic)");
  std::uint32_t stored_crc;
  std::memcpy(&stored_crc, file.data() + file.size() - 4, 4);
  const std::span<const std::uint8_t> bytes = file.first(file.size() - 4);
  const auto crc = static_cast<std::uint32_t>(crc32(0L, bytes.data(), static_cast<uInt>(bytes.size())));
  if (crc != stored_crc) return corrupt("CRC mismatch (torn or damaged file)");
  Reader r(bytes);
  char magic[8];
  std::uint32_t version = 0, name_len = 0, count = 0;
  Checkpoint c;
  if (!r.Bytes(magic, 8) || !r.Get(&version) || !r.Get(&c.round) || !r.Get(&c.samples_seen) ||
      !r.Get(&name_len)) {
    return corrupt("truncated header");
  }
  if (version != kVersion) return corrupt("version " + std::to_string(version) + ", want " + std::to_string(kVersion));
  if (name_len > 64 || name_len > r.remaining()) return corrupt("bad algorithm name length");
  c.algorithm.resize(name_len);
  if (!r.Bytes(c.algorithm.data(), name_len) || !r.Get(&count) || count != 4) return corrupt("bad vector count");
  std::vector<float>* vectors[] = {&c.state.model, &c.state.public_copy, &c.state.mixed, &c.state.velocity};
  for (auto* v : vectors) {
    std::uint64_t n = 0;
    if (!r.Get(&n) || n > kMaxVectorElements || 4 * n > r.remaining()) return corrupt("bad vector length");
    v->resize(n);
    if (!r.Bytes(v->data(), 4 * n)) return corrupt("truncated vector");
  }
  if (r.remaining() != 0) return corrupt(std::to_string(r.remaining()) + " trailing bytes");
  return c;
}

}  // namespace sotto::daemon
