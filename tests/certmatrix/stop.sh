#!/usr/bin/env bash
# stop.sh DIR - stop the servers start.sh started in DIR.
DIR=$1
[ -f "$DIR/server.pid" ] || exit 0
kill "$(cat "$DIR/server.pid")" 2>/dev/null
rm -f "$DIR/server.pid"
exit 0
