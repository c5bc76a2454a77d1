"""Fixtures for the on-chain layer: keys made at test time, and a `ledger` on each
backend: "embedded" (EmbeddedLedger over an in-memory store) and "rpc" (RpcLedger
over real HTTP to that embedded ledger's JSON-RPC, served by uvicorn on a free port).

Every `run` in one test shares one event loop, so the rpc server task and the
HTTP client made by the fixtures live on into the test body."""

import asyncio
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

import psycopg
import pytest
import uvicorn
from solders.keypair import Keypair
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from programs.ledger import EmbeddedLedger, Ledger, LedgerStore, MemoryLedgerStore
from programs.ledger.jsonrpc import create_app
from programs.ledger.rpc import RpcConfig, RpcLedger
from programs.roles.deployment import Deployment
from programs.roles.registry import register_user
from programs.roles.token import bootstrap, mint_payment
from tests.utils.services import async_wait_until

T = TypeVar("T")
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
BACKENDS = ["embedded", "rpc"]


class _TestLoop:
    """This test's event loop, and what the test opened on it (rpc servers)."""

    runner: asyncio.Runner | None = None
    closing: AsyncExitStack | None = None


def run(coro: Awaitable[T]) -> T:
    """Run `coro` on this test's event loop (one loop per test under tests/programs,
    shared by its fixtures; elsewhere a fresh loop per call)."""

    async def wrap() -> T:
        return await coro

    if _TestLoop.runner is None:
        return asyncio.run(wrap())
    return _TestLoop.runner.run(wrap())


@pytest.fixture(autouse=True)
def _event_loop() -> Iterator[None]:
    _TestLoop.runner = asyncio.Runner()
    try:
        yield
        if _TestLoop.closing is not None:
            closing, _TestLoop.closing = _TestLoop.closing, None
            run(closing.aclose())
    finally:
        runner, _TestLoop.runner = _TestLoop.runner, None
        _TestLoop.closing = None
        runner.close()


def _closed_after_test() -> AsyncExitStack:
    if _TestLoop.closing is None:
        _TestLoop.closing = AsyncExitStack()
    return _TestLoop.closing


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    embedded: EmbeddedLedger
    url: str


@asynccontextmanager
async def serve(embedded: EmbeddedLedger, *, writes: bool = True) -> AsyncIterator[Served]:
    """The embedded ledger's JSON-RPC on a free loopback port, until the block ends;
    with `writes` (the default) it takes transactions and airdrops."""
    config = uvicorn.Config(
        create_app(embedded, allow_send=writes, allow_airdrop=writes),
        host="127.0.0.1",
        port=_free_port(),
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(), name="jsonrpc")
    try:
        await async_wait_until(lambda: server.started or task.done(), 10, "uvicorn to start")
        assert server.started, task.exception() if task.done() else "not started"
        yield Served(embedded, f"http://127.0.0.1:{config.port}")
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def rpc_ledger(
    embedded: EmbeddedLedger, **config: object
) -> AsyncIterator[tuple[Served, RpcLedger]]:
    """An RpcLedger client over HTTP to `embedded` served for the block's duration.

    Short polling: the embedded ledger processes a transaction before answering."""
    async with serve(embedded) as served:
        settings = {"poll_interval": 0.005, "confirm_timeout": 10.0, **config}
        ledger = RpcLedger.connect(RpcConfig(served.url, allow_airdrop=True, **settings))  # type: ignore[arg-type]
        async with ledger:
            yield served, ledger


@dataclass
class Backend:
    """The ledger under test (`ledger`) and the embedded ledger holding its state."""

    name: str
    embedded: EmbeddedLedger
    ledger: Ledger


async def connect(name: str, embedded: EmbeddedLedger, **rpc_config: object) -> Ledger:
    """The ledger the code under test uses on backend `name`: `embedded` itself, or an
    rpc client to it over HTTP (`rpc_config` for its RpcConfig), served until the test
    ends."""
    if name == "embedded":
        return embedded
    if name != "rpc":
        raise ValueError(f"unknown backend {name!r}")
    served = rpc_ledger(embedded, **rpc_config)
    _, ledger = await _closed_after_test().enter_async_context(served)
    return ledger


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    """A fresh ledger on each backend."""
    embedded = run(EmbeddedLedger.open(MemoryLedgerStore()))
    return Backend(request.param, embedded, run(connect(request.param, embedded)))


@pytest.fixture
def ledger(backend: Backend) -> Ledger:
    return backend.ledger


@dataclass
class World:
    """A deployment on a ledger and the keys that run it. `ledger` is what the code
    under test talks to; `embedded` holds the state (the same object on "embedded")."""

    store: LedgerStore
    embedded: EmbeddedLedger
    ledger: Ledger
    payer: Keypair
    oracle: Keypair
    rec: Keypair
    settler: Keypair
    deployment: Deployment


async def deploy(embedded: EmbeddedLedger, ledger: Ledger) -> World:
    """Fund a payer and bootstrap a deployment through `ledger`."""
    payer, oracle, rec, settler = Keypair(), Keypair(), Keypair(), Keypair()
    await ledger.airdrop(payer.pubkey(), 100 * 10**9)
    deployment = await bootstrap(
        ledger,
        payer=payer,
        energy_mint=Keypair(),
        payment_mint=Keypair(),
        oracle=oracle.pubkey(),
        rec_authority=rec.pubkey(),
        settlement_authority=settler.pubkey(),
    )
    return World(embedded.store, embedded, ledger, payer, oracle, rec, settler, deployment)


async def make_world(store: LedgerStore | None = None, backend: str = "embedded") -> World:
    """A deployment on an embedded ledger over `store` (default: in memory), used
    directly or through `backend`."""
    embedded = await EmbeddedLedger.open(store or MemoryLedgerStore())
    return await deploy(embedded, await connect(backend, embedded))


async def add_users(world: World, count: int, payment: int = 0) -> list[Keypair]:
    users = [Keypair() for _ in range(count)]
    for user in users:
        await register_user(world.ledger, world.deployment, payer=world.payer, owner=user.pubkey())
    if payment:
        await mint_payment(
            world.ledger,
            world.deployment,
            payer=world.payer,
            rec_authority=world.rec,
            grants=[(u.pubkey(), payment) for u in users],
        )
    return users


@pytest.fixture
def world(backend: Backend) -> World:
    """A deployment on each backend."""
    return run(deploy(backend.embedded, backend.ledger))


@pytest.fixture
def embedded_world() -> World:
    """A deployment on the embedded backend only (for tests of its internals)."""
    return run(make_world())


@pytest.fixture
def pg_ledger_engine() -> Iterator[Engine]:
    """A fresh PostgreSQL database for this test, dropped afterwards."""
    name = f"gtx_ledger_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    engine = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
    try:
        yield engine
    finally:
        engine.dispose()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
