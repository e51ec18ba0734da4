#!/usr/bin/env bash
# Scale benchmark (issue 10): N real `sotto node` daemons on 127.0.0.1 training a
# ~100k-parameter softmax on synthetic data, for N in SIZES (default 16 32 64).
# For each N it measures
#   - resident memory per daemon (VmRSS, VmHWM from /proc/PID/status),
#   - CPU seconds per round and rounds per second (from /proc/PID/stat and status),
#   - how long until every member knows a newly started member (from the
#     "membership: ID joined" line each node logs, from the newcomer's "membership:
#     joining through" line, both by the daemons' own log timestamps; checked with
#     `sotto members`),
#     and where that time goes: the seed it joined through, the median member,
#   - how long after launch every daemon listens and every view is complete
#     (N-1 "joined" lines per node),
#   - how long until every member marks a SIGKILLed member dead, against the
#     suspicion formula 4·max(1,log10 N)·probe_interval (+ probe timing),
# and then `sotto lab` with 1024 virtual nodes (rounds per second).
# Writes OUT/scale.json and OUT/scale.png (gnuplot pngcairo). Needs bash, awk, gnuplot.
#
#   bench/scale/run.sh [--sizes "16 32 64"] [--sotto build/release/sotto] [--out bench/results]
#                      [--window 10] [--min-round-ms 0] [--lab-nodes 1024] [--no-lab] [--joins 3] [--kills 2]
#                      [--notes TEXT] [--keep-logs DIR]
# --no-lab keeps the "lab" figures of an existing OUT/scale.json. Membership timings
# use the daemon's default MembershipOptions (net/membership.h).
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
SOTTO=${SOTTO:-$src/build/release/sotto}
OUT=$src/bench/results
SIZES="16 32 64"
WINDOW=10          # seconds of steady-state measurement per N
MIN_ROUND_MS=0     # 0: rounds as fast as the mesh goes
FEATURES=50000     # binary softmax: 2·(FEATURES+1) = 100002 parameters
SAMPLES=160        # synthetic rows in all (every daemon generates them all, then keeps its shard); a fifth is test
BATCH=2            # 128 train rows over N shards: 8 rows per node at 16, 2 at 64
MAX_TEST=8         # test rows kept per node (each row is FEATURES floats)
LAB_NODES=1024
JOINS=3            # new members started one after the other (each timed)
KILLS=2            # members SIGKILLed one after the other (each timed)
LAB=1
REPLOT=0           # --replot: only redraw OUT/scale.png from OUT/scale.json
KEEP=""            # --keep-logs DIR: copy every node's directory (logs) there before deleting it
NOTES=""           # free text stored as "notes" in scale.json (no double quotes)
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) SIZES=$2; shift 2 ;;
    --sotto) SOTTO=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --window) WINDOW=$2; shift 2 ;;
    --min-round-ms) MIN_ROUND_MS=$2; shift 2 ;;
    --lab-nodes) LAB_NODES=$2; shift 2 ;;
    --joins) JOINS=$2; shift 2 ;;
    --kills) KILLS=$2; shift 2 ;;
    --no-lab) LAB=0; shift ;;
    --replot) REPLOT=1; shift ;;
    --keep-logs) KEEP=$2; shift 2 ;;
    --notes) NOTES=${2//\"/\'}; shift 2 ;;
    -h|--help) sed -n 2,21p "$0"; exit 0 ;;
    *) echo "bench/scale: unknown argument $1" >&2; exit 64 ;;
  esac
done
[ -x "$SOTTO" ] || { echo "bench/scale: no sotto binary at $SOTTO (cmake --build build/release --target sotto)" >&2; exit 69; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# Snapshot the binary: others may rebuild build/release while this runs.
WORK=$(mktemp -d /tmp/sotto-scale.XXXXXX)
cp "$SOTTO" "$WORK/sotto"
BIN=$WORK/sotto
PIDS=()      # every daemon we started
WATCH=()     # every log watcher we started

cleanup() {
  local p
  for p in "${WATCH[@]}"; do pkill -P "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  sleep 1
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  for p in "${PIDS[@]}" "${WATCH[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
log() { printf '[scale %s] %s\n' "$(date +%T)" "$*" >&2; }

# Waits (up to $2 s) for "listening on EP id ID" in log $1; prints "EP ID".
wait_listen() {
  local logf=$1 limit=$2 t0=$SECONDS line
  while [ $((SECONDS - t0)) -lt "$limit" ]; do
    line=$(grep -m1 -o 'listening on [^ ]* id [0-9a-f]*' "$logf" 2>/dev/null)
    if [ -n "$line" ]; then echo "$line" | awk '{print $3, $5}'; return 0; fi
    sleep 0.02
  done
  return 1
}

# utime+stime of PID in seconds.
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{sub(/^.*\) /, ""); print ($12 + $13) / hz}' "/proc/$1/stat" 2>/dev/null || echo nan; }
kb_of() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null; }
# A number field of pretty-printed JSON on stdin ("key": value,).
json_num() { awk -v k="\"$1\":" '$1 == k {v = $2; sub(/,$/, "", v); print v; exit}'; }
# Status of member ID in `sotto members --json` output on stdin.
member_status() { awk -v id="\"$1\"," '$1 == "\"id\":" {f = ($2 == id)} f && $1 == "\"status\":" {v = $2; gsub(/[",]/, "", v); print v; exit}'; }

# Starts a watcher that appends "TIME LINE" to $2 for each line of log $1 that contains
# $3 (default: a "membership: ... joined" line). Started before the newcomer is spawned:
# a watcher started after it listens would stamp what it reads late whenever spawning
# 64 watchers takes seconds (load). The newcomer's "listening" line is stamped the
# same way, so both ends of a join time carry the same reading delay.
watch_joins() {
  local pat=${3:-" joined ("}
  ( timeout 120 tail -s 0.1 -n +1 -F "$1" 2>/dev/null | while IFS= read -r line; do
      case "$line" in *"$pat"*|"scale-bench: "*) echo "$(now) $line" >> "$2" ;; esac
    done ) &
  WATCH+=($!)
}

# Reads "READ_TIME LINE" lines (as watch_joins writes them) and prints "TIME DELAY":
# TIME the daemon's own UTC timestamp of the line (epoch seconds; daemons log
# 2026-12-05T08:01:02.345Z first), DELAY how much later the watcher read it. On 64
# CPU-bound daemons the watchers lag by up to seconds, so events are timed by the
# daemons' clocks (lines without a timestamp fall back to the read time, delay 0).
stamp() {
  awk '{w = $1; t = w
    if ($2 ~ /^[0-9]+-[0-9]+-[0-9]+T[0-9][0-9]:[0-9][0-9]:[0-9.]+Z$/) {
      split(substr($2, 12, length($2) - 12), a, ":"); sod = a[1] * 3600 + a[2] * 60 + a[3]
      t = w - (w % 86400) + sod; if (t - w > 43200) t -= 86400; else if (w - t > 43200) t += 86400
    }
    printf "%.3f %.3f\n", t, w - t}'
}

# Starts a watcher that writes "READ_TIME LINE" of the line at which log $1 has shown $2 "membership: ... joined"
# lines (a complete view of $2 + 1 members at startup) into $3.
watch_view() {
  ( timeout 300 tail -s 0.1 -n +1 -F "$1" 2>/dev/null | {
      k=0
      while IFS= read -r line; do
        case "$line" in *"membership: "*" joined ("*) k=$((k + 1)) ;; *) continue ;; esac
        [ "$k" -ge "$2" ] && { echo "$(now) $line" > "$3"; break; }
      done; } ) &
  WATCH+=($!)
}

# Times in files $2.. relative to $1: "max count min median" (max null unless all $3.. exist).
spread() {
  local t=$1; shift
  local n=$#
  cat "$@" 2>/dev/null | awk -v t="$t" '{print $1 - t}' | sort -g | awk -v n="$n" '
    {v[NR] = $1} END {if (NR == 0) {print "null 0 null null"; exit}
      med = (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)
      printf "%s %d %.3f %.3f\n", (NR < n ? "null" : sprintf("%.3f", v[NR])), NR, v[1], med}'
}

# start_node DIR SHARD SHARDS MIN_MEMBERS [JOIN] -> pid in $STARTED
start_node() {
  local dir=$1 shard=$2 shards=$3 minm=$4 join=${5:-}
  mkdir -p "$dir"
  local args=(node --node.listen 'tcp://127.0.0.1:*' --node.data_dir "$dir"
    --data.source synthetic --data.synthetic_features "$FEATURES" --data.synthetic_samples "$SAMPLES"
    --data.max_test "$MAX_TEST" --model.kind softmax
    --algorithm.name malcom --algorithm.lr 0.1 --algorithm.batch_size "$BATCH"
    --algorithm.consensus_step 0.01 --algorithm.l1 1e-4 --algorithm.compressor 'chain:topk:0.01+dither:s=4'
    --gossip.topology ring --gossip.round_timeout_ms 1000 --gossip.min_round_ms "$MIN_ROUND_MS"
    --gossip.eval_every 200 --gossip.checkpoint_every 1000000
    --gossip.shard "$shard" --gossip.shards "$shards" --gossip.min_members "$minm")
  [ -n "$join" ] && args+=(--node.join "$join")
  "$BIN" "${args[@]}" > "$dir/node.log" 2>&1 &
  STARTED=$!
  PIDS+=("$STARTED")
}

stop_pids() {  # SIGTERM the given pids, wait up to 10 s, then SIGKILL
  local p t0=$SECONDS
  for p in "$@"; do kill -TERM "$p" 2>/dev/null; done
  for p in "$@"; do
    while kill -0 "$p" 2>/dev/null && [ $((SECONDS - t0)) -lt 10 ]; do sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
}

plot_results() {
# Plot: RSS, join/detect times, rounds/s vs N.
awk -v RS='{' 'NR > 2 && /"rss_mb_mean"/ {
    n = $0; gsub(/.*"nodes": /, "", n); sub(/,.*/, "", n)
    printf "%s", n
    split("rss_mb_mean rss_target_mb rss_minus_data_mb_mean join_known_by_all_s kill_all_dead_s formula_plus_probe_s rounds_per_second cpu_seconds_per_round", k, " ")
    for (i = 1; i <= 8; i++) { v = $0; if (index(v, "\"" k[i] "\":") == 0) { printf " NaN"; continue }
      sub(".*\"" k[i] "\": ", "", v); sub(/[,}].*/, "", v); if (v == "null") v = "NaN"; printf " %s", v }
    printf "\n" }' "$OUT/scale.json" | grep -v '^ ' > "$WORK/scale.dat"
cat > "$WORK/scale.gp" <<EOF
set terminal pngcairo size 1500,450 font ',10'
set output '$OUT/scale.png'
set multiplot layout 1,3 title 'sotto scale: N daemons on one 2-core machine (127.0.0.1), 100k-parameter softmax, MALCOM-PSGD, ring'
set grid
set key bottom left
set xlabel 'daemons N'
set xtics ($(awk '{printf "%s%s", (NR > 1 ? ", " : ""), $1}' "$WORK/scale.dat"))
set xrange [$(awk 'NR == 1 {print $1 * 0.8}' "$WORK/scale.dat"):$(awk '{m = $1} END {print m * 1.1}' "$WORK/scale.dat")]
set logscale x 2
set title 'resident memory per daemon'
set ylabel 'MB'
set yrange [0:*]
plot '$WORK/scale.dat' using 1:2 with linespoints lw 2 title 'RSS (mean)', '' using 1:4 with linespoints title 'RSS minus data shard', '' using 1:3 with lines dt 2 lw 2 title 'target 4 models + 30 MB'
set title 'membership'
set key bottom right
set ylabel 'seconds'
plot '$WORK/scale.dat' using 1:5 with linespoints lw 2 title 'new member known by all', '' using 1:6 with linespoints lw 2 title 'killed member dead at all', '' using 1:7 with lines dt 2 title 'formula 4 max(1,log10 N) T + 1.5 s', 3 with lines dt 2 lw 2 lc rgb 'red' title 'join target 3 s'
set title 'training speed'
set ylabel 'rounds / s per node'
set y2label 'CPU s per round'
set y2tics
plot '$WORK/scale.dat' using 1:8 with linespoints lw 2 title 'rounds/s', '' using 1:9 axes x1y2 with linespoints title 'CPU s/round'
unset multiplot
EOF
gnuplot "$WORK/scale.gp" || log "gnuplot failed"
log "wrote $OUT/scale.json and $OUT/scale.png"
}
if [ "$REPLOT" = 1 ]; then plot_results; exit 0; fi

# The lab figures of the last run, kept when this one skips the lab (--no-lab).
OLD_LAB=$(grep -m1 '^  "lab": ' "$OUT/scale.json" 2>/dev/null | sed 's/^  "lab": //')
ROWS=()
for N in $SIZES; do
  log "N=$N: starting $N daemons"
  t_launch=$(now)
  D=$WORK/n$N
  mkdir -p "$D"
  pid=(); ep=(); id=()
  for ((i = 0; i < N; i++)); do mkdir -p "$D/node-$i"; watch_view "$D/node-$i/node.log" $((N - 1)) "$D/node-$i/view.t"; done
  start_node "$D/node-0" 0 "$N" "$N"
  pid[0]=$STARTED
  read -r ep[0] id[0] < <(wait_listen "$D/node-0/node.log" 60) || { log "node 0 did not start"; cat "$D/node-0/node.log" >&2; exit 1; }
  for ((i = 1; i < N; i++)); do
    start_node "$D/node-$i" "$i" "$N" "$N" "${ep[0]}"
    pid[i]=$STARTED
  done
  for ((i = 1; i < N; i++)); do
    read -r ep[i] id[i] < <(wait_listen "$D/node-$i/node.log" 300) || { log "node $i did not start"; exit 1; }
  done
  t_all_listen=$(now)
  all_listen_s=$(awk -v a="$t_launch" -v b="$t_all_listen" 'BEGIN {printf "%.1f", b - a}')
  # Wait until every node trains: all N have started (round >= 1), which needs every
  # node's membership view to hold all N members (min_members = N). Timed from launch.
  t0=$SECONDS; ready=0; full=0
  while [ $((SECONDS - t0)) -lt 150 ]; do
    ready=0; full=0
    for ((i = 0; i < N; i++)); do
      read -r st_round st_view < <("$BIN" status --json --data-dir "$D/node-$i" 2>/dev/null | awk '
        $1 == "\"round\":" {r = $2} $1 == "\"membership_size\":" {m = $2} END {gsub(/,/, "", r); gsub(/,/, "", m); print r + 0, m + 0}')
      [ "${st_round:-0}" -ge 1 ] && ready=$((ready + 1))
      [ "${st_view:-0}" -ge "$N" ] && full=$((full + 1))
    done
    [ "$ready" -eq "$N" ] && [ "$full" -eq "$N" ] && break
    sleep 1
  done
  all_training_s=$(awk -v a="$t_launch" -v b="$(now)" 'BEGIN {printf "%.1f", b - a}')
  [ "$ready" -eq "$N" ] || all_training_s=null
  log "N=$N: $ready/$N nodes training, $full/$N complete views, $all_training_s s after launch"
  views=(); for ((i = 0; i < N; i++)); do
    [ -s "$D/node-$i/view.t" ] && stamp < "$D/node-$i/view.t" > "$D/node-$i/view.s"; views+=("$D/node-$i/view.s")
  done
  read -r views_s views_count views_first_s views_median_s < <(spread "$t_launch" "${views[@]}")
  for p in "${WATCH[@]}"; do pkill -P "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
  WATCH=()
  log "N=$N: all listening ${all_listen_s} s after launch; complete views (from the joined lines): $views_count/$N, first ${views_first_s} s, median ${views_median_s} s, last ${views_s} s after launch"
  sleep 3   # settle

  # Steady state: rounds and CPU over WINDOW seconds.
  declare -a r0 c0 r1 c1 view tout
  for ((i = 0; i < N; i++)); do
    r0[i]=$("$BIN" status --json --data-dir "$D/node-$i" 2>/dev/null | json_num round); c0[i]=$(cpu_of "${pid[i]}")
  done
  ta=$(now)
  sleep "$WINDOW"
  for ((i = 0; i < N; i++)); do
    st=$("$BIN" status --json --data-dir "$D/node-$i" 2>/dev/null)
    r1[i]=$(echo "$st" | json_num round); c1[i]=$(cpu_of "${pid[i]}")
    view[i]=$(echo "$st" | json_num membership_size); tout[i]=$(echo "$st" | json_num rounds_timed_out)
  done
  tb=$(now)
  # Health of the mesh: smallest membership view, nodes that made no round in the window, timed-out rounds.
  health=$(paste <(printf '%s\n' "${r0[@]}") <(printf '%s\n' "${r1[@]}") <(printf '%s\n' "${view[@]}") <(printf '%s\n' "${tout[@]}") | awk -v n="$N" '
    {if (NR == 1 || $3 < mv) mv = $3; if ($2 - $1 <= 0) z++; if ($3 < n) short++; t += $4; r += $2}
    END {printf "%d %d %d %.3f", mv, z + 0, short + 0, (r > 0 ? t / r : 0)}')
  read -r min_view stalled short_view timeout_frac <<< "$health"
  log "N=$N: smallest membership view $min_view, $short_view nodes see fewer than $N members, $stalled nodes made no round in the window, fraction of rounds timed out $timeout_frac"
  rss=(); hwm=(); for ((i = 0; i < N; i++)); do rss[i]=$(kb_of "${pid[i]}" VmRSS); hwm[i]=$(kb_of "${pid[i]}" VmHWM); done
  last_status=$("$BIN" status --json --data-dir "$D/node-0" 2>/dev/null)
  params=$(echo "$last_status" | json_num parameters)
  susp=$(grep -h -c 'membership: [0-9a-f]* suspect' "$D"/node-*/node.log | awk '{s += $1} END {print s + 0}')
  steady=$(paste <(printf '%s\n' "${r0[@]}") <(printf '%s\n' "${r1[@]}") <(printf '%s\n' "${c0[@]}") <(printf '%s\n' "${c1[@]}") \
           <(printf '%s\n' "${rss[@]}") <(printf '%s\n' "${hwm[@]}") | awk -v dt="$(awk -v a="$ta" -v b="$tb" 'BEGIN {print b - a}')" '
    { dr = $2 - $1; dc = $4 - $3; R += dr; C += dc; n++; rs += $5; if ($5 > rmax) rmax = $5; if ($6 > hmax) hmax = $6
      if (n == 1 || dr / dt < rmin) rmin = dr / dt }
    END { printf "%.3f %.3f %.5f %.4f %.2f %.2f %.2f", R / n / dt, rmin, (R > 0 ? C / R : -1), C / n / dt, rs / n / 1024, rmax / 1024, hmax / 1024 }')
  read -r rps rps_min cpu_round cpu_frac rss_mean rss_max hwm_max <<< "$steady"
  train_rows=$(grep -m1 -o '[0-9]* training samples, [0-9]* test samples' "$D/node-1/node.log" | awk '{print $1 + $4}')
  data_mb=$(awk -v r="$train_rows" -v f="$FEATURES" 'BEGIN {printf "%.2f", r * f * 4 / 1048576}')
  model_mb=$(awk -v p="$params" 'BEGIN {printf "%.3f", p * 4 / 1048576}')
  log "N=$N: $rps rounds/s per node (slowest $rps_min), $cpu_round CPU s/round, $cpu_frac cores/daemon, RSS mean $rss_mean MB max $rss_max MB (peak $hwm_max), model $model_mb MB, data $data_mb MB, $susp suspect events so far"

  # Join: JOINS more members, one after the other, each through a different member.
  newpids=(); newdirs=(); JT=(); JS=(); JC=(); JV=(); JSEED=(); JMED=(); JL=()
  for ((rep = 1; rep <= JOINS; rep++)); do
    J=$D/node-new$rep
    mkdir -p "$J"
    echo "scale-bench: watching" > "$J/node.log"
    for ((i = 0; i < N; i++)); do
      rm -f "$D/node-$i/joined.t" "$D/node-$i/joined.log"
      watch_joins "$D/node-$i/node.log" "$D/node-$i/joined.log"
    done
    watch_joins "$J/node.log" "$J/listen.log" "membership: joining through "
    # Spawn once that watcher has read the marker line: it then reads in real time.
    for ((k = 0; k < 600; k++)); do [ -s "$J/listen.log" ] && break; sleep 0.1; done
    t_spawn=$(now)
    seed=$(((N / 2 + rep) % N))
    start_node "$J" 0 "$N" 1 "${ep[seed]}"
    newpids+=("$STARTED"); newdirs+=("$J")
    read -r new_ep new_id < <(wait_listen "$J/node.log" 60) || { log "new node did not start"; exit 1; }
    t_listen=$(now)
    # The join starts at the newcomer's (timestamped) "membership: joining through" line.
    for ((k = 0; k < 100; k++)); do grep -q 'joining through ' "$J/listen.log" && break; sleep 0.1; done
    t=$(grep -m1 'joining through ' "$J/listen.log" | stamp | awk '{print $1}'); [ -n "$t" ] && t_listen=$t
    t0=$SECONDS
    while [ $((SECONDS - t0)) -lt 30 ]; do
      k=$(grep -l -F "membership: $new_id joined" "$D"/node-*/joined.log 2>/dev/null | wc -l)
      [ "$k" -ge "$N" ] && break
      sleep 0.2
    done
    for ((i = 0; i < N; i++)); do
      grep -m1 -F "membership: $new_id joined" "$D/node-$i/joined.log" 2>/dev/null | stamp > "$D/node-$i/joined.t"
    done
    join_known=$(cat "$D"/node-*/joined.t 2>/dev/null | awk -v t="$t_listen" -v n="$N" '{d = $1 - t; if (d > m) m = d; c++; s += d} END {if (c < n) print "null", c + 0, (c ? s / c : "null"); else printf "%.3f %d %.3f\n", m, c, s / c}')
    read -r join_all join_count join_mean <<< "$join_known"
    # Where the time goes: the seed it joined through, then the spread to the others.
    seed_s=$(awk -v t="$t_listen" '{printf "%.3f", $1 - t}' "$D/node-$seed/joined.t" 2>/dev/null); seed_s=${seed_s:-null}
    jfiles=(); for ((i = 0; i < N; i++)); do jfiles+=("$D/node-$i/joined.t"); done
    read -r _ _ join_first join_median < <(spread "$t_listen" "${jfiles[@]}")
    # The slowest member, and how late the watchers read the lines (not part of the time).
    slowest=$(for ((i = 0; i < N; i++)); do awk -v i="$i" '{print $1, i}' "$D/node-$i/joined.t" 2>/dev/null; done | sort -g | tail -1 | awk '{print $2}')
    lag=$(cat "$D"/node-*/joined.t 2>/dev/null | awk '$2 > m {m = $2} END {printf "%.3f", m}')
    JL+=("$lag")
    join_from_spawn=$(awk -v a="$t_spawn" -v b="$t_listen" -v m="$join_all" 'BEGIN {if (m == "null") print "null"; else printf "%.3f", m + b - a}')
    # Confirm with the members view of every node.
    alive_view=0
    for ((i = 0; i < N; i++)); do
      [ "$("$BIN" members --json --data-dir "$D/node-$i" 2>/dev/null | member_status "$new_id")" = alive ] && alive_view=$((alive_view + 1))
    done
    log "N=$N: join $rep: new member $new_id known by $join_count/$N after ${join_all} s (from its 'joining through' line; ${join_from_spawn} s from spawn; mean over nodes $join_mean s; seed $seed_s s, first $join_first s, median $join_median s, slowest node-$slowest; watchers read up to $lag s late), members --json alive on $alive_view/$N"
    JSEED+=("$seed_s"); JMED+=("$join_median"); JT+=("$join_all"); JS+=("$join_from_spawn"); JC+=("$join_count"); JV+=("$alive_view")
    for p in "${WATCH[@]}"; do pkill -P "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
    WATCH=()
    sleep 1
  done

  # Failure: SIGKILL KILLS members, one after the other; every other member must mark each dead.
  victims=(); KT=(); KF=(); KS=(); KC=(); KO=(); KV=(); KFORM=()
  for ((rep = 1; rep <= KILLS; rep++)); do
    victim=$((N / 3 + rep - 1))
    victims+=("$victim")
    vid=${id[victim]}
    others=()
    for ((i = 0; i < N; i++)); do
      gone=0; for v in "${victims[@]}"; do [ "$i" -eq "$v" ] && gone=1; done
      [ "$gone" -eq 0 ] && others+=("$D/node-$i")
    done
    others+=("${newdirs[@]}")
    for d in "${others[@]}"; do rm -f "$d/dead.t" "$d/suspect.t"; done
    # One watcher per node (tail uses inotify; a user has 128 instances by default, -s 0.1 if it polls).
    for d in "${others[@]}"; do
      # From the first line after those already written: a tail that starts late under
      # load still reads every line written since (-n 0 would skip them).
      from=$(($(wc -l < "$d/node.log") + 1))
      ( timeout 90 tail -s 0.1 -n "+$from" -F "$d/node.log" 2>/dev/null | while IFS= read -r line; do
          case "$line" in
            *"membership: $vid suspect"*) [ -e "$d/suspect.t" ] || echo "$(now) $line" > "$d/suspect.t" ;;
            *"membership: $vid dead"*) echo "$(now) $line" > "$d/dead.t"; break ;;
          esac
        done ) &
      WATCH+=($!)
    done
    sleep 2   # Every watcher's tail is running (spawning 66 takes a while under load).
    t_kill=$(now)
    kill -KILL "${pid[victim]}"
    wait "${pid[victim]}" 2>/dev/null
    t0=$SECONDS
    while [ $((SECONDS - t0)) -lt 60 ]; do
      k=0; for d in "${others[@]}"; do [ -s "$d/dead.t" ] && k=$((k + 1)); done
      [ "$k" -eq "${#others[@]}" ] && break
      sleep 0.2
    done
    for d in "${others[@]}"; do  # Say what a member that did not log the death logged instead.
      [ -s "$d/dead.t" ] || log "N=$N: kill $rep: $d never logged $vid dead; its last lines on it: $(grep -F "$vid" "$d/node.log" | tail -3 | tr '\n' '|') its last lines: $(tail -2 "$d/node.log" | tr '\n' '|') members --json: $("$BIN" members --json --data-dir "$d" 2>&1 | member_status "$vid")"
    done
    detect=$(cat "${others[@]/%//dead.t}" 2>/dev/null | stamp | awk -v t="$t_kill" -v n="${#others[@]}" '{d = $1 - t; if (c == 0 || d < lo) lo = d; if (d > m) m = d; c++} END {if (c < n) printf "null %d %s\n", c + 0, (c ? lo : "null"); else printf "%.3f %d %.3f\n", m, c, lo}')
    read -r detect_all detect_count detect_first <<< "$detect"
    first_suspect=$(cat "${others[@]/%//suspect.t}" 2>/dev/null | stamp | awk -v t="$t_kill" '{d = $1 - t; if (c == 0 || d < lo) lo = d; c++} END {if (c) printf "%.3f", lo; else print "null"}')
    # Suspicion timeout as the daemon computes it (net/membership.cc), with the members alive at the time.
    formula=$(awk -v n=$((${#others[@]} + 1)) 'BEGIN {l = log(n) / log(10); if (l < 1) l = 1; printf "%.3f", 4 * l * 1.0}')
    dead_view=0 view_failed=0
    for d in "${others[@]}"; do
      # A failed `sotto members` (timeout under load) is not a view of the victim: count it apart.
      if ! view=$("$BIN" members --json --data-dir "$d" 2>/dev/null) || [ -z "$view" ]; then
        view_failed=$((view_failed + 1)); continue
      fi
      s=$(member_status "$vid" <<< "$view")
      { [ "$s" = dead ] || [ -z "$s" ]; } && dead_view=$((dead_view + 1))
    done
    log "N=$N: kill $rep: $vid: first suspect after $first_suspect s, first dead $detect_first s, all $detect_count/${#others[@]} dead after $detect_all s (suspicion timeout $formula s + probe 1 s interval + 0.5 s timeout); members --json: dead/absent on $dead_view (no answer from $view_failed)"
    KT+=("$detect_all"); KF+=("$detect_first"); KS+=("$first_suspect"); KC+=("$detect_count"); KO+=("${#others[@]}"); KV+=("$dead_view"); KFORM+=("$formula")
    for p in "${WATCH[@]}"; do pkill -P "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
    WATCH=()
  done
  vids=(); for v in "${victims[@]}"; do vids+=(-e "${id[v]}"); done
  susp_total=$(grep -h 'membership: [0-9a-f]* suspect' "$D"/node-*/node.log | grep -v -c "${vids[@]}")
  # Summaries over the trials: median and max (null if any trial did not complete).
  mx() { printf '%s\n' "$@" | awk '$1 == "null" {bad = 1} $1 + 0 > m {m = $1 + 0} END {print (bad ? "null" : m)}'; }
  lst() { local IFS=,; echo "[$*]"; }
  join_all=$(mx "${JT[@]}"); join_med=$(printf '%s\n' "${JT[@]}" | sort -g | awk '{v[NR] = $1} END {print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}')
  detect_all=$(mx "${KT[@]}"); detect_med=$(printf '%s\n' "${KT[@]}" | sort -g | awk '{v[NR] = $1} END {print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}')
  grep -q null <<< "${JT[*]}" && join_med=null
  grep -q null <<< "${KT[*]}" && detect_med=null

  # Stop this mesh (SIGTERM, by pid) before the next size.
  alive_pids=()
  for ((i = 0; i < N; i++)); do
    gone=0; for v in "${victims[@]}"; do [ "$i" -eq "$v" ] && gone=1; done
    [ "$gone" -eq 0 ] && alive_pids+=("${pid[i]}")
  done
  stop_pids "${alive_pids[@]}" "${newpids[@]}"
  PIDS=()
  PIDS=()
  ROWS+=("$(printf '{"nodes": %d, "parameters": %s, "model_mb": %s, "data_mb_per_node": %s, "rss_target_mb": %s, "rss_mb_mean": %s, "rss_mb_max": %s, "rss_peak_mb_max": %s, "rss_minus_data_mb_mean": %s, "cpu_seconds_per_round": %s, "cores_per_daemon": %s, "rounds_per_second": %s, "rounds_per_second_slowest": %s, "join_known_by_all_s": %s, "join_known_by_all_max_s": %s, "join_trials_s": %s, "join_known_count": %s, "join_known_from_spawn_s": %s, "join_alive_in_members_json": %s, "join_seed_knows_s": %s, "join_median_node_s": %s, "join_watch_lag_max_s": %s, "kill_first_suspect_s": %s, "kill_first_dead_s": %s, "kill_all_dead_s": %s, "kill_all_dead_max_s": %s, "kill_trials_s": %s, "kill_dead_count": %s, "kill_observers": %s, "kill_dead_in_members_json": %s, "suspicion_timeout_formula_s": %s, "formula_plus_probe_s": %s, "false_suspicions": %d, "min_membership_view": %s, "nodes_seeing_fewer_than_n": %s, "nodes_without_progress": %s, "fraction_rounds_timed_out": %s, "launch_to_all_training_s": %s, "launch_to_all_listening_s": %s, "launch_to_views_complete_s": %s, "launch_to_views_complete_median_s": %s, "views_complete_count": %s}' \
    "$N" "$params" "$model_mb" "$data_mb" "$(awk -v m="$model_mb" 'BEGIN {printf "%.2f", 4 * m + 30}')" \
    "$rss_mean" "$rss_max" "$hwm_max" "$(awk -v a="$rss_mean" -v b="$data_mb" 'BEGIN {printf "%.2f", a - b}')" \
    "$cpu_round" "$cpu_frac" "$rps" "$rps_min" "$join_med" "$join_all" "$(lst "${JT[@]}")" "$(lst "${JC[@]}")" "$(lst "${JS[@]}")" "$(lst "${JV[@]}")" "$(lst "${JSEED[@]}")" "$(lst "${JMED[@]}")" "$(lst "${JL[@]}")" \
    "$(lst "${KS[@]}")" "$(lst "${KF[@]}")" "$detect_med" "$detect_all" "$(lst "${KT[@]}")" "$(lst "${KC[@]}")" "$(lst "${KO[@]}")" "$(lst "${KV[@]}")" "$(lst "${KFORM[@]}")" \
    "$(awk -v f="${KFORM[0]}" 'BEGIN {printf "%.3f", f + 1.5}')" "$susp_total" "$min_view" "$short_view" "$stalled" "$timeout_frac" "$all_training_s" "$all_listen_s" "$views_s" "$views_median_s" "$views_count")")
  # Write partial results after every size.
  { printf '{\n  "benchmark": "scale",\n  "date": "%s",\n  "host_cores": %d,\n  "loadavg_at_end": "%s",\n' "$(date -u +%FT%TZ)" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
    printf '  "setup": "sotto node daemons on 127.0.0.1, malcom top-1%%+dither s=4, ring, synthetic %d features (binary softmax), %d samples in all (4/5 train, sharded), batch %d, %d test rows, min_round_ms %s, membership defaults (net/membership.h): probe_interval 1000 ms, probe_timeout 500 ms, suspicion_multiplier 4, gossip to 3 members every 200 ms, push-pull every 10 s",\n' "$FEATURES" "$SAMPLES" "$BATCH" "$MAX_TEST" "$MIN_ROUND_MS"
    [ -n "$NOTES" ] && printf '  "notes": "%s",\n' "$NOTES"
    printf '  "mesh": [\n'; (IFS=$'\n'; echo "${ROWS[*]}") | sed 's/^/    /; $!s/$/,/'; printf '  ]\n}\n'; } > "$WORK/scale.partial.json"
  cp "$WORK/scale.partial.json" "$OUT/scale.json"
  [ -n "$KEEP" ] && { mkdir -p "$KEEP/n$N"; cp -r "$D"/. "$KEEP/n$N"/; }
  rm -rf "$D"
done

LABJSON=${OLD_LAB:-null}
[ "$LAB" = 1 ] || log "lab: skipped (--no-lab); keeping the previous lab figures: $LABJSON"
if [ "$LAB" = 1 ]; then
  log "lab: $LAB_NODES virtual nodes, synthetic-malcom, 100000 samples, 100 rounds"
  lab_t0=$(now)
  "$BIN" lab -c "$src/configs/lab/synthetic-malcom.toml" --lab.nodes "$LAB_NODES" --data.synthetic_samples 100000 \
    --lab.rounds 100 --lab.eval_every 50 --progress none --summary "$WORK/lab.json" > "$WORK/lab.out" 2>&1 &
  labpid=$!
  PIDS+=("$labpid")
  labmax=0
  while kill -0 "$labpid" 2>/dev/null; do
    m=$(kb_of "$labpid" VmHWM); [ -n "$m" ] && [ "$m" -gt "$labmax" ] && labmax=$m
    sleep 0.5
  done
  wait "$labpid"; labrc=$?
  lab_t1=$(now)
  lab_wall=$(json_num wall_seconds < "$WORK/lab.json" 2>/dev/null)
  lab_acc=$(json_num test_accuracy < "$WORK/lab.json" 2>/dev/null)
  LABJSON=$(printf '{"nodes": %d, "rounds": 100, "exit_code": %d, "wall_seconds_incl_data": %.3f, "wall_seconds_reported": %s, "rounds_per_second": %s, "node_rounds_per_second": %s, "peak_rss_mb": %.1f, "final_test_accuracy": %s}' \
    "$LAB_NODES" "$labrc" "$(awk -v a="$lab_t0" -v b="$lab_t1" 'BEGIN {print b - a}')" "${lab_wall:-null}" \
    "$(awk -v w="${lab_wall:-0}" 'BEGIN {if (w > 0) printf "%.3f", 100 / w; else print "null"}')" \
    "$(awk -v w="${lab_wall:-0}" -v n="$LAB_NODES" 'BEGIN {if (w > 0) printf "%.1f", 100 * n / w; else print "null"}')" \
    "$(awk -v k="$labmax" 'BEGIN {print k / 1024}')" "${lab_acc:-null}")
  log "lab: $LABJSON"
  tail -3 "$WORK/lab.out" >&2
fi

{ sed '$d' "$WORK/scale.partial.json" | sed '$d'; printf '  ],\n  "lab": %s\n}\n' "$LABJSON"; } > "$OUT/scale.json"

plot_results
