#!/usr/bin/env bash
# Builds the topology benchmark (Release), runs it and plots the results:
# bench/results/topology.json, topology_gap.tsv, topology_rewiring.tsv, topology.png.
# Usage: bench/topology/run.sh [--quick]   (from anywhere; ~1 minute on 2 cores)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${SOTTO_BENCH_BUILD_DIR:-$root/build/bench-topology}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSOTTO_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j2 --target topology_bench
mkdir -p "$root/bench/results"
"$build/bench/topology/topology_bench" "$root/bench/results" "$@"
gnuplot -e "dir='$root/bench/results'" "$root/bench/topology/plot.gp"
echo "wrote $root/bench/results/topology.json and topology.png"
