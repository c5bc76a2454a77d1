"""The market service: clearing at 1k / 10k / 100k / 1M orders beside a plain sort of
the same orders, and settled trades per second through `settle_epoch` (exactly-once
jobs in the database + embedded ledger) beside `programs.roles.settle` (no jobs).

Targets: 100,000 orders cleared in under 1 s; the issue asks 10,000 trades / s.

    .venv/bin/python benchmarks/bench_market.py [--sizes 1000,10000,100000,1000000] [--trades 2000]
"""

import argparse
import asyncio
import datetime as dt
import random
import tempfile
import time
from pathlib import Path

from solders.keypair import Keypair

from coordinator.db.migrate import upgrade
from coordinator.db.session import make_engine
from coordinator.market import ClearingInputs, Escrow, Match, Order, Side, clear_epoch
from coordinator.market.canonical import encode_result
from coordinator.market.orders import PricingRule
from coordinator.market.results import ClearingResult
from coordinator.trading.settlement import SettlementKeys, SettlementReport, settle_epoch
from coordinator.trading.store import save_clearing
from edge.base58 import b58encode
from programs.ledger import EmbeddedLedger, LedgerStore, MemoryLedgerStore, SqlLedgerStore
from programs.roles import (
    Trade,
    approve_escrow,
    bootstrap,
    build_settlement,
    mint_energy,
    mint_payment,
    register_user,
    settle,
)

KWH = 10**9


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
        start = time.perf_counter()
        sorted(inputs.orders, key=lambda o: (o.limit_price, o.seq))
        sort_s = time.perf_counter() - start
        start = time.perf_counter()
        result = clear_epoch(inputs)
        clear_s = time.perf_counter() - start
        print(
            f"{n:>9} {clear_s:>9.3f} {sort_s:>9.3f} {clear_s / sort_s:>6.1f}"
            f"  ({len(result.matches)} matches)"
        )


async def _world(n_users: int, store: LedgerStore | None = None):  # type: ignore[no-untyped-def]
    ledger = await EmbeddedLedger.open(store or MemoryLedgerStore())
    payer, oracle, rec, settler = Keypair(), Keypair(), Keypair(), Keypair()
    await ledger.airdrop(payer.pubkey(), 10**12)
    deployment = await bootstrap(
        ledger,
        payer=payer,
        energy_mint=Keypair(),
        payment_mint=Keypair(),
        oracle=oracle.pubkey(),
        rec_authority=rec.pubkey(),
        settlement_authority=settler.pubkey(),
    )
    users = [Keypair() for _ in range(n_users)]
    for u in users:
        await register_user(ledger, deployment, payer=payer, owner=u.pubkey())
    await mint_energy(
        ledger,
        deployment,
        payer=payer,
        oracle=oracle,
        epoch=0,
        grants=[(u.pubkey(), 10**6 * KWH) for u in users],
    )
    await mint_payment(
        ledger,
        deployment,
        payer=payer,
        rec_authority=rec,
        grants=[(u.pubkey(), 10**12) for u in users],
    )
    for u in users:
        await approve_escrow(
            ledger, deployment, payer=payer, owner=u, energy=10**6 * KWH, payment=10**12
        )
    return ledger, deployment, payer, settler, users


async def _timed_epoch(  # type: ignore[no-untyped-def]
    engine, ledger, deployment, keys, epoch, pairs, step
) -> tuple[SettlementReport, float]:
    """Settle `pairs` as epoch `epoch`'s matches (quantity KWH + i * step); trades / s."""
    matches = tuple(
        Match(f"b{i}", f"s{i}", str(b.pubkey()), str(s.pubkey()), KWH + i * step, 10**6, 1000)
        for i, (s, b) in enumerate(pairs)
    )
    result = ClearingResult(epoch, PricingRule.PAY_AS_CLEAR, 10**6, 0, 0, matches, (), "", "")
    save_clearing(engine, result, b"{}", encode_result(result), dt.datetime.now(dt.UTC))
    start = time.perf_counter()
    report = await settle_epoch(engine, ledger, deployment, epoch, keys)
    return report, len(report.settled) / (time.perf_counter() - start)


async def settlement(n_trades: int, n_users: int) -> None:
    ledger, deployment, payer, settler, users = await _world(n_users)
    pairs = [(users[i % n_users], users[(i * 7 + 1) % n_users]) for i in range(n_trades)]
    pairs = [(s, b) for s, b in pairs if s != b]
    trades = [Trade(s.pubkey(), b.pubkey(), KWH, 1000) for s, b in pairs]
    start = time.perf_counter()
    await settle(
        ledger, deployment, payer=payer, settlement_authority=settler, epoch=1, trades=trades
    )
    base = len(trades) / (time.perf_counter() - start)
    # Building alone (instructions, packing, signing; no ledger): the share of `settle`.
    blockhash = await ledger.latest_blockhash()
    start = time.perf_counter()
    build_settlement(
        deployment,
        payer=payer,
        settlement_authority=settler,
        epoch=1,
        trades=trades,
        blockhash=blockhash,
    )
    build = len(trades) / (time.perf_counter() - start)

    keys = SettlementKeys(payer, settler)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'market.db'}")
        upgrade(engine)
        # Every 60th match repeats (same users and amounts): few distinct transactions.
        report, rate = await _timed_epoch(engine, ledger, deployment, keys, 2, pairs, 0)
        print(f"settle_epoch (jobs in SQLite + embedded ledger): {rate:,.0f} trades/s")
        print(f"  {len(report.settled)} trades in {report.transactions} transactions")
        # Distinct quantities, as real matches have, and the ledger durable on SQLite too.
        ledger_store = SqlLedgerStore(make_engine(f"sqlite:///{Path(tmp) / 'ledger.db'}"))
        ledger_store.create_tables()
        ledger, deployment, payer, settler, users = await _world(n_users, ledger_store)
        pairs = [(users[i % n_users], users[(i * 7 + 1) % n_users]) for i in range(n_trades)]
        pairs = [(s, b) for s, b in pairs if s != b]
        keys = SettlementKeys(payer, settler)
        report, rate = await _timed_epoch(engine, ledger, deployment, keys, 3, pairs, 1)
        print(f"settle_epoch, distinct matches, ledger on SQLite: {rate:,.0f} trades/s")
        print(f"  {len(report.settled)} trades in {report.transactions} transactions")
        engine.dispose()
    print(f"baseline programs.roles.settle (no job store):   {base:,.0f} trades/s")
    print(f"  of which build_settlement alone (no ledger):   {build:,.0f} trades/s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--trades", type=int, default=2000)
    parser.add_argument("--users", type=int, default=60)
    args = parser.parse_args()
    clearing([int(s) for s in args.sizes.split(",")])
    asyncio.run(settlement(args.trades, args.users))


if __name__ == "__main__":
    main()
