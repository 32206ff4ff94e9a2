#!/usr/bin/env bash
# start.sh DIR - make the matrix's PKI in DIR (gen.sh) and start its
# servers (server.py) in the background; DIR/ports lists "case port",
# DIR/server.pid the server. stop.sh DIR stops it.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
DIR=$1
"$HERE/stop.sh" "$DIR" 2>/dev/null || true
rm -rf "$DIR"
mkdir -p "$DIR"
"$HERE/gen.sh" "$DIR" >/dev/null
python3 "$HERE/server.py" "$DIR" "$HERE/cases.txt" >"$DIR/server.log" 2>&1 &
echo $! >"$DIR/server.pid"
for _ in $(seq 1 300); do
  [ -f "$DIR/ports" ] && { echo "certmatrix servers up in $DIR"; exit 0; }
  kill -0 "$(cat "$DIR/server.pid")" 2>/dev/null || break
  sleep 0.1
done
echo "certmatrix: the servers did not start:" >&2
cat "$DIR/server.log" >&2
exit 1
