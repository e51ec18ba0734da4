// Writes the seed corpora of the non-coding fuzz targets (tests/fuzz/corpus/<target>)
// from real objects: envelopes and membership conversations produced by net/, a
// checkpoint written by WriteCheckpoint, small IDX and LIBSVM files, and the
// example configs of configs/. Coding corpora come from make_corpus.cc.
//
// Usage: fuzz_make_seeds <corpus dir> <repo root>   (rerun after a format change)

#include <zlib.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "daemon/checkpoint.h"
#include "net/envelope.h"
#include "net/membership.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;
using namespace sotto;
using fuzz::PutLengthPrefixed;
using fuzz::PutU16;
using fuzz::PutU8;

fs::path g_root;

void Write(const std::string& target, const std::string& name, const Bytes& bytes) {
  const fs::path dir = g_root / target;
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

Bytes FromString(const std::string& s) { return Bytes(s.begin(), s.end()); }

// A mode byte, then `rest`.
Bytes Prefixed(std::uint8_t mode, const Bytes& rest) {
  Bytes out;
  out.reserve(rest.size() + 1);
  out.push_back(mode);
  out.insert(out.end(), rest.begin(), rest.end());
  return out;
}

Bytes Gzip(const Bytes& raw) {
  z_stream z{};
  if (deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) std::abort();
  Bytes out(deflateBound(&z, static_cast<uLong>(raw.size())) + 64);
  z.next_in = const_cast<Bytef*>(raw.data());
  z.avail_in = static_cast<uInt>(raw.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) std::abort();
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// envelope layout: u8 mode, u16 header length, header, payload.
void EnvelopeSeed(const std::string& name, net::Envelope e, std::uint8_t mode) {
  auto encoded = net::EncodeEnvelope(std::move(e));
  if (!encoded.ok()) std::abort();
  Bytes seed;
  PutU8(&seed, mode);
  PutLengthPrefixed(&seed, encoded->header);
  seed.insert(seed.end(), encoded->payload.begin(), encoded->payload.end());
  Write("envelope", name, seed);
}

// Runs a small group over perfect delivery and records, in the membership target's
// layout, every envelope that reaches node 0 (the fuzzed node).
class MembershipScenario {
 public:
  explicit MembershipScenario(int nodes) {
    for (int i = 0; i < nodes; ++i) {
      const std::string endpoint = fuzz::MembershipFuzzEndpoint(i);
      net::MembershipOptions options;
      options.max_updates_per_message = 64;
      options.rng_seed = static_cast<std::uint64_t>(i + 1);
      nodes_.emplace_back(net::PeerIdFromEndpoint(endpoint), endpoint, options);
    }
  }
  net::Membership& node(int i) { return nodes_[static_cast<std::size_t>(i)]; }
  void Crash(int i) { crashed_[i] = true; }

  // Advances time by `steps` x 100 ms, delivering everything at once.
  void Run(int steps) {
    for (int s = 0; s < steps; ++s) {
      now_ += std::chrono::milliseconds(100);
      for (std::size_t i = 0; i < nodes_.size(); ++i) {
        if (!crashed_[static_cast<int>(i)]) nodes_[i].Tick(now_);
      }
      Deliver();
    }
  }
  void Deliver() {
    for (int round = 0; round < 8; ++round) {
      bool any = false;
      for (std::size_t i = 0; i < nodes_.size(); ++i) {
        for (net::Outgoing& out : nodes_[i].TakeOutgoing()) {
          if (crashed_[static_cast<int>(i)]) continue;
          for (std::size_t j = 0; j < nodes_.size(); ++j) {
            if (nodes_[j].self() != out.to || crashed_[static_cast<int>(j)]) continue;
            if (j == 0) Record(static_cast<std::uint8_t>(i), out.envelope);
            (void)nodes_[j].HandleEnvelope(out.envelope, now_);
            any = true;
          }
        }
        (void)nodes_[i].TakeEvents();
      }
      if (!any) break;
    }
  }
  Bytes Seed(std::uint8_t join_mode) const { return Prefixed(join_mode, records_); }
  Clock::TimePoint now() const { return now_; }

 private:
  void Record(std::uint8_t sender, const net::Envelope& e) {
    const auto dt = std::chrono::duration_cast<std::chrono::milliseconds>(now_ - last_record_);
    last_record_ = now_;
    PutU8(&records_, static_cast<std::uint8_t>(e.type));
    PutU8(&records_, sender);
    PutU8(&records_, static_cast<std::uint8_t>(std::min<long>(255, dt.count() / 20)));
    PutLengthPrefixed(&records_, e.body);
  }

  std::vector<net::Membership> nodes_;
  std::map<int, bool> crashed_;
  Clock::TimePoint now_{std::chrono::seconds(1)};
  Clock::TimePoint last_record_{std::chrono::seconds(1)};
  Bytes records_;
};

void MembershipSeeds() {
  {  // Node 0 founds the group; 1 and 2 join through it; 2 leaves.
    MembershipScenario s(3);
    s.node(0).Join({}, s.now());
    s.node(1).Join({fuzz::MembershipFuzzEndpoint(0)}, s.now());
    s.node(2).Join({fuzz::MembershipFuzzEndpoint(0)}, s.now());
    s.Deliver();
    s.Run(30);
    s.node(2).Leave(s.now());
    s.Deliver();
    s.Run(10);
    Write("membership", "found_join_leave", s.Seed(0));
  }
  {  // Node 0 joins through node 1; node 3 crashes and is suspected, then declared dead.
    MembershipScenario s(4);
    s.node(1).Join({}, s.now());
    s.node(0).Join({fuzz::MembershipFuzzEndpoint(1)}, s.now());
    s.node(2).Join({fuzz::MembershipFuzzEndpoint(1)}, s.now());
    s.node(3).Join({fuzz::MembershipFuzzEndpoint(1)}, s.now());
    s.Deliver();
    s.Run(20);
    s.Crash(3);
    s.Run(120);
    Write("membership", "join_crash", s.Seed(1));
  }
}

void EnvelopeSeeds() {
  net::Envelope ping;
  ping.type = net::MessageType::kPing;
  ping.sender = PeerId(7);
  ping.round = RoundId(3);
  ping.body = {0x96, 0x01, 0x00, 0xa0, 0xa1, 0x78, 0x00, 0x90};  // A membership body.
  EnvelopeSeed("ping", ping, 0);
  EnvelopeSeed("ping_frames", ping, 1);
  net::Envelope residual;
  residual.type = net::MessageType::kResidual;
  residual.sender = net::PeerIdFromEndpoint("tcp://127.0.0.1:7001");
  residual.round = RoundId(12345);
  residual.body = {1, 2, 3};
  for (int i = 0; i < 64; ++i) residual.payload.push_back(static_cast<std::uint8_t>(i * 7));
  EnvelopeSeed("residual", residual, 0);
  EnvelopeSeed("residual_small_limits", residual, 5);
  net::Envelope chunk;
  chunk.type = net::MessageType::kModelChunk;
  chunk.sender = PeerId(~std::uint64_t{0});
  chunk.round = RoundId(~std::uint64_t{0});
  chunk.payload.assign(300, 0xab);
  EnvelopeSeed("model_chunk", chunk, 1);
  net::Envelope status;
  status.type = net::MessageType::kStatus;
  status.sender = PeerId(1);
  EnvelopeSeed("status_one_frame", status, 2);
}

void CheckpointSeeds() {
  daemon::Checkpoint c;
  c.round = 42;
  c.samples_seen = 1000;
  c.algorithm = "malcom";
  c.state.model = {0.5f, -1.0f, 2.0f};
  c.state.mixed = {1.0f};
  c.state.velocity = {0.0f, 0.25f, 0.0f};
  const fs::path tmp = fs::temp_directory_path() / "sotto-fuzz-seed.ck";
  if (!daemon::WriteCheckpoint(tmp.string(), c).ok()) std::abort();
  std::ifstream in(tmp, std::ios::binary);
  const Bytes file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  fs::remove(tmp);
  for (const std::uint8_t mode : {0, 1}) {
    Write("checkpoint", "malcom_mode" + std::to_string(mode), Prefixed(mode, file));
  }
}

Bytes Idx(const std::vector<std::uint32_t>& dims, const Bytes& payload) {
  Bytes out = {0, 0, 0x08, static_cast<std::uint8_t>(dims.size())};
  for (const std::uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(d >> shift));
  }
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

void IdxSeeds() {
  const Bytes images = Idx({3, 2, 3}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 255});
  const Bytes labels = Idx({3}, {2, 0, 1});
  auto seed = [](std::uint8_t limit, const Bytes& l, const Bytes& i) {
    Bytes s;
    PutLengthPrefixed(&s, l);
    s.insert(s.end(), i.begin(), i.end());
    return Prefixed(limit, s);
  };
  Write("idx", "raw", seed(0, labels, images));
  Write("idx", "raw_limit1", seed(2, labels, images));
  Write("idx", "gzip", seed(0, Gzip(labels), Gzip(images)));
  Write("idx", "gzip_limit2", seed(3, labels, Gzip(images)));
  Write("idx", "rank4", seed(0, Idx({2}, {9, 4}), Idx({2, 1, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8})));

  const Bytes text = FromString("+1 1:0.5 3:1\n-1 2:0.25\n");
  Bytes two_members = Gzip(text);
  const Bytes second = Gzip(FromString("hello"));
  two_members.insert(two_members.end(), second.begin(), second.end());
  Bytes trailing = Gzip(text);
  trailing.insert(trailing.end(), {'x', 'y', 'z'});
  for (const auto& [name, bytes] : std::vector<std::pair<std::string, Bytes>>{
           {"raw", text}, {"gzip", Gzip(text)}, {"two_members", two_members},
           {"trailing", trailing}, {"idx_gzip", Gzip(images)}}) {
    Write("gzip", name, Prefixed(16, bytes));  // Limit 2^16 bytes.
  }
}

void LibsvmSeeds() {
  const std::vector<std::pair<std::string, std::string>> texts = {
      {"binary", "+1 1:0.5 3:1\n-1 2:0.25 4:-3e-2\n+1 qid:3 1:1 8:2 # comment\n"},
      {"multiclass", "1 1:1\r\n2 2:1\r\n\r\n3 3:1.5e3\n# only a comment\n"},
      {"zero_one", "0 1:1 2:2 3:3\n1 5:0.1\n"},
  };
  std::uint8_t mode = 0;
  for (const auto& [name, text] : texts) Write("libsvm", name, Prefixed(mode++, FromString(text)));
  Write("libsvm", "plus_minus_fixed", Prefixed(3, FromString("-1 1:1 8:1\n+1 2:2\n")));
}

void ConfigSeeds(const fs::path& repo) {
  auto copy = [](const fs::path& from, const std::string& target) {
    std::ifstream in(from, std::ios::binary);
    Write(target, from.filename().string(),
          Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()));
  };
  copy(repo / "configs/node.toml", "node_config");
  copy(repo / "configs/mesh-local.toml", "node_config");
  for (const auto& entry : fs::directory_iterator(repo / "configs/lab")) {
    const std::string name = entry.path().filename().string();
    copy(entry.path(), name.starts_with("fed-") ? "fedlab_config" : "lab_config");
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: fuzz_make_seeds <corpus dir> <repo root>\n";
    return 2;
  }
  g_root = argv[1];
  for (const char* target : {"envelope", "membership", "checkpoint", "idx", "gzip", "libsvm",
                             "node_config", "lab_config", "fedlab_config"}) {
    fs::remove_all(g_root / target);
  }
  EnvelopeSeeds();
  MembershipSeeds();
  CheckpointSeeds();
  IdxSeeds();
  LibsvmSeeds();
  ConfigSeeds(argv[2]);
  return 0;
}
