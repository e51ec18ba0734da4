#!/usr/bin/env bash
# Layering check (STYLE.md §1, ARCHITECTURE.md "Layers"). Usage: check_layering.sh REPO_ROOT
# Fails (exit 1) listing every #include that crosses a layer boundary:
#  - common/, coding/, topology/, algo/ never include ZeroMQ, msgpack, Boost.Asio, net/ or daemon/;
#  - common/ includes no other project layer; coding/ and topology/ only common/;
#  - net/ never includes algo/, coding/, topology/ or daemon/.
set -u
root=${1:?usage: check_layering.sh REPO_ROOT}
cd "$root" || { echo "layering: cannot enter $root" >&2; exit 2; }
fail=0

# check DIR REGEX WHY
check() {
  local dir=$1 regex=$2 why=$3 hits
  [ -d "$dir" ] || return 0
  hits=$(grep -rnE --include='*.h' --include='*.cc' --include='*.cpp' --include='*.hpp' \
         "^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]($regex)" "$dir" || true)
  if [ -n "$hits" ]; then
    printf 'layering violation: %s\n%s\n' "$why" "$hits"
    fail=1
  fi
}

transport='zmq|cppzmq|msgpack|boost/asio|boost/beast|net/|daemon/'
check common   "$transport|coding/|topology/|algo/" "common/ is the bottom layer: std + Eigen only"
check coding   "$transport|topology/|algo/" "coding/ is pure: it may include only common/"
check topology "$transport|coding/|algo/" "topology/ is pure: it may include only common/"
check algo     "$transport" "algo/ is sans-I/O: no ZeroMQ, msgpack, Asio, net/ or daemon/"
check net      "algo/|coding/|topology/|daemon/" "net/ moves bytes: it knows no algorithms and no daemon"

if [ $fail -eq 0 ]; then echo "layering: OK"; fi
exit $fail
