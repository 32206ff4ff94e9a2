#!/usr/bin/env bash
# bench/run.sh [--quick] [--runs N] [--only 6] - build the library, the C drivers and
# (if missing) the Python package and the Lua rock, then run every scenario
# (bench/run.py). Run as root: it starts smtp-sink, bench/sink and the test
# Dovecot on loopback. Not part of the tests: numbers are for
# bench/README.md, never asserted (but every send is counted by the sink).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/build/bench
mkdir -p "$OUT"
"$ROOT/scripts/install-deps.sh" >/dev/null
cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$ROOT/build" -j"$(nproc)" --target mailwire_static >/dev/null
BATCH=()
grep -q "mw_smtp_send_batch" "$ROOT/core/include/mailwire.h" && BATCH=(-DMW_BENCH_BATCH)
cc -O2 -std=c11 -Wall -Wextra "${BATCH[@]}" -I"$ROOT/core/include" \
  "$ROOT/bench/mw_bench.c" "$ROOT/build/libmailwire.a" -lssl -lcrypto -lidn2 \
  -o "$OUT/mw_bench"
cc -O2 -std=c11 -Wall -Wextra "$ROOT/bench/curl_bench.c" -lcurl -o "$OUT/curl_bench"
cc -O2 -std=c11 -Wall -Wextra "$ROOT/bench/curl_multi.c" -lcurl -o "$OUT/curl_multi"
cc -O2 -std=c11 -Wall -Wextra -I"$ROOT/core/include" "$ROOT/bench/mw_evloop.c" \
  "$ROOT/build/libmailwire.a" -lssl -lcrypto -lidn2 -lpthread -o "$OUT/mw_evloop"
cc -O2 -std=c11 -Wall -Wextra "$ROOT/bench/measure.c" -o "$OUT/measure"
cc -O2 -std=c11 -Wall -Wextra "$ROOT/bench/sink.c" -lssl -lcrypto -o "$OUT/sink"
if [ ! -x "$ROOT/build/venv/bin/python" ]; then
  /usr/bin/python3 -m venv --system-site-packages "$ROOT/build/venv"
  (cd "$ROOT" && build/venv/bin/pip install -q --no-build-isolation --no-deps .)
fi
if [ ! -d "$ROOT/build/lua-tree" ]; then
  (cd "$ROOT" && luarocks --lua-version 5.4 --tree build/lua-tree \
    make rockspec/mailwire-scm-1.rockspec >/dev/null)
fi
exec /usr/bin/python3 "$ROOT/bench/run.py" "$@"
