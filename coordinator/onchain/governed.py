"""The chain leader's market work under the REC authority's governance.

Each pass of the chain worker reads the emergency controls from the database
(the table every instance shares; no cache, so a pause is seen at the next pass,
within `GTX_CHAIN_CHECK_INTERVAL_S`) and:

- minting: the worker mints only while `minting` runs (`may_mint`);
- clearing: while `clearing` runs, clears the epoch whose gate closure came,
  with the market rules in force for that epoch (`coordinator.governance.params`);
  after a pause (and at a leader's start) first the earlier epochs whose orders
  are still waiting, and every epoch a pause held back (`held_clearings`, from the
  epoch the pause began; empty ones get an empty clearing, as if never paused),
  oldest first: each is cleared once (the clearing's primary key), whichever
  instance leads, and a pause is marked caught up once all its epochs are;
- settlement: asked again after each clearing is stored, so a pause that comes
  while a clearing runs holds its settlement back; the epochs held back are
  settled once settlement runs again (exactly-once jobs); a trade parked because a
  party's accounts were frozen after the clearing is settled at the first pass
  after both parties are thawed (`market.settlement.settle_parked`).

It also publishes the controls, retained, whenever they change
(`wire.topics.market_controls`) and keeps the `gtx_market_paused` gauge.
"""

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

from solders.pubkey import Pubkey

from coordinator.governance import ALL_SCOPES, Controls, GovernanceReader, Scope
from coordinator.market import MarketContext, SettlementKeys, run_market_epoch, settle
from coordinator.market.clearing_service import Publish
from coordinator.market.escrow import read_escrow
from coordinator.market.settlement import settle_parked
from coordinator.ops import metrics
from wire.controls import ControlsReport, PausedScope, encode_controls
from wire.topics import DEFAULT_ROOT, market_controls

__all__ = ["GovernedMarket"]

log = logging.getLogger(__name__)

Report = Callable[[str, int], Awaitable[None]]


def _report(controls: Controls, now: dt.datetime) -> ControlsReport:
    return ControlsReport(
        tuple(sorted(s.value for s in ALL_SCOPES)),
        {
            p.scope.value: PausedScope(int(p.since.timestamp()), p.since_epoch, p.by, p.reason)
            for p in controls.pauses.values()
        },
        int(now.timestamp()),
    )


class GovernedMarket:
    """One instance per leadership; `step(current)` once per pass of the worker."""

    def __init__(
        self,
        ctx: MarketContext,
        keys: SettlementKeys,
        governance: GovernanceReader,
        *,
        publish: Publish | None = None,
        root: str = DEFAULT_ROOT,
    ) -> None:
        self._ctx = ctx
        self._keys = keys
        self._governance = governance
        self._publish = publish
        self._root = root
        self._last_cleared: int | None = None
        # A new leader first looks for epochs a pause or a previous leader left.
        self._catch_up = True
        self._settle_backlog = True
        self._published: Controls | None = None
        self.controls = Controls()

    async def read(self) -> Controls:
        """The controls as the database has them now (and tell operators of a change)."""
        self._governance.forget()
        self.controls = await self._governance.controls()
        metrics.record_controls(
            (s.value for s in ALL_SCOPES), (s.value for s in self.controls.pauses)
        )
        if self._publish is not None and self.controls != self._published:
            body = encode_controls(_report(self.controls, self._ctx.clock()))
            if await self._publish(market_controls(self._root), body):
                self._published = self.controls
        return self.controls

    @property
    def may_mint(self) -> bool:
        """Whether minting runs, as of the last `read`."""
        return not self.controls.paused(Scope.MINTING)

    @property
    def may_retire(self) -> bool:
        """Whether retirement runs, as of the last `read`: it burns tokens under the
        escrow delegation, so it stops with settlement (and with minting, whose
        records it builds on)."""
        return not (self.controls.paused(Scope.SETTLEMENT) or self.controls.paused(Scope.MINTING))

    async def _may_settle(self) -> bool:
        if (await self.read()).paused(Scope.SETTLEMENT):
            self._settle_backlog = True
            return False
        return True

    def _held_back(self, current: int, held: list[tuple[int, int]]) -> list[int]:
        """The epochs before `current` still to clear: those with orders waiting, and
        every one since the first held back by a pause, oldest first."""
        store = self._ctx.store
        due = set(store.uncleared_epochs(current))
        if held:
            first = min(epoch for _, epoch in held)
            due.update(e for e in range(first, current) if not store.is_cleared(e))
        return sorted(due)

    async def step(self, current: int, on_cleared: Report | None = None) -> list[int]:
        """Clear what is due and allowed, settle what is held back and allowed; the
        epochs cleared, oldest first. Call `read` first in the pass."""
        cleared: list[int] = []
        if self.controls.paused(Scope.CLEARING):
            self._catch_up = True
        else:
            due = []
            # Looked for at every pass: a pause and resume may both fall between two.
            held = await asyncio.to_thread(self._governance.source.held_clearings)
            if self._catch_up or held:
                due = await asyncio.to_thread(self._held_back, current, held)
                if due:
                    log.info("clearing epochs held back: %s", due)
            if self._last_cleared != current and current not in due:
                due.append(current)
            for epoch in due:
                params = await self._governance.params_at(epoch)
                ctx = replace(self._ctx, rules=params.market_rules(), band=params.price_band())
                await run_market_epoch(
                    ctx, epoch, self._keys, publish=self._publish, root=self._root,
                    may_settle=self._may_settle,
                )  # fmt: skip
                cleared.append(epoch)
                if on_cleared is not None:
                    await on_cleared("cleared", epoch)
            if held:
                await asyncio.to_thread(
                    self._governance.source.caught_up, [i for i, _ in held], self._ctx.clock()
                )
            self._catch_up = False
            self._last_cleared = current
        if self._settle_backlog and not (await self.read()).paused(Scope.SETTLEMENT):
            for epoch in await asyncio.to_thread(self._ctx.store.unsettled_epochs):
                await settle(self._ctx, epoch, self._keys)
            self._settle_backlog = False
        elif self.controls.paused(Scope.SETTLEMENT):
            self._settle_backlog = True
        if not self.controls.paused(Scope.SETTLEMENT):
            await self._settle_parked()
        return cleared

    async def _settle_parked(self) -> None:
        """Trades parked on a freeze, settled once their parties are thawed."""
        ctx = self._ctx

        async def frozen(owner: str) -> bool:
            escrow = await read_escrow(ctx.ledger, ctx.deployment, Pubkey.from_string(owner))
            return escrow.energy.frozen or escrow.payment.frozen

        for o in await settle_parked(ctx.store, ctx.ledger, ctx.deployment, self._keys, frozen,
                                     clock=ctx.clock):  # fmt: skip
            log.info("parked trade %d %s after the thaw%s", o.idx, o.status.value,
                     "" if o.error is None else f": {o.error}")  # fmt: skip
