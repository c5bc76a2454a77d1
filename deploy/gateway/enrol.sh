#!/bin/sh
# First start of a docker-compose gateway: make its device key, copy the config
# template, ask the coordinator API for a one-time enrolment token (admin) and
# enrol (registers key and meters, writes broker settings). Safe to re-run: a
# gateway already enrolled only re-checks its key and config.
#
# Environment: GTX_COORDINATOR_URL, GTX_ADMIN_TOKEN, GATEWAY_OWNER (wallet, base58).
set -eu
state=/var/lib/gtx
config=$state/gateway.toml
key=$state/device.pem
[ -f "$key" ] || gtx-provision init --key-file "$key"
[ -f "$config" ] || cp /etc/gtx/gateway.toml "$config"
[ -f "$state/enrolled" ] && exit 0
token=$(python - <<'PY'
import json, os, urllib.request
req = urllib.request.Request(
    os.environ["GTX_COORDINATOR_URL"].rstrip("/") + "/api/v1/admin/enrolment-tokens",
    data=json.dumps({"owner": os.environ["GATEWAY_OWNER"], "note": "docker-compose"}).encode(),
    headers={"Authorization": "Bearer " + os.environ["GTX_ADMIN_TOKEN"],
             "Content-Type": "application/json"},
)
with urllib.request.urlopen(req, timeout=30) as resp:
    print(json.load(resp)["token"])
PY
)
GTX_ENROLMENT_TOKEN=$token gtx-provision enroll --config "$config" --key-file "$key"
touch "$state/enrolled"
