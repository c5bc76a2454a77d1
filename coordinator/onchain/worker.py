"""The on-chain side of each epoch, run by exactly one coordinator instance.

After an epoch closes: register owners' token accounts, mint each owner's
exported energy (1 Wh = 10^6 base units) and post the epoch's Merkle root as
an attestation, each as an exactly-once chain job; on every pass, mint what was
withheld from accounts since thawed (`coordinator.onchain.minting`); then retire
each minted epoch's matched consumption and commit its certificates
(`coordinator.onchain.retirement`, unless `GTX_RETIREMENT_POLICY=off`), and sum
the campus's last day of bills and avoided emissions again for the gauges. At each
epoch's gate closure: clear the market for it and settle the matches
(`coordinator.market.run_market_epoch`, idempotent). Minting, clearing and
settlement each run only while the REC authority has not paused them, with the
governed parameters in force for the epoch (`coordinator.onchain.governed`).

Leadership: a PostgreSQL session advisory lock held on a dedicated connection
for as long as this worker runs; other instances wait for it. On SQLite
(single-process demo) there is nothing to elect.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from coordinator.config import Settings
from coordinator.db.locks import CHAIN_LEADER_LOCK
from coordinator.governance import GovernanceReader, Scope, SqlGovernance, defaults_from
from coordinator.lifecycle.matching import MatchingPolicy, Window
from coordinator.lifecycle.queries import RetiredEnergy
from coordinator.lifecycle.statements import Statements
from coordinator.lifecycle.usage_store import SqlUsage
from coordinator.market import SettlementKeys, resume_market
from coordinator.market.clearing_service import Publish
from coordinator.onchain.governed import GovernedMarket
from coordinator.onchain.ledger import Chain, market_context, open_chain
from coordinator.onchain.minting import mint_closed_epochs, mint_withheld
from coordinator.onchain.retirement import retire_epochs
from coordinator.readings.oracle import Epochs, epoch_of
from programs.errors import LedgerError

__all__ = ["governance_reader", "retirement_policy", "run_chain_worker"]

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def _leadership(engine: Engine, poll_s: float) -> AsyncIterator[None]:
    """Hold the chain leader lock for the duration; wait until it is free.

    A session lock belongs to the connection, not to a thread: the connection is
    used by one worker thread at a time (connect, each try, close), never
    concurrently, and never on the event loop."""
    if engine.dialect.name != "postgresql":
        yield
        return
    conn = await asyncio.to_thread(engine.connect)

    def try_lock() -> bool:
        query = text("SELECT pg_try_advisory_lock(:k)")
        return bool(conn.execute(query, {"k": CHAIN_LEADER_LOCK}).scalar_one())

    try:
        # Another instance leads while it holds the lock: poll for it.
        while True:
            if await asyncio.to_thread(try_lock):
                break
            await asyncio.sleep(poll_s)
        yield
    finally:
        # Closing the session releases the lock.
        await asyncio.to_thread(conn.close)


async def run_chain_worker(
    settings: Settings,
    engine: Engine,
    publish: Publish | None = None,
    on_epoch: Callable[[str, int], Awaitable[None] | None] | None = None,
    alongside: Callable[[], Coroutine[Any, Any, None]] | None = None,
    on_chain: Callable[[Chain], None] | None = None,
) -> None:
    """Run until cancelled: mint and attest closed epochs, clear and settle the
    market at each gate closure. `on_epoch(kind, epoch)` reports progress;
    `alongside()` runs beside it while this instance leads; `on_chain(chain)`
    hands the opened chain to whoever else needs it (the API in the demo)."""
    interval = settings.chain_check_interval_s
    async with (
        _leadership(engine, interval),
        open_chain(settings, engine) as chain,
        asyncio.TaskGroup() as tg,
    ):
        if alongside is not None:
            tg.create_task(alongside(), name="leader-alongside")
        if on_chain is not None:
            on_chain(chain)
        ctx = market_context(chain, engine, defaults_from(settings))
        # The settlement authority is its own fee payer: one signature per transaction.
        authority = chain.keys.settlement_authority
        keys = SettlementKeys(payer=authority, settlement_authority=authority)
        # Under the REC authority's emergency controls and governed parameters.
        reader = governance_reader(settings, engine)
        market = GovernedMarket(ctx, keys, reader, publish=publish, root=settings.topic_root)
        controls = await market.read()
        await resume_market(ctx, keys, publish=publish, root=settings.topic_root,
                            settlement=not controls.paused(Scope.SETTLEMENT))  # fmt: skip

        async def cleared(kind: str, epoch: int) -> None:
            await _report(on_epoch, kind, epoch)

        newest = 0  # the newest epoch minted while leading: where the bills' last day ends
        while True:
            try:
                await market.read()
                minted: list[int] = []
                retired: list[int] = []
                if market.may_mint:
                    minted = await mint_closed_epochs(chain, engine)
                    for epoch in minted:
                        await _report(on_epoch, "minted", epoch)
                    for grant in await mint_withheld(chain, engine):
                        await _report(on_epoch, "withheld_minted", grant.epoch)
                # Epochs by the calendar in force (the governed epoch length): the
                # bills' days, the matching policy's hours and days, the gate closures.
                calendar = await reader.calendar()
                policy = retirement_policy(settings, calendar)
                if policy is not None and market.may_retire:
                    retired = await retire_epochs(chain, ctx.store, engine, policy)
                    for epoch in retired:
                        await _report(on_epoch, "retired", epoch)
                if minted or retired:
                    # Avoided emissions count retired energy: summed again once retired.
                    newest = max(newest, *minted, *retired)
                    bills = Statements(
                        SqlUsage(engine), await reader.schedule(),
                        length_s=calendar, matched=RetiredEnergy(engine),
                    )  # fmt: skip
                    await bills.record_last_day(newest)
                current = epoch_of(int(time.time()), calendar)
                await market.step(current, cleared)
            except (OperationalError, InterfaceError) as exc:
                log.warning("chain work postponed, database unavailable: %s", exc)
            except LedgerError as exc:
                log.error("chain work postponed, ledger failed: %s", exc)
            await asyncio.sleep(interval)


def retirement_policy(settings: Settings, epochs: Epochs) -> MatchingPolicy | None:
    """The campus matching policy over `epochs` (the calendar in force: its hours and
    days hold the epochs that start in them), None when retirement is off."""
    if settings.retirement_policy == "off":
        return None
    return MatchingPolicy(Window(settings.retirement_policy), epochs)


def governance_reader(settings: Settings, engine: Engine) -> GovernanceReader:
    """The controls and parameter schedule as this instance reads them."""
    return GovernanceReader(
        SqlGovernance(engine), defaults_from(settings), ttl_s=settings.governance_refresh_s
    )


async def _report(
    on_epoch: Callable[[str, int], Awaitable[None] | None] | None, kind: str, epoch: int
) -> None:
    if on_epoch is not None:
        result = on_epoch(kind, epoch)
        if result is not None:
            await result
