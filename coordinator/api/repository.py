"""The API's reads and writes: enrolment tokens, gateways, meters, broker
credentials, key rotations. Each operation is one transaction; the rules it
applies are the pure ones in `coordinator.devices.enrolment`."""

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine

from coordinator.db.models import (
    BrokerCredential,
    Device,
    DeviceStatus,
    EnrolmentToken,
    KeyRotation,
    Meter,
    Reading,
    RejectedReading,
)
from coordinator.devices import enrolment as rules
from coordinator.devices.broker_accounts import mosquitto_hash, new_password
from coordinator.devices.enrolment import EnrolmentError, TokenState
from wire import enrolment as signed

__all__ = [
    "Enrolled",
    "GatewayInfo",
    "IssuedToken",
    "MeterSpec",
    "ReadingStatus",
    "Rotated",
    "broker_entries",
    "enrol",
    "gateway_keys",
    "issue_token",
    "list_gateways",
    "reading_status",
    "revoke_gateway",
    "rotate_key",
]

# How far back to look among a gateway's rejections for a sequence number.
_REJECTED_SCAN = 500


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    owner: str
    expires_at: dt.datetime


@dataclass(frozen=True, slots=True)
class MeterSpec:
    """A meter as enrolled; an empty `owner` on input means the token's owner."""

    meter_id: str
    model: str
    rated_power_w: int
    owner: str


@dataclass(frozen=True, slots=True)
class Enrolled:
    gateway_id: str
    username: str
    password: str
    owner: str
    meters: tuple[MeterSpec, ...]
    first_time: bool


@dataclass(frozen=True, slots=True)
class GatewayInfo:
    gateway_id: str
    status: str
    created_at: dt.datetime
    meters: tuple[MeterSpec, ...]


@dataclass(frozen=True, slots=True)
class Rotated:
    gateway_id: str
    old_valid_until: dt.datetime
    already_done: bool


@dataclass(frozen=True, slots=True)
class ReadingStatus:
    status: str  # "accepted" | "rejected" | "pending"
    reason: str | None = None
    detail: str | None = None


def issue_token(
    engine: Engine, *, owner: str, ttl_s: int, note: str, now: dt.datetime
) -> IssuedToken:
    rules.check_wallet(owner)
    token = rules.new_token()
    expires_at = now + dt.timedelta(seconds=ttl_s)
    with engine.begin() as conn:
        conn.execute(
            insert(EnrolmentToken).values(
                token_hash=rules.token_hash(token),
                owner=owner,
                note=note,
                created_at=now,
                expires_at=expires_at,
            )
        )
    return IssuedToken(token, owner, expires_at)


def _lock_token(conn: Connection, token: str) -> tuple[int, TokenState] | None:
    row = conn.execute(
        select(
            EnrolmentToken.id,
            EnrolmentToken.owner,
            EnrolmentToken.expires_at,
            EnrolmentToken.used_at,
            EnrolmentToken.used_by,
        )
        .where(EnrolmentToken.token_hash == rules.token_hash(token))
        .with_for_update()
    ).one_or_none()
    if row is None:
        return None
    return row.id, TokenState(row.owner, row.expires_at, row.used_at, row.used_by)


def _device(conn: Connection, gateway_id: str, lock: bool = False) -> tuple[bytes, str] | None:
    query = select(Device.public_key, Device.status).where(Device.gateway_id == gateway_id)
    row = conn.execute(query.with_for_update() if lock else query).one_or_none()
    return None if row is None else (bytes(row.public_key), str(row.status))


def enrol(
    engine: Engine,
    *,
    token: str,
    gateway_id: str,
    proof: bytes,
    meters: Sequence[MeterSpec],
    now: dt.datetime,
) -> Enrolled:
    """Redeem `token` for `gateway_id`: register the device and its meters and
    issue fresh broker credentials (re-running replaces the password)."""
    gateway_key = rules.public_key_of(gateway_id, "gateway id")
    with engine.begin() as conn:
        locked = _lock_token(conn, token)
        rules.check_redeemable(None if locked is None else locked[1], gateway_id, now)
        assert locked is not None
        token_id, state = locked
        meters = [replace(m, owner=m.owner or state.owner) for m in meters]
        for m in meters:
            if m.owner != state.owner:
                raise EnrolmentError(
                    rules.OWNER_MISMATCH,
                    f"meter {m.meter_id}: owner {m.owner} differs from the owner this "
                    f"token was issued for ({state.owner})",
                )
        existing = _device(conn, gateway_id, lock=True)
        current_key = gateway_key if existing is None else existing[0]
        message = signed.enrolment_message(token, gateway_key)
        if not signed.signature_ok(proof, current_key, message):
            raise EnrolmentError(
                rules.BAD_PROOF, "enrolment must be signed by the gateway's device key"
            )
        if existing is not None and existing[1] == DeviceStatus.REVOKED:
            raise EnrolmentError(
                rules.REVOKED_GATEWAY,
                "this gateway was revoked; run `gtx-provision init` with a new key file",
            )
        if existing is None:
            conn.execute(
                insert(Device).values(
                    gateway_id=gateway_id, public_key=gateway_key, status=DeviceStatus.ACTIVE
                )
            )
        for m in meters:
            values = {"model": m.model, "rated_power_w": m.rated_power_w, "owner": m.owner}
            updated = conn.execute(
                update(Meter)
                .where(Meter.gateway_id == gateway_id, Meter.meter_id == m.meter_id)
                .values(**values)
            )
            if updated.rowcount == 0:
                conn.execute(
                    insert(Meter).values(gateway_id=gateway_id, meter_id=m.meter_id, **values)
                )
        conn.execute(
            update(EnrolmentToken)
            .where(EnrolmentToken.id == token_id)
            .values(used_at=state.used_at or now, used_by=gateway_id)
        )
        password = new_password()
        _put_credential(conn, gateway_id, mosquitto_hash(password), gateway_id, now)
    return Enrolled(gateway_id, gateway_id, password, state.owner, tuple(meters), existing is None)


def _put_credential(
    conn: Connection, username: str, hashed: str, gateway_id: str, now: dt.datetime
) -> None:
    values = {"password_hash": hashed, "gateway_id": gateway_id, "created_at": now}
    updated = conn.execute(
        update(BrokerCredential)
        .where(BrokerCredential.username == username)
        .values(revoked_at=None, **values)
    )
    if updated.rowcount == 0:
        conn.execute(insert(BrokerCredential).values(username=username, **values))


def broker_entries(engine: Engine) -> dict[str, str]:
    """Every active gateway account: username -> password hash."""
    query = select(BrokerCredential.username, BrokerCredential.password_hash).where(
        BrokerCredential.revoked_at.is_(None)
    )
    with engine.connect() as conn:
        return {user: hashed for user, hashed in conn.execute(query)}


def list_gateways(engine: Engine) -> list[GatewayInfo]:
    with engine.connect() as conn:
        devices = conn.execute(
            select(Device.gateway_id, Device.status, Device.created_at).order_by(
                Device.created_at, Device.gateway_id
            )
        ).all()
        meters: dict[str, list[MeterSpec]] = {}
        for row in conn.execute(
            select(
                Meter.gateway_id, Meter.meter_id, Meter.model, Meter.rated_power_w, Meter.owner
            ).order_by(Meter.gateway_id, Meter.meter_id)
        ):
            meters.setdefault(row.gateway_id, []).append(
                MeterSpec(row.meter_id, row.model, row.rated_power_w, row.owner or "")
            )
    return [
        GatewayInfo(d.gateway_id, str(d.status), d.created_at, tuple(meters.get(d.gateway_id, ())))
        for d in devices
    ]


def revoke_gateway(engine: Engine, gateway_id: str, now: dt.datetime) -> bool:
    """Revoke the gateway and its broker account. False when it is unknown."""
    with engine.begin() as conn:
        result = conn.execute(
            update(Device)
            .where(Device.gateway_id == gateway_id)
            .values(status=DeviceStatus.REVOKED)
        )
        if result.rowcount == 0:
            return False
        conn.execute(
            update(BrokerCredential)
            .where(BrokerCredential.gateway_id == gateway_id, BrokerCredential.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return True


def gateway_keys(engine: Engine, gateway_id: str, now: dt.datetime) -> tuple[str, list[bytes]]:
    """The gateway's status and the keys that verify its signatures now: the
    current one first, then rotated-out keys still inside their overlap."""
    with engine.connect() as conn:
        device = _device(conn, gateway_id)
        if device is None:
            raise EnrolmentError(rules.UNKNOWN_GATEWAY, f"gateway {gateway_id} is not enrolled")
        previous = conn.execute(
            select(KeyRotation.old_key).where(
                KeyRotation.gateway_id == gateway_id, KeyRotation.old_valid_until > now
            )
        ).scalars()
        return device[1], [device[0], *(bytes(k) for k in previous)]


def rotate_key(
    engine: Engine,
    *,
    gateway_id: str,
    new_key: bytes,
    timestamp: int,
    signature_current: bytes,
    signature_new: bytes,
    old_valid_until: dt.datetime,
    now: dt.datetime,
) -> Rotated:
    """Make `new_key` the gateway's key; the old one verifies until `old_valid_until`.
    Re-sending a rotation already applied is answered with the recorded one."""
    rules.check_fresh(timestamp, now)
    gateway_key = rules.public_key_of(gateway_id, "gateway id")
    message = signed.rotation_message(gateway_key, new_key, timestamp)
    if len(new_key) != 32 or not signed.signature_ok(signature_new, new_key, message):
        raise EnrolmentError(rules.BAD_PROOF, "rotation must be signed by the new key")
    with engine.begin() as conn:
        device = _device(conn, gateway_id, lock=True)
        if device is None:
            raise EnrolmentError(rules.UNKNOWN_GATEWAY, f"gateway {gateway_id} is not enrolled")
        current, status = device
        if status == DeviceStatus.REVOKED:
            raise EnrolmentError(rules.REVOKED_GATEWAY, "this gateway was revoked")
        if current == new_key:
            until = conn.execute(
                select(KeyRotation.old_valid_until)
                .where(KeyRotation.gateway_id == gateway_id, KeyRotation.new_key == new_key)
                .order_by(KeyRotation.id.desc())
                .limit(1)
            ).scalar_one_or_none()
            return Rotated(gateway_id, until or now, already_done=True)
        if not signed.signature_ok(signature_current, current, message):
            raise EnrolmentError(
                rules.BAD_PROOF, "rotation must be signed by the gateway's current key"
            )
        conn.execute(
            insert(KeyRotation).values(
                gateway_id=gateway_id,
                old_key=current,
                new_key=new_key,
                rotated_at=now,
                old_valid_until=old_valid_until,
            )
        )
        conn.execute(
            update(Device).where(Device.gateway_id == gateway_id).values(public_key=new_key)
        )
    return Rotated(gateway_id, old_valid_until, already_done=False)


def _payload_seq(payload: bytes) -> int | None:
    try:
        value = json.loads(payload)
    except ValueError:
        return None
    seq = value.get("seq") if isinstance(value, dict) else None
    return seq if isinstance(seq, int) else None


def reading_status(engine: Engine, gateway_id: str, seq: int) -> ReadingStatus:
    with engine.connect() as conn:
        if conn.execute(
            select(Reading.seq).where(Reading.gateway_id == gateway_id, Reading.seq == seq)
        ).first():
            return ReadingStatus("accepted")
        rows = conn.execute(
            select(RejectedReading.payload, RejectedReading.reason, RejectedReading.detail)
            .where(RejectedReading.gateway_id == gateway_id)
            .order_by(RejectedReading.id.desc())
            .limit(_REJECTED_SCAN)
        )
        for payload, reason, detail in rows:
            if _payload_seq(bytes(payload)) == seq:
                return ReadingStatus("rejected", reason, detail)
    return ReadingStatus("pending")
