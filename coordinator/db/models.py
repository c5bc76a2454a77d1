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
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AuditEntry",
    "Base",
    "BrokerCredential",
    "Certificate",
    "ClearingAttestationJob",
    "ClearingRecord",
    "Device",
    "DeviceStatus",
    "EnergyLot",
    "EnrolmentToken",
    "EpochOnchain",
    "EpochRecord",
    "GatewayState",
    "KeyRotation",
    "LotSource",
    "MarketControl",
    "MarketOrder",
    "MatchRow",
    "Meter",
    "MeterEpochEnergyRow",
    "MeterStateRow",
    "MintGrant",
    "NotifyCursor",
    "NotifyOutbox",
    "NotifySeen",
    "NotifySubscription",
    "ParamChangeRow",
    "Reading",
    "ReadingSeq",
    "RejectedReading",
    "RetirementRow",
    "RetirementRun",
    "RevokedToken",
    "SettlementJob",
    "User",
]

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
    # A user's meters, for every "my ..." read of the API.
    __table_args__ = (Index("ix_meters_owner", "owner"),)

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
    """An accepted, signature-verified reading: the cumulative counters as signed.

    On PostgreSQL the table is range-partitioned by `meter_time` (monthly, see
    `coordinator.db.partitions`), so its primary key must include it; exact
    dedup of (gateway_id, seq) lives in the small `reading_seqs` table.
    """

    __tablename__ = "readings"
    __table_args__ = (
        Index("ix_readings_meter_time", "gateway_id", "meter_id", "meter_time"),
        Index("ix_readings_epoch", "epoch"),
    )

    gateway_id: Mapped[str] = mapped_column(String(44), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    meter_time: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), primary_key=True, doc="meter_ts as a timestamp: partition key"
    )
    meter_id: Mapped[str] = mapped_column(String(64))
    meter_ts: Mapped[int] = mapped_column(BigInteger, doc="meter time, Unix seconds UTC")
    import_wh: Mapped[int] = mapped_column(BigInteger)
    export_wh: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    flags: Mapped[str] = mapped_column(String(64), default="", doc="sorted, comma-separated")
    epoch: Mapped[int] = mapped_column(BigInteger, doc="accounting epoch (Merkle tree it is in)")
    first_open_epoch: Mapped[int | None] = mapped_column(
        BigInteger, doc="lowest open epoch when accepted (None: none closed yet)"
    )


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


class EnrolmentToken(Base):
    """A one-time enrolment token issued by an admin, stored only as its SHA-256."""

    __tablename__ = "enrolment_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    owner: Mapped[str] = mapped_column(String(44), doc="wallet the enrolled meters belong to")
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    used_by: Mapped[str | None] = mapped_column(String(44), doc="gateway id that redeemed it")


class BrokerCredential(Base):
    """A broker account's password hash (Mosquitto PBKDF2 format, never the password):
    the broker's password file is rendered from the active rows."""

    __tablename__ = "broker_credentials"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_hash: Mapped[str] = mapped_column(Text)
    gateway_id: Mapped[str | None] = mapped_column(String(44), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class KeyRotation(Base):
    """A gateway's device key replaced: `devices.public_key` holds the new key at
    once; the old one still verifies readings received before `old_valid_until`."""

    __tablename__ = "key_rotations"
    __table_args__ = (Index("ix_key_rotations_gateway", "gateway_id", "old_valid_until"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    gateway_id: Mapped[str] = mapped_column(String(44), ForeignKey("devices.gateway_id"))
    old_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    new_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    rotated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    old_valid_until: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class ReadingSeq(Base):
    """Exact dedup of accepted readings by (gateway, seq), whatever partition the
    reading is in; `meter_time` finds the reading row."""

    __tablename__ = "reading_seqs"

    gateway_id: Mapped[str] = mapped_column(String(44), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    meter_time: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)


class MeterStateRow(Base):
    """A meter's last accepted counters: the oracle's `previous`."""

    __tablename__ = "meter_state"

    gateway_id: Mapped[str] = mapped_column(String(44), primary_key=True)
    meter_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    meter_ts: Mapped[int] = mapped_column(BigInteger)
    import_wh: Mapped[int] = mapped_column(BigInteger)
    export_wh: Mapped[int] = mapped_column(BigInteger)


class GatewayState(Base):
    """A gateway's highest accepted sequence number (for `sequence_gap`)."""

    __tablename__ = "gateway_state"

    gateway_id: Mapped[str] = mapped_column(String(44), primary_key=True)
    highest_seq: Mapped[int] = mapped_column(BigInteger)


class MeterEpochEnergyRow(Base):
    """Energy per meter per epoch, added to as readings are accepted."""

    __tablename__ = "meter_epoch_energy"
    # A meter's epochs, newest first (the API's energy of a user): the key leads with
    # the epoch, so without this each such read scanned every meter's every epoch.
    __table_args__ = (Index("ix_meter_epoch_energy_meter", "gateway_id", "meter_id", "epoch"),)

    epoch: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    gateway_id: Mapped[str] = mapped_column(String(44), primary_key=True)
    meter_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    import_wh: Mapped[int] = mapped_column(BigInteger)
    export_wh: Mapped[int] = mapped_column(BigInteger)


class EpochRecord(Base):
    """A closed epoch: totals, mint and the Merkle root ready for attestation."""

    __tablename__ = "epochs"

    epoch: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    length_s: Mapped[int] = mapped_column(Integer)
    closed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    reading_count: Mapped[int] = mapped_column(BigInteger)
    total_import_wh: Mapped[int] = mapped_column(BigInteger)
    total_export_wh: Mapped[int] = mapped_column(BigInteger)
    mint_base_units: Mapped[int] = mapped_column(BigInteger)
    merkle_root: Mapped[bytes] = mapped_column(LargeBinary(32))
    summary_json: Mapped[str] = mapped_column(Text)
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


# --- market (issue 7): orders, clearings, matches, settlement transactions ----------------


class MarketOrder(Base):
    """A buy or sell order for one delivery epoch (`coordinator.market.orders_service`).

    `seq` (assigned on insert) is the submission order that breaks price ties.
    `status`: pending (escrow not yet verified), open, cancelled, expired, then the
    clearing's filled / partial / unfilled / excluded, `reason` saying why where one
    applies. `settlement_status`: None until matched, then pending, settled or failed
    (`settlement_error` says why); `settled` is the energy quantity settled on chain.
    """

    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_epoch_status", "epoch", "status"),
        Index("ix_orders_owner_status", "owner", "status"),
    )

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(String(64), unique=True)
    owner: Mapped[str] = mapped_column(String(44))
    side: Mapped[str] = mapped_column(String(4), doc="buy or sell")
    epoch: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(BigInteger, doc="energy base units")
    limit_price: Mapped[int] = mapped_column(BigInteger, doc="payment base units per kWh")
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    eligible: Mapped[int] = mapped_column(BigInteger, default=0)
    filled: Mapped[int] = mapped_column(BigInteger, default=0)
    payment: Mapped[int] = mapped_column(BigInteger, default=0)
    settled: Mapped[int] = mapped_column(BigInteger, default=0)
    settlement_status: Mapped[str | None] = mapped_column(String(16))
    settlement_error: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class ClearingRecord(Base):
    """One epoch's clearing: the canonical inputs and result bytes and their hashes
    (`coordinator.market.rules.canonical`), so anyone can recompute it."""

    __tablename__ = "clearings"

    epoch: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    inputs: Mapped[bytes] = mapped_column(LargeBinary)
    result: Mapped[bytes] = mapped_column(LargeBinary)
    inputs_hash: Mapped[str] = mapped_column(String(64))
    result_hash: Mapped[str] = mapped_column(String(64))
    pricing: Mapped[str] = mapped_column(String(16))
    clearing_price: Mapped[int | None] = mapped_column(BigInteger)
    volume: Mapped[int] = mapped_column(BigInteger)
    turnover: Mapped[int] = mapped_column(BigInteger)
    order_count: Mapped[int] = mapped_column(Integer)
    match_count: Mapped[int] = mapped_column(Integer)
    cleared_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Set once no match of the epoch is pending (nothing left to resume).
    settled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class MatchRow(Base):
    """A match of a clearing, `idx` its position in the result; `status` pending,
    settled (in `signature`) or failed (`error` says why).

    Each row is updated once, when settled, in none of its indexed columns, and grows
    by about half (key, signature). Pages filled to 40 % leave that update room on its
    own page, so PostgreSQL makes it a heap-only (HOT) update that touches no index:
    settlement writes thousands a second. Once settled, pages are about 60 % full."""

    __tablename__ = "matches"
    __table_args__ = (
        Index("ix_matches_buyer", "buyer", "epoch"),
        Index("ix_matches_seller", "seller", "epoch"),
        {"postgresql_with": {"fillfactor": 40}},
    )

    epoch: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    buy_order_id: Mapped[str] = mapped_column(String(64))
    sell_order_id: Mapped[str] = mapped_column(String(64))
    buyer: Mapped[str] = mapped_column(String(44))
    seller: Mapped[str] = mapped_column(String(44))
    quantity: Mapped[int] = mapped_column(BigInteger)
    price: Mapped[int] = mapped_column(BigInteger)
    payment: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12))
    settlement_key: Mapped[str | None] = mapped_column(Text)
    signature: Mapped[bytes | None] = mapped_column(LargeBinary(64))
    error: Mapped[str | None] = mapped_column(Text)


class SettlementJob(Base):
    """One settlement transaction as a `programs.jobs.Job`: planned, sent (signature,
    blockhash and bytes stored before sending), confirmed or failed."""

    __tablename__ = "settlements"
    __table_args__ = (
        Index("ix_settlements_epoch_status", "epoch", "status"),
        # rows of 3 to 4 KB (payload, transaction) stay whole: see migration 0008
        {"postgresql_with": {"toast_tuple_target": 8160}},
    )

    job_key: Mapped[str] = mapped_column(Text, primary_key=True)
    epoch: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12))
    signature: Mapped[bytes | None] = mapped_column(LargeBinary(64), unique=True)
    blockhash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    tx: Mapped[bytes | None] = mapped_column(LargeBinary)
    slot: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class ClearingAttestationJob(Base):
    """The Memo attesting an epoch's clearing hashes on chain, as a `programs.jobs.Job`."""

    __tablename__ = "clearing_attestations"
    __table_args__ = (Index("ix_clearing_attestations_status", "status"),)

    job_key: Mapped[str] = mapped_column(Text, primary_key=True)
    epoch: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12))
    signature: Mapped[bytes | None] = mapped_column(LargeBinary(64), unique=True)
    blockhash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    tx: Mapped[bytes | None] = mapped_column(LargeBinary)
    slot: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class User(Base):
    """A wallet that has signed in. `roles` is comma-separated beyond the implied
    `user` (e.g. "admin", "rec_authority"); the energy and payment token accounts
    are set once the registry has created them on the ledger (None: deferred).

    `roles_set_at`: when someone last set this user's roles through the API; from
    then on `roles` alone decides (the GTX_*_WALLETS lists only bootstrap a wallet
    nobody has set roles for). `token_version`: the version every session token of
    the user must carry; raised to end them all at once (a role change)."""

    __tablename__ = "users"

    address: Mapped[str] = mapped_column(String(44), primary_key=True)
    roles: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    energy_account: Mapped[str | None] = mapped_column(String(44))
    payment_account: Mapped[str | None] = mapped_column(String(44))
    roles_set_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    token_version: Mapped[int] = mapped_column(Integer, default=0)


class RevokedToken(Base):
    """A session token ended before its expiry (sign-out); kept until it expires."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    revoked_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


# --- governance: emergency controls and governed parameters (coordinator.governance) ---


class MarketControl(Base):
    """A paused scope of the market (`orders`, `clearing`, `settlement`, `minting`);
    no row: the scope runs. Every instance reads this table."""

    __tablename__ = "market_controls"

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    since: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    since_epoch: Mapped[int] = mapped_column(BigInteger)
    paused_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    memo_signature: Mapped[str] = mapped_column(String(100))


class HeldClearing(Base):
    """A pause of clearing, from the epoch it began; `caught_up_at` is set once the
    chain leader has cleared every epoch it held back (empty ones too)."""

    __tablename__ = "held_clearings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    from_epoch: Mapped[int] = mapped_column(BigInteger)
    paused_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    caught_up_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ParkedTrade(Base):
    """A match whose settlement failed because a party's token accounts were frozen:
    settled again once neither party is (`market.settlement.settle_parked`);
    `resolved_at` once it settled or failed for another reason."""

    __tablename__ = "parked_trades"

    epoch: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    parked_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ParamChangeRow(Base):
    """One governed parameter change, signed by the REC authority's wallet
    (`coordinator.governance.params`); append-only, resolved by `from_epoch`."""

    __tablename__ = "param_changes"
    __table_args__ = (Index("ix_param_changes_name_from_epoch", "name", "from_epoch"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(String(64))
    from_epoch: Mapped[int] = mapped_column(BigInteger)
    authority: Mapped[str] = mapped_column(String(44))
    issued_at: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[str] = mapped_column(String(100), unique=True)
    memo_signature: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class TariffSeriesRow(Base):
    """A series of per-epoch values of one grid parameter, signed by the REC authority's
    wallet (`coordinator.governance.series`); append-only, `csv` its canonical form."""

    __tablename__ = "tariff_series"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(32))
    from_epoch: Mapped[int] = mapped_column(BigInteger)
    epoch_count: Mapped[int] = mapped_column(Integer)
    csv: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    authority: Mapped[str] = mapped_column(String(44))
    issued_at: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[str] = mapped_column(String(100), unique=True)
    memo_signature: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """One admin, governance or auth event. Append-only: on PostgreSQL a trigger
    refuses UPDATE and DELETE (migration 0005_api)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_action_id", "action", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(64), doc="wallet, 'admin-token' or 'anonymous'")
    action: Mapped[str] = mapped_column(String(64), doc="e.g. auth.login, admin.revoke_gateway")
    target: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str] = mapped_column(String(16), doc="ok | refused | failed")
    detail: Mapped[str] = mapped_column(Text, default="{}", doc="JSON object")
    request_id: Mapped[str] = mapped_column(String(64), default="")


# --- on chain: minting and attestation per closed epoch (coordinator.onchain.worker) ----


class EpochOnchain(Base):
    """A closed epoch whose grants are planned, batch minted and root attested.

    `minted_base_units` is what is minted of it so far (grows as withheld grants
    are minted, in the same transaction as their `mint_grants` row);
    `unowned_base_units` is exported energy of meters with no owner wallet on
    record: counted in the epoch, not minted to anyone. `error` is no longer
    written: what a mint did not do is in `mint_grants` (migration 0010).
    """

    __tablename__ = "epoch_onchain"

    epoch: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    minted_base_units: Mapped[int] = mapped_column(BigInteger)
    unowned_base_units: Mapped[int] = mapped_column(BigInteger)
    mint_signatures: Mapped[str] = mapped_column(Text, doc="base58 signatures, comma-separated")
    attestation_signature: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    done_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class MintGrant(Base):
    """One owner's energy of one closed epoch and what became of it
    (`coordinator.onchain.grants`, `coordinator.onchain.minting`).

    `status`: pending, minted (`signature` is the confirmed mint) or withheld
    (`reason`: account_frozen until thawed; "mint_failed: ..." parked until an
    operator retries). `batch_key` is the epoch's batch job that carries it (None
    when withheld at planning); `attempts` numbers the single-owner jobs planned
    after it, `failures` counts those that failed other than on a freeze.
    """

    __tablename__ = "mint_grants"
    __table_args__ = (Index("ix_mint_grants_status_epoch", "status", "epoch"),)

    epoch: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    owner: Mapped[str] = mapped_column(String(44), primary_key=True)
    base_units: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str | None] = mapped_column(Text)
    batch_key: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    signature: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class EnergyLot(Base):
    """Energy tokens a holder holds, by provenance: `base_units` produced by `meter`
    ("<gateway id>/<meter id>") in `production_epoch` (`coordinator.lifecycle`)."""

    __tablename__ = "energy_lots"

    holder: Mapped[str] = mapped_column(String(44), primary_key=True)
    production_epoch: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    meter: Mapped[str] = mapped_column(String(109), primary_key=True)
    base_units: Mapped[int] = mapped_column(BigInteger)


class LotSource(Base):
    """Each event applied to the lots, once, in the order applied: `mint:E:OWNER`,
    `trade:E:IDX`, `retire:E`, `unretire:E:HOLDER` (a refused burn put back)."""

    __tablename__ = "lot_sources"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(160), unique=True)
    kind: Mapped[str] = mapped_column(String(12))
    applied_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class RetirementRun(Base):
    """One consumption epoch's retirement: `planned` (matches, certificates and lots
    written), then `done` once every burn finished and the certificates' Merkle root
    is attested (`attestation_signature`, the `gtx/v1 certify` memo)."""

    __tablename__ = "retirement_runs"

    epoch: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    policy: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(12))
    retired_base_units: Mapped[int] = mapped_column(BigInteger, default=0)
    certificate_count: Mapped[int] = mapped_column(Integer, default=0)
    merkle_root: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    attestation_signature: Mapped[str | None] = mapped_column(Text)
    planned_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class RetirementRow(Base):
    """One consumer's metered import of a consumption epoch and its match.

    `status`: planned (burn job `job_key` not yet finished), retired (`signature`),
    refused (`reason`: the burn failed; the lots were put back) or unmatched (nothing
    to burn; `reason` says why when an approval was short: `no_approval`,
    `approval_short`)."""

    __tablename__ = "retirements"
    __table_args__ = (Index("ix_retirements_holder_epoch", "holder", "epoch"),)

    epoch: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    holder: Mapped[str] = mapped_column(String(44), primary_key=True)
    import_base_units: Mapped[int] = mapped_column(BigInteger)
    eligible_base_units: Mapped[int] = mapped_column(BigInteger)
    approved_base_units: Mapped[int] = mapped_column(BigInteger)
    matched_base_units: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str | None] = mapped_column(Text)
    job_key: Mapped[str | None] = mapped_column(Text)
    signature: Mapped[str | None] = mapped_column(Text)


class Certificate(Base):
    """A granular certificate: `base_units` of `meter`'s export in `production_epoch`,
    retired by `holder` against epoch `epoch`'s import. `leaf` (its Merkle leaf, hex)
    is unique: a certificate is retired once. `status` follows its retirement row:
    planned, retired or void (the burn was refused)."""

    __tablename__ = "certificates"
    __table_args__ = (Index("ix_certificates_holder_epoch", "holder", "epoch"),)

    epoch: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    holder: Mapped[str] = mapped_column(String(44), primary_key=True)
    production_epoch: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    meter: Mapped[str] = mapped_column(String(109), primary_key=True)
    base_units: Mapped[int] = mapped_column(BigInteger)
    leaf: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(12))


# --- user notifications (coordinator.notify) ---------------------------------------------


class NotifySubscription(Base):
    """A user's opt-in: an email address and/or a webhook URL, and the kinds
    (comma-separated `coordinator.notify.events.Kind` values). `webhook_secret`
    signs the webhook's bodies (HMAC-SHA256); made by the server, shown once."""

    __tablename__ = "notify_subscriptions"

    user: Mapped[str] = mapped_column(String(44), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(254))
    webhook_url: Mapped[str | None] = mapped_column(Text)
    webhook_secret: Mapped[str | None] = mapped_column(String(80))
    kinds: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class NotifyOutbox(Base):
    """One notification on one channel, from enqueued to delivered (or parked).

    `key` is the idempotency key of (user, kind, event id, channel): unique, so an
    event enqueued twice is one row. `status`: pending (due at `next_attempt_at`;
    claimed by a worker until `lease_until`), delivered, parked (`max_attempts`
    failed: `last_error` says why) or dropped (the user unsubscribed the channel).
    `event` is the event as JSON (`at`, `facts`): the message is rendered from it."""

    __tablename__ = "notify_outbox"
    __table_args__ = (
        Index("ix_notify_outbox_status_due", "status", "next_attempt_at"),
        Index("ix_notify_outbox_user_id", "user", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    user: Mapped[str] = mapped_column(String(44))
    kind: Mapped[str] = mapped_column(String(24))
    event_id: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(8))
    event: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class NotifyCursor(Base):
    """How far the notification producer has read a source (Unix seconds)."""

    __tablename__ = "notify_cursors"

    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)


class NotifySeen(Base):
    """Things a source has no time for that the producer has already seen (a revoked
    gateway): seen once, told once."""

    __tablename__ = "notify_seen"

    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    item: Mapped[str] = mapped_column(String(100), primary_key=True)
