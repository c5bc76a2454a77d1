"""Usage per user and epoch read from PostgreSQL: meters summed per owner, closed
epochs only, settled trades only, each side counted for its own user."""

import secrets

import pytest
from sqlalchemy.engine import Engine

from coordinator.lifecycle.bills import WH, Usage
from coordinator.lifecycle.usage_store import SqlUsage
from provisioning.keys import Signer
from tests.coordinator.lifecycle.factories import closed, meter_of, metered, traded

pytestmark = pytest.mark.services


def test_usage_is_metered_energy_per_owner_and_settled_trades(engine: Engine) -> None:
    # Long before other tests' epochs (the database is the run's: epochs listed newest
    # first must stay theirs).
    epoch = 2_000_000 + secrets.randbelow(250_000) * 4
    alice, bob = Signer.generate().address, Signer.generate().address
    a1, a2, b1 = meter_of(engine, alice), meter_of(engine, alice), meter_of(engine, bob)
    metered(engine, a1, epoch, 100, 2000)
    metered(engine, a2, epoch, 50, 0)
    metered(engine, b1, epoch, 1500, 0)
    metered(engine, b1, epoch + 1, 999, 0)  # epoch + 1 is still open: not billed
    closed(engine, epoch)
    traded(engine, epoch, 0, bob, alice, 1000 * WH, 120_000)
    traded(engine, epoch, 1, bob, alice, 500 * WH, 120_000, status="failed")

    store = SqlUsage(engine)
    everyone = store.usage(since=epoch, until=epoch + 1)
    assert everyone == {
        (alice, epoch): Usage(import_wh=150, export_wh=2000, sold=1000 * WH, received=120_000),
        (bob, epoch): Usage(import_wh=1500, bought=1000 * WH, paid=120_000),
    }
    assert store.usage(since=epoch, until=epoch + 1, owner=bob) == {
        (bob, epoch): everyone[(bob, epoch)]
    }
    assert store.usage(since=epoch + 1, until=epoch + 3) == {}
