"""Fixtures for the on-chain layer: keys made at test time, an embedded ledger over an
in-memory store, and a deployment with two funded, registered users."""

import asyncio
import secrets
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import psycopg
import pytest
from solders.keypair import Keypair
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from programs.ledger import EmbeddedLedger, LedgerStore, MemoryLedgerStore
from programs.roles import Deployment, bootstrap, mint_payment, register_user

T = TypeVar("T")
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def run(coro: Awaitable[T]) -> T:
    async def wrap() -> T:
        return await coro

    return asyncio.run(wrap())


@dataclass
class World:
    """A deployment on an embedded ledger and the keys that run it."""

    store: LedgerStore
    ledger: EmbeddedLedger
    payer: Keypair
    oracle: Keypair
    rec: Keypair
    settler: Keypair
    deployment: Deployment


async def make_world(store: LedgerStore | None = None) -> World:
    store = store or MemoryLedgerStore()
    ledger = await EmbeddedLedger.open(store)
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
    return World(store, ledger, payer, oracle, rec, settler, deployment)


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
def world() -> World:
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
