#!/usr/bin/env bash
# start.sh DIR - start the real peers of the tests on loopback, from an
# empty DIR, and write DIR/servers.env (keys: see tests/c/testlib.h).
#
#   DIR/pki      test CA, server certificate (localhost, 127.0.0.1, ::1),
#                an unrelated second CA; generated now, never reused
#   DIR/dovecot  Dovecot: POP3 (STLS), POP3S, LMTP and SASL auth sockets
#   DIR/postfix  Postfix: SMTP (STARTTLS + AUTH), SMTPS, SMTP without TLS;
#                mail for MAIL_DOMAIN goes to Dovecot over LMTP
#   DIR/mail     maildirs: DIR/mail/USER/Maildir
#
# Runs as root. On failure it stops whatever it started and prints the
# servers' logs.
set -eu

if [ $# -ne 1 ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
HERE=$(cd "$(dirname "$0")" && pwd)
DIR=$(realpath -m "$1")
MAIL_DOMAIN=mw.test
USER1=alice
PASS1='alice-pw-7Kq2'
USER2=bob
PASS2='bob-pw-9Zx4'
MAIN_CF=/etc/postfix/main.cf

die() {
  echo "start.sh: $*" >&2
  exit 1
}

on_exit() {
  local rc=$?
  if [ $rc -ne 0 ]; then
    echo "start.sh: failed (exit $rc); stopping what was started" >&2
    for log in "$DIR/dovecot/dovecot.log" "$DIR/postfix/maillog"; do
      if [ -s "$log" ]; then
        echo "---- last lines of $log ----" >&2
        tail -n 30 "$log" >&2
      fi
    done
    "$HERE/stop.sh" "$DIR" || true
  fi
}

[ "$(id -u)" -eq 0 ] || die "must run as root (Postfix and Dovecot need it)"
for tool in openssl postfix postconf dovecot doveadm python3; do
  command -v "$tool" >/dev/null || die "$tool is missing: run scripts/install-deps.sh"
done
[ -x /usr/lib/dovecot/lmtp ] || die "Dovecot LMTP is missing: install dovecot-lmtpd"
[ -x /usr/lib/dovecot/pop3 ] || die "Dovecot POP3 is missing: install dovecot-pop3d"

# ---- a fresh DIR ----
"$HERE/stop.sh" "$DIR"
trap on_exit EXIT
rm -rf "$DIR"
[ -L "$1" ] && rm -f "$1" # the link an earlier start left (below)
mkdir -p "$DIR"
chmod 755 "$DIR"
# The postfix and dovecot users must reach DIR.
reachable() {
  local p=$1 perms
  while [ "$p" != / ]; do
    p=$(dirname "$p")
    perms=$(stat -c %A "$p")
    [ "${perms:9:1}" = x ] || [ "${perms:9:1}" = t ] || return 1
  done
}
if ! reachable "$DIR"; then
  # A private parent (a clone under `mktemp -d`, mode 700): the servers'
  # files go where those users can reach them, behind a link at DIR, so
  # DIR/servers.env and stop.sh DIR work as usual.
  REAL=$(mktemp -d /tmp/mw-servers.XXXXXX)
  chmod 755 "$REAL"
  reachable "$REAL" || die "$REAL is not reachable by the postfix and dovecot users"
  rmdir "$DIR"
  ln -s "$REAL" "$DIR"
  DIR=$REAL
fi
mkdir -p "$DIR/pki" "$DIR/dovecot/run" "$DIR/dovecot/state" \
  "$DIR/postfix/queue" "$DIR/postfix/data" "$DIR/mail"
chown postfix:postfix "$DIR/postfix/data"

# ---- PKI ----
make_pki() {
  cd "$DIR/pki"
  local q=(-batch)
  openssl req "${q[@]}" -x509 -newkey rsa:2048 -nodes -days 30 \
    -subj "/O=mailwire tests/CN=mailwire test CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout ca.key -out ca.pem 2>/dev/null
  openssl req "${q[@]}" -newkey rsa:2048 -nodes -subj "/O=mailwire tests/CN=localhost" \
    -keyout server.key -out server.csr 2>/dev/null
  cat >server.ext <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
EOF
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
    -days 30 -extfile server.ext -out server.pem 2>/dev/null
  openssl req "${q[@]}" -x509 -newkey rsa:2048 -nodes -days 30 \
    -subj "/O=somebody else/CN=unrelated CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -keyout other-ca.key -out other-ca.pem 2>/dev/null
  # Client certificates (SSLClientCertificateName tests): one from the test
  # CA as PEM (certificate + key in one file) and as PKCS#12 with a
  # password, and one from the unrelated CA that servers must refuse.
  printf '%s\n' "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=clientAuth" \
    >client.ext
  openssl req "${q[@]}" -newkey rsa:2048 -nodes \
    -subj "/O=mailwire tests/CN=mailwire test client" \
    -keyout client.key -out client.csr 2>/dev/null
  openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
    -days 30 -extfile client.ext -out client.pem 2>/dev/null
  cat client.pem client.key >client-combined.pem
  openssl pkcs12 -export -in client.pem -inkey client.key \
    -passout pass:p12-pw-3Rt -out client.p12
  openssl req "${q[@]}" -newkey rsa:2048 -nodes \
    -subj "/O=somebody else/CN=stranger" -keyout stranger.key \
    -out stranger.csr 2>/dev/null
  openssl x509 -req -in stranger.csr -CA other-ca.pem -CAkey other-ca.key \
    -CAcreateserial -days 30 -extfile client.ext -out stranger.pem 2>/dev/null
  cat stranger.pem stranger.key >stranger-combined.pem
  openssl verify -CAfile ca.pem client.pem >/dev/null ||
    die "the generated client certificate does not verify"
  openssl verify -CAfile ca.pem server.pem >/dev/null ||
    die "the generated server certificate does not verify"
  # A second server certificate, for the name revoked.localhost (Dovecot
  # serves it by SNI), revoked in ca-crl.pem (test_revocation/itest).
  openssl req "${q[@]}" -newkey rsa:2048 -nodes \
    -subj "/O=mailwire tests/CN=revoked.localhost" \
    -keyout revoked.key -out revoked.csr 2>/dev/null
  sed 's/subjectAltName=.*/subjectAltName=DNS:revoked.localhost/' server.ext \
    >revoked.ext
  openssl x509 -req -in revoked.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
    -days 30 -extfile revoked.ext -out revoked.pem 2>/dev/null
  : >crl-index.txt
  printf '[ca]\ndefault_ca=d\n[d]\ndatabase=%s\ndefault_md=sha256\ndefault_crl_days=7\n' \
    "$DIR/pki/crl-index.txt" >crl-ca.cnf
  openssl ca -config crl-ca.cnf -keyfile ca.key -cert ca.pem \
    -revoke revoked.pem 2>/dev/null || die "could not revoke revoked.pem"
  openssl ca -config crl-ca.cnf -keyfile ca.key -cert ca.pem -gencrl \
    -out ca-crl.pem 2>/dev/null || die "could not make ca-crl.pem"
  chmod 644 ./*.pem
  # Test-only keys; Postfix's smtpd and Dovecot read the server key.
  chmod 640 server.key revoked.key
  chgrp postfix server.key revoked.key
  cd - >/dev/null
}
make_pki

# ---- ports: bound together so they differ, then released ----
read -r SMTP_PORT SMTPS_PORT SMTP_NOTLS_PORT POP3_PORT POP3S_PORT CLOSED_PORT < <(
  /usr/bin/python3 "$(dirname "$0")/free-ports.py" 6
)
[ -n "$CLOSED_PORT" ] || die "could not pick free ports"

# ---- Dovecot ----
DOVE=$DIR/dovecot
cat >"$DOVE/users" <<EOF
$USER1:{PLAIN}$PASS1:$(id -u dovecot):$(id -g dovecot)::$DIR/mail/$USER1::
$USER2:{PLAIN}$PASS2:$(id -u dovecot):$(id -g dovecot)::$DIR/mail/$USER2::
EOF
chown root:dovecot "$DOVE/users"
chmod 640 "$DOVE/users"
for u in "$USER1" "$USER2"; do
  mkdir -p "$DIR/mail/$u/Maildir/new" "$DIR/mail/$u/Maildir/cur" \
    "$DIR/mail/$u/Maildir/tmp"
done
chown -R dovecot:dovecot "$DIR/mail"

cat >"$DOVE/dovecot.conf" <<EOF
# Dovecot for the mailwire tests (generated by tests/servers/start.sh).
instance_name = mailwire-test-$$
base_dir = $DOVE/run
state_dir = $DOVE/state
log_path = $DOVE/dovecot.log
info_log_path = $DOVE/dovecot.log
auth_verbose = yes
# Tests provoke failures on purpose; do not make them wait.
auth_failure_delay = 0
protocols = pop3 lmtp
listen = 127.0.0.1
ssl = yes
ssl_cert = <$DIR/pki/server.pem
ssl_key = <$DIR/pki/server.key
local_name revoked.localhost {
  ssl_cert = <$DIR/pki/revoked.pem
  ssl_key = <$DIR/pki/revoked.key
}
# The client's own safety default is under test, not the server's.
disable_plaintext_auth = no
auth_mechanisms = plain login cram-md5 apop
# "alice@$MAIL_DOMAIN" from LMTP and "alice" from POP3 are one user.
auth_username_format = %Ln
first_valid_uid = $(id -u dovecot)
first_valid_gid = $(id -g dovecot)
mail_location = maildir:~/Maildir
postmaster_address = postmaster@$MAIL_DOMAIN
passdb {
  driver = passwd-file
  args = scheme=PLAIN $DOVE/users
}
userdb {
  driver = passwd-file
  args = $DOVE/users
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $POP3_PORT
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = $POP3S_PORT
    ssl = yes
  }
}
service lmtp {
  unix_listener lmtp {
    mode = 0666
  }
}
service auth {
  unix_listener auth-postfix {
    mode = 0666
  }
}
EOF
# Daemons must not inherit our output: ctest would wait for it to close.
dovecot -c "$DOVE/dovecot.conf" </dev/null >>"$DOVE/dovecot.log" 2>&1 ||
  die "dovecot did not start"

# ---- Postfix ----
PF=$DIR/postfix
# postfix -c DIR only works for directories the system main.cf lists.
if [ ! -f "$MAIN_CF" ]; then
  cat >"$MAIN_CF" <<'EOF'
# Created by mailwire's tests/servers/start.sh: the system Postfix is not
# configured; this file only lists the test configurations.
compatibility_level = 3.6
EOF
fi
cur=$(postconf -c /etc/postfix -h alternate_config_directories 2>/dev/null || true)
case " $(echo "$cur" | tr ',' ' ') " in
*" $PF "*) ;;
*) postconf -c /etc/postfix -e "alternate_config_directories = ${cur:+$cur }$PF" ;;
esac

cat >"$PF/main.cf" <<EOF
# Postfix for the mailwire tests (generated by tests/servers/start.sh).
compatibility_level = 3.6
queue_directory = $PF/queue
data_directory = $PF/data
maillog_file = $PF/maillog
maillog_file_prefixes = $PF
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = loopback-only
inet_protocols = ipv4
myhostname = mail.$MAIL_DOMAIN
mydomain = $MAIL_DOMAIN
myorigin = $MAIL_DOMAIN
mydestination =
mynetworks = 127.0.0.0/8
smtpd_banner = \$myhostname ESMTP mailwire test Postfix
biff = no
alias_maps =
alias_database =
local_recipient_maps =
append_dot_mydomain = no
# Nothing leaves this machine: only $MAIL_DOMAIN is delivered (to Dovecot).
default_transport = discard:
relay_transport = discard:
local_transport = discard:
virtual_mailbox_domains = $MAIL_DOMAIN
virtual_mailbox_maps = inline:{ $USER1@$MAIL_DOMAIN=ok, $USER2@$MAIL_DOMAIN=ok }
virtual_transport = lmtp:unix:$DOVE/run/lmtp
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
smtputf8_enable = yes
# TLS offered (STARTTLS), AUTH offered with and without it.
smtpd_tls_cert_file = $DIR/pki/server.pem
smtpd_tls_key_file = $DIR/pki/server.key
smtpd_tls_security_level = may
smtpd_tls_auth_only = no
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = $DOVE/run/auth-postfix
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
EOF

# master.cf: the system's services without chroot (paths above are
# absolute), and our three listeners instead of port 25.
awk '
  /^[a-z]/ && $2 != "inet" && NF >= 8 { skip = 0; $5 = "n"; print; next }
  /^[a-z]/ && $2 == "inet" { skip = 1; next }
  /^[ \t]/ && skip { next }
  { skip = 0; print }
' /etc/postfix/master.cf >"$PF/master.cf"
cat >>"$PF/master.cf" <<EOF
127.0.0.1:$SMTP_PORT inet n - n - - smtpd
127.0.0.1:$SMTPS_PORT inet n - n - - smtpd
  -o smtpd_tls_wrappermode=yes
127.0.0.1:$SMTP_NOTLS_PORT inet n - n - - smtpd
  -o smtpd_tls_security_level=none
EOF
# SMTPS that requires a client certificate from the test CA.
SMTPS_CCERT_PORT=$(/usr/bin/python3 "$HERE/free-ports.py" 1)
cat >>"$PF/master.cf" <<EOF
127.0.0.1:$SMTPS_CCERT_PORT inet n - n - - smtpd
  -o smtpd_tls_wrappermode=yes
  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_CAfile=$DIR/pki/ca.pem
  -o smtpd_tls_ask_ccert=yes
  -o smtpd_tls_req_ccert=yes
EOF
grep -q '^postlog' "$PF/master.cf" ||
  echo "postlog unix-dgram n - n - 1 postlogd" >>"$PF/master.cf"

postfix -c "$PF" check </dev/null >/dev/null 2>&1 || true
postfix -c "$PF" start </dev/null >/dev/null 2>&1 ||
  die "postfix did not start; see $PF/maillog (or run: script -qc 'postfix -c $PF start' /dev/null)"

# ---- wait until every port answers (at most 30 s) ----
/usr/bin/python3 - "$SMTP_PORT" "$SMTPS_PORT" "$SMTP_NOTLS_PORT" "$POP3_PORT" \
  "$POP3S_PORT" <<'EOF' || die "a server port does not answer"
import socket, sys, time
deadline = time.time() + 30
plain = {sys.argv[1]: b"220", sys.argv[3]: b"220", sys.argv[4]: b"+OK"}
for port in sys.argv[1:]:
    while True:
        try:
            with socket.create_connection(("127.0.0.1", int(port)), 2) as s:
                if port in plain:
                    s.settimeout(5)
                    if not s.recv(100).startswith(plain[port]):
                        raise OSError("no greeting")
                break
        except OSError as e:
            if time.time() > deadline:
                sys.exit("port %s: %s" % (port, e))
            time.sleep(0.1)
EOF

# ---- the environment the tests read ----
cat >"$DIR/servers.env.tmp" <<EOF
SMTP_PORT=$SMTP_PORT
SMTPS_PORT=$SMTPS_PORT
SMTP_NOTLS_PORT=$SMTP_NOTLS_PORT
POP3_PORT=$POP3_PORT
POP3S_PORT=$POP3S_PORT
CA_FILE=$DIR/pki/ca.pem
OTHER_CA_FILE=$DIR/pki/other-ca.pem
CERT_FILE=$DIR/pki/server.pem
KEY_FILE=$DIR/pki/server.key
USER=$USER1
PASS=$PASS1
USER2=$USER2
PASS2=$PASS2
MAIL_DOMAIN=$MAIL_DOMAIN
MAILDIR_ROOT=$DIR/mail
CLOSED_PORT=$CLOSED_PORT
REVOKED_NAME=revoked.localhost
CA_CRL_FILE=$DIR/pki/ca-crl.pem
EOF
# The proxies (tests/servers/proxies.sh); CONNECT to SMTP_NOTLS_PORT stays
# forbidden, for the refusal tests.
MW_PROXY_CONNECT_PORTS="$SMTP_PORT $SMTPS_PORT $POP3_PORT $POP3S_PORT" \
  "$HERE/proxies.sh" start "$DIR" >>"$DIR/servers.env.tmp"
# Client certificates: SMTPS_CCERT_PORT requires one from CA_FILE.
/usr/bin/python3 - "$SMTPS_CCERT_PORT" <<'EOF' || die "the client-certificate SMTPS port does not answer"
import socket, sys, time
deadline = time.time() + 30
while True:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2).close()
        break
    except OSError as e:
        if time.time() > deadline:
            sys.exit("port %s: %s" % (sys.argv[1], e))
        time.sleep(0.1)
EOF
cat >>"$DIR/servers.env.tmp" <<EOF
SMTPS_CCERT_PORT=$SMTPS_CCERT_PORT
CLIENT_CERT_FILE=$DIR/pki/client.pem
CLIENT_KEY_FILE=$DIR/pki/client.key
CLIENT_PEM_FILE=$DIR/pki/client-combined.pem
CLIENT_P12_FILE=$DIR/pki/client.p12
CLIENT_P12_PASS=p12-pw-3Rt
STRANGER_PEM_FILE=$DIR/pki/stranger-combined.pem
EOF
mv "$DIR/servers.env.tmp" "$DIR/servers.env"
echo "servers running; environment in $DIR/servers.env"
