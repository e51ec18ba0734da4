#!/usr/bin/env bash
# Builds and runs bench/seed_methods, then plots every comparison (gnuplot pngcairo).
# Usage: bench/seed_methods/run.sh [build_dir]   (default build/release)
# Writes bench/results/seed_methods.json, seed_methods_<rr|nastya|induced|coco>.{tsv,gp,png}
# and seed_methods.txt (the table). About 3-4 minutes on one core.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build/release}"
cmake --build "$build" --target bench_seed_methods
mkdir -p "$root/bench/results"
"$build/bench/seed_methods/bench_seed_methods" "$root/bench/results" | tee "$root/bench/results/seed_methods.txt"
for c in rr nastya induced coco; do
  gnuplot "$root/bench/results/seed_methods_$c.gp"
done
# The .gp scripts hold absolute paths of this checkout; keep only the results.
rm -f "$root"/bench/results/seed_methods_*.gp
