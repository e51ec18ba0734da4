#!/usr/bin/env bash
# Proves check_layering.sh is not a no-op: a clean tree passes, and each kind of
# forbidden include makes it fail. Usage: check_layering_selftest.sh PATH/TO/check_layering.sh
set -u
check=${1:?usage: check_layering_selftest.sh CHECK_SCRIPT}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"/{common,coding,topology,algo,net,daemon}
echo '#include "common/status.h"' > "$tmp/coding/ok.h"
echo '#include "coding/codec.h"' > "$tmp/algo/ok.h"
echo '#include <zmq.hpp>' > "$tmp/net/zmq_ok.cc"
echo '#include "algo/lab.h"' > "$tmp/daemon/ok.cc"
if ! bash "$check" "$tmp" >/dev/null; then echo "selftest: a clean tree was rejected"; exit 1; fi

expect_fail() {  # FILE LINE
  printf '%s\n' "$2" > "$tmp/$1"
  if bash "$check" "$tmp" >/dev/null; then echo "selftest: missed '$2' in $1"; exit 1; fi
  rm -f "$tmp/$1"
}
expect_fail coding/bad.h '#include <zmq.hpp>'
expect_fail algo/bad.cc '#include <msgpack.hpp>'
expect_fail topology/bad.h '  #  include <boost/asio/io_context.hpp>'
expect_fail common/bad.h '#include "net/transport.h"'
expect_fail algo/bad.h '#include "daemon/node.h"'
expect_fail net/bad.cc '#include "algo/malcom.h"'
expect_fail coding/bad2.h '#include "algo/lab.h"'
echo "selftest: check_layering.sh catches every forbidden include"
