#!/usr/bin/env bash
# End-to-end check of the Debian package, on this machine (needs root for dpkg):
#
#   1. builds sotto (Release, no tests) in $SOTTO_DEB_BUILD_DIR (default build/deb)
#      and packs it with `cpack -G DEB`;
#   2. installs the .deb with `dpkg -i` and checks the installed files: /usr/bin/sotto
#      (whose --version is the package version), the systemd unit
#      /usr/lib/systemd/system/sotto@.service (which `systemd-analyze verify` accepts,
#      when installed), the man page and the example configs;
#   3. starts one node from the installed binary exactly as the unit's ExecStart
#      would for an instance (%i), except that the config (/etc/sotto/%i.toml) and
#      the state directory (/var/lib/sotto/%i) are redirected into a temporary
#      directory; the config is the packaged node.toml example with a free loopback
#      port and the synthetic data set. No systemd is involved (none runs here);
#   4. checks that `sotto status --data-dir STATE --json` answers with the node's
#      round, state and listening address;
#   5. stops the node by pid with SIGTERM (what systemd sends) and checks that it
#      exits 0 within 15 s and left a checkpoint in its state directory;
#   6. removes the package (`dpkg -r sotto`) and checks /usr/bin/sotto is gone.
#
# It refuses to run when a sotto package is already installed, so it never removes
# somebody else's. Not checked: the unit under a real systemd (DynamicUser,
# StateDirectory, hardening, Restart=), lintian cleanliness.
#
#   scripts/test_deb_install.sh        SOTTO_DEB_BUILD_DIR=build/x SOTTO_JOBS=4 ...
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "test_deb_install: $*"; }
fail() { say "FAIL: $*"; exit 1; }

[ "$(id -u)" = 0 ] || fail "needs root (dpkg -i / dpkg -r)"
if dpkg-query -W -f='${Status}' sotto 2>/dev/null | grep -q "install ok installed"; then
  fail "a sotto package is already installed; remove it first (dpkg -r sotto)"
fi

build=${SOTTO_DEB_BUILD_DIR:-build/deb}
instance=debtest
tmp=$(mktemp -d /tmp/sotto-deb-test.XXXXXX)
node_pid=""
installed=0
cleanup() {
  if [ -n "$node_pid" ] && kill -0 "$node_pid" 2>/dev/null; then kill -KILL "$node_pid" 2>/dev/null || true; fi
  if [ $installed = 1 ]; then dpkg -r sotto >/dev/null 2>&1 || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# 1. Build and pack.
say "building into $build"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSOTTO_NATIVE=OFF -DSOTTO_BUILD_TESTS=OFF \
  -DSOTTO_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j "${SOTTO_JOBS:-2}" >/dev/null
rm -f "$build"/sotto_*.deb
(cd "$build" && cpack -G DEB >/dev/null)
deb=$(ls "$build"/sotto_*.deb 2>/dev/null | head -n 1)
[ -f "$deb" ] || fail "cpack wrote no sotto_*.deb in $build"
say "ok: packed $deb ($(du -h "$deb" | cut -f1))"
dpkg-deb --info "$deb" | sed -n 's/^ \(Package\|Version\|Depends\):/  \1:/p'
version=$(dpkg-deb --field "$deb" Version)

# 2. Install and look at what landed. dpkg may be busy for a moment (apt elsewhere).
for attempt in 1 2 3 4 5; do
  if dpkg -i "$deb" >"$tmp/dpkg.log" 2>&1; then installed=1; break; fi
  grep -q "lock" "$tmp/dpkg.log" || { cat "$tmp/dpkg.log"; fail "dpkg -i $deb"; }
  sleep 3
done
[ $installed = 1 ] || fail "dpkg -i: dpkg stayed locked"
say "ok: dpkg -i installed sotto $version"
unit=/usr/lib/systemd/system/sotto@.service
[ -f "$unit" ] || unit=/lib/systemd/system/sotto@.service
for f in /usr/bin/sotto "$unit" /usr/share/man/man1/sotto.1.gz /usr/share/sotto/configs/node.toml \
         /usr/share/sotto/configs/mesh-local.toml /usr/share/sotto/configs/lab/quickstart.toml; do
  [ -e "$f" ] || fail "not installed: $f"
done
say "ok: binary, systemd unit, man page and example configs installed"
/usr/bin/sotto --version | grep -qx "sotto $version" || fail "/usr/bin/sotto --version: $(/usr/bin/sotto --version)"
say "ok: /usr/bin/sotto --version = sotto $version"
zcat /usr/share/man/man1/sotto.1.gz | grep -q '^\.SH NAME' || fail "man page has no NAME section"
if command -v systemd-analyze >/dev/null; then
  # Parses the unit offline (no running systemd needed): syntax, directives, ExecStart binary.
  cp "$unit" "$tmp/sotto@$instance.service"
  warnings=$(systemd-analyze verify --man=no "$tmp/sotto@$instance.service" 2>&1 || true)
  [ -z "$warnings" ] || fail "systemd-analyze verify $unit: $warnings"
  say "ok: systemd-analyze verify accepts the unit"
else
  say "systemd-analyze not installed: unit syntax not verified"
fi

# 3. The unit's command line for instance $instance, with config and state moved to $tmp.
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
[ -n "$exec_start" ] || fail "no ExecStart= in $unit"
cmdline=${exec_start//%i/$instance}
config=$tmp/$instance.toml
state=$tmp/state
case $cmdline in
  *"/etc/sotto/$instance.toml"*"/var/lib/sotto/$instance"*) ;;
  *) fail "ExecStart does not read /etc/sotto/%i.toml and /var/lib/sotto/%i: $exec_start" ;;
esac
cmdline=${cmdline//\/etc\/sotto\/$instance.toml/$config}
cmdline=${cmdline//\/var\/lib\/sotto\/$instance/$state}
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' \
         2>/dev/null || shuf -i 20000-60000 -n 1)
sed -e "s|^listen = .*|listen = \"tcp://127.0.0.1:$port\"|" \
    -e 's|^source = "fashion-mnist"|source = "synthetic"|' \
    /usr/share/sotto/configs/node.toml >"$config"
grep -q "127.0.0.1:$port" "$config" && grep -q '^source = "synthetic"' "$config" ||
  fail "could not adapt the packaged node.toml (listen / source keys moved?)"
mkdir -p "$state"  # systemd's StateDirectory= would create it.
read -r -a argv <<<"$cmdline"
say "starting: ${argv[*]}"
"${argv[@]}" >"$tmp/node.log" 2>&1 &
node_pid=$!

# 4. The control socket answers.
answered=0
for _ in $(seq 1 100); do
  if ! kill -0 "$node_pid" 2>/dev/null; then cat "$tmp/node.log"; fail "the node exited early"; fi
  if /usr/bin/sotto status --data-dir "$state" --json >"$tmp/status.json" 2>/dev/null; then answered=1; break; fi
  sleep 0.2
done
[ $answered = 1 ] || { cat "$tmp/node.log"; fail "sotto status --data-dir $state never answered"; }
for key in '"round"' '"state"' "127.0.0.1:$port"; do
  grep -q "$key" "$tmp/status.json" || { cat "$tmp/status.json"; fail "status answer lacks $key"; }
done
say "ok: sotto status --data-dir answered: $(/usr/bin/sotto status --data-dir "$state" | head -n 1)"

# 5. SIGTERM by pid, as systemd stops it: clean exit and a checkpoint.
sleep 1  # Let it train a little so there is something to checkpoint.
kill -TERM "$node_pid"
for _ in $(seq 1 75); do kill -0 "$node_pid" 2>/dev/null || break; sleep 0.2; done
kill -0 "$node_pid" 2>/dev/null && { cat "$tmp/node.log"; fail "the node ignored SIGTERM for 15 s"; }
rc=0
wait "$node_pid" || rc=$?
node_pid=""
[ $rc = 0 ] || { cat "$tmp/node.log"; fail "the node exited with $rc after SIGTERM"; }
[ -n "$(ls -A "$state")" ] || fail "no checkpoint in $state after SIGTERM"
say "ok: SIGTERM -> exit 0, state dir holds: $(ls "$state" | tr '\n' ' ')"

# 6. Remove.
dpkg -r sotto >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log"; fail "dpkg -r sotto"; }
installed=0
[ ! -e /usr/bin/sotto ] || fail "/usr/bin/sotto still there after dpkg -r"
[ ! -e "$unit" ] || fail "$unit still there after dpkg -r"
say "ok: dpkg -r removed the package"
say "PASS"
