"""Where the emergency controls and the parameter schedule live: PostgreSQL (or the
demo's SQLite), read by every instance, or memory for the unit tests.

The store stores, it never decides: `coordinator.governance.controls` and
`.params` decide; the API writes what they allow. Its methods block (SQL), so
async callers use `asyncio.to_thread` (`coordinator.governance.reader` does).
"""

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Protocol

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from coordinator.db.models import MarketControl, ParamChangeRow, TariffSeriesRow
from coordinator.governance.controls import Controls, Pause, Scope
from coordinator.governance.errors import ControlConflict
from coordinator.governance.params import Param, ParamChange
from coordinator.governance.series import TariffSeries, parse_csv, series_csv, series_hash

__all__ = ["GovernanceSource", "MemoryGovernance", "SqlGovernance"]

Also = Callable[[Connection], None] | None
"""Written in the same transaction (the audit entry of the change)."""


def _utc(at: dt.datetime) -> dt.datetime:
    # SQLite gives back naive times (stored as UTC).
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


class GovernanceSource(Protocol):
    """What the loops and the API read."""

    def controls(self) -> Controls: ...

    def param_changes(self) -> list[ParamChange]:
        """Every change, in the order recorded."""
        ...

    def tariff_series(self) -> list[TariffSeries]:
        """Every tariff series, in the order recorded."""
        ...


class SqlGovernance:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def controls(self) -> Controls:
        c = MarketControl
        query = select(c.scope, c.since, c.since_epoch, c.paused_by, c.reason)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return Controls(
            {
                Scope(r.scope): Pause(
                    Scope(r.scope), _utc(r.since), r.since_epoch, r.paused_by, r.reason
                )
                for r in rows
            }
        )

    def pause(self, pauses: Iterable[Pause], memo_signature: str, *, also: Also = None) -> None:
        """Record the pauses; ControlConflict when another caller paused one first."""
        try:
            with self._engine.begin() as conn:
                for p in pauses:
                    conn.execute(
                        insert(MarketControl).values(
                            scope=p.scope.value, since=p.since, since_epoch=p.since_epoch,
                            paused_by=p.by, reason=p.reason, memo_signature=memo_signature,
                        )
                    )  # fmt: skip
                if also is not None:
                    also(conn)
        except IntegrityError:
            raise ControlConflict("already_paused", "paused meanwhile by another call") from None

    def resume(self, scopes: Iterable[Scope], *, also: Also = None) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                delete(MarketControl).where(MarketControl.scope.in_([s.value for s in scopes]))
            )
            if also is not None:
                also(conn)

    def param_changes(self) -> list[ParamChange]:
        c = ParamChangeRow
        query = select(c.name, c.value, c.from_epoch, c.authority, c.issued_at, c.signature)
        with self._engine.connect() as conn:
            rows = conn.execute(query.order_by(c.id)).all()
        return [
            ParamChange(
                name=Param(r.name), value=r.value, from_epoch=r.from_epoch,
                authority=r.authority, issued_at=r.issued_at, signature=r.signature,
            )
            for r in rows
        ]  # fmt: skip

    def add_param_change(
        self, change: ParamChange, memo_signature: str, now: dt.datetime, *, also: Also = None
    ) -> bool:
        """Record `change`; False (nothing written) when its signature was recorded before."""
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    insert(ParamChangeRow).values(
                        name=change.name.value, value=change.value, from_epoch=change.from_epoch,
                        authority=change.authority, issued_at=change.issued_at,
                        signature=change.signature, memo_signature=memo_signature,
                        recorded_at=now,
                    )
                )  # fmt: skip
                if also is not None:
                    also(conn)
        except IntegrityError:
            return False
        return True

    def tariff_series(self) -> list[TariffSeries]:
        t = TariffSeriesRow
        query = select(t.csv, t.authority, t.issued_at, t.signature).order_by(t.id)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        out = []
        for r in rows:
            name, from_epoch, values = parse_csv(r.csv)
            out.append(
                TariffSeries(name=name, from_epoch=from_epoch, values=values,
                             authority=r.authority, issued_at=r.issued_at,
                             signature=r.signature)
            )  # fmt: skip
        return out

    def add_tariff_series(
        self, series: TariffSeries, memo_signature: str, now: dt.datetime, *, also: Also = None
    ) -> bool:
        """Record `series`; False (nothing written) when its signature was recorded before."""
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    insert(TariffSeriesRow).values(
                        name=series.name.value, from_epoch=series.from_epoch,
                        epoch_count=len(series.values),
                        csv=series_csv(series.name, series.from_epoch, series.values),
                        sha256=series_hash(series), authority=series.authority,
                        issued_at=series.issued_at, signature=series.signature,
                        memo_signature=memo_signature, recorded_at=now,
                    )
                )  # fmt: skip
                if also is not None:
                    also(conn)
        except IntegrityError:
            return False
        return True

    def has_signature(self, signature: str) -> bool:
        with self._engine.connect() as conn:
            found = conn.execute(
                select(ParamChangeRow.id).where(ParamChangeRow.signature == signature)
            ).first()
        return found is not None


class MemoryGovernance:
    """The fake: controls and changes in memory, set directly by tests."""

    def __init__(self) -> None:
        self.state = Controls()
        self.changes: list[ParamChange] = []
        self.series: list[TariffSeries] = []
        self.reads = 0

    def controls(self) -> Controls:
        self.reads += 1
        return self.state

    def param_changes(self) -> list[ParamChange]:
        return list(self.changes)

    def tariff_series(self) -> list[TariffSeries]:
        return list(self.series)

    def pause(self, *pauses: Pause) -> None:
        self.state = Controls({**self.state.pauses, **{p.scope: p for p in pauses}})

    def resume(self, *scopes: Scope) -> None:
        self.state = Controls({s: p for s, p in self.state.pauses.items() if s not in scopes})
