"""The coordinator's tables. Alembic migrations in coordinator/db/migrations
create them; the models here are what the code reads and writes with."""

import datetime as dt
import enum

from sqlalchemy import (
    BigInteger,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "Device", "DeviceStatus", "Reading", "RejectedReading"]

# Deterministic constraint names keep Alembic autogenerate and downgrades sane.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
# SQLite only auto-increments INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class DeviceStatus(enum.StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


class Device(Base):
    """A gateway, identified by its Ed25519 public key (base58, a Solana address)."""

    __tablename__ = "devices"

    gateway_id: Mapped[str] = mapped_column(String(44), primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    status: Mapped[DeviceStatus] = mapped_column(
        Enum(DeviceStatus, name="device_status", values_callable=lambda e: [m.value for m in e]),
        default=DeviceStatus.ACTIVE,
    )
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Meter(Base):
    """A meter behind a gateway; its rated power bounds the energy it can report."""

    __tablename__ = "meters"

    gateway_id: Mapped[str] = mapped_column(
        String(44), ForeignKey("devices.gateway_id"), primary_key=True
    )
    meter_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(64), doc="register map name, e.g. sdm630")
    rated_power_w: Mapped[int] = mapped_column(BigInteger)
    owner: Mapped[str | None] = mapped_column(String(44), doc="owner's wallet (base58)")
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Reading(Base):
    """An accepted, signature-verified reading: the cumulative counters as signed."""

    __tablename__ = "readings"
    __table_args__ = (
        # One reading per gateway sequence number: a QoS 1 redelivery is a no-op.
        UniqueConstraint("gateway_id", "seq"),
        Index("ix_readings_meter_ts", "gateway_id", "meter_id", "meter_ts"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    gateway_id: Mapped[str] = mapped_column(String(44))
    meter_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    meter_ts: Mapped[int] = mapped_column(BigInteger, doc="meter time, Unix seconds UTC")
    import_wh: Mapped[int] = mapped_column(BigInteger)
    export_wh: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class RejectedReading(Base):
    """A payload that was not accepted, kept whole with the reason, never dropped."""

    __tablename__ = "rejected_readings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    topic: Mapped[str] = mapped_column(Text)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    reason: Mapped[str] = mapped_column(String(32), index=True)
    detail: Mapped[str] = mapped_column(Text)
    gateway_id: Mapped[str | None] = mapped_column(String(44))
