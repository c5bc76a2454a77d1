"""The coordinator's ledger: opened from Settings, the deployment bootstrapped,
unfinished chain jobs finished.

One process at a time owns the ledger side (see `coordinator.onchain.worker`):
the embedded ledger lives in that process's memory, with its state written
through to the database after every transaction. `embedded_writer` makes sure
no other process writes it meanwhile (`gtx-coordinator ledger serve
--allow-send`); read-only replicas (`ledger serve` without it) need no lock.
"""

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

from solders.pubkey import Pubkey
from sqlalchemy import text
from sqlalchemy.engine import Engine

from coordinator.config import Settings
from coordinator.db.locks import EMBEDDED_LEDGER_LOCK
from coordinator.errors import ConfigError
from coordinator.governance import GovernanceReader, GovernedParams, SqlGovernance
from coordinator.market import MarketContext, SqlMarketStore
from coordinator.onchain.platform_keys import PlatformKeys, load_keys, load_or_create_keys
from programs.jobs import resume
from programs.jobstore import SqlJobStore
from programs.ledger.base import Ledger
from programs.ledger.embedded import EmbeddedLedger
from programs.ledger.rpc import RpcConfig, RpcLedger
from programs.ledger.store import SqlLedgerStore
from programs.roles.deployment import Deployment
from programs.roles.token import bootstrap

__all__ = ["Chain", "embedded_writer", "market_context", "open_chain", "open_readonly"]

# The embedded ledger's fee payer is topped up to this (lamports); a real
# cluster's payer must be funded by the operator.
EMBEDDED_PAYER_LAMPORTS = 1_000_000_000_000
_TOP_UP_BELOW = EMBEDDED_PAYER_LAMPORTS // 10


@dataclass(frozen=True, slots=True)
class Chain:
    ledger: Ledger
    deployment: Deployment
    keys: PlatformKeys
    jobs: SqlJobStore


async def _balance(ledger: Ledger, address: Pubkey) -> int:
    account = await ledger.get_account(address)
    return 0 if account is None else account.lamports


_OWNED = (
    "the embedded ledger is written by another process (a coordinator's chain worker "
    "with GTX_LEDGER=embedded, or `gtx-coordinator ledger serve --allow-send`): stop it, "
    "or point this one at it with GTX_LEDGER=rpc"
)


@contextlib.asynccontextmanager
async def embedded_writer(engine: Engine) -> AsyncIterator[None]:
    """Hold the right to write the embedded ledger in `engine`'s database for the
    duration: a PostgreSQL session advisory lock, or on SQLite an exclusive lock on a
    file beside the database. Raises ConfigError at once if another process holds it
    (two writers would each apply transactions to their own copy of the state)."""
    if engine.dialect.name == "postgresql":
        conn = await asyncio.to_thread(engine.connect)
        key = {"k": EMBEDDED_LEDGER_LOCK}
        held = False

        def release() -> None:
            # The connection goes back to the pool, its session with it: unlock first
            # (a process that dies loses its session, and the lock with it).
            try:
                if held:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), key)
            except Exception:
                conn.invalidate()
                raise
            finally:
                conn.close()

        try:
            query = text("SELECT pg_try_advisory_lock(:k)")
            held = await asyncio.to_thread(lambda: bool(conn.execute(query, key).scalar_one()))
            if not held:
                raise ConfigError(_OWNED)
            yield
        finally:
            await asyncio.to_thread(release)
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield  # a database only this process sees
        return
    fd = os.open(f"{database}.ledger-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(_OWNED) from None
        yield
    finally:
        os.close(fd)  # closing the file releases the lock


@contextlib.asynccontextmanager
async def _ledger(
    settings: Settings, engine: Engine, *, write: bool = True
) -> AsyncIterator[Ledger]:
    if settings.ledger == "embedded":
        if not write:  # a reader needs no lock (as `ledger serve` without --allow-send)
            yield await EmbeddedLedger.open(SqlLedgerStore(engine))
            return
        async with embedded_writer(engine):
            yield await EmbeddedLedger.open(SqlLedgerStore(engine))
    elif settings.ledger == "rpc":
        config = RpcConfig(
            settings.solana_rpc_url,
            commitment=settings.solana_commitment,
            token_batch=settings.solana_token_batch,
        )
        async with RpcLedger.connect(config) as ledger:
            yield ledger
    else:
        raise ConfigError("the ledger is off (GTX_LEDGER=off)")


@contextlib.asynccontextmanager
async def open_chain(settings: Settings, engine: Engine) -> AsyncIterator[Chain]:
    """Open the configured ledger, bootstrap the deployment (idempotent) and
    finish any mint or attestation job a crash left unfinished."""
    keys = load_or_create_keys(settings.key_dir)
    async with _ledger(settings, engine) as ledger:
        if settings.ledger == "embedded":
            # The settlement authority pays its own transactions' fees (one signature
            # per settlement transaction instead of two: room for another trade).
            for funded in (keys.payer.pubkey(), keys.settlement_authority.pubkey()):
                if await _balance(ledger, funded) < _TOP_UP_BELOW:
                    await ledger.airdrop(funded, EMBEDDED_PAYER_LAMPORTS)
        deployment = await bootstrap(
            ledger,
            payer=keys.payer,
            energy_mint=keys.energy_mint,
            payment_mint=keys.payment_mint,
            oracle=keys.oracle.pubkey(),
            rec_authority=keys.rec_authority.pubkey(),
            settlement_authority=keys.settlement_authority.pubkey(),
        )
        jobs = SqlJobStore(engine)
        await resume(ledger, jobs, deployment, keys.oracle, payer=keys.payer)
        yield Chain(ledger, deployment, keys, jobs)


@contextlib.asynccontextmanager
async def open_readonly(
    settings: Settings, engine: Engine
) -> AsyncIterator[tuple[Ledger, Deployment]]:
    """The configured ledger and the deployment's addresses, to read only: nothing
    bootstrapped, no job resumed, no key made (ConfigError when the platform keys are
    missing), so a tool may use it beside the coordinator that leads."""
    keys = load_keys(settings.key_dir)
    deployment = Deployment(
        keys.energy_mint.pubkey(), keys.payment_mint.pubkey(), keys.oracle.pubkey(),
        keys.rec_authority.pubkey(), keys.settlement_authority.pubkey(),
    )  # fmt: skip
    async with _ledger(settings, engine, write=False) as ledger:
        yield ledger, deployment


def market_context(
    chain: Chain, engine: Engine, defaults: GovernedParams | None = None
) -> MarketContext:
    """The market service's context on this chain. The platform's fee payer pays
    (and co-signs) users' approvals, so users need no SOL to trade. Orders are
    placed under the governed parameters and emergency controls in force, over
    `defaults` (the deployment's, `governance.defaults_from(settings)`)."""
    governance = GovernanceReader(SqlGovernance(engine), defaults or GovernedParams())
    return MarketContext(
        SqlMarketStore(engine), chain.ledger, chain.deployment, fee_payer=chain.keys.payer,
        terms=governance.placement_terms,
    )  # fmt: skip
