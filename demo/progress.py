"""What the demo prints as it goes: one line per event an operator cares about,
each epoch shown with its UTC start-end beside its id."""

import asyncio
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.engine import Engine

from coordinator.db.models import EpochOnchain, EpochRecord, MintGrant
from coordinator.lifecycle.queries import campus_totals
from coordinator.market.sql_store import SqlMarketStore
from coordinator.readings.ingest.outcome import BatchOutcome
from coordinator.readings.oracle import EpochCalendar, Epochs, epoch_span

__all__ = ["Progress"]

WH_PER_KWH = 1000
BASE_UNITS_PER_KWH = 10**9
PAYMENT_UNITS = 10**6


@dataclass
class Progress:
    engine: Engine
    length_s: Epochs  # the epoch length, or the calendar in force
    out: TextIO = sys.stdout
    # The calendar in force (the governed epoch length), read at each epoch event.
    calendar: Callable[[], Awaitable[EpochCalendar]] | None = None
    accepted: int = 0
    rejected: dict[str, int] = field(default_factory=dict)

    def on_batch(self, outcome: BatchOutcome) -> None:
        self.accepted += outcome.accepted
        for r in outcome.rejected:
            self.rejected[r.reason] = self.rejected.get(r.reason, 0) + 1

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def epoch(self, epoch: int) -> str:
        """``epoch 179641894 [21:15:40–21:16:00 UTC]``"""
        return f"epoch {epoch} [{epoch_span(epoch, self.length_s, date=False)}]"

    async def on_epoch(self, kind: str, epoch: int) -> None:
        if self.calendar is not None:
            self.length_s = await self.calendar()
        if kind == "minted":
            self.say(await asyncio.to_thread(self._minted_line, epoch))
        elif kind == "cleared":
            self.say(await asyncio.to_thread(self._cleared_line, epoch))
        elif kind == "withheld_minted":
            self.say(await asyncio.to_thread(self._withheld_minted_line, epoch))
        elif kind == "retired":
            self.say(await asyncio.to_thread(self._retired_line, epoch))

    def _retired_line(self, epoch: int) -> str:
        (totals,) = campus_totals(self.engine, epoch, epoch)
        share = totals.matched_wh / totals.import_wh if totals.import_wh else 0.0
        root = totals.merkle_root
        committed = "" if root is None or not totals.certificates else f", root {root[:16]}..."
        return (
            f"{self.epoch(epoch)} retired: {totals.matched_wh / WH_PER_KWH:.3f} kWh of "
            f"{totals.import_wh / WH_PER_KWH:.3f} kWh imported met by tokens ({share:.0%}), "
            f"{totals.certificates} certificates{committed}"
            + (f"; {totals.unapproved} without approval" if totals.unapproved else "")
        )

    def _minted_line(self, epoch: int) -> str:
        with self.engine.connect() as conn:
            closed = conn.execute(select(EpochRecord).where(EpochRecord.epoch == epoch)).one()
            chain = conn.execute(select(EpochOnchain).where(EpochOnchain.epoch == epoch)).one()
            withheld = conn.execute(
                select(
                    MintGrant.owner, MintGrant.base_units, MintGrant.status, MintGrant.reason
                ).where(MintGrant.epoch == epoch, MintGrant.status != "minted")
            ).all()
        rejected = sum(self.rejected.values())
        return (
            f"{self.epoch(epoch)} closed: {closed.reading_count} readings "
            f"(accepted so far {self.accepted}, rejected {rejected}), "
            f"exported {closed.total_export_wh / WH_PER_KWH:.3f} kWh, "
            f"imported {closed.total_import_wh / WH_PER_KWH:.3f} kWh; "
            f"minted {chain.minted_base_units / BASE_UNITS_PER_KWH:.3f} kWh of tokens, "
            f"Merkle root {bytes(closed.merkle_root).hex()[:16]}... attested"
            + "".join(
                f"\n  {status} {units / BASE_UNITS_PER_KWH:.3f} kWh of {owner[:8]}..."
                + (f": {reason}" if reason else "")
                for owner, units, status, reason in withheld
            )
        )

    def _withheld_minted_line(self, epoch: int) -> str:
        with self.engine.connect() as conn:
            chain = conn.execute(select(EpochOnchain).where(EpochOnchain.epoch == epoch)).one()
        return (
            f"epoch {epoch}: withheld energy minted (account thawed); now "
            f"{chain.minted_base_units / BASE_UNITS_PER_KWH:.3f} kWh of tokens minted"
        )

    def _cleared_line(self, epoch: int) -> str:
        view = SqlMarketStore(self.engine).get_clearing(epoch)
        market = f"market for {self.epoch(epoch)}"
        if view is None:
            return f"{market}: not cleared"
        if view.clearing_price is None:
            return f"{market}: {view.order_count} orders, no trade"
        return (
            f"{market}: {view.order_count} orders, {view.match_count} trades, "
            f"{view.volume / BASE_UNITS_PER_KWH:.3f} kWh at "
            f"{view.clearing_price / PAYMENT_UNITS:.3f} credits/kWh"
        )
