#!/usr/bin/env bash
# demo.sh - mailwire's main job on a local default: starts Postfix and
# Dovecot on loopback with a fresh test PKI, sends a message over SMTP with
# STARTTLS and AUTH, and reads it back over POP3S. Run as root.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$ROOT/scripts/install-deps.sh"
cmake -S "$ROOT" -B "$ROOT/build" >/dev/null
cmake --build "$ROOT/build" -j"$(nproc 2>/dev/null || echo 2)" --target mailwire-demo

WORK=$(mktemp -d /tmp/mailwire-demo.XXXXXX)
chmod 755 "$WORK" # the postfix and dovecot users work below it
cleanup() {
  "$ROOT/tests/servers/stop.sh" "$WORK/servers" || true
  rm -rf "$WORK"
}
trap cleanup EXIT
"$ROOT/tests/servers/start.sh" "$WORK/servers"

# shellcheck disable=SC1091
. "$WORK/servers/servers.env"
"$ROOT/build/mailwire-demo" \
  --host localhost \
  --smtp-port "$SMTP_PORT" \
  --pop3s-port "$POP3S_PORT" \
  --user "$USER" --pass "$PASS" \
  --to "$USER@$MAIL_DOMAIN" \
  --ca "$CA_FILE" "$@"
