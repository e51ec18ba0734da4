#include "daemon/keygen.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "daemon/cli.h"

namespace sotto::daemon {

namespace {

// Creates `path` exclusively with `mode` and writes `text`.
Status WriteNew(const std::string& path, const std::string& text, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == EEXIST) return InvalidArgument("'" + path + "' exists: remove it first");
    return Unavailable("cannot create '" + path + "': " + std::strerror(errno));
  }
  ::fchmod(fd, mode);  // Whatever the umask did, exactly `mode`.
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = std::strerror(errno);
      ::close(fd);
      return Unavailable("cannot write '" + path + "': " + why);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) return Unavailable("cannot write '" + path + "'");
  return Status::Ok();
}

Result<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFound("cannot open '" + path + "'");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Splits `text` into key lines (see keygen.h for the format).
Result<std::vector<std::string>> ParseKeyLines(const std::string& text, const std::string& path) {
  std::vector<std::string> keys;
  std::istringstream lines(text);
  std::string line;
  int number = 0;
  while (std::getline(lines, line)) {
    ++number;
    std::istringstream words(line);
    std::string first;
    if (!(words >> first)) continue;  // Blank.
    if (net::IsCurveKey(first)) {
      keys.push_back(first);
    } else if (first[0] != '#') {
      // Do not echo the line: it might be a secret key pasted by mistake.
      return InvalidArgument("'" + path + "' line " + std::to_string(number) +
                             ": not a 40-character Z85 key or a # comment");
    }
  }
  return keys;
}

}  // namespace

Status WriteKeyPair(const std::string& prefix) {
  if (prefix.empty()) return InvalidArgument("keygen: empty output prefix");
  SOTTO_ASSIGN_OR_RETURN(net::CurveKeyPair pair, net::GenerateCurveKeyPair());
  const std::string pub = prefix + ".pub", sec = prefix + ".key";
  if (::access(pub.c_str(), F_OK) == 0) return InvalidArgument("'" + pub + "' exists: remove it first");
  SOTTO_RETURN_IF_ERROR(WriteNew(sec, pair.secret_key + "\n", 0600));
  std::fill(pair.secret_key.begin(), pair.secret_key.end(), '\0');
  return WriteNew(pub, pair.public_key + "\n", 0644);
}

Result<std::string> ReadSecretKeyFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return NotFound("secret key file '" + path + "': " + std::strerror(errno));
  if ((st.st_mode & 077) != 0) {
    return InvalidArgument("secret key file '" + path + "' is readable by others: chmod 600 it");
  }
  SOTTO_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path));
  std::istringstream words(text);
  std::string key;
  words >> key;
  std::fill(text.begin(), text.end(), '\0');
  if (!net::IsCurveKey(key)) return InvalidArgument("secret key file '" + path + "' holds no Z85 key");
  return key;
}

Result<std::string> ReadPublicKeyFile(const std::string& path) {
  SOTTO_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path));
  SOTTO_ASSIGN_OR_RETURN(std::vector<std::string> keys, ParseKeyLines(text, path));
  if (keys.empty()) return InvalidArgument("public key file '" + path + "' holds no key");
  return keys.front();
}

Result<std::vector<std::string>> ReadAllowList(const std::string& path) {
  SOTTO_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path));
  SOTTO_ASSIGN_OR_RETURN(std::vector<std::string> keys, ParseKeyLines(text, path));
  if (keys.empty()) return InvalidArgument("allow-list '" + path + "' holds no key: nobody could join");
  return keys;
}

Result<net::CurveOptions> LoadCurveOptions(const SecurityConfig& config) {
  if (config.secret_key_file.empty()) return InvalidArgument("[security].secret_key_file is required");
  if (config.allow_list_file.empty()) return InvalidArgument("[security].allow_list_file is required");
  net::CurveOptions o;
  SOTTO_ASSIGN_OR_RETURN(o.secret_key, ReadSecretKeyFile(config.secret_key_file));
  SOTTO_ASSIGN_OR_RETURN(std::string derived, net::CurvePublicKey(o.secret_key));
  if (config.public_key_file.empty()) {
    o.public_key = derived;
  } else {
    SOTTO_ASSIGN_OR_RETURN(o.public_key, ReadPublicKeyFile(config.public_key_file));
    if (o.public_key != derived) {
      return InvalidArgument("public key file '" + config.public_key_file + "' does not match the secret key file '" +
                             config.secret_key_file + "'");
    }
  }
  SOTTO_ASSIGN_OR_RETURN(o.allowed_keys, ReadAllowList(config.allow_list_file));
  SOTTO_RETURN_IF_ERROR(net::ValidateCurveOptions(o));
  return o;
}

int RunKeygen(const std::string& prefix) {
  const Status s = WriteKeyPair(prefix);
  if (!s.ok()) {
    std::fprintf(stderr, "sotto keygen: %s\n", s.ToString().c_str());
    return s.code() == StatusCode::kInvalidArgument ? kExitUsage : kExitUnavailable;
  }
  auto pub = ReadPublicKeyFile(prefix + ".pub");
  std::printf("wrote %s.key (secret, mode 0600) and %s.pub\npublic key: %s\n", prefix.c_str(), prefix.c_str(),
              pub ? pub->c_str() : "?");
  return kExitOk;
}

}  // namespace sotto::daemon
