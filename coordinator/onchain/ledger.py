"""The coordinator's ledger: opened from Settings, the deployment bootstrapped,
unfinished chain jobs finished.

One process at a time owns the ledger side (see `coordinator.onchain.worker`):
the embedded ledger lives in that process's memory, with its state written
through to the database after every transaction.
"""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from solders.pubkey import Pubkey
from sqlalchemy.engine import Engine

from coordinator.config import Settings
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

__all__ = ["Chain", "market_context", "open_chain", "open_readonly"]

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


@contextlib.asynccontextmanager
async def _ledger(settings: Settings, engine: Engine) -> AsyncIterator[Ledger]:
    if settings.ledger == "embedded":
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
    async with _ledger(settings, engine) as ledger:
        yield ledger, deployment


def market_context(chain: Chain, engine: Engine) -> MarketContext:
    """The market service's context on this chain. The platform's fee payer pays
    (and co-signs) users' approvals, so users need no SOL to trade. Orders are
    placed under the governed parameters and emergency controls in force."""
    governance = GovernanceReader(SqlGovernance(engine), GovernedParams())
    return MarketContext(
        SqlMarketStore(engine), chain.ledger, chain.deployment, fee_payer=chain.keys.payer,
        terms=governance.placement_terms,
    )  # fmt: skip
