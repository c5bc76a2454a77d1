"""Migration 0010 on SQLite and PostgreSQL: mint batches recorded before it (a refused
one was never retried) become grants, confirmed ones minted, refused ones pending, and
the chain worker then mints those, once."""

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from solders.keypair import Keypair
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from coordinator.config import Settings
from coordinator.db.migrate import upgrade
from coordinator.db.models import EpochOnchain, MintGrant
from coordinator.onchain.ledger import open_chain
from coordinator.onchain.minting import mint_withheld
from programs.ledger.store import chain_jobs
from tests.coordinator.onchain.world import energy_of
from tests.utils.services import empty_engine

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def bare_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database with no schema yet."""
    if request.param == "postgresql":
        request.applymarker(pytest.mark.services)
    with empty_engine(request.param, tmp_path) as engine:
        yield engine


def _job(
    key: str, status: str, epoch: int, grants: list[list[object]], sig: int
) -> dict[str, object]:
    return {
        "job_key": key, "kind": "mint", "status": status,
        "payload": json.dumps({"epoch": epoch, "grants": grants}),
        "signature": bytes([sig]) * 64, "created_at": NOW, "updated_at": NOW,
    }  # fmt: skip


def _epoch(epoch: int, minted: int, error: str | None) -> dict[str, object]:
    return {
        "epoch": epoch, "minted_base_units": minted, "unowned_base_units": 0,
        "mint_signatures": "", "attestation_signature": "x", "error": error, "done_at": NOW,
    }  # fmt: skip


async def test_refused_batches_before_0010_are_carried_over_and_minted(
    bare_engine: Engine, tmp_path: Path
) -> None:
    engine = bare_engine
    a, b, c = (str(Keypair().pubkey()) for _ in range(3))
    upgrade(engine, "0009_governance")
    with engine.begin() as conn:
        conn.execute(
            insert(chain_jobs),
            [
                _job("mint:epoch:5:batch:0", "confirmed", 5, [[a, 10], [b, 20]], 1),
                _job("mint:epoch:6:batch:0", "failed", 6, [[a, 30], [c, 40]], 2),
            ],
        )
        conn.execute(
            insert(EpochOnchain),
            [_epoch(5, 30, None), _epoch(6, 0, "mint failed: 1 job(s) failed, first ...")],
        )
    upgrade(engine)

    with engine.connect() as conn:
        grants = {
            (e, o): (u, s, k)
            for e, o, u, s, k in conn.execute(
                select(
                    MintGrant.epoch, MintGrant.owner, MintGrant.base_units, MintGrant.status,
                    MintGrant.batch_key,
                )
            )
        }  # fmt: skip
        epochs = dict(conn.execute(select(EpochOnchain.epoch, EpochOnchain.error)).all())
    assert grants == {
        (5, a): (10, "minted", "mint:epoch:5:batch:0"),
        (5, b): (20, "minted", "mint:epoch:5:batch:0"),
        (6, a): (30, "pending", "mint:epoch:6:batch:0"),
        (6, c): (40, "pending", "mint:epoch:6:batch:0"),
    }
    assert epochs == {5: None, 6: None}  # the grants say it now

    settings = Settings(database_url=str(engine.url), key_dir=tmp_path / "keys")
    async with open_chain(settings, engine) as chain:
        minted = await mint_withheld(chain, engine)
        assert sorted((g.epoch, g.owner) for g in minted) == sorted([(6, a), (6, c)])
        assert await mint_withheld(chain, engine) == []
        assert (await energy_of(chain, a), await energy_of(chain, c)) == (30, 40)
    with engine.connect() as conn:
        minted_of_6 = conn.execute(
            select(EpochOnchain.minted_base_units).where(EpochOnchain.epoch == 6)
        ).scalar_one()
    assert minted_of_6 == 70
