#!/usr/bin/env bash
# Keeps the hand-written man page honest: every subcommand that `sotto --help`
# lists has a `.SS NAME` section in packaging/sotto.1 and a working `--help`,
# and groff (when installed) renders the page without warnings.
#   packaging/check_man_page.sh BUILD/sotto packaging/sotto.1
set -euo pipefail
sotto=$1
page=$2
status=0
subs=$("$sotto" --help | awk '/^Subcommands:/ {on = 1; next} on && /^  [a-z]/ {print $1}')
[ -n "$subs" ] || { echo "no subcommands found in '$sotto --help'"; exit 1; }
for s in $subs; do
  if ! grep -qx "\.SS $s" "$page"; then
    echo "man page $page: no '.SS $s' section for subcommand '$s'"
    status=1
  fi
  if ! "$sotto" "$s" --help >/dev/null 2>&1; then
    echo "'sotto $s --help' failed"
    status=1
  fi
done
if command -v groff >/dev/null; then
  warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1 || true)
  if [ -n "$warnings" ]; then
    echo "groff warns about $page:"
    echo "$warnings"
    status=1
  fi
else
  echo "groff not installed: skipping the rendering check"
fi
[ $status = 0 ] && echo "man page covers: $(echo $subs)"
exit $status
