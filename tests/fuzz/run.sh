#!/usr/bin/env bash
# Builds the fuzz targets of tests/fuzz/ with clang++-14 (libFuzzer + ASan + UBSan)
# and runs each for N executions from its seed corpus (tests/fuzz/corpus/<target>),
# then prints executions, executions/s and time per target (also written to
# build/fuzz/summary.tsv or $FUZZ_SUMMARY). The sotto sources a target needs are compiled into one
# instrumented archive (toml++ header-only, so the TOML parser is instrumented too);
# only objects whose sources or headers changed are rebuilt.
#
# Usage: tests/fuzz/run.sh [N=1000000] [target...] [--corpus]
#   targets: envelope membership checkpoint node_config lab_config fedlab_config idx
#            gzip libsvm message levels_rans levels_elias levels_vsc levels_fixed floats
#            (default: all). --corpus regenerates the coding seeds (make_corpus.cc) first;
#            the others come from make_seeds.cc (fuzz_make_seeds, built by CMake).
# Env: CXX_FUZZ (clang++-14), FUZZ_MAX_TIME (seconds per target, 0 = no limit),
# FUZZ_SUMMARY (where to write the table).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/tests/fuzz
cxx=${CXX_FUZZ:-clang++-14}
out=$root/build/fuzz
all_targets=(envelope membership checkpoint node_config lab_config fedlab_config idx gzip libsvm
             message levels_rans levels_elias levels_vsc levels_fixed floats)
coding_targets=(message levels_rans levels_elias levels_vsc levels_fixed floats)

runs=1000000
targets=()
regen=0
for arg in "$@"; do
  case $arg in
    --corpus) regen=1 ;;
    ''|*[!0-9]*) targets+=("$arg") ;;
    *) runs=$arg ;;
  esac
done
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")

# target -> source file of its LLVMFuzzerTestOneInput.
source_of() {
  case $1 in
    envelope|membership|checkpoint|libsvm) echo "$here/$1_fuzz.cc" ;;
    node_config|lab_config|fedlab_config) echo "$here/config_fuzz.cc" ;;
    idx|gzip) echo "$here/idx_fuzz.cc" ;;
    message|levels_*|floats) echo "$here/decoder_fuzz.cc" ;;
    *) echo "run.sh: unknown target '$1'" >&2; exit 2 ;;
  esac
}

mkdir -p "$out/obj"
# One build at a time (several run.sh may share build/fuzz); released before fuzzing.
exec 9>"$out/build.lock"
flock 9
flags=(-std=c++20 -O1 -g -I"$root" -isystem /usr/include/eigen3 -fno-omit-frame-pointer
       -DMSGPACK_NO_BOOST -DTOML_HEADER_ONLY=1
       # As Debian's NDEBUG libtomlplusplus: its internal asserts are off. (With them on,
       # parse_key() asserts on corpus/lab_config/toml_parse_key_assert within ~1000 runs.)
       "-DTOML_ASSERT(expr)=((void)0)" -DSOTTO_VERSION=\"fuzz\" -DSOTTO_DATA_DIR=\"/usr/local/share/sotto\")
sanitize=(-fsanitize=address,undefined)
# Objects built with other flags (an older run.sh) are stale too: the dependency check
# below only sees sources and headers.
flag_stamp="$cxx ${flags[*]} ${sanitize[*]}"
if [ "$(cat "$out/obj/flags" 2>/dev/null)" != "$flag_stamp" ]; then
  rm -f "$out"/obj/*.o "$out"/obj/*.d
  printf '%s' "$flag_stamp" > "$out/obj/flags"
fi

# True if $2 (an object with a -MMD .d file) is missing or older than any input.
stale() {
  local obj=$1 dep=${1%.o}.d
  [ -f "$obj" ] && [ -f "$dep" ] || return 0
  local f
  for f in $(sed -e 's/^[^:]*://' -e 's/\\$//' "$dep"); do
    [ "$f" -nt "$obj" ] && return 0
  done
  return 1
}

# The library: every layer below daemon/, plus the daemon/ files the parsers need.
# An archive, so a target links only the objects it uses.
lib_sources=("$root"/common/*.cc "$root"/coding/*.cc "$root"/topology/*.cc "$root"/algo/*.cc
             "$root"/net/envelope.cc "$root"/net/membership.cc "$root"/net/zmq_curve.cc
             "$root"/net/discovery.cc)
for f in toml_reader lab_config node_config fed_lab_command lab_command checkpoint cli \
         plot_command; do
  lib_sources+=("$root/daemon/$f.cc")
done
objs=()
for src in "${lib_sources[@]}"; do
  obj=$out/obj/$(basename "$(dirname "$src")")_$(basename "$src" .cc).o
  if stale "$obj"; then
    echo "compile $src"
    "$cxx" "${flags[@]}" -fsanitize=fuzzer-no-link "${sanitize[@]}" -MMD -c "$src" -o "$obj"
  fi
  objs+=("$obj")
done
rm -f "$out/libsotto_fuzzed.a"
ar rcs "$out/libsotto_fuzzed.a" "${objs[@]}"
libs=("$out/libsotto_fuzzed.a" -lzmq -lz -lpthread)

if [ $regen = 1 ]; then
  for t in "${coding_targets[@]}"; do
    rm -rf "$here/corpus/$t"; mkdir -p "$here/corpus/$t"
  done
  "$cxx" "${flags[@]}" "${sanitize[@]}" "$here/make_corpus.cc" "${libs[@]}" -o "$out/make_corpus"
  "$out/make_corpus" "$here/corpus"
fi

for t in "${targets[@]}"; do
  "$cxx" "${flags[@]}" -DSOTTO_FUZZ_$t -fsanitize=fuzzer "${sanitize[@]}" "$(source_of "$t")" \
    "${libs[@]}" -o "$out/fuzz_$t"
done
flock -u 9

status=0
summary=${FUZZ_SUMMARY:-$out/summary.tsv}
printf 'target\texecutions\texec_per_s\tseconds\tresult\n' > "$summary"
for t in "${targets[@]}"; do
  bin=$out/fuzz_$t
  work=$out/corpus_$t
  mkdir -p "$work" "$out/artifacts"
  max_len=4096
  case $t in *_config) max_len=8192 ;; esac
  # libFuzzer's default "entropic" schedule spends its time in UpdateFeatureFrequency once
  # the membership corpus holds ~15k features (perf: 68 % of samples; 91 exec/s at 1,400
  # units). The classic schedule runs the same target at ~2,500 exec/s.
  schedule=()
  case $t in membership) schedule=(-entropic=0) ;; esac
  echo "== fuzz_$t: $runs runs"
  log=$out/fuzz_$t.log
  start=$(date +%s.%N)
  result=ok
  if ! UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 "$bin" "${schedule[@]}" -runs="$runs" -max_len=$max_len \
       -max_total_time="${FUZZ_MAX_TIME:-0}" -timeout=25 -rss_limit_mb=2048 \
       -artifact_prefix="$out/artifacts/$t-" -print_final_stats=1 \
       "$work" "$here/corpus/$t" > "$log" 2>&1; then
    result=FAILED
    status=1
  fi
  seconds=$(echo "$(date +%s.%N) - $start" | bc)
  tail -n 14 "$log"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  printf '%s\t%s\t%s\t%.0f\t%s\n' "$t" "${execs:-?}" "${rate:-?}" "$seconds" "$result" \
    >> "$summary"
done
column -t "$summary"
exit $status
