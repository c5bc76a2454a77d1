"""The device registry: which gateway keys the coordinator accepts readings from."""

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from coordinator.db.models import Device, DeviceStatus, Meter
from coordinator.errors import ConfigError
from wire.base58 import b58decode, b58encode

__all__ = ["register_device", "register_meter", "revoke_device"]


def _public_key(gateway_id: str) -> bytes:
    try:
        raw = b58decode(gateway_id)
    except ValueError as exc:
        raise ConfigError(f"gateway id {gateway_id!r} is not base58") from exc
    if len(raw) != 32 or b58encode(raw) != gateway_id:
        raise ConfigError(f"gateway id {gateway_id!r} is not a 32-byte Ed25519 public key")
    return raw


def register_device(engine: Engine, gateway_id: str) -> bool:
    """Register (or re-activate) a gateway by its base58 public key. Returns
    True when it was not registered before. Idempotent."""
    key = _public_key(gateway_id)
    with engine.begin() as conn:
        status = conn.execute(
            select(Device.status).where(Device.gateway_id == gateway_id)
        ).scalar_one_or_none()
        if status is None:
            conn.execute(
                insert(Device).values(
                    gateway_id=gateway_id, public_key=key, status=DeviceStatus.ACTIVE
                )
            )
            return True
        conn.execute(
            update(Device).where(Device.gateway_id == gateway_id).values(status=DeviceStatus.ACTIVE)
        )
        return False


def revoke_device(engine: Engine, gateway_id: str) -> bool:
    """Revoke a gateway: its readings are rejected from now on. Returns False
    when the gateway is unknown."""
    with engine.begin() as conn:
        result = conn.execute(
            update(Device)
            .where(Device.gateway_id == gateway_id)
            .values(status=DeviceStatus.REVOKED)
        )
        return result.rowcount > 0


def register_meter(
    engine: Engine,
    gateway_id: str,
    meter_id: str,
    *,
    model: str,
    rated_power_w: int,
    owner: str | None = None,
) -> None:
    """Register a meter behind a registered gateway, or update its details. Idempotent."""
    if rated_power_w <= 0:
        raise ConfigError("rated_power_w must be positive")
    values = {"model": model, "rated_power_w": rated_power_w, "owner": owner}
    with engine.begin() as conn:
        updated = conn.execute(
            update(Meter)
            .where(Meter.gateway_id == gateway_id, Meter.meter_id == meter_id)
            .values(**values)
        )
        if updated.rowcount == 0:
            conn.execute(insert(Meter).values(gateway_id=gateway_id, meter_id=meter_id, **values))
