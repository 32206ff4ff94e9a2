#!/usr/bin/env bash
# stop.sh DIR - stop the Postfix and Dovecot that start.sh DIR started.
# Safe to call twice, and on a DIR where start.sh failed halfway.
set -eu

if [ $# -ne 1 ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
DIR=$(realpath -m "$1")
MAIN_CF=/etc/postfix/main.cf

# Wait (at most ~5 s) until a process is gone; then kill it by its id.
wait_gone() {
  local pid=$1 i
  for i in $(seq 50); do
    # A zombie counts as gone: here PID 1 may never reap it.
    local state
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
    case $state in
    "" | Z) return 0 ;;
    esac
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

pid_from() {
  [ -f "$1" ] && tr -dc '0-9' <"$1" || true
}

stop_dovecot() {
  local conf=$DIR/dovecot/dovecot.conf pid
  [ -f "$conf" ] || return 0
  pid=$(pid_from "$DIR/dovecot/run/master.pid")
  if [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; then
    # What doveadm stop does, without its wait on an unreaped zombie.
    wait_gone "$pid"
  else
    doveadm -c "$conf" stop >/dev/null 2>&1 || true
  fi
}

stop_postfix() {
  local conf=$DIR/postfix pid
  [ -f "$conf/main.cf" ] || return 0
  pid=$(pid_from "$DIR/postfix/queue/pid/master.pid")
  postfix -c "$conf" stop >/dev/null 2>&1 || true
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid"
  fi
}

# Forget DIR in the system Postfix's list of alternate configurations.
unregister_postfix_dir() {
  [ -f "$MAIN_CF" ] || return 0
  local cur new
  cur=$(postconf -c /etc/postfix -h alternate_config_directories 2>/dev/null || true)
  new=$(printf '%s\n' $cur | tr -d ',' | grep -vxF "$DIR/postfix" | tr '\n' ' ' || true)
  new=$(echo "$new" | sed 's/ *$//')
  if [ "$cur" != "$new" ]; then
    postconf -c /etc/postfix -e "alternate_config_directories = $new"
  fi
}

"$(dirname "$0")/proxies.sh" stop "$DIR" # the proxies (SOCKS, HTTP)
stop_postfix
stop_dovecot
unregister_postfix_dir
exit 0
