#!/bin/sh
# One-shot set-up of the production broker under docker compose (service
# broker-setup), run as root before Mosquitto starts, again at every `up`:
#
# 1. TLS: the broker certificate, its key and the CA certificate come from
#    GTX_BROKER_CERT_DIR (your CA's; see docs/operations.md). Only with
#    GTX_DEV_CA=true, and only when that directory has none, a development CA is
#    made there by mosquitto/make-dev-ca.sh (never for gateways in the field).
#    They are checked (chain, key, expiry), then copied: certificate and key to
#    the broker's volume (readable by Mosquitto alone), the CA certificate alone
#    to the volume every MQTT client mounts.
# 2. Accounts: before the broker's first start, the dynamic security plugin's
#    initial state is written by `gtx-coordinator broker-config` (roles, the
#    admin, coordinator and operator accounts, enrolled gateways disabled).
#    Afterwards the broker owns that file and it is left alone.
set -eu
src=/etc/gtx/broker-certs      # GTX_BROKER_CERT_DIR
tls=/mosquitto/certs           # volume broker-tls: Mosquitto's copy
public=/etc/gtx/broker-ca      # volume broker-ca: ca.crt for every client
state=/mosquitto/data/dynamic-security.json
broker_uid=1883                # user mosquitto of the eclipse-mosquitto image

missing=""
for f in ca.crt server.crt server.key; do
    [ -s "$src/$f" ] || missing="$missing $f"
done
if [ -n "$missing" ]; then
    if [ "${GTX_DEV_CA:-false}" != true ]; then
        echo "broker-setup: missing in GTX_BROKER_CERT_DIR:$missing. Put your CA's" \
             "certificate (ca.crt) and the broker's certificate and key there, or set" \
             "GTX_DEV_CA=true for a development CA (development only)." >&2
        exit 1
    fi
    echo "broker-setup: GTX_DEV_CA=true: making a development CA (development only)"
    sh /opt/gtx/make-dev-ca.sh "$src" mosquitto
fi

# The chain (intermediates may follow the certificate in server.crt), the key
# pair, and the validity.
openssl verify -CAfile "$src/ca.crt" -untrusted "$src/server.crt" "$src/server.crt" >/dev/null
if [ "$(openssl x509 -noout -pubkey -in "$src/server.crt")" != \
     "$(openssl pkey -pubout -in "$src/server.key")" ]; then
    echo "broker-setup: server.key is not the key of server.crt" >&2
    exit 1
fi
if ! openssl x509 -noout -checkend 0 -in "$src/server.crt" >/dev/null; then
    echo "broker-setup: server.crt has expired" >&2
    exit 1
fi
if ! openssl x509 -noout -checkend 2592000 -in "$src/server.crt" >/dev/null; then
    echo "broker-setup: warning: server.crt expires within 30 days" >&2
fi

install -m 0644 -o "$broker_uid" -g "$broker_uid" "$src/ca.crt" "$src/server.crt" "$tls/"
install -m 0600 -o "$broker_uid" -g "$broker_uid" "$src/server.key" "$tls/"
install -m 0644 "$src/ca.crt" "$public/ca.crt"
echo "broker-setup: TLS certificate $(openssl x509 -noout -subject -enddate -in "$src/server.crt" | tr '\n' ' ')"

if [ -e "$state" ]; then
    echo "broker-setup: $state exists (the broker owns it); accounts unchanged"
else
    gtx-coordinator broker-config "$state"
    chown "$broker_uid:$broker_uid" "$state"
fi
