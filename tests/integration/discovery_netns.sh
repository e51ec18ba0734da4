#!/usr/bin/env bash
# LAN discovery across network namespaces: two `sotto node --discover` daemons, each in
# its own network namespace, joined by a veth pair this test creates (10.77.9.1/24 and
# 10.77.9.2/24), must find each other by UDP broadcast beacon with no --node.join, and a
# third node of the same mesh name but another mesh secret (beside the first) must never
# be joined: its beacons are dropped as bad_tag, and it sees only itself.
#
# Usage: tests/integration/discovery_netns.sh SOTTO_BINARY
# Needs root or unprivileged user namespaces (`unshare -rn`); otherwise prints
# "SKIP: ..." and exits 77. The whole test runs inside a fresh network namespace made
# with unshare, so no beacon (broadcast) and no connection can leave it; the two node
# namespaces are held by `sleep` processes and die with them. Every process is stopped
# by pid. Takes about 10 s.
set -u
sotto=${1:?usage: discovery_netns.sh SOTTO_BINARY}
sotto=$(cd "$(dirname "$sotto")" && pwd)/$(basename "$sotto")
[ -x "$sotto" ] || { echo "discovery_netns: no sotto binary at $sotto" >&2; exit 69; }

# Step 1: re-run this script inside a new network namespace (and, when not root, a user
# namespace that maps us to root there), so everything below is confined to it.
if [ -z "${SOTTO_DISCOVERY_NETNS_INNER:-}" ]; then
  for tool in ip unshare nsenter; do
    command -v "$tool" > /dev/null || { echo "SKIP: network namespaces not permitted ($tool not found)"; exit 77; }
  done
  if [ "$(id -u)" = 0 ]; then flags=(-n); else flags=(-r -n); fi
  if ! why=$(unshare "${flags[@]}" true 2>&1); then
    echo "SKIP: network namespaces not permitted (unshare ${flags[*]}: ${why:-failed})"
    exit 77
  fi
  SOTTO_DISCOVERY_NETNS_INNER=1 exec unshare "${flags[@]}" -- bash "$0" "$sotto"
fi

# Step 2, inside the private namespace: two more namespaces joined by a veth pair.
dir=$(mktemp -d /tmp/sotto-discovery-XXXXXX)
holders=() nodes=()
cleanup() {
  local p
  for p in "${nodes[@]}"; do kill -TERM "$p" 2> /dev/null; done
  for p in "${nodes[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2> /dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2> /dev/null; wait "$p" 2> /dev/null
  done
  # The namespaces (and the veth ends in them) go when their last process exits.
  for p in "${holders[@]}"; do kill -KILL "$p" 2> /dev/null; wait "$p" 2> /dev/null; done
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

skip() { echo "SKIP: network namespaces not permitted ($1)"; exit 77; }
for side in a b; do
  unshare -n -- sleep 600 &
  holders+=($!)
done
pa=${holders[0]} pb=${holders[1]}
# Wait until each holder has entered its own namespace (unshare execs sleep in it).
for p in "$pa" "$pb"; do
  for _ in $(seq 100); do
    [ "$(readlink "/proc/$p/ns/net")" != "$(readlink /proc/self/ns/net)" ] && break
    sleep 0.02
  done
done
in_a() { nsenter -t "$pa" -n -- "$@"; }
in_b() { nsenter -t "$pb" -n -- "$@"; }
ip link add sdA type veth peer name sdB 2> /dev/null || skip "cannot create a veth pair"
ip link set sdA netns "$pa" && ip link set sdB netns "$pb" || skip "cannot move a veth end into a namespace"
for side in a b; do
  if [ $side = a ]; then run=in_a dev=sdA addr=10.77.9.1; else run=in_b dev=sdB addr=10.77.9.2; fi
  $run ip link set lo up
  $run ip addr add "$addr/24" dev $dev
  $run ip link set $dev up
  # The limited broadcast 255.255.255.255 leaves by the default route's interface.
  $run ip route add default dev $dev
done

secret=mesh-secret-one-0123456789
other=mesh-secret-two-0123456789
common=(--discover --discovery.mesh lab --node.log_level debug
        --data.source synthetic --data.synthetic_samples 400 --data.synthetic_features 50
        --data.synthetic_support 5 --model.kind softmax --algorithm.name malcom
        --algorithm.compressor dither:s=16 --algorithm.batch_size 16 --gossip.eval_every 0
        --gossip.checkpoint_every 0 --gossip.min_round_ms 50)
# A and B wait for each other (min_members 2); C has another secret and trains alone.
# nsenter is started directly in the background (not through in_a/in_b, whose subshell
# would be the pid in $!): it execs sotto, so $! is the node itself and cleanup stops it.
nsenter -t "$pa" -n -- "$sotto" node "${common[@]}" --listen tcp://10.77.9.1:7000 --data-dir "$dir/a" \
  --discovery.secret "$secret" --gossip.min_members 2 > "$dir/a.log" 2>&1 &
nodes+=($!)
nsenter -t "$pb" -n -- "$sotto" node "${common[@]}" --listen tcp://10.77.9.2:7000 --data-dir "$dir/b" \
  --discovery.secret "$secret" --gossip.min_members 2 > "$dir/b.log" 2>&1 &
nodes+=($!)
nsenter -t "$pa" -n -- "$sotto" node "${common[@]}" --listen tcp://10.77.9.1:7001 --data-dir "$dir/c" \
  --discovery.secret "$other" --discovery.broadcast 10.77.9.255 > "$dir/c.log" 2>&1 &
nodes+=($!)

fail() {
  echo "discovery_netns: FAIL: $*"
  for n in a b c; do echo "--- node $n (last lines)"; grep -v "\[debug\] \(gossip\|net\|membership\)" "$dir/$n.log" | tail -15; done
  exit 1
}
# members NODE: the node's member list as JSON (empty until its control socket is up).
members() { "$sotto" members --data-dir "$dir/$1" --json 2> /dev/null | tr -d " \n"; }
sees_alive() { members "$1" | grep -q "\"address\":\"$2\",[^}]*\"status\":\"alive\""; }

start=$(date +%s.%N)
deadline=$((SECONDS + 15))
until sees_alive a tcp://10.77.9.2:7000 && sees_alive b tcp://10.77.9.1:7000; do
  [ $SECONDS -lt $deadline ] || fail "A and B did not see each other alive within 15 s"
  for p in "${nodes[@]}"; do kill -0 "$p" 2> /dev/null || fail "a node exited early"; done
  sleep 0.1
done
found=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }')
grep -q "discovery: .* joining through it" "$dir/a.log" "$dir/b.log" || fail "the join did not come from a beacon"

# C's beacons reach A (same namespace) and B (over the veth): wait until both dropped
# some as bad_tag, then C must be in nobody's view and see nobody.
until grep -q "dropped a datagram from 10.77.9.1:7947: beacon bad_tag" "$dir/a.log" &&
      grep -q "dropped a datagram from 10.77.9.1:7947: beacon bad_tag" "$dir/b.log"; do
  [ $SECONDS -lt $deadline ] || fail "A and B never heard (and dropped) C's beacons"
  sleep 0.1
done
sleep 1  # Let a wrongly accepted beacon (if any) turn into a join.
for n in a b; do
  members $n | grep -q "10.77.9.1:7001" && fail "node $n joined C, which has another mesh secret"
done
count_c=$(members c | grep -o '"address"' | wc -l)
[ "$count_c" = 1 ] || fail "C sees $count_c members, want only itself"
grep -q "beacon bad_tag" "$dir/c.log" || fail "C never heard (and dropped) the beacons of A and B"
echo "discovery_netns: OK: A and B found each other in ${found} s; C (other secret) isolated"
exit 0
