#pragma once

// CURVE key files for mesh security (the model: net/zmq_curve.h): `sotto keygen`
// writes them, and `sotto node` reads them when [security].enabled is true.
//
// Files: PREFIX.key holds the secret key (one Z85 line, mode 0600); PREFIX.pub the
// public key (one Z85 line). An allow-list has one public key per line, optionally
// followed by whitespace and a comment; blank lines and lines starting with "# "
// (or just "#") are comments. So `cat *.pub > allow-list` makes a valid one.
// Secret keys never appear in logs or error messages.

#include <string>
#include <vector>

#include "common/status.h"
#include "net/zmq_curve.h"

namespace sotto::daemon {

// [security] of a node config.
struct SecurityConfig {
  bool enabled = false;         // CURVE encryption + allow-list authentication.
  std::string secret_key_file;  // PREFIX.key from `sotto keygen` (must be 0600 or stricter).
  std::string public_key_file;  // PREFIX.pub; "" = derived from the secret key.
  std::string allow_list_file;  // Public keys of every node of the mesh.
};

// Writes a fresh key pair to PREFIX.key (0600) and PREFIX.pub (0644). Refuses to
// overwrite either (kInvalidArgument). kUnavailable if libzmq lacks CURVE.
Status WriteKeyPair(const std::string& prefix);

// Reads a secret key file. Returns kNotFound, kInvalidArgument when it is readable
// by group or others (like ssh) or holds no key.
Result<std::string> ReadSecretKeyFile(const std::string& path);

// Reads a public key file (first key line, as an allow-list).
Result<std::string> ReadPublicKeyFile(const std::string& path);

// Reads an allow-list. kInvalidArgument names the line that is neither key nor comment.
Result<std::vector<std::string>> ReadAllowList(const std::string& path);

// Builds the transport's CURVE options from the files `config` names. Requires:
// config.enabled. Returns kInvalidArgument / kNotFound naming the file at fault.
Result<net::CurveOptions> LoadCurveOptions(const SecurityConfig& config);

// `sotto keygen -o PREFIX`: prints where the files went (and the public key).
// Returns a process exit code.
int RunKeygen(const std::string& prefix);

}  // namespace sotto::daemon
