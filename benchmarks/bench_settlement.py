"""Settlement on the embedded ledger: trades per second (target 1,000 / s).

A trade is two TransferChecked (energy seller -> buyer, payment buyer -> seller)
signed by the settlement authority as delegate, packed several per transaction
under the 1232-byte limit. Timed end to end through `programs.roles.trading.settle`:
packing, signing, size check, the SVM, and write-through to the durable store
(in memory, then SQLite on disk).

Baseline, same run: raw LiteSVM throughput of one pre-signed TransferChecked per
transaction (no packing, no store), in transfers per second.

    .venv/bin/python benchmarks/bench_settlement.py [--trades 3000] [--users 100]
"""

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from market_world import KWH, funded_market
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import Message
from solders.transaction import Transaction
from solders.transaction_metadata import FailedTransactionMetadata
from sqlalchemy import create_engine

from programs import spl
from programs.jobs import run_mint_epoch
from programs.jobstore import MemoryJobStore
from programs.ledger import EmbeddedLedger, LedgerStore, MemoryLedgerStore, SqlLedgerStore
from programs.roles.registry import register_user
from programs.roles.token import bootstrap
from programs.roles.trading import Trade, build_settlement, settle

CREDIT = 10**6


async def settlement_rate(store: LedgerStore, n_trades: int, n_users: int) -> tuple[float, int]:
    """Trades per second through `settle`, and how many trades one transaction carries."""
    ledger, deployment, _, settler, users = await funded_market(store, n_users)
    half = n_users // 2
    trades = [
        Trade(
            users[i % half].pubkey(),
            users[half + (i * 7) % half].pubkey(),
            energy=KWH // 10 + i,
            payment=CREDIT // 10 + i,
        )
        for i in range(n_trades)
    ]
    per_tx = len(
        build_settlement(
            deployment,
            payer=settler,
            settlement_authority=settler,
            epoch=1,
            trades=trades[:50],
            blockhash=await ledger.latest_blockhash(),
        )[0].item_indices
    )
    start = time.perf_counter()
    outcomes = await settle(
        ledger, deployment, payer=settler, settlement_authority=settler, epoch=1, trades=trades
    )
    elapsed = time.perf_counter() - start
    failed = [o for o in outcomes if o.error is not None]
    if failed:
        raise SystemExit(f"{len(failed)} trades failed: {failed[0].error}")
    return n_trades / elapsed, per_tx


def raw_transfer_rate(n: int) -> float:
    """Pre-signed single-TransferChecked transactions per second straight into LiteSVM."""
    svm = LiteSVM()
    payer, owner, mint, dest_owner = Keypair(), Keypair(), Keypair(), Keypair()
    svm.airdrop(payer.pubkey(), 10**12)
    source = spl.associated_token_address(owner.pubkey(), mint.pubkey())
    dest = spl.associated_token_address(dest_owner.pubkey(), mint.pubkey())
    setup = [
        *spl.create_mint(
            payer=payer.pubkey(),
            mint=mint.pubkey(),
            decimals=9,
            mint_authority=payer.pubkey(),
            freeze_authority=None,
            rent_lamports=svm.minimum_balance_for_rent_exemption(spl.MINT_SIZE),
        ),
        spl.create_associated_token_account(
            payer=payer.pubkey(), owner=owner.pubkey(), mint=mint.pubkey()
        ),
        spl.create_associated_token_account(
            payer=payer.pubkey(), owner=dest_owner.pubkey(), mint=mint.pubkey()
        ),
        spl.mint_to_checked(
            mint=mint.pubkey(),
            destination=source,
            authority=payer.pubkey(),
            amount=10**18,
            decimals=9,
        ),
    ]
    blockhash = svm.latest_blockhash()
    svm.send_transaction(Transaction([payer, mint], Message(setup, payer.pubkey()), blockhash))
    txs = [
        Transaction(
            [payer, owner],
            Message(
                [
                    spl.transfer_checked(
                        source=source,
                        mint=mint.pubkey(),
                        destination=dest,
                        authority=owner.pubkey(),
                        amount=i + 1,  # distinct amounts, distinct signatures
                        decimals=9,
                    )
                ],
                payer.pubkey(),
            ),
            blockhash,
        )
        for i in range(n)
    ]
    start = time.perf_counter()
    for tx in txs:
        if isinstance(svm.send_transaction(tx), FailedTransactionMetadata):
            raise SystemExit("baseline transfer failed")
    return n / (time.perf_counter() - start)


async def mint_rate(store: LedgerStore, n_owners: int) -> float:
    """Owners minted per second through the oracle's exactly-once job path
    (`run_mint_epoch`: plan, sign, record, send, confirm)."""
    ledger = await EmbeddedLedger.open(store)
    payer, oracle = Keypair(), Keypair()
    await ledger.airdrop(payer.pubkey(), 10**12)
    deployment = await bootstrap(
        ledger,
        payer=payer,
        energy_mint=Keypair(),
        payment_mint=Keypair(),
        oracle=oracle.pubkey(),
        rec_authority=Keypair().pubkey(),
        settlement_authority=Keypair().pubkey(),
    )
    owners = [Keypair().pubkey() for _ in range(n_owners)]
    for owner in owners:
        await register_user(ledger, deployment, payer=payer, owner=owner)
    grants = [(owner, KWH + i) for i, owner in enumerate(owners)]
    start = time.perf_counter()
    await run_mint_epoch(ledger, MemoryJobStore(), deployment, 1, grants, oracle, payer=payer)
    return n_owners / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=3000)
    parser.add_argument("--users", type=int, default=100)
    args = parser.parse_args()

    baseline = raw_transfer_rate(args.trades)
    memory_rate, per_tx = asyncio.run(settlement_rate(MemoryLedgerStore(), args.trades, args.users))
    with tempfile.TemporaryDirectory() as tmp:
        store = SqlLedgerStore(create_engine(f"sqlite:///{Path(tmp) / 'ledger.db'}"))
        store.create_tables()
        sqlite_rate, _ = asyncio.run(settlement_rate(store, args.trades, args.users))

    print(f"trades per transaction (with epoch memo): {per_tx}")
    print(f"baseline  raw LiteSVM, 1 TransferChecked/tx, pre-signed: {baseline:9.0f} transfers/s")
    print(f"settle    embedded ledger, memory store:                 {memory_rate:9.0f} trades/s")
    print(f"settle    embedded ledger, SQLite store (durable):       {sqlite_rate:9.0f} trades/s")
    print(
        f"target 1,000 trades/s: memory {memory_rate / 1000:.1f}x, SQLite {sqlite_rate / 1000:.1f}x"
    )
    print(f"ratio settle(memory) trades / raw transfers: {memory_rate / baseline:.2f}")
    mints = asyncio.run(mint_rate(MemoryLedgerStore(), args.users * 10))
    print(f"mint      run_mint_epoch (job machine), memory store:    {mints:9.0f} owners minted/s")
    print(f"ratio minted owners / raw transfers: {mints / baseline:.2f}")


if __name__ == "__main__":
    main()
