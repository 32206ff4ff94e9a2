#!/usr/bin/env bash
# fuzz/run.sh [seconds] [target...] - build every libFuzzer target with
# clang (ASan+UBSan) into build/fuzz and run each for the given time
# (default 20 s) on its seed corpus. Exits non-zero on any finding; the
# crashing input is left in build/fuzz/work/<target>/ (crash-*, log).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECS=${1:-20}
shift || true
OUT="$ROOT/build/fuzz"
mkdir -p "$OUT"
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  for f in "$ROOT"/fuzz/fuzz_*.c; do TARGETS+=("$(basename "$f" .c)"); done
fi
CFLAGS=(-std=c11 -D_POSIX_C_SOURCE=200809L -g -O1 -fno-omit-frame-pointer
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
  -Wall -Wextra -Werror -I"$ROOT/core/include" -I"$ROOT/core/src"
  $(for d in "$ROOT"/core/src/*/; do printf -- "-I%s " "${d%/}"; done)
  -I"$ROOT/fuzz")

# The library once, as objects with fuzzer coverage but no main.
LIB="$OUT/lib"
mkdir -p "$LIB" "$OUT/bin"
for src in "$ROOT"/core/src/*/*.c; do
  obj="$LIB/$(basename "$src" .c).o"
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] ||
    [ -n "$(find "$ROOT/core" -name '*.h' -newer "$obj")" ]; then
    clang "${CFLAGS[@]/-fsanitize=fuzzer,/-fsanitize=fuzzer-no-link,}" \
      -c "$src" -o "$obj" || exit 1
  fi
done

# Seeds made from the hostile-server cases (tests/hostile): build output.
rm -rf "$OUT/seeds-hostile"
python3 "$ROOT/fuzz/seed-hostile.py" "$OUT/seeds-hostile" || exit 1

FAILED=()
for t in "${TARGETS[@]}"; do
  echo "=== $t: build"
  clang "${CFLAGS[@]}" "$ROOT/fuzz/$t.c" "$LIB"/*.o -lssl -lcrypto -lidn2 \
    -o "$OUT/bin/$t" || { FAILED+=("$t (build)"); continue; }
  mkdir -p "$OUT/work/$t/corpus"
  seeds=()
  [ -d "$ROOT/fuzz/corpus/$t" ] && seeds=("$ROOT/fuzz/corpus/$t")
  [ -d "$OUT/seeds-hostile/$t" ] && seeds+=("$OUT/seeds-hostile/$t")
  echo "=== $t: run ${SECS}s"
  # The working corpus lives in build/; the committed seeds are read only.
  (cd "$OUT/work/$t" && "$OUT/bin/$t" -max_total_time="$SECS" -timeout=10 \
    -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    corpus "${seeds[@]}" >log 2>&1)
  rc=$?
  grep -E "^(stat::|SUMMARY|==[0-9]+==ERROR)|Done [0-9]+ runs" "$OUT/work/$t/log"
  if [ $rc -ne 0 ]; then
    tail -n 40 "$OUT/work/$t/log"
    FAILED+=("$t")
  fi
done
if [ ${#FAILED[@]} -ne 0 ]; then
  echo "fuzz: FINDINGS or build failures: ${FAILED[*]}"
  exit 1
fi
echo "fuzz: every target ran ${SECS}s without a finding"
