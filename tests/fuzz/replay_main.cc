// A standalone main for the libFuzzer targets of tests/fuzz/, so the normal (GCC,
// sanitizer-free or asan-preset) build runs them as a CTest smoke test: it feeds
// LLVMFuzzerTestOneInput every file of the given corpora, then deterministic
// mutations of them (bit flips, byte changes, truncations, insertions, deletions,
// splices) from a fixed-seed generator. A failing input traps or trips a
// sanitizer, as under libFuzzer; with --save, each input is written first to
// <dir>/last-input, so the culprit survives the crash.
//
// Usage: fuzz_replay_<target> [--mutations N] [--seed S] [--save DIR] <file or dir>...

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

Bytes ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// One random edit of `b`, in the spirit of libFuzzer's mutators.
void Mutate(Bytes& b, const std::vector<Bytes>& corpus, std::mt19937_64& rng) {
  auto below = [&rng](std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(rng() % n); };
  static constexpr std::uint8_t kInteresting[] = {0, 1, 0x7f, 0x80, 0xff, 0xfe, 0x10, 0x40};
  switch (rng() % 8) {
    case 0:  // Flip one bit.
      if (!b.empty()) b[below(b.size())] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
      break;
    case 1:  // Set one byte to a random or boundary value.
      if (!b.empty()) {
        b[below(b.size())] = (rng() & 1) ? static_cast<std::uint8_t>(rng())
                                         : kInteresting[below(std::size(kInteresting))];
      }
      break;
    case 2:  // Truncate.
      b.resize(below(b.size() + 1));
      break;
    case 3: {  // Insert 1..8 random bytes.
      const std::size_t at = below(b.size() + 1), n = 1 + below(8);
      Bytes ins(n);
      for (auto& x : ins) x = static_cast<std::uint8_t>(rng());
      b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), ins.begin(), ins.end());
      break;
    }
    case 4: {  // Delete a range.
      if (b.empty()) break;
      const std::size_t at = below(b.size()), n = 1 + below(std::min<std::size_t>(16, b.size() - at));
      b.erase(b.begin() + static_cast<std::ptrdiff_t>(at), b.begin() + static_cast<std::ptrdiff_t>(at + n));
      break;
    }
    case 5: {  // Duplicate a chunk in place.
      if (b.empty()) break;
      const std::size_t at = below(b.size()), n = 1 + below(std::min<std::size_t>(32, b.size() - at));
      const Bytes chunk(b.begin() + static_cast<std::ptrdiff_t>(at),
                        b.begin() + static_cast<std::ptrdiff_t>(at + n));
      b.insert(b.begin() + static_cast<std::ptrdiff_t>(below(b.size() + 1)), chunk.begin(), chunk.end());
      break;
    }
    case 6: {  // Splice: our prefix, another seed's suffix.
      const Bytes& other = corpus[below(corpus.size())];
      const std::size_t keep = below(b.size() + 1), from = below(other.size() + 1);
      b.resize(keep);
      b.insert(b.end(), other.begin() + static_cast<std::ptrdiff_t>(from), other.end());
      break;
    }
    default:  // Add a small delta to a byte (lengths, counts, type codes).
      if (!b.empty()) {
        b[below(b.size())] += static_cast<std::uint8_t>(static_cast<int>(rng() % 9) - 4);
      }
      break;
  }
}

int Usage() {
  std::cerr << "usage: fuzz_replay [--mutations N] [--seed S] [--save DIR] <file or dir>...\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  long mutations = 0;
  std::uint64_t seed = 1;
  fs::path save_dir;
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if ((arg == "--mutations" || arg == "--seed" || arg == "--save") && i + 1 < argc) {
      const std::string value = argv[++i];
      if (arg == "--mutations") mutations = std::stol(value);
      if (arg == "--seed") seed = std::stoull(value);
      if (arg == "--save") save_dir = value;
    } else if (arg.starts_with("--")) {
      return Usage();
    } else if (fs::is_directory(arg)) {
      for (const auto& entry : fs::directory_iterator(arg)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
      }
    } else if (fs::is_regular_file(arg)) {
      files.push_back(arg);
    } else {
      std::cerr << "fuzz_replay: no such file or directory: " << arg << "\n";
      return 2;
    }
  }
  if (files.empty()) return Usage();
  std::sort(files.begin(), files.end());  // Directory order varies; the run must not.

  auto run = [&save_dir](const Bytes& input) {
    if (!save_dir.empty()) {
      std::ofstream(save_dir / "last-input", std::ios::binary)
          .write(reinterpret_cast<const char*>(input.data()), static_cast<std::streamsize>(input.size()));
    }
    LLVMFuzzerTestOneInput(input.data(), input.size());
  };
  const auto start = std::chrono::steady_clock::now();
  std::vector<Bytes> corpus;
  for (const fs::path& file : files) {
    corpus.push_back(ReadFile(file));
    run(corpus.back());
  }
  std::mt19937_64 rng(seed);
  for (long i = 0; i < mutations; ++i) {
    Bytes input = corpus[static_cast<std::size_t>(rng() % corpus.size())];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) Mutate(input, corpus, rng);
    run(input);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("fuzz_replay: %zu corpus inputs + %ld mutations (seed %llu) clean in %.2f s\n",
              corpus.size(), mutations, static_cast<unsigned long long>(seed), seconds);
  return 0;
}
