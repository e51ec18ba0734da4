#pragma once

// FaultyTransport: a Transport decorator that drops, delays, duplicates and
// reorders outgoing envelopes with given probabilities, from a seed (the leveldb
// ErrorEnv idea). For tests of what sits above net/: membership, the daemon's
// dedup of residuals by (sender, round), stragglers.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/ids.h"
#include "common/random.h"
#include "common/status.h"
#include "net/envelope.h"
#include "net/transport.h"

namespace sotto::net {

// Each probability is drawn per envelope and per fault, in this order: drop, then
// duplicate, then delay, then reorder (a dropped envelope suffers nothing else).
struct FaultOptions {
  double drop = 0;       // Silently lost (Send() still returns OK, as a real network would).
  double duplicate = 0;  // Sent twice (the copy may itself be delayed/reordered later).
  double delay = 0;      // Held back for 1..max_delay_ticks ticks, then sent.
  // A held envelope's hold, in ticks. A tick is one Send() (to any peer) or one
  // Tick(): time is counted in traffic, never slept, so tests stay deterministic.
  std::uint32_t max_delay_ticks = 4;
  // Held until the next envelope to the same peer has gone out (or Flush()).
  double reorder = 0;
  std::uint64_t seed = 1;
};

// What the faults did; every field only grows.
struct FaultCounters {
  std::uint64_t dropped = 0;
  std::uint64_t duplicated = 0;
  std::uint64_t delayed = 0;
  std::uint64_t reordered = 0;
};

// Wraps (and owns) another transport. Only the send path is faulty; receiving,
// Connect() and the rest pass straight through. Held envelopes are sent by later
// Send()s and Tick()s, or by Flush(); Stop() and Disconnect() discard them.
//
//   auto t = std::make_unique<FaultyTransport>(std::move(inner), FaultOptions{.drop = 0.1});
//
// Thread safety: as Transport. The fault state has one mutex; the inner transport
// is called outside it, so envelopes sent concurrently from several threads have
// no defined order anyway.
class FaultyTransport final : public Transport {
 public:
  // Requires: inner != nullptr, probabilities in [0, 1], max_delay_ticks >= 1.
  FaultyTransport(std::unique_ptr<Transport> inner, FaultOptions options);
  ~FaultyTransport() override;

  Status Start(const std::string& listen_endpoint, ReceiveHandler on_receive) override;
  std::string local_endpoint() const override;
  Status Connect(PeerId peer, const std::string& endpoint) override;
  void Disconnect(PeerId peer) override;
  // Applies the faults. Returns what the inner Send() returns for an envelope sent
  // now, OK for one dropped or held.
  Status Send(PeerId to, Envelope envelope) override;
  void Stop() override;
  TransportCounters counters() const override;  // The inner transport's.

  // Advances time by one tick and sends what fell due.
  void Tick();
  // Sends every held envelope now (delayed ones first, in due order).
  void Flush();

  FaultCounters fault_counters() const;
  std::size_t held() const;  // Envelopes currently held back.

  Transport& inner() { return *inner_; }

 private:
  struct Held {
    PeerId to;
    Envelope envelope;
    std::uint64_t due = 0;  // Tick at which a delayed envelope goes out.
  };
  using Batch = std::vector<std::pair<PeerId, Envelope>>;

  // Under mu_: moves what is due at now_ into *out.
  void TakeDue(Batch* out);

  std::unique_ptr<Transport> inner_;
  const FaultOptions options_;

  mutable std::mutex mu_;
  Rng rng_;                                         // Guarded by mu_.
  std::uint64_t now_ = 0;                           // Guarded by mu_: ticks so far.
  std::vector<Held> delayed_;                       // Guarded by mu_.
  std::unordered_map<PeerId, std::vector<Envelope>> reordered_;  // Guarded by mu_.
  FaultCounters faults_;                            // Guarded by mu_.
};

}  // namespace sotto::net
