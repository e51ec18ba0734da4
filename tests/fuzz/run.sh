#!/usr/bin/env bash
# Builds the coding/ decoder fuzz targets with clang++-14 (libFuzzer + ASan + UBSan)
# and runs each for N executions from its seed corpus (tests/fuzz/corpus/<target>).
# Usage: tests/fuzz/run.sh [N=200000] [--corpus]   (--corpus regenerates the seeds first)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
runs=${1:-200000}
cxx=${CXX_FUZZ:-clang++-14}
out=$root/build/fuzz
mkdir -p "$out/obj"
flags=(-std=c++20 -O1 -g -I"$root" -isystem /usr/include/eigen3 -fno-omit-frame-pointer)
# The library, instrumented for coverage but without libFuzzer's main.
objs=()
for src in "$root"/coding/*.cc "$root"/common/*.cc; do
  obj=$out/obj/$(basename "$(dirname "$src")")_$(basename "$src" .cc).o
  "$cxx" "${flags[@]}" -fsanitize=fuzzer-no-link,address,undefined -c "$src" -o "$obj"
  objs+=("$obj")
done
if [ "${2:-}" = "--corpus" ]; then
  for t in message levels_rans levels_elias levels_vsc levels_fixed floats; do
    rm -rf "$root/tests/fuzz/corpus/$t"; mkdir -p "$root/tests/fuzz/corpus/$t"
  done
  "$cxx" "${flags[@]}" -fsanitize=address,undefined "$root/tests/fuzz/make_corpus.cc" "${objs[@]}" -o "$out/make_corpus"
  "$out/make_corpus" "$root/tests/fuzz/corpus"
fi
status=0
for t in message levels_rans levels_elias levels_vsc levels_fixed floats; do
  "$cxx" "${flags[@]}" -DSOTTO_FUZZ_$t -fsanitize=fuzzer,address,undefined \
    "$root/tests/fuzz/decoder_fuzz.cc" "${objs[@]}" -o "$out/fuzz_$t"
  work=$out/corpus_$t
  mkdir -p "$work"
  echo "== fuzz_$t: $runs runs"
  if ! UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 "$out/fuzz_$t" -runs="$runs" -max_len=4096 \
       -print_final_stats=1 "$work" "$root/tests/fuzz/corpus/$t" 2>&1 | tail -n 12; then
    status=1
  fi
done
exit $status
