#!/usr/bin/env bash
# revocation-pki.sh DIR OCSP_PORT HTTP_PORT DEAD_PORT SLOW_PORT - a PKI for
# the revocation tests (tests/c/test_revocation.c), generated into an empty
# DIR. Every URL points at 127.0.0.1:
#   root          self-signed; root.crl (by root) revokes int2
#   int           intermediate; CDP http://127.0.0.1:HTTP_PORT/root.crl;
#                 int.crl (by int) revokes crlrev, cdprev, ocsprev
#   int2          a second intermediate, revoked; int2leaf is under it
#   leaves of int (DNS:localhost, IP:127.0.0.1), KEY.pem/KEY.key, chain in
#   KEY-chain.pem:
#     plain       no AIA, no CDP           crlrev    same, revoked in int.crl
#     ocspgood    AIA OCSP http://127.0.0.1:OCSP_PORT, good in index.txt
#     ocsprev     same, revoked            ocspunknown  same, not in index
#     ocspdown    AIA OCSP at DEAD_PORT    ocspslow  AIA OCSP at SLOW_PORT
#     ocspnodns   AIA OCSP at http://mailwire-never.example:OCSP_PORT/, a
#                 name only test_revocation's "resolver" mode resolves (to
#                 a DNS server that never answers)
#     ocsp5xx     AIA OCSP at the HTTP server, which answers a POST with 501
#     cdpgood     CDP http://127.0.0.1:HTTP_PORT/int.crl
#     cdprev      same, revoked            cdpdown   CDP at DEAD_PORT
#     cdpbig      CDP to big.crl (2 MiB)   cdp404    CDP to a missing file
#   int-early-crl.pem: int's first CRL (number 1), current, lists nothing;
#   int.crl/int-crl.pem is number 2.
#   int-expired-crl.pem: an out-of-date CRL of int listing crlrev.
#   staple-good.der / staple-rev.der: OCSP responses for ocspgood/ocsprev;
#   staple-forged.der: "good" for plain, signed by the wrong key (root).
# The OCSP responder (openssl ocsp) serves DIR/index.txt, signed by int; the
# HTTP server serves DIR/*.crl (DER).
set -eu
[ $# -eq 5 ] || {
  echo "usage: $0 DIR OCSP_PORT HTTP_PORT DEAD_PORT SLOW_PORT" >&2
  exit 2
}
DIR=$1 OCSP=$2 HTTP=$3 DEAD=$4 SLOW=$5
mkdir -p "$DIR"
cd "$DIR"
q=(-batch)
url=http://127.0.0.1

cat >ext.cnf <<CNF
[ca_int]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
crlDistributionPoints=URI:$url:$HTTP/root.crl
[leaf]
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
[leaf_ocsp]
basicConstraints=CA:FALSE
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
authorityInfoAccess=OCSP;URI:$url:$OCSP/
[leaf_ocsp5xx]
basicConstraints=CA:FALSE
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
authorityInfoAccess=OCSP;URI:$url:$HTTP/
[leaf_ocspdown]
basicConstraints=CA:FALSE
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
authorityInfoAccess=OCSP;URI:$url:$DEAD/
[leaf_ocspslow]
basicConstraints=CA:FALSE
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
authorityInfoAccess=OCSP;URI:$url:$SLOW/
[leaf_ocspnodns]
basicConstraints=CA:FALSE
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
authorityInfoAccess=OCSP;URI:http://mailwire-never.example:$OCSP/
[leaf_cdp]
basicConstraints=CA:FALSE
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
crlDistributionPoints=URI:$url:$HTTP/int.crl
[leaf_cdpbig]
basicConstraints=CA:FALSE
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
crlDistributionPoints=URI:$url:$HTTP/big.crl
[leaf_cdp404]
basicConstraints=CA:FALSE
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
crlDistributionPoints=URI:$url:$HTTP/missing.crl
[leaf_cdpdown]
basicConstraints=CA:FALSE
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
crlDistributionPoints=URI:$url:$DEAD/int.crl
CNF

# ca.cnf for `openssl ca -gencrl`: one database per issuing CA.
ca_cnf() { # NAME
  cat >"$1-ca.cnf" <<CNF
[ca]
default_ca=d
[d]
database=$DIR/$1-index.txt
default_md=sha256
default_crl_days=7
crlnumber=$DIR/$1-crlnumber
CNF
  : >"$1-index.txt"
  echo 01 >"$1-crlnumber"
}

openssl req "${q[@]}" -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
  -subj "/O=mailwire tests/CN=revocation root" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout root.key -out root.pem 2>/dev/null

issue() { # NAME CN SERIAL(hex) ISSUER EXT
  openssl req "${q[@]}" -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/O=mailwire tests/CN=$2" \
    -keyout "$1.key" -out "$1.csr" 2>/dev/null
  openssl x509 -req -in "$1.csr" -CA "$4.pem" -CAkey "$4.key" -set_serial "0x$3" \
    -days 30 -extfile ext.cnf -extensions "$5" -out "$1.pem" 2>/dev/null
  local end
  end=$(date -u -d "+30 days" +%y%m%d%H%M%SZ)
  printf 'V\t%s\t\t%s\tunknown\t/O=mailwire tests/CN=%s\n' "$end" "$3" "$2" \
    >>"$4-index.txt"
}
revoke() { # NAME ISSUER
  openssl ca -config "$2-ca.cnf" -keyfile "$2.key" -cert "$2.pem" \
    -revoke "$1.pem" 2>/dev/null
}

ca_cnf root
issue int "revocation intermediate" 1000 root ca_int
issue int2 "revoked intermediate" 1001 root ca_int
ca_cnf int
ca_cnf int2
issue plain "plain leaf" 2001 int leaf
issue crlrev "crl-revoked leaf" 2002 int leaf
issue ocspgood "ocsp-good leaf" 2003 int leaf_ocsp
issue ocsprev "ocsp-revoked leaf" 2004 int leaf_ocsp
issue ocspunknown "ocsp-unknown leaf" 2005 int leaf_ocsp
issue ocspdown "ocsp-down leaf" 2006 int leaf_ocspdown
issue ocsp5xx "ocsp-5xx leaf" 200D int leaf_ocsp5xx
issue ocspslow "ocsp-slow leaf" 2007 int leaf_ocspslow
issue ocspnodns "ocsp-no-dns leaf" 200E int leaf_ocspnodns
issue cdpgood "cdp-good leaf" 2008 int leaf_cdp
issue cdprev "cdp-revoked leaf" 2009 int leaf_cdp
issue cdpdown "cdp-down leaf" 200A int leaf_cdpdown
issue cdpbig "cdp-big leaf" 200B int leaf_cdpbig
issue cdp404 "cdp-404 leaf" 200C int leaf_cdp404
issue int2leaf "leaf under revoked intermediate" 3001 int2 leaf
# The responder must not know ocspunknown.
grep -v "CN=ocsp-unknown leaf" int-index.txt >int-index.tmp
mv int-index.tmp int-index.txt

# int's first CRL (number 01), made before any revocation: it lists
# nothing; int.crl (number 02) comes after.
openssl ca -config int-ca.cnf -keyfile int.key -cert int.pem -gencrl \
  -crl_lastupdate "$(date -u -d '-1 hour' +%Y%m%d%H%M%SZ)" \
  -out int-early-crl.pem 2>/dev/null
revoke int2 root
for n in crlrev cdprev ocsprev; do revoke $n int; done
for ca in root int; do
  openssl ca -config $ca-ca.cnf -keyfile $ca.key -cert $ca.pem -gencrl \
    -out $ca-crl.pem 2>/dev/null
  openssl crl -in $ca-crl.pem -outform DER -out $ca.crl
done

# An out-of-date CRL of int (nextUpdate yesterday) that lists crlrev.
openssl ca -config int-ca.cnf -keyfile int.key -cert int.pem -gencrl \
  -crl_lastupdate "$(date -u -d '-2 days' +%Y%m%d%H%M%SZ)" \
  -crl_nextupdate "$(date -u -d '-1 day' +%Y%m%d%H%M%SZ)" \
  -out int-expired-crl.pem 2>/dev/null
# 2 MiB at a distribution point: more than a client may read.
head -c 2097152 /dev/zero >big.crl

for n in plain crlrev ocspgood ocsprev ocspunknown ocspdown ocspslow cdpgood \
  cdprev cdpdown cdpbig cdp404 ocsp5xx ocspnodns; do
  cat $n.pem int.pem >$n-chain.pem
done
cat int2leaf.pem int2.pem >int2leaf-chain.pem

# staple NAME LEAF SIGNER: an OCSP response about LEAF signed by SIGNER.
staple() {
  openssl ocsp -issuer int.pem -cert "$2.pem" -no_nonce -reqout "staple-$1.req" \
    >/dev/null
  openssl ocsp -index int-index.txt -rsigner "$3.pem" -rkey "$3.key" -CA int.pem \
    -reqin "staple-$1.req" -ndays 7 -respout "staple-$1.der" >/dev/null 2>&1
  [ -s "staple-$1.der" ]
}
staple good ocspgood int
staple rev ocsprev int
# Signed by the root, which is not int's OCSP responder: must not count.
staple forged plain root
openssl verify -CAfile root.pem -untrusted int.pem plain.pem >/dev/null
echo ok
