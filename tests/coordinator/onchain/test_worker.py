"""Minting and attestation of closed epochs on the embedded ledger, against the real PostgreSQL."""

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from sqlalchemy import insert, inspect, select
from sqlalchemy.engine import Engine

from coordinator.config import Settings
from coordinator.db.models import EpochOnchain, EpochRecord, MeterEpochEnergyRow
from coordinator.devices.registry import register_device, register_meter
from coordinator.lifecycle.matching import MatchingPolicy, Window
from coordinator.onchain.grants import plan_grants
from coordinator.onchain.ledger import open_chain
from coordinator.onchain.minting import mint_closed_epochs
from coordinator.onchain.worker import retirement_policy
from coordinator.readings.oracle import EpochCalendar
from edge.signing import DeviceKey
from programs.ledger.store import ledger_metadata
from programs.roles.deployment import user_accounts


def test_plan_grants_sums_per_owner_and_keeps_the_unowned_apart() -> None:
    grants = plan_grants([("B", 2), ("A", 1), ("B", 3), (None, 7), ("C", 0)])
    assert grants.per_owner == (("A", 1_000_000), ("B", 5_000_000))
    assert grants.unowned_base_units == 7_000_000


@given(st.lists(st.tuples(st.sampled_from(["A", "B", None]), st.integers(0, 10**9))))
def test_plan_grants_conserves_energy(rows: list[tuple[str | None, int]]) -> None:
    grants = plan_grants(rows)
    minted = sum(units for _, units in grants.per_owner) + grants.unowned_base_units
    assert minted == sum(wh for _, wh in rows) * 1_000_000
    assert [o for o, _ in grants.per_owner] == sorted({o for o, wh in rows if o and wh})


@pytest.mark.services
def test_migration_creates_the_ledger_tables_as_programs_defines_them(engine: Engine) -> None:
    db = inspect(engine)
    for table in ledger_metadata.sorted_tables:
        assert {c["name"] for c in db.get_columns(table.name)} == set(table.columns.keys())


@pytest.mark.services
async def test_closed_epoch_is_minted_and_attested_once(tmp_path: Path, engine: Engine) -> None:
    gw = DeviceKey.generate().gateway_id
    alice, bob = str(Keypair().pubkey()), str(Keypair().pubkey())
    register_device(engine, gw)
    for meter, owner in (("pv-a", alice), ("pv-b", bob), ("pv-x", None)):
        register_meter(engine, gw, meter, model="sdm630", rated_power_w=50_000, owner=owner)
    epoch = 9_000_000 + int.from_bytes(gw.encode()[:2], "big")  # unique in the shared database
    with engine.begin() as conn:
        conn.execute(
            insert(MeterEpochEnergyRow),
            [
                {"epoch": epoch, "gateway_id": gw, "meter_id": m, "import_wh": 0, "export_wh": e}
                for m, e in (("pv-a", 1500), ("pv-b", 250), ("pv-x", 40))
            ],
        )
        conn.execute(
            insert(EpochRecord).values(
                epoch=epoch, length_s=900, closed_at=dt.datetime.now(dt.UTC), reading_count=3,
                total_import_wh=0, total_export_wh=1790, mint_base_units=1_790_000_000,
                merkle_root=b"\x11" * 32, summary_json="{}",
            )
        )  # fmt: skip
    settings = Settings(database_url=str(engine.url), key_dir=tmp_path / "keys")

    async with open_chain(settings, engine) as chain:
        done = await mint_closed_epochs(chain, engine, limit=1000)
        assert epoch in done
        assert await mint_closed_epochs(chain, engine, limit=1000) == []  # nothing twice

    async with open_chain(settings, engine) as chain:  # a restart: state from the database
        for wallet, expected in ((alice, 1_500_000_000), (bob, 250_000_000)):
            accounts = user_accounts(chain.deployment, Pubkey.from_string(wallet))
            assert await chain.ledger.token_balance(accounts.energy) == expected
        assert await mint_closed_epochs(chain, engine, limit=1000) == []

    with engine.connect() as conn:
        row = conn.execute(select(EpochOnchain).where(EpochOnchain.epoch == epoch)).one()
    assert row.minted_base_units == 1_750_000_000
    assert row.unowned_base_units == 40_000_000
    assert row.error is None
    assert row.attestation_signature


def test_the_retirement_policy_follows_the_calendar_in_force() -> None:
    calendar = EpochCalendar.uniform(900).with_length(1_000, 3600)
    policy = retirement_policy(Settings(retirement_policy="hour"), calendar)
    assert policy == MatchingPolicy(Window.HOUR, calendar)
    # 1,000 and 1,001 are an hour apart by the calendar, a quarter hour by the length.
    assert not policy.eligible(1_000, 1_001)
    assert retirement_policy(Settings(retirement_policy="off"), calendar) is None
