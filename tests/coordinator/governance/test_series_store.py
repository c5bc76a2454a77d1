"""Tariff series in the database (migration 0015) on SQLite and PostgreSQL, read back
in the order recorded and through the reader every instance uses."""

import asyncio
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from coordinator.db.migrate import upgrade
from coordinator.governance import (
    GovernanceReader,
    GovernedParams,
    Param,
    SqlGovernance,
    TariffSeries,
)
from tests.utils.services import empty_engine

AT = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_of(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "postgresql":
        request.applymarker(pytest.mark.services)
    with empty_engine(request.param, tmp_path) as engine:
        upgrade(engine)
        yield engine


def test_series_are_stored_read_back_in_order_and_applied(engine_of: Engine) -> None:
    store = SqlGovernance(engine_of)
    first = TariffSeries(name=Param.GRID_IMPORT_PRICE, from_epoch=100, values=(300_000, 310_000),
                         authority="W1", issued_at=1, signature="s" * 88)  # fmt: skip
    second = TariffSeries(name=Param.GRID_IMPORT_PRICE, from_epoch=101, values=(320_000,),
                          authority="W1", issued_at=2, signature="t" * 88)  # fmt: skip
    assert store.add_tariff_series(first, "memo1", AT)
    assert store.add_tariff_series(second, "memo2", AT)
    assert not store.add_tariff_series(second, "memo3", AT)  # recorded already
    assert store.tariff_series() == [first, second]
    reader = GovernanceReader(store, GovernedParams())
    prices = [asyncio.run(reader.params_at(e)).grid_import_price for e in (99, 100, 101, 102)]
    assert prices == [250_000, 300_000, 320_000, 250_000]
