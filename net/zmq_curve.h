#pragma once

// CURVE keys and secured endpoints for ZmqTransport (net/zmq_transport.h): key
// generation and checking, and the "tcp://host:port#<server key>" endpoint form.
// ZeroMQ stays inside zmq_curve.cc.
//
// The mesh security model (ZmqTransport implements it; daemon/ loads the files):
//
//  - Every node has its own CURVE key pair (`sotto keygen`). The secret key never
//    leaves the node (its file is 0600 and never logged).
//  - Every node has an allow-list: the public keys of every node of the mesh, one
//    per line (`cat *.pub > allow-list` works).
//  - A node's ROUTER is a CURVE server with the node's key pair. Its ZAP handler
//    accepts a client only if the client's public key is on the allow-list; other
//    handshakes are refused (and counted) before any message is delivered.
//  - A node's DEALERs are CURVE clients with the same key pair. A client must know
//    the server's public key, so a node's advertised endpoint carries it:
//    "tcp://10.0.0.5:7000#<40 Z85 chars>". Seeds are given in that form (--join);
//    every other member's endpoint arrives, key included, in membership gossip over
//    the encrypted, authenticated links. Connect() refuses an endpoint whose key is
//    not on the allow-list, so a forged entry cannot make us talk to an outsider.
//  - Since a node's id is PeerIdFromEndpoint(advertised endpoint), the id is bound
//    to the server key too: a different key is a different member.
//
// So a node without an allowed key cannot join (its join is never delivered), send
// a residual (same), or read traffic (everything is encrypted to keys it lacks, and
// our clients only dial servers whose key is allowed and who prove they hold the
// matching secret in the handshake).
//
// Identity: a node's DEALERs and ROUTER share its one key pair, so a message from
// peer P must arrive with the public key of P's endpoint; ZmqTransport checks that
// (pinned by Connect(), or on first contact before it), so an allowed node cannot
// speak under another's id either. Not covered: allowed nodes are trusted with what
// they say (a Byzantine member could gossip lies or poison the model); revoking a
// key means editing every allow-list and restarting.

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace sotto::net {

// A CURVE key in Z85 text is always this long (32 bytes of key).
inline constexpr std::size_t kCurveKeyChars = 40;

// A key pair, Z85-encoded.
struct CurveKeyPair {
  std::string public_key;
  std::string secret_key;
};

// What ZmqTransport needs to run CURVE. Z85 text throughout.
struct CurveOptions {
  std::string secret_key;  // Ours: the ROUTER's server key and every DEALER's client key.
  std::string public_key;  // Must match secret_key.
  // Clients we accept and servers we dial. Our own key need not be listed.
  std::vector<std::string> allowed_keys;
};

// Whether libzmq was built with CURVE (libsodium).
bool CurveAvailable();

// A fresh key pair. Returns kUnavailable if libzmq has no CURVE support.
Result<CurveKeyPair> GenerateCurveKeyPair();

// Whether `z85` is a well-formed CURVE key (40 Z85 characters).
bool IsCurveKey(std::string_view z85);

// The public key of `secret_z85`. Returns kInvalidArgument if it is not a key (the
// message never contains the key itself).
Result<std::string> CurvePublicKey(const std::string& secret_z85);

// Checks `options`: every key well-formed, public matching secret. Returns
// kInvalidArgument (naming no key material but public keys).
Status ValidateCurveOptions(const CurveOptions& options);

// "tcp://h:p#KEY" split into "tcp://h:p" and "KEY". The key is recognised by
// position (Z85 itself contains '#'): the endpoint ends with '#' and 40 key
// characters. Without one, `server_key` is empty and `address` is the input.
struct CurveEndpoint {
  std::string address;
  std::string server_key;
};
CurveEndpoint SplitCurveEndpoint(const std::string& endpoint);

// "address#server_key".
std::string JoinCurveEndpoint(const std::string& address, const std::string& server_key);

}  // namespace sotto::net
