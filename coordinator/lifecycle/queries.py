"""What is read of retirement: matched consumption per user and epoch, statements per
hour, day and month, certificates and their proofs, campus totals. Blocking SQL: call
from a worker thread."""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from coordinator.db.models import Certificate, RetirementRow, RetirementRun
from coordinator.lifecycle.certificates import CertificateFacts, EpochCertificates
from coordinator.readings.oracle.calendar import Epochs
from coordinator.readings.oracle.epochs import epoch_start
from coordinator.readings.oracle.merkle import ProofStep
from coordinator.readings.oracle.summary import BASE_UNITS_PER_WH

__all__ = [
    "CampusEpoch",
    "CertificateProof",
    "CertificateRow",
    "Period",
    "RetiredEnergy",
    "StatementLine",
    "campus_totals",
    "certificate_proof",
    "list_certificates",
    "matched_wh_by_epoch",
    "statement",
]

Period = Literal["hour", "day", "month"]
_UNAPPROVED = ("no_approval", "approval_short", "account_frozen")


def matched_wh_by_epoch(
    engine: Engine, wallet: str | None, since_epoch: int, until_epoch: int
) -> dict[tuple[str, int], int]:
    """Matched renewable consumption: (wallet, consumption epoch) -> Wh retired against
    that epoch's metered import (burned and certified), for epochs `since_epoch` to
    `until_epoch` inclusive; every wallet's when `wallet` is None. Epochs and wallets
    with nothing retired are absent."""
    query = select(
        RetirementRow.holder, RetirementRow.epoch, RetirementRow.matched_base_units
    ).where(
        RetirementRow.status == "retired",
        RetirementRow.epoch >= since_epoch,
        RetirementRow.epoch <= until_epoch,
    )
    if wallet is not None:
        query = query.where(RetirementRow.holder == wallet)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return {(h, int(e)): int(u) // BASE_UNITS_PER_WH for h, e, u in rows}


class RetiredEnergy:
    """Matched renewable energy as the bills' carbon counts it
    (`coordinator.lifecycle.carbon.MatchedEnergy`): the Wh each user's energy tokens
    met of an epoch's metered import, retired and certified (`matched_wh_by_epoch`).
    An epoch not yet retired has nothing matched yet."""

    rule = (
        "retired: energy tokens burned against metered import and certified "
        "(gtx/v1 certify), per user and consumption epoch"
    )

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def matched_wh(
        self, *, since: int, until: int, owner: str | None = None
    ) -> dict[tuple[str, int], int]:
        return matched_wh_by_epoch(self._engine, owner, since, until)


@dataclass(frozen=True, slots=True)
class StatementLine:
    start: dt.datetime  # of the hour, day or month (UTC)
    import_wh: int
    matched_wh: int

    @property
    def share(self) -> float:
        """Matched renewable share of the import (0 when nothing was imported)."""
        return self.matched_wh / self.import_wh if self.import_wh else 0.0


def _period_start(epoch: int, epochs: Epochs, period: Period) -> dt.datetime:
    at = dt.datetime.fromtimestamp(epoch_start(epoch, epochs), dt.UTC)
    if period == "hour":
        return at.replace(minute=0, second=0, microsecond=0)
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    return day if period == "day" else day.replace(day=1)


def statement(
    engine: Engine,
    wallet: str,
    epochs: Epochs,
    period: Period,
    since_epoch: int,
    until_epoch: int,
) -> list[StatementLine]:
    """A consumer's metered import and the part of it met by their retired tokens, per
    hour, day or month (UTC), for epochs retired so far between the bounds (inclusive).
    `epochs`: the epoch length, or the calendar in force (the governed epoch length),
    which dates each epoch by its start."""
    query = select(
        RetirementRow.epoch, RetirementRow.import_base_units, RetirementRow.matched_base_units,
        RetirementRow.status,
    ).where(
        RetirementRow.holder == wallet, RetirementRow.epoch >= since_epoch,
        RetirementRow.epoch <= until_epoch,
    )  # fmt: skip
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    lines: dict[dt.datetime, list[int]] = {}
    for epoch, imported, matched, status in rows:
        line = lines.setdefault(_period_start(int(epoch), epochs, period), [0, 0])
        line[0] += int(imported)
        line[1] += int(matched) if status == "retired" else 0
    return [
        StatementLine(start, imported // BASE_UNITS_PER_WH, matched // BASE_UNITS_PER_WH)
        for start, (imported, matched) in sorted(lines.items())
    ]


@dataclass(frozen=True, slots=True)
class CertificateRow:
    facts: CertificateFacts
    leaf: str
    status: str


def list_certificates(
    engine: Engine, wallet: str | None, *, limit: int = 100, offset: int = 0
) -> list[CertificateRow]:
    """Certificates, newest consumption epoch first (every holder's when `wallet` is None)."""
    query = select(
        Certificate.epoch, Certificate.holder, Certificate.production_epoch, Certificate.meter,
        Certificate.base_units, Certificate.leaf, Certificate.status,
    )  # fmt: skip
    if wallet is not None:
        query = query.where(Certificate.holder == wallet)
    query = query.order_by(
        Certificate.epoch.desc(), Certificate.holder, Certificate.production_epoch,
        Certificate.meter,
    ).limit(limit).offset(offset)  # fmt: skip
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        CertificateRow(CertificateFacts(int(e), h, int(p), m, int(u)), leaf, status)
        for e, h, p, m, u, leaf, status in rows
    ]


@dataclass(frozen=True, slots=True)
class CertificateProof:
    facts: CertificateFacts
    leaf_bytes: bytes
    leaf: bytes
    leaf_index: int
    leaf_count: int
    proof: Sequence[ProofStep]
    merkle_root: bytes
    attestation_signature: str | None


def certificate_proof(engine: Engine, leaf_hex: str) -> CertificateProof | None:
    """The proof of the retired certificate whose leaf is `leaf_hex`, once its epoch's
    root is committed; None otherwise."""
    with engine.connect() as conn:
        found = conn.execute(
            select(Certificate.epoch).where(
                Certificate.leaf == leaf_hex.lower(), Certificate.status == "retired"
            )
        ).scalar_one_or_none()
        if found is None:
            return None
        run = conn.execute(
            select(RetirementRun.merkle_root, RetirementRun.attestation_signature).where(
                RetirementRun.epoch == found, RetirementRun.status == "done"
            )
        ).first()
        if run is None or run[0] is None:
            return None
        rows = conn.execute(
            select(
                Certificate.epoch, Certificate.holder, Certificate.production_epoch,
                Certificate.meter, Certificate.base_units,
            ).where(Certificate.epoch == found, Certificate.status == "retired")
        ).all()  # fmt: skip
    tree = EpochCertificates.build(
        CertificateFacts(int(e), h, int(p), m, int(u)) for e, h, p, m, u in rows
    )
    index = next(i for i, c in enumerate(tree.ordered) if c.leaf().hex() == leaf_hex.lower())
    facts = tree.ordered[index]
    return CertificateProof(
        facts, tree.leaf_bytes[index], facts.leaf(), index, len(tree.ordered),
        tree.proof(index), bytes(run[0]), run[1],
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class CampusEpoch:
    epoch: int
    consumers: int
    import_wh: int
    matched_wh: int
    certificates: int
    unapproved: int  # consumers with eligible tokens not retired for want of approval
    refused: int  # consumers whose burn the ledger refused
    merkle_root: str | None
    attestation_signature: str | None


def campus_totals(engine: Engine, since_epoch: int, until_epoch: int) -> list[CampusEpoch]:
    """Per retired epoch: the campus's import, matched energy, certificates and who was
    not retired (for the REC authority)."""
    with engine.connect() as conn:
        runs = conn.execute(
            select(
                RetirementRun.epoch, RetirementRun.certificate_count, RetirementRun.merkle_root,
                RetirementRun.attestation_signature,
            ).where(
                RetirementRun.epoch >= since_epoch, RetirementRun.epoch <= until_epoch
            ).order_by(RetirementRun.epoch)
        ).all()  # fmt: skip
        sums = {
            int(e): (int(n), int(i or 0), int(m or 0), int(na or 0), int(rf or 0))
            for e, n, i, m, na, rf in conn.execute(
                select(
                    RetirementRow.epoch, func.count(), func.sum(RetirementRow.import_base_units),
                    func.sum(RetirementRow.matched_base_units).filter(
                        RetirementRow.status == "retired"
                    ),
                    func.count().filter(RetirementRow.reason.in_(_UNAPPROVED)),
                    func.count().filter(RetirementRow.status == "refused"),
                )
                .where(RetirementRow.epoch >= since_epoch, RetirementRow.epoch <= until_epoch)
                .group_by(RetirementRow.epoch)
            )
        }  # fmt: skip
    out = []
    for epoch, count, root, signature in runs:
        n, imported, matched, unapproved, refused = sums.get(int(epoch), (0, 0, 0, 0, 0))
        out.append(
            CampusEpoch(
                int(epoch), n, imported // BASE_UNITS_PER_WH, matched // BASE_UNITS_PER_WH,
                int(count), unapproved, refused, None if root is None else bytes(root).hex(),
                signature,
            )
        )  # fmt: skip
    return out
