"""The market service: clearing at 1k / 10k / 100k / 1M orders beside a plain sort of
the same orders, and settled trades per second through `settle_epoch` (exactly-once
jobs and the embedded ledger both durable in PostgreSQL, as `gtx-coordinator run`
has them) beside `programs.roles.trading.settle` (no jobs, ledger in memory).

Settlement is timed twice: on the matches of a real clearing of a random book
(neighbouring matches share the partly filled order) and on matches where no
two neighbours share a party (the packing's worst case). It packs v0
transactions over lookup tables of the parties' token accounts (made once
beforehand, timed apart), each transaction's transfers in one p-token Batch
instruction, as the embedded ledger takes them; the baseline packs legacy
transactions, one instruction a transfer.

Targets: 100,000 orders cleared in under 1 s; 10,000 settled trades / s.

    .venv/bin/python benchmarks/bench_market.py [--sizes 1000,10000,100000,1000000]
        [--orders 20000] [--users 300]
"""

import argparse
import asyncio
import datetime as dt
import os
import random
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from market_world import KWH, funded_market
from psycopg import sql
from solders.pubkey import Pubkey

from coordinator.db.migrate import upgrade
from coordinator.db.session import make_engine
from coordinator.market.clearing_service import clear_paused
from coordinator.market.collector import collector_paused
from coordinator.market.rules import ClearingInputs, Escrow, Match, Order, Side, clear_epoch
from coordinator.market.rules.canonical import encode_result
from coordinator.market.rules.orders import PricingRule
from coordinator.market.rules.results import ClearingResult
from coordinator.market.settlement import SettlementKeys, SettlementReport, settle_epoch
from coordinator.market.sql_store import SqlMarketStore
from programs.jobstore import MemoryJobStore, SqlJobStore
from programs.ledger import MemoryLedgerStore, SqlLedgerStore
from programs.roles.deployment import Deployment, user_accounts
from programs.roles.trading import Trade, build_settlement, settle
from programs.table_jobs import ensure_tables
from wire.base58 import b58encode

PG_ADMIN = os.environ.get("GTX_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _token_accounts(deployment: Deployment, owner: Pubkey) -> tuple[Pubkey, Pubkey]:
    accounts = user_accounts(deployment, owner)
    return accounts.energy, accounts.payment


def _book(n: int, rnd: random.Random) -> ClearingInputs:
    owners = [b58encode(rnd.randbytes(32)) for _ in range(max(10, n // 20))]
    orders = [
        Order(
            f"o{i}",
            rnd.choice(owners),
            rnd.choice(list(Side)),
            1,
            rnd.randint(1, 50) * 10**6 * 100,
            rnd.randint(10, 60) * 1000,
            i,
        )
        for i in range(n)
    ]
    return ClearingInputs(
        1,
        orders,
        Escrow(energy=dict.fromkeys(owners, 10**15), payment=dict.fromkeys(owners, 10**15)),
    )


def clearing(sizes: list[int]) -> None:
    rnd = random.Random(7)
    print(f"{'orders':>9} {'clear s':>9} {'sort s':>9} {'ratio':>6}")
    for n in sizes:
        inputs = _book(n, rnd)
        with collector_paused():  # as the service clears: the sort is not charged for rescans
            start = time.perf_counter()
            sorted(inputs.orders, key=lambda o: (o.limit_price, o.seq))
            sort_s = time.perf_counter() - start
        start = time.perf_counter()
        result = clear_paused(inputs)
        clear_s = time.perf_counter() - start
        print(
            f"{n:>9} {clear_s:>9.3f} {sort_s:>9.3f} {clear_s / sort_s:>6.1f}"
            f"  ({len(result.matches)} matches)"
        )


def _cleared_book(
    epoch: int, owners: list[str], n_orders: int, rnd: random.Random
) -> ClearingResult:
    """A real clearing of a random book: consecutive matches share the order that is
    partly filled, as every uniform-price sweep's matches do."""
    orders = [
        Order(
            f"o{i}",
            rnd.choice(owners),
            rnd.choice(list(Side)),
            epoch,
            rnd.randint(1, 50) * KWH // 10,
            rnd.randint(10, 60) * 1000,
            i,
        )
        for i in range(n_orders)
    ]
    escrow = Escrow(energy=dict.fromkeys(owners, 10**15), payment=dict.fromkeys(owners, 10**15))
    return clear_epoch(ClearingInputs(epoch, orders, escrow))


def _distinct_parties(epoch: int, owners: list[str], n_trades: int) -> ClearingResult:
    """The worst case for packing: no two neighbouring matches share a party."""
    n = len(owners)
    matches = tuple(
        Match(f"b{i}", f"s{i}", owners[(i * 7 + 1) % n], owners[i % n], KWH + i, 10**6, 1000)
        for i in range(n_trades)
        if i % n != (i * 7 + 1) % n
    )
    return ClearingResult(epoch, PricingRule.PAY_AS_CLEAR, 10**6, 0, 0, matches, (), "", "")


async def _settle(  # type: ignore[no-untyped-def]
    engine, ledger, deployment, settler, result: ClearingResult
) -> tuple[SettlementReport, float]:
    """Store `result` as its epoch's clearing, settle it; (report, trades / s)."""
    store = SqlMarketStore(engine)
    store.save_clearing(result, b"{}", encode_result(result), dt.datetime.now(dt.UTC))
    keys = SettlementKeys(payer=settler, settlement_authority=settler)
    start = time.perf_counter()
    report = await settle_epoch(store, ledger, deployment, result.epoch, keys)
    rate = len(report.settled) / (time.perf_counter() - start)
    if report.failed or report.pending:
        raise SystemExit(f"settlement incomplete: {report.failed[:1]} {len(report.pending)}")
    return report, rate


@contextmanager
def _database() -> Iterator[str]:
    """A fresh PostgreSQL database, as the coordinator runs on (SQLite if none is up)."""
    name = f"gtx_bench_market_{os.getpid()}"
    try:
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.OperationalError:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{Path(tmp) / 'market.db'}"
        return
    try:
        base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


async def settlement(n_orders: int, n_users: int) -> None:
    with _database() as url:
        engine = make_engine(url)
        upgrade(engine)
        store = SqlLedgerStore(engine)  # the coordinator's own database, as in `run`
        ledger, deployment, _, settler, users = await funded_market(store, n_users)
        owners = [str(u.pubkey()) for u in users]
        backend = engine.dialect.name
        print(f"settle_epoch: jobs and ledger durable in {backend}, {n_users} users")
        # The parties' token accounts go into lookup tables once (as users register),
        # not per epoch: made here, timed apart.
        start = time.perf_counter()
        tables = await ensure_tables(
            ledger,
            SqlJobStore(engine),
            authority=settler,
            payer=settler,
            addresses=[deployment.energy_mint, deployment.payment_mint]
            + [a for u in users for a in _token_accounts(deployment, u.pubkey())],
        )
        print(f"  lookup tables for {n_users} users: {len(tables)} tables "
              f"in {time.perf_counter() - start:.2f} s")  # fmt: skip
        book = _cleared_book(2, owners, n_orders, random.Random(3))
        report, rate = await _settle(engine, ledger, deployment, settler, book)
        per_tx = len(report.settled) / report.transactions
        print(f"  cleared book of {n_orders:,} orders: {rate:9,.0f} trades/s"
              f"  ({len(report.settled):,} trades, {per_tx:.1f} per transaction)")  # fmt: skip
        n_trades = len(report.settled)
        report, rate = await _settle(
            engine, ledger, deployment, settler, _distinct_parties(3, owners, n_trades)
        )
        per_tx = len(report.settled) / report.transactions
        print(f"  distinct parties (worst case):  {rate:9,.0f} trades/s"
              f"  ({len(report.settled):,} trades, {per_tx:.1f} per transaction)")  # fmt: skip
        engine.dispose()

    # Baselines in the same run: the same kind of trades without the job machine and
    # the database, then building and signing alone.
    ledger, deployment, _, settler, users = await funded_market(MemoryLedgerStore(), n_users)
    trades = [
        # Distinct amounts: equal trades would pack into equal transactions, which the
        # ledger recognises by signature and does not apply again.
        Trade(users[i % n_users].pubkey(), users[(i * 7 + 1) % n_users].pubkey(), KWH + i, 1000)
        for i in range(n_trades)
        if i % n_users != (i * 7 + 1) % n_users
    ]
    start = time.perf_counter()
    await settle(
        ledger, deployment, payer=settler, settlement_authority=settler, epoch=1, trades=trades,
        batch=False,
    )  # fmt: skip
    base = len(trades) / (time.perf_counter() - start)
    blockhash = await ledger.latest_blockhash()
    start = time.perf_counter()
    build_settlement(
        deployment,
        payer=settler,
        settlement_authority=settler,
        epoch=1,
        trades=trades,
        blockhash=blockhash,
        batch=False,
    )
    build = len(trades) / (time.perf_counter() - start)
    # The same trades in v0 transactions over lookup tables (ledger in memory, no jobs).
    tables = await ensure_tables(
        ledger,
        MemoryJobStore(),
        authority=settler,
        payer=settler,
        addresses=[a for u in users for a in _token_accounts(deployment, u.pubkey())]
        + [deployment.energy_mint, deployment.payment_mint],
    )
    rates = []
    for epoch, batch in ((2, False), (3, True)):
        start = time.perf_counter()
        await settle(
            ledger, deployment, payer=settler, settlement_authority=settler, epoch=epoch,
            trades=trades, tables=tables, batch=batch,
        )  # fmt: skip
        rates.append(len(trades) / (time.perf_counter() - start))
    v0, batched = rates
    print(f"baseline roles.trading.settle, distinct parties, memory:  {base:9,.0f} trades/s")
    print(f"  the same in v0 over lookup tables (no jobs, memory):   {v0:9,.0f} trades/s")
    print(f"  v0 with each transaction's transfers in one batch:     {batched:9,.0f} trades/s")
    print(f"  of which build_settlement alone (no ledger, legacy):   {build:9,.0f} trades/s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--orders", type=int, default=20000, help="orders in the settled book")
    parser.add_argument("--users", type=int, default=300)
    args = parser.parse_args()
    clearing([int(s) for s in args.sizes.split(",")])
    asyncio.run(settlement(args.orders, args.users))


if __name__ == "__main__":
    main()
