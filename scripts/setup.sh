#!/usr/bin/env bash
# Installs every Debian package sotto needs (idempotent: only what is missing),
# then configures and builds the `release` preset into build/release.
#
#   scripts/setup.sh            install + build
#   SOTTO_PRESET=asan scripts/setup.sh    another preset (debug, release, asan, tsan)
#   SOTTO_WERROR=1 scripts/setup.sh       warnings are errors (CI)
#   SOTTO_SKIP_INSTALL=1 scripts/setup.sh build only
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkg-config git
  libzmq3-dev cppzmq-dev libeigen3-dev libmsgpack-cxx-dev libboost-dev catch2
  libtomlplusplus-dev libcli11-dev libspdlog-dev nlohmann-json3-dev
  zlib1g-dev libzstd-dev libbenchmark-dev dataset-fashion-mnist gnuplot-nox
)

if [ "${SOTTO_SKIP_INSTALL:-0}" != 1 ]; then
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "sotto setup: installing Debian packages: ${missing[*]}"
    if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
    "${sudo[@]}" apt-get update -q
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
  else
    echo "sotto setup: all ${#packages[@]} Debian packages already installed"
  fi
fi

preset=${SOTTO_PRESET:-release}
werror=OFF
[ "${SOTTO_WERROR:-0}" = 1 ] && werror=ON
jobs=${SOTTO_JOBS:-$(nproc)}
echo "sotto setup: building preset '$preset' (werror=$werror, $jobs jobs) into build/$preset"
cmake --preset "$preset" -DSOTTO_WERROR="$werror" >/dev/null
cmake --build --preset "$preset" -j "$jobs"
echo "sotto setup: built build/$preset/sotto"
