"""Retirement and certificate issuance for one epoch of N meters (target: 10,000),
beside that epoch's minting measured in the same run (the baseline).

N meters, each with its own owner wallet. A first epoch, not timed, makes the
owners' token accounts (minting it registers them) and every owner approves a
retirement allowance; then, in the timed epoch, every meter exports 100 Wh and
imports 40 Wh. Timed end to end on the embedded ledger (durable, in the
database) and the database given:

- minting the epoch: `mint_closed_epochs` (the plan, batch mint jobs, the
  attestation);
- retirement: `retire_epochs` (lots synced from the mints, approvals read from
  the chain, the plan with its certificates, one burn job per consumer, each
  outcome, the certificates' Merkle root and its memo).

    .venv/bin/python benchmarks/bench_retirement.py [--meters 10000] [--database-url URL]

Without --database-url it runs on a SQLite file in a temporary directory.
"""

import argparse
import asyncio
import datetime as dt
import tempfile
import time
from pathlib import Path

from solders.keypair import Keypair
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine

from coordinator.config import Settings
from coordinator.db.migrate import upgrade
from coordinator.db.models import Certificate, Device, EpochRecord, Meter, MeterEpochEnergyRow
from coordinator.db.session import make_engine
from coordinator.lifecycle.matching import MatchingPolicy, Window
from coordinator.market.sql_store import SqlMarketStore
from coordinator.onchain.ledger import open_chain
from coordinator.onchain.minting import mint_closed_epochs
from coordinator.onchain.retirement import retire_epochs
from programs.roles.trading import approve_escrow
from wire.base58 import b58encode

EPOCH = 2_000_000
WH = 10**6


def _campus(engine: Engine, owners: list[Keypair]) -> list[tuple[str, str, str]]:
    """One gateway per 100 meters, each meter its own owner."""
    now = dt.datetime.now(dt.UTC)
    gateways = [b58encode(bytes(Keypair().pubkey())) for _ in range(len(owners) // 100 + 1)]
    rows = [(gateways[i // 100], f"m{i}", str(k.pubkey())) for i, k in enumerate(owners)]
    with engine.begin() as conn:
        conn.execute(insert(Device), [
            {"gateway_id": g, "public_key": bytes(32), "status": "active", "created_at": now}
            for g in gateways
        ])  # fmt: skip
        conn.execute(insert(Meter), [
            {"gateway_id": g, "meter_id": m, "model": "sdm630", "rated_power_w": 50_000,
             "owner": o, "created_at": now}
            for g, m, o in rows
        ])  # fmt: skip
    return rows


def _epoch(engine: Engine, rows: list[tuple[str, str, str]], epoch: int, imp: int) -> None:
    """A closed epoch: every meter exports 100 Wh and imports `imp` Wh."""
    with engine.begin() as conn:
        conn.execute(insert(MeterEpochEnergyRow), [
            {"epoch": epoch, "gateway_id": g, "meter_id": m, "import_wh": imp, "export_wh": 100}
            for g, m, _ in rows
        ])  # fmt: skip
        conn.execute(insert(EpochRecord).values(
            epoch=epoch, length_s=900, closed_at=dt.datetime.now(dt.UTC),
            reading_count=len(rows), total_import_wh=imp * len(rows),
            total_export_wh=100 * len(rows), mint_base_units=100 * WH * len(rows),
            merkle_root=bytes(32), summary_json="{}",
        ))  # fmt: skip


async def run(engine: Engine, key_dir: Path, n: int) -> tuple[float, float, int]:
    owners = [Keypair() for _ in range(n)]
    rows = _campus(engine, owners)
    settings = Settings(database_url=str(engine.url), key_dir=key_dir)
    policy = MatchingPolicy(Window.HOUR, 900)
    market = SqlMarketStore(engine)
    async with open_chain(settings, engine) as chain:
        _epoch(engine, rows, EPOCH, 0)  # the owners' token accounts made, not timed
        assert await mint_closed_epochs(chain, engine) == [EPOCH]
        for owner in owners:  # each user's own approval (not timed)
            await approve_escrow(chain.ledger, chain.deployment, payer=chain.keys.payer,
                                 owner=owner, energy=1_000 * WH, payment=0)  # fmt: skip
        assert await retire_epochs(chain, market, engine, policy) == [EPOCH]  # no import
        _epoch(engine, rows, EPOCH + 1, 40)
        start = time.perf_counter()
        assert await mint_closed_epochs(chain, engine) == [EPOCH + 1]
        minting = time.perf_counter() - start
        start = time.perf_counter()
        assert await retire_epochs(chain, market, engine, policy) == [EPOCH + 1]
        retiring = time.perf_counter() - start
    with engine.connect() as conn:
        certificates = conn.execute(
            select(func.count()).where(Certificate.status == "retired")
        ).scalar_one()
    return minting, retiring, int(certificates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meters", type=int, default=10_000)
    parser.add_argument("--database-url", help="an empty database (default: SQLite, temporary)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.sqlite"
        engine = make_engine(url)
        upgrade(engine)
        minting, retiring, certificates = asyncio.run(run(engine, Path(tmp) / "keys", args.meters))
        engine.dispose()
    n = args.meters
    print(f"{n} meters, one epoch, {engine.dialect.name}, embedded ledger")
    print(f"baseline  minting:    {minting:7.2f} s  ({n / minting:8.0f} meters/s)")
    print(f"retirement + certs:   {retiring:7.2f} s  ({n / retiring:8.0f} meters/s), "
          f"{certificates} certificates; {retiring / minting:.2f} x minting")  # fmt: skip


if __name__ == "__main__":
    main()
