#!/usr/bin/env bash
# gen.sh DIR - the certificate matrix's PKI, made at test time with
# openssl into DIR (cases.txt names these files):
#   root.crt            "CN=Test Root", the trusted root of most cases
#   int.crt             "CN=Test Intermediate" (RSA, so it can sign with
#                       SHA-1 and MD5), issued by root
#   other-root.crt      a root nobody trusts here, and other-int.crt
#   expired-int.crt     an intermediate whose validity ended in 2021
#   expired-root.crt    "CN=Expired Root", a root that ended in 2021, and
#   expired-root-int.crt  (valid) issued by it
#   pathlen0-int.crt    pathlen:0 intermediate, and below-pathlen-int.crt
#                       (a CA it must not issue)
#   nc-int.crt          an intermediate constrained to permitted;DNS:allowed.test
#   LEAF.crt, LEAF.key  each server certificate and its key
set -eu
DIR=$1
export SAN=DNS:unused.test # ca.cnf reads it
mkdir -p "$DIR"
cd "$DIR"
rm -rf db && mkdir db

cat >ca.cnf <<'CNF'
[ ca ]
default_ca = CA_default
[ CA_default ]
dir = db
database = db/index.txt
new_certs_dir = db
serial = db/serial
default_md = sha256
default_days = 3650
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no
[ policy_any ]
commonName = supplied
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ root ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ ca_ext ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ ca_pathlen0 ]
basicConstraints = critical, CA:true, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ ca_nc ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
nameConstraints = critical, permitted;DNS:allowed.test
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ leaf ]
basicConstraints = CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = $ENV::SAN
authorityKeyIdentifier = keyid
[ leaf_nosan ]
basicConstraints = CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
authorityKeyIdentifier = keyid
[ leaf_client ]
basicConstraints = CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
subjectAltName = $ENV::SAN
authorityKeyIdentifier = keyid
CNF
: >db/index.txt
echo 1000 >db/serial

ec_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
rsa_key() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:"$2" -out "$1" 2>/dev/null; }

# sign NAME CN ISSUER SECTION [start end md]: NAME.crt from NAME.key,
# issued by ISSUER (ISSUER.crt/.key; "self" for a root).
sign() {
  local name=$1 cn=$2 issuer=$3 section=$4
  local start=${5:-20240101000000Z} end=${6:-20990101000000Z} md=${7:-sha256}
  openssl req -new -key "$name.key" -subj "/CN=$cn" -config ca.cnf \
    -out "db/$name.csr" 2>/dev/null
  local who=(-cert "$issuer.crt" -keyfile "$issuer.key")
  [ "$issuer" = self ] && who=(-selfsign -keyfile "$name.key")
  openssl ca -batch -notext -config ca.cnf "${who[@]}" -extensions "$section" \
    -startdate "$start" -enddate "$end" -md "$md" -in "db/$name.csr" \
    -out "$name.crt" 2>db/last.err || { cat db/last.err >&2; exit 1; }
}

ec_key root.key
sign root "Test Root" self root
rsa_key int.key 2048
sign int "Test Intermediate" root ca_ext
ec_key other-root.key
sign other-root "Other Root" self root
ec_key other-int.key
sign other-int "Other Intermediate" other-root ca_ext
ec_key expired-int.key
sign expired-int "Expired Intermediate" root ca_ext 20200101000000Z 20210101000000Z
ec_key expired-root.key
sign expired-root "Expired Root" self root 20200101000000Z 20210101000000Z
ec_key expired-root-int.key
sign expired-root-int "Intermediate Below Expired Root" expired-root ca_ext
ec_key pathlen0-int.key
sign pathlen0-int "Pathlen0 Intermediate" root ca_pathlen0
ec_key below-pathlen-int.key
sign below-pathlen-int "Intermediate Below Pathlen0" pathlen0-int ca_ext
ec_key nc-int.key
sign nc-int "Constrained Intermediate" root ca_nc

# Leaves share one key (the 1024-bit one has its own).
ec_key leaf.key
rsa_key weak.key 1024
# leaf NAME ISSUER SAN [section start end md key]
leaf() {
  local name=$1 issuer=$2
  SAN=${3:-DNS:unused.test} && export SAN
  cp "${8:-leaf}.key" "$name.key"
  sign "$name" "$name.test" "$issuer" "${4:-leaf}" "${5:-20240101000000Z}" \
    "${6:-20990101000000Z}" "${7:-sha256}"
}
leaf dns int DNS:localhost
leaf ip int IP:127.0.0.1
leaf wildcard int DNS:*.example.test
leaf expired int DNS:localhost leaf 20200101000000Z 20210101000000Z
leaf notyet int DNS:localhost leaf 20980101000000Z 20990101000000Z
leaf other-name int DNS:other.test
leaf cn-only int "" leaf_nosan
leaf partial-wildcard int "DNS:f*.example.test"
leaf untrusted other-int DNS:localhost
leaf client-eku int DNS:localhost leaf_client
leaf pathlen below-pathlen-int DNS:localhost
leaf nc nc-int DNS:localhost
leaf rsa1024 int DNS:localhost leaf 20240101000000Z 20990101000000Z sha256 weak
leaf sha1 int DNS:localhost leaf 20240101000000Z 20990101000000Z sha1
leaf md5 int DNS:localhost leaf 20240101000000Z 20990101000000Z md5
leaf under-expired-int expired-int DNS:localhost
leaf under-expired-root expired-root-int DNS:localhost
leaf idn int DNS:xn--bcher-kva.example
echo "gen.sh: certificate matrix PKI in $DIR"
