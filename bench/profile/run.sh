#!/usr/bin/env bash
# Profile benchmark (issue 10, "profile the hot paths"): runs `sotto lab` on the MLP
# MALCOM experiment (configs/lab/b2a-mlp-malcom.toml: 16 nodes on a ring, top-1 % +
# dither s=4) with each given binary, alternating them REPEAT times in one run (the
# machine is shared: ratios are meaningful within a run, absolute figures less so),
# and records rounds/s from the lab's own wall time. With perf available it also
# records one profile per binary and keeps the share of the hottest symbols
# (self time), so a before/after shows where the time went.
#
#   bench/profile/run.sh [--rounds 300] [--repeat 3] [--name profile_mlp_lab]
#                        [--out bench/results] [--note TEXT] LABEL=BINARY...
#   e.g. bench/profile/run.sh before=/tmp/base/build/sotto after=build/release/sotto
#
# Writes OUT/NAME.json and OUT/NAME.png (needs jq; the plot needs gnuplot).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
ROUNDS=300
REPEAT=3
NAME=profile_mlp_lab
OUT=$src/bench/results
NOTE=""
CONFIG=$src/configs/lab/b2a-mlp-malcom.toml
labels=() bins=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --name) NAME=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --note) NOTE=$2; shift 2 ;;
    -h|--help) sed -n 2,15p "$0"; exit 0 ;;
    *=*) labels+=("${1%%=*}"); bins+=("${1#*=}"); shift ;;
    *) echo "bench/profile: unknown argument $1 (want LABEL=BINARY)" >&2; exit 64 ;;
  esac
done
[ ${#bins[@]} -gt 0 ] || { echo "bench/profile: give at least one LABEL=BINARY" >&2; exit 64; }
for b in "${bins[@]}"; do [ -x "$b" ] || { echo "bench/profile: no executable at $b" >&2; exit 69; }; done
command -v jq > /dev/null || { echo "bench/profile: jq not found (apt-get install jq)" >&2; exit 69; }
work=$(mktemp -d /tmp/sotto-profile.XXXXXX)
trap 'rm -rf "$work"' EXIT
log() { printf '[profile %s] %s\n' "$(date +%T)" "$*" >&2; }

run_lab() {  # binary, summary path [, perf data path]
  local args=(lab -c "$CONFIG" --rounds "$ROUNDS" --lab.eval_every 100000 --lab.progress none --summary "$2")
  if [ $# -ge 3 ]; then
    perf record -q -o "$3" -- "$1" "${args[@]}" > /dev/null 2>&1
  else
    "$1" "${args[@]}" > /dev/null 2>&1
  fi
}

# Timed runs, alternating binaries.
for ((r = 1; r <= REPEAT; r++)); do
  for i in "${!bins[@]}"; do
    run_lab "${bins[$i]}" "$work/${labels[$i]}-$r.json"
    log "${labels[$i]} run $r: $(jq -r '"\(.rounds / .wall_seconds * 100 | round / 100) rounds/s, accuracy \(.test_accuracy)"' "$work/${labels[$i]}-$r.json")"
  done
done

# One profile per binary: self time of the hottest symbols.
have_perf=0
if command -v perf > /dev/null && perf record -q -o "$work/probe.data" -- true > /dev/null 2>&1; then have_perf=1; fi
for i in "${!bins[@]}"; do
  : > "$work/${labels[$i]}.top"
  [ "$have_perf" = 1 ] || continue
  run_lab "${bins[$i]}" "$work/${labels[$i]}-perf.json" "$work/${labels[$i]}.data"
  perf report -i "$work/${labels[$i]}.data" --no-children --sort symbol --stdio 2> /dev/null |
    awk '/^ +[0-9.]+%/ {p = $1; sub(/%/, "", p); $1 = ""; $2 = ""; s = $0; sub(/^ +/, "", s); sub(/\(.*$/, "", s); sub(/<.*$/, "", s); sub(/ +- +-.*$/, "", s);
         if (n < 12) {gsub(/"/, "", s); printf "%s\t%s\n", p, s; n++}}' > "$work/${labels[$i]}.top"
done

mkdir -p "$OUT"
{
  printf '{\n  "benchmark": "profile",\n  "config": "configs/lab/b2a-mlp-malcom.toml",\n  "rounds": %d,\n  "repeat": %d,\n' "$ROUNDS" "$REPEAT"
  printf '  "cpu": "%s",\n  "load_1min_at_end": %s,\n' "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)" "$(cut -d' ' -f1 /proc/loadavg)"
  printf '  "notes": %s,\n  "binaries": [\n' "$(jq -Rn --arg n "$NOTE" '$n')"
  for i in "${!bins[@]}"; do
    rates=$(for ((r = 1; r <= REPEAT; r++)); do jq -r '.rounds / .wall_seconds' "$work/${labels[$i]}-$r.json"; done | paste -sd,)
    acc=$(jq -r '.test_accuracy' "$work/${labels[$i]}-1.json")
    top=$(jq -Rn '[inputs | split("\t") | {share_percent: (.[0] | tonumber), symbol: .[1]}]' < "$work/${labels[$i]}.top")
    printf '    {"label": "%s", "binary": "%s", "version": "%s", "rounds_per_second": [%s], "test_accuracy": %s, "perf_self_top": %s}%s\n' \
      "${labels[$i]}" "${bins[$i]}" "$("${bins[$i]}" --version 2> /dev/null | head -1), sha256 $(sha256sum "${bins[$i]}" | cut -c1-12)" \
      "$rates" "$acc" "$(echo "$top" | jq -c .)" "$([ "$i" -lt $((${#bins[@]} - 1)) ] && echo ,)"
  done
  printf '  ]\n}\n'
} > "$OUT/$NAME.json"
jq -r '.binaries[] | "\(.label)\t\(.rounds_per_second | add / length)\t\(.rounds_per_second | min)\t\(.rounds_per_second | max)"' "$OUT/$NAME.json" > "$work/plot.tsv"
log "wrote $OUT/$NAME.json"
if command -v gnuplot > /dev/null; then
  gnuplot <<EOF
set terminal pngcairo size 800,450 font ',10'
set output '$OUT/$NAME.png'
set title "sotto lab, MLP MALCOM (16 nodes, top-1 % + dither s=4): rounds/s, mean and range of $REPEAT runs"
set style fill solid 0.6
set boxwidth 0.5
set yrange [0:*]
set ylabel 'rounds/s (all 16 nodes step once per round)'
set grid ytics
plot '$work/plot.tsv' using 0:2:xtic(1) with boxes notitle, '' using 0:2:3:4 with yerrorbars lc rgb 'black' notitle
EOF
  log "wrote $OUT/$NAME.png"
fi
