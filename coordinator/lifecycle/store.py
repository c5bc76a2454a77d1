"""The lots, retirements and certificates in the database: the repository the
retirement service (`coordinator.onchain.retirement`) loads from and writes to.
It decides nothing: the matching is `coordinator.lifecycle.matching`'s.

Each event that changes lots is written in the same transaction as its
`lot_sources` key, which is unique: an event is applied once, whatever crashes.
"""

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import String, cast, delete, exists, func, insert, literal, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import ColumnElement

from coordinator.db.models import (
    Certificate,
    EnergyLot,
    EpochOnchain,
    LotSource,
    MatchRow,
    Meter,
    MeterEpochEnergyRow,
    MintGrant,
    RetirementRow,
    RetirementRun,
)
from coordinator.lifecycle.certificates import CertificateFacts
from coordinator.lifecycle.matching import Lot, Lots, add
from coordinator.market.records import MatchStatus
from coordinator.onchain.grants import MintStatus
from coordinator.readings.oracle import wh_to_base_units

__all__ = [
    "MintEvent",
    "PlannedHolder",
    "Step",
    "TradeEvent",
    "apply_events",
    "certificates_for",
    "epochs_to_retire",
    "imports_of",
    "load_lots",
    "mark_done",
    "planned_holders",
    "record_outcomes",
    "save_plan",
    "unapplied_mints",
    "unapplied_trades",
    "unfinished_runs",
]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _meter_key(gateway_id: str, meter_id: str) -> str:
    return f"{gateway_id}/{meter_id}"


@dataclass(frozen=True, slots=True)
class MintEvent:
    epoch: int
    owner: str
    lots: Lots  # one per exporting meter of the owner

    @property
    def key(self) -> str:
        return f"mint:{self.epoch}:{self.owner}"


@dataclass(frozen=True, slots=True)
class TradeEvent:
    epoch: int
    idx: int
    seller: str
    buyer: str
    units: int

    @property
    def key(self) -> str:
        return f"trade:{self.epoch}:{self.idx}"


def _unapplied(key: ColumnElement[str]) -> ColumnElement[bool]:
    """No `lot_sources` row has this key (an index lookup per candidate)."""
    return ~exists().where(LotSource.key == key)


def unapplied_mints(engine: Engine, limit: int = 100_000) -> list[MintEvent]:
    """Minted grants whose lots are not yet applied, each with its meters' lots."""
    key = literal("mint:") + cast(MintGrant.epoch, String) + ":" + MintGrant.owner
    with engine.connect() as conn:
        grants = conn.execute(
            select(MintGrant.epoch, MintGrant.owner)
            .where(MintGrant.status == MintStatus.MINTED.value, _unapplied(key))
            .order_by(MintGrant.epoch, MintGrant.owner)
            .limit(limit)
        ).all()
        todo = [(int(e), str(o)) for e, o in grants]
        epochs = sorted({e for e, _ in todo})
        per: dict[tuple[int, str], list[Lot]] = {}
        if epochs:
            rows = conn.execute(
                select(
                    MeterEpochEnergyRow.epoch, Meter.owner, MeterEpochEnergyRow.gateway_id,
                    MeterEpochEnergyRow.meter_id, MeterEpochEnergyRow.export_wh,
                )
                .join(
                    Meter,
                    (Meter.gateway_id == MeterEpochEnergyRow.gateway_id)
                    & (Meter.meter_id == MeterEpochEnergyRow.meter_id),
                )
                .where(MeterEpochEnergyRow.epoch.in_(epochs), MeterEpochEnergyRow.export_wh > 0)
            ).all()  # fmt: skip
            for epoch, owner, gateway_id, meter_id, export_wh in rows:
                lot = Lot(int(epoch), _meter_key(gateway_id, meter_id), wh_to_base_units(export_wh))
                per.setdefault((int(epoch), str(owner)), []).append(lot)
    return [MintEvent(e, o, add((), per.get((e, o), ()))) for e, o in todo]


def unapplied_trades(engine: Engine, limit: int = 100_000) -> list[TradeEvent]:
    """Settled trades not yet applied, in the clearing's order (epoch, match index)."""
    key = literal("trade:") + cast(MatchRow.epoch, String) + ":" + cast(MatchRow.idx, String)
    with engine.connect() as conn:
        rows = conn.execute(
            select(MatchRow.epoch, MatchRow.idx, MatchRow.seller, MatchRow.buyer, MatchRow.quantity)
            .where(MatchRow.status == MatchStatus.SETTLED.value, _unapplied(key))
            .order_by(MatchRow.epoch, MatchRow.idx)
            .limit(limit)
        ).all()
    return [TradeEvent(int(e), int(i), s, b, int(q)) for e, i, s, b, q in rows]


def _load(conn: Connection, holders: Iterable[str]) -> dict[str, Lots]:
    wanted = sorted(set(holders))
    found: dict[str, list[Lot]] = {h: [] for h in wanted}
    for i in range(0, len(wanted), 1000):
        rows = conn.execute(
            select(EnergyLot.holder, EnergyLot.production_epoch, EnergyLot.meter,
                   EnergyLot.base_units).where(EnergyLot.holder.in_(wanted[i : i + 1000]))
        ).all()  # fmt: skip
        for holder, epoch, meter, units in rows:
            found[holder].append(Lot(int(epoch), meter, int(units)))
    return {h: add((), lots) for h, lots in found.items()}


def load_lots(engine: Engine, holders: Iterable[str] | None = None) -> dict[str, Lots]:
    """Lots per holder, oldest first (every holder's when `holders` is None)."""
    with engine.connect() as conn:
        if holders is None:
            holders = conn.execute(select(EnergyLot.holder).distinct()).scalars().all()
        return _load(conn, holders)


def _write(conn: Connection, lots: Mapping[str, Sequence[Lot]]) -> None:
    holders = sorted(lots)
    for i in range(0, len(holders), 1000):
        conn.execute(delete(EnergyLot).where(EnergyLot.holder.in_(holders[i : i + 1000])))
    rows = [
        {"holder": h, "production_epoch": lot.production_epoch, "meter": lot.meter,
         "base_units": lot.units}
        for h in holders for lot in lots[h]
    ]  # fmt: skip
    if rows:
        conn.execute(insert(EnergyLot), rows)


def _sources(conn: Connection, keys: Sequence[tuple[str, str]]) -> None:
    if keys:
        now = _now()
        conn.execute(
            insert(LotSource), [{"key": k, "kind": kind, "applied_at": now} for k, kind in keys]
        )


Step = Callable[[dict[str, Lots]], Mapping[str, Sequence[Lot]]]
"""What `apply_events` applies: the lots of the holders it loaded -> their new lots."""


def apply_events(
    engine: Engine, holders: Iterable[str], step: Step, keys: Sequence[tuple[str, str]]
) -> None:
    """In one transaction: load `holders`' lots, `step` them (pure), write them back and
    record the events' (key, kind). A key applied before fails the whole transaction
    (IntegrityError): nothing is applied twice."""
    with engine.begin() as conn:
        before = _load(conn, holders)
        after = step(before)
        _sources(conn, keys)
        _write(conn, after)


def epochs_to_retire(engine: Engine, limit: int) -> list[int]:
    """Epochs minted and attested whose retirement is not yet planned, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(EpochOnchain.epoch)
            .where(EpochOnchain.epoch.not_in(select(RetirementRun.epoch)))
            .order_by(EpochOnchain.epoch)
            .limit(limit)
        ).scalars()
        return [int(e) for e in rows]


def imports_of(engine: Engine, epoch: int) -> dict[str, int]:
    """Each owner's metered import in `epoch`, in base units (the oracle's epoch energy:
    the only input to matching)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(Meter.owner, func.sum(MeterEpochEnergyRow.import_wh))
            .join(
                Meter,
                (Meter.gateway_id == MeterEpochEnergyRow.gateway_id)
                & (Meter.meter_id == MeterEpochEnergyRow.meter_id),
            )
            .where(MeterEpochEnergyRow.epoch == epoch, Meter.owner.is_not(None))
            .group_by(Meter.owner)
        ).all()
    return {str(o): wh_to_base_units(int(wh or 0)) for o, wh in rows if wh}


@dataclass(frozen=True, slots=True)
class PlannedHolder:
    """One consumer's row of a planned retirement."""

    holder: str
    import_units: int
    eligible_units: int
    approved_units: int
    matched_units: int
    status: str  # planned, unmatched
    reason: str | None
    job_key: str | None
    certificates: tuple[CertificateFacts, ...]


def save_plan(
    engine: Engine,
    epoch: int,
    policy: str,
    rows: Sequence[PlannedHolder],
    lots_after: Mapping[str, Sequence[Lot]],
) -> bool:
    """Write an epoch's plan, its certificates and the holders' lots left, as one
    transaction with the source `retire:E`. False if it was planned already."""
    with engine.begin() as conn:
        if conn.execute(select(RetirementRun.epoch).where(RetirementRun.epoch == epoch)).first():
            return False
        conn.execute(
            insert(RetirementRun).values(
                epoch=epoch, policy=policy, status="planned", retired_base_units=0,
                certificate_count=0, planned_at=_now(),
            )
        )  # fmt: skip
        if rows:
            conn.execute(insert(RetirementRow), [
                {"epoch": epoch, "holder": r.holder, "import_base_units": r.import_units,
                 "eligible_base_units": r.eligible_units, "approved_base_units": r.approved_units,
                 "matched_base_units": r.matched_units, "status": r.status, "reason": r.reason,
                 "job_key": r.job_key, "signature": None}
                for r in rows
            ])  # fmt: skip
        certs = [c for r in rows for c in r.certificates]
        if certs:
            conn.execute(insert(Certificate), [
                {"epoch": c.epoch, "holder": c.holder, "production_epoch": c.production_epoch,
                 "meter": c.meter, "base_units": c.base_units, "leaf": c.leaf().hex(),
                 "status": "planned"}
                for c in certs
            ])  # fmt: skip
        _sources(conn, [(f"retire:{epoch}", "retire")])
        _write(conn, lots_after)
    return True


def planned_holders(engine: Engine, epoch: int) -> list[tuple[str, int, str]]:
    """(holder, matched base units, job key) of the epoch's burns not yet decided."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(RetirementRow.holder, RetirementRow.matched_base_units, RetirementRow.job_key)
            .where(RetirementRow.epoch == epoch, RetirementRow.status == "planned")
            .order_by(RetirementRow.holder)
        ).all()
    return [(h, int(u), str(k)) for h, u, k in rows]


def _certificates(conn: Connection, epoch: int, holder: str | None) -> list[CertificateFacts]:
    query = select(
        Certificate.epoch, Certificate.holder, Certificate.production_epoch, Certificate.meter,
        Certificate.base_units,
    ).where(Certificate.epoch == epoch)  # fmt: skip
    if holder is not None:
        query = query.where(Certificate.holder == holder)
    return [CertificateFacts(int(e), h, int(p), m, int(u)) for e, h, p, m, u in conn.execute(query)]


def record_outcomes(
    engine: Engine, epoch: int, outcomes: Sequence[tuple[str, str | None, str | None]]
) -> int:
    """Burns finished, (holder, signature, error) each: retired (with its signature),
    or refused, its certificates voided and its lots put back (source
    `unretire:E:H`); all in one transaction. Returns how many were newly recorded
    (one recorded before is left as it is)."""
    recorded = 0
    with engine.begin() as conn:
        for holder, signature, error in outcomes:
            values: dict[str, object] = {"status": "retired", "signature": signature}
            if error is not None:
                values = {"status": "refused", "reason": f"burn_failed: {error}"}
            updated = conn.execute(
                update(RetirementRow)
                .where(
                    RetirementRow.epoch == epoch,
                    RetirementRow.holder == holder,
                    RetirementRow.status == "planned",
                )
                .values(**values)
            ).rowcount
            if not updated:
                continue
            recorded += 1
            conn.execute(
                update(Certificate)
                .where(Certificate.epoch == epoch, Certificate.holder == holder)
                .values(status="retired" if error is None else "void")
            )
            if error is not None:
                restored = [
                    Lot(c.production_epoch, c.meter, c.base_units)
                    for c in _certificates(conn, epoch, holder)
                ]
                held = _load(conn, [holder])
                _sources(conn, [(f"unretire:{epoch}:{holder}", "unretire")])
                _write(conn, {holder: add(held[holder], restored)})
    return recorded


def certificates_for(engine: Engine, epoch: int, status: str = "retired") -> list[CertificateFacts]:
    with engine.connect() as conn:
        query = select(
            Certificate.epoch, Certificate.holder, Certificate.production_epoch,
            Certificate.meter, Certificate.base_units,
        ).where(Certificate.epoch == epoch, Certificate.status == status)  # fmt: skip
        return [
            CertificateFacts(int(e), h, int(p), m, int(u)) for e, h, p, m, u in conn.execute(query)
        ]


def mark_done(
    engine: Engine, epoch: int, root: bytes, count: int, units: int, signature: str | None
) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(RetirementRun)
            .where(RetirementRun.epoch == epoch)
            .values(status="done", merkle_root=root, certificate_count=count,
                    retired_base_units=units, attestation_signature=signature, done_at=_now())
        )  # fmt: skip


def unfinished_runs(engine: Engine) -> list[int]:
    """Epochs planned whose burns or certificate root are not yet done (a crash)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(RetirementRun.epoch)
            .where(RetirementRun.status == "planned")
            .order_by(RetirementRun.epoch)
        ).scalars()
        return [int(e) for e in rows]
