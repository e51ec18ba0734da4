#!/usr/bin/env bash
# Churn benchmark (issue 8): a loopback mesh of 12 `sotto node` daemons trains
# Fashion-MNIST softmax with MALCOM-PSGD (configs/mesh-local.toml) for a fixed number
# of rounds, once without faults and once, with the same seed, while a quarter of the
# nodes are SIGKILLed at seeded random rounds and restarted (same data dir and address:
# they resume from their checkpoints under the same id) and fresh nodes join.
# Reports detection time per kill vs the SWIM suspicion timeout, the longest wait of
# every survivor for its next round, rejoin time per restart, join time per fresh node
# and both final mean test accuracies (must be within 1 point). The driver is
# bench/churn/churn.cc (target bench_churn); this script snapshots the binaries (others
# may rebuild while it runs) and records the git commit.
# Writes OUT/churn.json and OUT/churn.png; exit 1 if a claim fails, 2 if a run broke.
#
#   bench/churn/run.sh [--quick] [--build build/release] [--out bench/results] [--config F] [bench_churn flags...]
# --quick: 8 nodes, 600 rounds, 2 kills, 1 join (writes churn_quick.json/png unless --name).
# Needs gnuplot for the PNG. About 4 minutes (--quick: about 1.5 minutes) on 2 cores.
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
BUILD=$src/build/release
OUT=$src/bench/results
CONFIG=$src/configs/mesh-local.toml   # --config: the one matching the binary
COMMIT=                               # --commit: what the binary was built from (default: this checkout)
ARGS=()
NAME=
QUICK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --config) CONFIG=$2; shift 2 ;;
    --commit) COMMIT=$2; shift 2 ;;
    --name) NAME=$2; shift 2 ;;
    --quick) QUICK=1; ARGS+=(--quick); shift ;;
    -h|--help) sed -n 2,18p "$0"; exit 0 ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
[ -n "$NAME" ] || { [ "$QUICK" = 1 ] && NAME=churn_quick || NAME=churn; }
for b in sotto bench/churn/bench_churn; do
  [ -x "$BUILD/$b" ] || { echo "bench/churn: no $BUILD/$b (ninja -C $BUILD sotto bench_churn)" >&2; exit 69; }
done
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/sotto-churn-run.XXXXXX)
driver=
cleanup() {
  # The driver stops its daemons by pid on SIGTERM; wait for it, then drop the scratch dir.
  [ -n "$driver" ] && kill -TERM "$driver" 2>/dev/null && wait "$driver" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cp "$BUILD/sotto" "$WORK/sotto"
cp "$BUILD/bench/churn/bench_churn" "$WORK/bench_churn"
commit=${COMMIT:-$(git -C "$src" describe --always --dirty 2>/dev/null || echo unknown)}
"$WORK/bench_churn" --sotto "$WORK/sotto" --config "$CONFIG" --out "$OUT" --name "$NAME" \
  --work "$WORK/run" --commit "$commit" "${ARGS[@]}" &
driver=$!
wait "$driver"
rc=$?
driver=
exit $rc
