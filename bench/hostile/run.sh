#!/usr/bin/env bash
# Hostile-input benchmark (issue 8): a healthy 3-node loopback mesh (Fashion-MNIST
# softmax, MALCOM-PSGD, configs/mesh-local.toml) while a rogue process (sotto_rogue,
# bench/hostile/rogue.cc + tests/integration/flooder.h) floods node 0 for 30 s with
# random bytes, truncated envelopes, lying headers (version, type, sizes, sender,
# round), too many frames, oversized frames, multi-MiB payloads and wrong-dimension
# vectors, both as an outsider and as a member that joined the mesh (its
# wrong-dimension residuals reach the decoder). Samples the victim every second:
# VmRSS, round, rejected counters. Claims: the victim and the mesh stay up, RSS growth
# over the last 20 s of the flood <= 20 MB, rounds advance, rejections are counted.
# Writes OUT/hostile.json and OUT/hostile.png; exit 1 if a claim fails.
#
#   bench/hostile/run.sh [--seconds 30] [--build build/release] [--out bench/results] [--config F] [sotto_rogue flags...]
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
BUILD=$src/build/release
OUT=$src/bench/results
CONFIG=$src/configs/mesh-local.toml   # --config: the one matching the binary
COMMIT=                               # --commit: what the binary was built from (default: this checkout)
SECONDS_FLOOD=30
NAME=hostile
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --config) CONFIG=$2; shift 2 ;;
    --commit) COMMIT=$2; shift 2 ;;
    --seconds) SECONDS_FLOOD=$2; shift 2 ;;
    --name) NAME=$2; shift 2 ;;
    -h|--help) sed -n 2,14p "$0"; exit 0 ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
for b in sotto bench/hostile/sotto_rogue; do
  [ -x "$BUILD/$b" ] || { echo "bench/hostile: no $BUILD/$b (ninja -C $BUILD sotto sotto_rogue)" >&2; exit 69; }
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d /tmp/sotto-hostile.XXXXXX)
cp "$BUILD/sotto" "$BUILD/bench/hostile/sotto_rogue" "$WORK/"
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { printf '[hostile %s] %s\n' "$(date +%T)" "$*" >&2; }

# Waits for "listening on EP id ID" in log $1; prints EP.
wait_listen() {
  local t0=$SECONDS line
  while [ $((SECONDS - t0)) -lt 60 ]; do
    line=$(grep -m1 -o 'listening on [^ ]*' "$1" 2>/dev/null) && { echo "${line#listening on }"; return 0; }
    sleep 0.05
  done
  return 1
}
# A number field of `sotto status --json` (pretty-printed) on stdin.
json_num() { awk -v k="\"$1\":" '$1 == k {v = $2; sub(/,$/, "", v); print v; exit}'; }

EP=()
for i in 0 1 2; do
  D=$WORK/node-$i
  mkdir -p "$D"
  join=(); [ "$i" -gt 0 ] && join=(--node.join "${EP[0]}")
  "$WORK/sotto" node --config "$CONFIG" --node.listen 'tcp://127.0.0.1:*' --node.data_dir "$D" \
    --gossip.shard "$i" --gossip.shards 3 --gossip.min_members 3 --gossip.rounds 0 --gossip.min_round_ms 20 \
    --gossip.eval_every 100 "${join[@]}" > "$D/node.log" 2>&1 &
  PIDS+=($!)
  EP[i]=$(wait_listen "$D/node.log") || { log "node $i did not start"; cat "$D/node.log" >&2; exit 2; }
done
# Healthy first: all three training.
t0=$SECONDS
while [ $((SECONDS - t0)) -lt 60 ]; do
  r=$("$WORK/sotto" status --json --data-dir "$WORK/node-0" 2>/dev/null | json_num round)
  [ "${r:-0}" -gt 20 ] && break
  sleep 0.5
done
dim=$("$WORK/sotto" status --json --data-dir "$WORK/node-0" 2>/dev/null | json_num parameters)
log "mesh of 3 training (victim ${EP[0]}, $dim parameters); flooding node 0 for $SECONDS_FLOOD s"
commit=${COMMIT:-$(git -C "$src" describe --always --dirty 2>/dev/null || echo unknown)}
"$WORK/sotto_rogue" --target "${EP[0]}" --seconds "$SECONDS_FLOOD" --dimension "${dim:-7850}" \
  --watch-pid "${PIDS[0]}" --watch-control "$WORK/node-0/control.sock" --mesh-pid "${PIDS[1]}" --mesh-pid "${PIDS[2]}" \
  --out-json "$OUT/$NAME.json" --png "$OUT/$NAME.png" --commit "$commit" "${ARGS[@]}"
rc=$?
log "wrote $OUT/$NAME.json and $OUT/$NAME.png (exit $rc)"
grep -h -E '\[(error|critical)\]' "$WORK"/node-*/node.log | sort | uniq -c | head -20 >&2
exit $rc
