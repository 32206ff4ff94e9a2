#!/bin/sh
# Runs `test_deadlines resolver` in private mount and network namespaces
# (needs root): only a loopback interface, and /etc/resolv.conf replaced by
# one naming 127.0.0.1, where the test's own DNS sink receives every query
# and never answers.
#   resolver-timeout.sh path/to/test_deadlines
set -eu
exec unshare -m -n sh -eu -c '
  ip link set lo up
  conf=$(mktemp)
  trap "rm -f $conf" EXIT
  printf "nameserver 127.0.0.1\n" >"$conf"
  mount --bind "$conf" /etc/resolv.conf
  "$1" resolver
' resolver-timeout "$1"
