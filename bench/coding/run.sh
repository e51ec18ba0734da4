#!/usr/bin/env bash
# Builds the coding benchmark with the release preset and runs it; writes
# bench/results/coding.json and bench/results/coding.png (gnuplot).
# Usage: bench/coding/run.sh [--quick]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
cmake --preset release > /dev/null
cmake --build build/release -j2 --target coding_bench
mkdir -p bench/results
build/release/bench/coding/coding_bench --out bench/results "$@"
echo "wrote bench/results/coding.json and bench/results/coding.png"
