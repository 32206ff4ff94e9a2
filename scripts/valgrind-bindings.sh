#!/usr/bin/env bash
# valgrind-bindings.sh - the Python and Lua suites again, under valgrind
# (memory errors only: invalid reads/writes, uninitialised values, bad
# frees, in our extension modules and the library). Run by test.sh after
# the suites have built build/venv and build/lua-tree. Leak checking is
# left to ASan on the C suite: the interpreters keep memory until exit.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VG=(valgrind -q --error-exitcode=99 --leak-check=no --track-origins=no)
rc=0

# The hostile cases are mostly waits for timeouts and closes: under
# valgrind only their TLS groups run (every case runs in the normal suites).
export MW_HOSTILE_FILTER=tls/
# The revocation matrix is the library's: ASan runs it whole from C; here
# only the cases with two OCSP answers (stapled and fetched, TLS 1.2/1.3).
export MW_REVOCATION_FILTER=two-answers
# Likewise the shared API cases (tests/api-cases): only the address group,
# which runs the new C parsing through both bindings.
export MW_API_FILTER=address/

echo "--- valgrind: pytest"
# The RSS-growth tests measure valgrind's own memory (it holds 20 MB of
# freed blocks before reusing them), not ours: skipped here only (they run
# in the normal suite).
(cd "$ROOT" && PYTHONMALLOC=malloc "${VG[@]}" "$ROOT/build/venv/bin/python" \
  -m pytest -q -p no:cacheprovider tests/python \
  -k "not leak_after_10000_calls and not no_leak_creating_and_dropping") ||
  rc=1

echo "--- valgrind: busted"
(cd "$ROOT/tests/lua" && "${VG[@]}" lua5.4 /usr/bin/busted -o TAP) || rc=1
exit $rc
