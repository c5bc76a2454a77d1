"""The on-chain side of each epoch, run by exactly one coordinator instance.

After an epoch closes: register owners' token accounts, mint each owner's
exported energy (1 Wh = 10^6 base units) and post the epoch's Merkle root as
an attestation, each as an exactly-once chain job. At each epoch's gate
closure: clear the market for it and settle the matches
(`coordinator.market.run_market_epoch`, idempotent).

Leadership: a PostgreSQL session advisory lock held on a dedicated connection
for as long as this worker runs; other instances wait for it. On SQLite
(single-process demo) there is nothing to elect.
"""

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from solders.pubkey import Pubkey
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from coordinator.config import Settings
from coordinator.db.locks import CHAIN_LEADER_LOCK
from coordinator.db.models import EpochOnchain, EpochRecord, Meter, MeterEpochEnergyRow
from coordinator.market import SettlementKeys, resume_market, run_market_epoch
from coordinator.market.clearing_service import Publish
from coordinator.onchain.ledger import Chain, market_context, open_chain
from coordinator.ops import metrics
from coordinator.readings.oracle import epoch_of, wh_to_base_units
from programs.errors import LedgerError
from programs.jobs import JobsFailed, run_attestation, run_mint_epoch
from programs.roles.registry import register_user

__all__ = ["Grants", "mint_closed_epochs", "plan_grants", "run_chain_worker"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Grants:
    """Base units to mint per owner wallet, and what no owner can receive."""

    per_owner: tuple[tuple[str, int], ...]
    unowned_base_units: int


def plan_grants(rows: Iterable[tuple[str | None, int]]) -> Grants:
    """Sum exported Wh per owner wallet into energy-token base units, in a
    deterministic order (by wallet). Rows are (owner or None, export_wh)."""
    per_owner: dict[str, int] = {}
    unowned = 0
    for owner, export_wh in rows:
        units = wh_to_base_units(export_wh)
        if units <= 0:
            continue
        if owner is None:
            unowned += units
        else:
            per_owner[owner] = per_owner.get(owner, 0) + units
    return Grants(tuple(sorted(per_owner.items())), unowned)


def _pending_epochs(engine: Engine, limit: int) -> list[tuple[int, bytes]]:
    done = select(EpochOnchain.epoch)
    with engine.connect() as conn:
        rows = conn.execute(
            select(EpochRecord.epoch, EpochRecord.merkle_root)
            .where(EpochRecord.epoch.not_in(done))
            .order_by(EpochRecord.epoch)
            .limit(limit)
        ).all()
    return [(int(e), bytes(root)) for e, root in rows]


def _export_rows(engine: Engine, epoch: int) -> list[tuple[str | None, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(Meter.owner, func.sum(MeterEpochEnergyRow.export_wh))
            .select_from(MeterEpochEnergyRow)
            .join(
                Meter,
                (Meter.gateway_id == MeterEpochEnergyRow.gateway_id)
                & (Meter.meter_id == MeterEpochEnergyRow.meter_id),
                isouter=True,
            )
            .where(MeterEpochEnergyRow.epoch == epoch)
            .group_by(Meter.owner)
        ).all()
    return [(owner, int(total or 0)) for owner, total in rows]


def _record_onchain(engine: Engine, row: dict[str, object]) -> None:
    with engine.begin() as conn:
        conn.execute(insert(EpochOnchain).values(**row))


async def mint_closed_epochs(chain: Chain, engine: Engine, limit: int = 10) -> list[int]:
    """Mint and attest every closed epoch not yet done (oldest first). The SQL
    runs in worker threads, never on the event loop."""
    pending = await asyncio.to_thread(_pending_epochs, engine, limit)
    done = []
    for epoch, root in pending:
        grants = plan_grants(await asyncio.to_thread(_export_rows, engine, epoch))
        keys = chain.keys
        wallets = [(Pubkey.from_string(owner), units) for owner, units in grants.per_owner]
        for wallet, _ in wallets:
            await register_user(chain.ledger, chain.deployment, payer=keys.payer, owner=wallet)
        signatures: Sequence[object] = []
        error = None
        try:
            signatures = await run_mint_epoch(
                chain.ledger, chain.jobs, chain.deployment, epoch, wallets, keys.oracle,
                payer=keys.payer,
            )  # fmt: skip
            metrics.record_ledger("mint", confirmed=len(signatures))
        except JobsFailed as exc:
            # A batch the ledger refused (e.g. a frozen account): recorded, not retried.
            metrics.record_ledger("mint", failed=len(exc.jobs))
            error = f"mint failed: {exc}"
            log.error("epoch %d: %s", epoch, error, extra={"epoch": epoch})
        attestation = await run_attestation(
            chain.ledger, chain.jobs, epoch, root, keys.oracle, payer=keys.payer
        )
        metrics.record_ledger("attestation", confirmed=1)
        minted = sum(units for _, units in grants.per_owner) if error is None else 0
        row: dict[str, object] = {
            "epoch": epoch,
            "minted_base_units": minted,
            "unowned_base_units": grants.unowned_base_units,
            "mint_signatures": ",".join(str(s) for s in signatures),
            "attestation_signature": str(attestation),
            "error": error,
            "done_at": dt.datetime.now(dt.UTC),
        }
        await asyncio.to_thread(_record_onchain, engine, row)
        log.info(
            "epoch %d on chain: minted %d base units to %d owners, root %s attested",
            epoch, minted, len(wallets), root.hex(), extra={"epoch": epoch},
        )  # fmt: skip
        done.append(epoch)
    return done


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
        ctx = market_context(chain, engine)
        # The settlement authority is its own fee payer: one signature per transaction.
        authority = chain.keys.settlement_authority
        keys = SettlementKeys(payer=authority, settlement_authority=authority)
        await resume_market(ctx, keys, publish=publish, root=settings.topic_root)
        last_market: int | None = None
        while True:
            try:
                for epoch in await mint_closed_epochs(chain, engine):
                    await _report(on_epoch, "minted", epoch)
                current = epoch_of(int(time.time()), settings.epoch_length_s)
                if last_market != current:
                    await run_market_epoch(
                        ctx, current, keys, publish=publish, root=settings.topic_root
                    )
                    last_market = current
                    await _report(on_epoch, "cleared", current)
            except (OperationalError, InterfaceError) as exc:
                log.warning("chain work postponed, database unavailable: %s", exc)
            except LedgerError as exc:
                log.error("chain work postponed, ledger failed: %s", exc)
            await asyncio.sleep(interval)


async def _report(
    on_epoch: Callable[[str, int], Awaitable[None] | None] | None, kind: str, epoch: int
) -> None:
    if on_epoch is not None:
        result = on_epoch(kind, epoch)
        if result is not None:
            await result
