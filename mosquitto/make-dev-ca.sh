#!/bin/sh
# Make a development CA and a broker certificate for mosquitto/production.conf.
# Development only: the CA key is unencrypted. Nothing here is committed.
#
#   mosquitto/make-dev-ca.sh OUT_DIR [BROKER_HOSTNAME]
#
# Writes OUT_DIR/ca.crt, ca.key, server.crt, server.key (keys mode 0600).
# Gateways trust ca.crt (broker.ca_file in their config).
set -eu
out=${1:?usage: make-dev-ca.sh OUT_DIR [BROKER_HOSTNAME]}
host=${2:-localhost}
days=${DAYS:-825}
mkdir -p "$out"
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" \
    -subj "/CN=GridTokenX development CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$out/ca.key" -out "$out/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$host" \
    -keyout "$out/server.key" -out "$out/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:%s,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' "$host" \
    > "$out/server.ext"
openssl x509 -req -in "$out/server.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" \
    -CAcreateserial -days "$days" -extfile "$out/server.ext" -out "$out/server.crt" 2>/dev/null
rm -f "$out/server.csr" "$out/server.ext" "$out/ca.srl"
chmod 644 "$out/ca.crt" "$out/server.crt"
echo "development CA and broker certificate for $host in $out"
