#!/usr/bin/env bash
# test.sh - every test: installs what is missing, builds build/ and
# build-asan/ (ASan+UBSan), and runs the C suites with ctest in both; then
# build-tsan/ (ThreadSanitizer, clang): the library and the thread stress
# test only (tests/c/itest_stress.c, about a minute).
# Exits non-zero if anything failed. Run as root (the tests start Postfix
# and Dovecot on loopback).
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
JOBS=$(nproc 2>/dev/null || echo 2)
FAILED=()

step() { echo; echo "=== $* ==="; }

# Build one configuration: build_dir, then extra cmake options.
build() {
  local dir=$1
  shift
  cmake -S "$ROOT" -B "$ROOT/$dir" "$@" &&
    cmake --build "$ROOT/$dir" -j"$JOBS"
}

run_c_suite() {
  local dir=$1
  shift
  step "C: configure and build $dir"
  if ! build "$dir" "$@"; then
    FAILED+=("build $dir")
    return
  fi
  step "C: ctest in $dir"
  ctest --test-dir "$ROOT/$dir" --output-on-failure --timeout 600 ||
    FAILED+=("ctest $dir")
}

step "dependencies"
"$ROOT/scripts/install-deps.sh" || { echo "install-deps failed" >&2; exit 1; }

run_c_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo
run_c_suite build-asan -DMW_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
run_c_suite build-tsan -DMW_TSAN=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang

# --- libFuzzer targets (fuzz/), a short bounded run each; fuzz/README.md
# says how to run them long. ---
step "fuzz: every target ${MW_FUZZ_SECONDS:-15}s"
"$ROOT/fuzz/run.sh" "${MW_FUZZ_SECONDS:-15}" || FAILED+=("fuzz")

# --- Lua (owner: Lua binding): luarocks into a private tree, then busted,
# which starts and stops its own servers. ---
run_lua_suite() {
  step "Lua: luarocks make into build/lua-tree"
  if ! (cd "$ROOT" && luarocks --lua-version 5.4 --tree build/lua-tree \
    make rockspec/mailwire-scm-1.rockspec); then
    FAILED+=("lua build")
    return
  fi
  step "Lua: busted"
  (cd "$ROOT/tests/lua" && lua5.4 /usr/bin/busted) || FAILED+=("busted")
}
run_lua_suite

# --- Python (owner: Python binding): pip builds the extension (SWIG at
# build time) into the venv build/venv, then pytest, whose session fixture
# starts and stops its own servers. Last, so pytest's summary ends the
# output. ---
run_python_suite() {
  local venv="$ROOT/build/venv"
  step "Python: pip install into build/venv"
  if ! { [ -x "$venv/bin/python" ] ||
    /usr/bin/python3 -m venv --system-site-packages "$venv"; } ||
    ! (cd "$ROOT" && "$venv/bin/pip" install --no-build-isolation \
      --force-reinstall --no-deps .); then
    FAILED+=("python build")
    return
  fi
  step "Python: pytest"
  (cd "$ROOT" && "$venv/bin/python" -m pytest tests/python -v) ||
    FAILED+=("pytest")
}
run_python_suite

# --- Both binding suites again under valgrind (memory errors in the
# extension modules and the library). ---
if [ -x "$ROOT/build/venv/bin/python" ] && [ -d "$ROOT/build/lua-tree" ]; then
  step "valgrind: Python and Lua suites"
  "$ROOT/scripts/valgrind-bindings.sh" || FAILED+=("valgrind")
fi

# On success the last suite's own summary ends the output.
if [ ${#FAILED[@]} -ne 0 ]; then
  echo
  echo "test.sh: FAILED: ${FAILED[*]}"
  exit 1
fi
