#!/usr/bin/env bash
# proxies.sh start|stop DIR - the proxies of the tests on loopback, in
# DIR/proxies (called by start.sh and stop.sh). `start` prints the
# servers.env lines:
#   MICROSOCKS_PORT   microsocks, SOCKS5 with user/password
#                     (PROXY_USER/PROXY_PASS)
#   DANTE_PORT        danted, SOCKS4 and SOCKS5, no authentication
#   DANTE_AUTH_PORT   danted, SOCKS5 with user/password: dante checks
#                     system users, so PROXY_SYSUSER (a dedicated system
#                     user with no shell and no home) is created for it
#   TINYPROXY_PORT    tinyproxy, HTTP CONNECT with Basic auth
#                     (PROXY_USER/PROXY_PASS); CONNECT is allowed to the
#                     ports in $MW_PROXY_CONNECT_PORTS only
# Runs as root. Every daemon runs in the foreground of a background job
# whose id is kept in DIR/proxies/*.pid, so stop kills exactly those.
set -eu

if [ $# -ne 2 ]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 2
fi
ACTION=$1
DIR=$(realpath -m "$2")
P=$DIR/proxies
PROXY_USER=mwproxy
PROXY_PASS='px-pw-5Tg8'
PROXY_SYSUSER=mwproxy

die() {
  echo "proxies.sh: $*" >&2
  exit 1
}

stop_all() {
  local f pid i
  for f in "$P"/*.pid; do
    [ -f "$f" ] || continue
    pid=$(tr -dc '0-9' <"$f")
    if [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; then
      for i in $(seq 50); do
        state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
        case $state in "" | Z) break ;; esac
        sleep 0.1
      done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
  done
}

if [ "$ACTION" = stop ]; then
  stop_all
  exit 0
fi
[ "$ACTION" = start ] || die "unknown action $ACTION"
for tool in microsocks danted tinyproxy; do
  command -v "$tool" >/dev/null || die "$tool is missing: run scripts/install-deps.sh"
done
stop_all
mkdir -p "$P"

# dante's username method checks the system's users.
if ! id "$PROXY_SYSUSER" >/dev/null 2>&1; then
  useradd --system --no-create-home --shell /usr/sbin/nologin "$PROXY_SYSUSER" ||
    die "cannot create the system user $PROXY_SYSUSER"
fi
echo "$PROXY_SYSUSER:$PROXY_PASS" | chpasswd || die "chpasswd failed"

read -r MICROSOCKS_PORT DANTE_PORT DANTE_AUTH_PORT TINYPROXY_PORT < <(
  /usr/bin/python3 "$(dirname "$0")/free-ports.py" 4
)

# ---- microsocks ----
microsocks -i 127.0.0.1 -p "$MICROSOCKS_PORT" -u "$PROXY_USER" \
  -P "$PROXY_PASS" >"$P/microsocks.log" 2>&1 &
echo $! >"$P/microsocks.pid"

# ---- dante, without and with authentication ----
dante_conf() { # port method
  cat <<EOF
logoutput: $P/danted-$2.log
internal: 127.0.0.1 port = $1
external: 127.0.0.1
clientmethod: none
socksmethod: $2
user.privileged: root
user.unprivileged: nobody
client pass {
  from: 127.0.0.0/8 to: 0.0.0.0/0
}
socks pass {
  from: 127.0.0.0/8 to: 127.0.0.0/8
  command: connect
  log: connect error
}
EOF
}
dante_conf "$DANTE_PORT" none >"$P/danted-none.conf"
dante_conf "$DANTE_AUTH_PORT" username >"$P/danted-username.conf"
for m in none username; do
  danted -f "$P/danted-$m.conf" -N 1 >"$P/danted-$m.out" 2>&1 &
  echo $! >"$P/danted-$m.pid"
done

# ---- tinyproxy ----
{
  echo "Port $TINYPROXY_PORT"
  echo "Listen 127.0.0.1"
  echo "Timeout 60"
  echo "MaxClients 20"
  echo "Allow 127.0.0.1"
  echo "LogFile \"$P/tinyproxy.log\""
  echo "LogLevel Info"
  echo "BasicAuth $PROXY_USER $PROXY_PASS"
  for port in ${MW_PROXY_CONNECT_PORTS:-}; do
    echo "ConnectPort $port"
  done
} >"$P/tinyproxy.conf"
touch "$P/tinyproxy.log"
chmod 666 "$P/tinyproxy.log"
tinyproxy -d -c "$P/tinyproxy.conf" >"$P/tinyproxy.out" 2>&1 &
echo $! >"$P/tinyproxy.pid"

# ---- wait until each listens (bounded) ----
for port in $MICROSOCKS_PORT $DANTE_PORT $DANTE_AUTH_PORT $TINYPROXY_PORT; do
  ok=
  for i in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      ok=1
      break
    fi
    sleep 0.1
  done
  if [ -z "$ok" ]; then
    tail -n 20 "$P"/*.log "$P"/*.out >&2 || true
    stop_all
    die "no proxy listens on port $port"
  fi
done

cat <<EOF
MICROSOCKS_PORT=$MICROSOCKS_PORT
DANTE_PORT=$DANTE_PORT
DANTE_AUTH_PORT=$DANTE_AUTH_PORT
TINYPROXY_PORT=$TINYPROXY_PORT
PROXY_USER=$PROXY_USER
PROXY_PASS=$PROXY_PASS
PROXY_SYSUSER=$PROXY_SYSUSER
EOF
