"""A gateway's own requests, authenticated by its device key: key rotation
and the fate of one of its readings (what `gtx-provision check` waits on)."""

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from sqlalchemy.engine import Engine

from coordinator.api import repository as repo
from coordinator.api.deps import Clock, get_clock, get_engine, get_settings
from coordinator.api.schemas import ReadingStatusOut, RotationIn, RotationOut
from coordinator.config import Settings
from coordinator.db.models import DeviceStatus
from coordinator.devices import enrolment as rules
from wire import enrolment as signed
from wire.base58 import b58decode

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "router"]

TIMESTAMP_HEADER = "X-GTX-Timestamp"
SIGNATURE_HEADER = "X-GTX-Signature"

router = APIRouter(prefix="/api/v1/gateways", tags=["gateways"])


def _b58(value: str, what: str) -> bytes:
    try:
        return b58decode(value)
    except ValueError:
        raise rules.EnrolmentError(rules.BAD_PROOF, f"{what} is not base58") from None


def _authenticate(
    engine: Engine,
    gateway_id: str,
    request: Request,
    timestamp: int,
    signature: str,
    now: dt.datetime,
) -> None:
    rules.check_fresh(timestamp, now)
    gw_status, keys = repo.gateway_keys(engine, gateway_id, now)
    if gw_status == DeviceStatus.REVOKED:
        raise rules.EnrolmentError(rules.REVOKED_GATEWAY, "this gateway was revoked")
    message = signed.request_message(request.method, request.url.path, timestamp)
    sig = _b58(signature, "signature")
    if not any(signed.signature_ok(sig, key, message) for key in keys):
        raise rules.EnrolmentError(rules.BAD_PROOF, "request not signed by the gateway's key")


@router.get("/{gateway_id}/readings/{seq}")
def reading_status(
    gateway_id: str,
    seq: int,
    request: Request,
    engine: Annotated[Engine, Depends(get_engine)],
    clock: Annotated[Clock, Depends(get_clock)],
    x_gtx_timestamp: Annotated[int, Header()],
    x_gtx_signature: Annotated[str, Header()],
) -> ReadingStatusOut:
    """accepted / rejected (with the recorded reason) / pending (not seen yet)."""
    _authenticate(engine, gateway_id, request, x_gtx_timestamp, x_gtx_signature, clock())
    found = repo.reading_status(engine, gateway_id, seq)
    return ReadingStatusOut(
        gateway_id=gateway_id, seq=seq, status=found.status, reason=found.reason,
        detail=found.detail,
    )  # fmt: skip


@router.post("/{gateway_id}/keys")
def rotate_key(
    gateway_id: str,
    body: RotationIn,
    engine: Annotated[Engine, Depends(get_engine)],
    settings: Annotated[Settings, Depends(get_settings)],
    clock: Annotated[Clock, Depends(get_clock)],
) -> RotationOut:
    """Replace the gateway's device key. Signed by both the current and the new
    key; the current key keeps verifying for the overlap (capped by settings)."""
    if not settings.key_rotation_enabled:
        raise rules.EnrolmentError(
            rules.ROTATION_DISABLED,
            "key rotation is not enabled on this coordinator (GTX_KEY_ROTATION_ENABLED)",
        )
    now = clock()
    rotated = repo.rotate_key(
        engine,
        gateway_id=gateway_id,
        new_key=rules.public_key_of(body.new_public_key, "new public key"),
        timestamp=body.timestamp,
        signature_current=_b58(body.signature_current, "signature_current"),
        signature_new=_b58(body.signature_new, "signature_new"),
        old_valid_until=rules.old_key_valid_until(
            now, body.overlap_s, settings.key_overlap_default_s, settings.key_overlap_max_s
        ),
        now=now,
    )
    return RotationOut(
        gateway_id=rotated.gateway_id,
        old_key_valid_until=rotated.old_valid_until,
        already_done=rotated.already_done,
    )
