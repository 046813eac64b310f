#!/bin/sh
# mkcerts.sh OUTDIR: test certificates for gpsim and the TLS test matrix (EC P-256).
#   ca.pem ca.key                 test CA (give ca.pem to the client)
#   server.pem server.key         DNS:localhost, IP:127.0.0.1, IP:::1, signed by the CA
#   expired.pem/.key              same names, valid 2020-01-01..2020-01-02
#   notyet.pem/.key               same names, valid from 2099-01-01
#   expiring.pem/.key             same names, valid from an hour ago for 3 days (made now)
#   wronghost.pem/.key            SAN DNS:other.example only
#   selfsigned.pem/.key           self-signed, same names
#   unknownca.pem/.key            signed by a second CA (unknown-ca.pem) the client lacks
#   client-ca.pem client-ca.key   CA for client certificates (gpsim --tls-client-ca)
#   client.pem client.key         client certificate signed by client-ca
# Idempotent: does nothing when OUTDIR already holds a complete set.
set -eu

[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 64; }
out=$1
files="ca unknown-ca client-ca server expired notyet expiring unknownca wronghost client selfsigned"
stamp="$out/.mkcerts-v1"
have_all() {
    [ -f "$stamp" ] || return 1
    for f in $files; do [ -f "$out/$f.pem" ] && [ -f "$out/$f.key" ] || return 1; done
}
have_all && exit 0

mkdir -p "$out"
work=$(mktemp -d "$out/.mkcerts.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

names="DNS:localhost,IP:127.0.0.1,IP:::1"

cat > openssl.cnf <<'EOF'
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ ca ]
default_ca = sim_ca
[ sim_ca ]
dir = .
database = $dir/index.txt
new_certs_dir = $dir/issued
serial = $dir/serial
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
[ policy_any ]
commonName = supplied
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ server ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = $ENV::SAN
[ client ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = $ENV::SAN
EOF
mkdir issued
: > index.txt
echo 1000 > serial
export OPENSSL_CONF="$work/openssl.cnf"

key() { openssl genpkey -quiet -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key"; }

ca() {  # ca NAME CN
    key "$1"
    SAN=none openssl req -new -x509 -key "$1.key" -subj "/CN=$2" -days 3650 -sha256 \
        -extensions v3_ca -out "$1.pem"
}

# leaf NAME CN SAN ISSUER EXT [STARTDATE ENDDATE]  (dates as YYYYMMDDHHMMSSZ)
leaf() {
    key "$1"
    SAN=$3 openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr"
    if [ $# -ge 7 ]; then
        dates="-startdate $6 -enddate $7"
    else
        dates="-days 3650"
    fi
    # shellcheck disable=SC2086  # $dates is two options
    SAN=$3 openssl ca -batch -notext -in "$1.csr" -cert "$4.pem" -keyfile "$4.key" \
        -extensions "$5" $dates -out "$1.pem" 2>ca.log || { cat ca.log >&2; exit 1; }
}

ca ca "gpsim test CA"
ca unknown-ca "gpsim unknown CA"
ca client-ca "gpsim client CA"
leaf server localhost "$names" ca server
leaf expired localhost "$names" ca server 20200101000000Z 20200102000000Z
leaf notyet localhost "$names" ca server 20990101000000Z 20991231000000Z
leaf expiring localhost "$names" ca server "$(date -u -d '-1 hour' +%Y%m%d%H%M%SZ)" \
    "$(date -u -d '+3 days' +%Y%m%d%H%M%SZ)"
leaf unknownca localhost "$names" unknown-ca server
leaf wronghost other.example DNS:other.example ca server
leaf client probe@example.com email:probe@example.com client-ca client
key selfsigned
SAN=$names openssl req -new -x509 -key selfsigned.key -subj "/CN=localhost" -days 3650 \
    -sha256 -extensions server -out selfsigned.pem

chmod 644 ./*.pem ./*.key
for f in $files; do
    mv -f "$f.pem" "$f.key" "$out/"
done
touch "$stamp"
