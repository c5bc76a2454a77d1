"""`gtx-provision rotate-key`: replace the device key with no gap.

1. a new key is made beside the current one (`<key_file>.new`, mode 0600);
2. the coordinator registers it, the request signed by both keys; from then
   on it verifies readings signed by the new key, and by the old one for the
   overlap only (capped by the coordinator's GTX_KEY_OVERLAP_MAX_S);
3. the new key atomically replaces the old key file (the old private key is gone).

Interrupted anywhere, re-running finishes the job: a pending `.new` key is
re-sent (the coordinator answers an applied rotation as done) and swapped in.
The gateway keeps its id (its first public key); restart the agent within
the overlap so its readings are signed by the new key.
"""

import os
import time
from pathlib import Path

from edge.errors import ConfigError
from provisioning.client import Transport
from provisioning.errors import LocalError
from provisioning.gateway_config import recorded_gateway_id
from provisioning.keys import Signer
from provisioning.output import Report
from wire import enrolment
from wire.base58 import b58encode

__all__ = ["pending_key_file", "rotate_key"]


def pending_key_file(key_file: Path) -> Path:
    return key_file.with_name(key_file.name + ".new")


def rotate_key(
    *,
    config_file: Path,
    key_file: Path,
    transport: Transport,
    overlap_s: int | None = None,
    now: float | None = None,
) -> Report:
    report = Report("rotate-key")
    try:
        current = Signer.load(key_file)
    except ConfigError as exc:
        raise LocalError(str(exc)) from exc
    gateway_id = recorded_gateway_id(config_file) or current.address
    pending = pending_key_file(key_file)
    if pending.exists():
        new = Signer.load(pending)
        report.add("new key", True, f"resuming with pending key {new.address}")
    else:
        new = Signer.generate()
        new.save(pending)
        report.add("new key", True, f"generated {new.address} in {pending}")
    ts = int(time.time() if now is None else now)
    message = enrolment.rotation_message(
        enrolment.public_key_of(gateway_id, "gateway id"), new.public_key, ts
    )
    body: dict[str, object] = {
        "new_public_key": new.address,
        "timestamp": ts,
        "signature_current": b58encode(current.sign(message)),
        "signature_new": b58encode(new.sign(message)),
    }
    if overlap_s is not None:
        body["overlap_s"] = overlap_s
    answer = transport.request("POST", f"/api/v1/gateways/{gateway_id}/keys", body)
    until = answer["old_key_valid_until"]
    report.add("coordinator", True, f"new key registered; old key accepted until {until}")
    os.replace(pending, key_file)
    report.add("key file", True, f"{key_file} now holds the new key; restart the gateway agent")
    report.data.update(gateway_id=gateway_id, new_public_key=new.address, old_key_valid_until=until)
    return report
