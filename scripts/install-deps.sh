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
  lua5.4 liblua5.4-dev luarocks lua-busted lua-dkjson
)
# OpenResty (resty.mailwire, tests/nginx): nginx's Lua module pulls
# OpenResty's LuaJIT (luajit2), which replaces Debian's luajit and
# libluajit-5.1-dev; the LuaJIT module is built against luajit2.
OPENRESTY_PACKAGES=(
  nginx libnginx-mod-http-lua lua-resty-core luajit2 libluajit2-5.1-dev
)
# asyncio (mailwire.aio), the Celery pool test and their peers in bench/.
ASYNC_PACKAGES=(
  python3-pytest-asyncio python3-aiosmtplib python3-celery python3-redis
  redis-server
)
# Message (MIME) and CLI peers: GMime in bench/, swaks beside the CLI.
PEER_PACKAGES=(libgmime-3.0-dev swaks)
PACKAGES=("${CORE_PACKAGES[@]}" "${FUZZ_PACKAGES[@]}" "${BENCH_PACKAGES[@]}" "${SERVER_PACKAGES[@]}" "${REVOCATION_PACKAGES[@]}" "${PYTHON_PACKAGES[@]}"
  "${LUA_PACKAGES[@]}" "${OPENRESTY_PACKAGES[@]}" "${ASYNC_PACKAGES[@]}"
  "${PEER_PACKAGES[@]}")

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
# nginx and redis-server would start system-wide services on install; the
# tests start their own private ones on loopback.
policy=/usr/sbin/policy-rc.d
own_policy=
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && own_policy=1
fi
status=0
apt-get install -y -q --no-install-recommends "${missing[@]}" || status=$?
[ -n "$own_policy" ] && rm -f "$policy"
exit $status
