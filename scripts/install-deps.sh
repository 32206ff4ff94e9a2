#!/usr/bin/env bash
# install-deps.sh - install what mailwire needs to build and test, as root
# on Debian 12. Idempotent: when everything is present it only checks.
set -eu

# Build and C tests.
CORE_PACKAGES=(
  build-essential cmake pkg-config libssl-dev openssl clang-format
  libidn2-dev python3
)
# libFuzzer targets (fuzz/run.sh): clang with its sanitizer/fuzzer runtime.
FUZZ_PACKAGES=(clang libclang-rt-14-dev valgrind)
# bench/ only: the libcurl peer.
BENCH_PACKAGES=(libcurl4-openssl-dev)
# The real servers the tests start (tests/servers/start.sh).
SERVER_PACKAGES=(
  postfix dovecot-core dovecot-pop3d dovecot-lmtpd
  dante-server microsocks tinyproxy
)
# The revocation matrix's CRLs, OCSP answers and stapling TLS servers
# (tests/servers/revocation-matrix.py, run by the system python3).
REVOCATION_PACKAGES=(python3-cryptography python3-openssl)
# Python binding and its tests.
PYTHON_PACKAGES=(
  swig python3-dev python3-venv python3-pip python3-setuptools python3-wheel
  python3-pytest python3-mypy
)
# Lua binding and its tests.
LUA_PACKAGES=(
  lua5.4 liblua5.4-dev luarocks lua-busted lua-dkjson luajit libluajit-5.1-dev
)
PACKAGES=("${CORE_PACKAGES[@]}" "${FUZZ_PACKAGES[@]}" "${BENCH_PACKAGES[@]}" "${SERVER_PACKAGES[@]}" "${REVOCATION_PACKAGES[@]}" "${PYTHON_PACKAGES[@]}"
  "${LUA_PACKAGES[@]}")

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed' ||
    missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing ${missing[*]}; run as root to install them" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Postfix asks its questions at install time unless answered before.
echo "postfix postfix/main_mailer_type select No configuration" |
  debconf-set-selections
echo "postfix postfix/mailname string localhost" | debconf-set-selections
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
