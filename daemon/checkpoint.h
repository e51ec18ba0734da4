#pragma once

// Checkpoints: one node's training state on disk, written atomically (temp file,
// fsync, rename, fsync of the directory) so a crash at any moment leaves either
// the previous checkpoint or the new one, never a torn file.
//
// Format (little-endian): "SOTTOCK1", u32 version, u64 round, u64 epoch-ish counter,
// u32 name length + algorithm name, u32 vector count, then per vector: u64 length,
// floats; finally u32 CRC-32 (zlib) of everything before it.

#include <cstdint>
#include <span>
#include <string>

#include "algo/gossip_algorithm.h"
#include "common/status.h"

namespace sotto::daemon {

struct Checkpoint {
  std::uint64_t round = 0;
  std::uint64_t samples_seen = 0;
  std::string algorithm;  // Must match the running algorithm on restore.
  algo::AlgorithmState state;
};

// Writes `checkpoint` to `path` atomically. kUnavailable (with errno text) on I/O errors.
Status WriteCheckpoint(const std::string& path, const Checkpoint& checkpoint);

// Reads and verifies a checkpoint. kNotFound when there is none; kCorrupted naming
// what failed (magic, length, CRC) otherwise.
Result<Checkpoint> ReadCheckpoint(const std::string& path);

// As ReadCheckpoint, on the bytes of a checkpoint file; `name` stands for the path
// in messages. ReadCheckpoint reads the file and calls this. kCorrupted as above.
Result<Checkpoint> ParseCheckpoint(std::span<const std::uint8_t> bytes, const std::string& name);

}  // namespace sotto::daemon
