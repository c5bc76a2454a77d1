"""The market store under test: in PostgreSQL, in SQLite, and in memory (the fake
the service tests use), so that one test shows all three answer alike."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from coordinator.db.migrate import upgrade
from coordinator.db.session import make_engine
from coordinator.market.memory_store import MemoryMarketStore
from coordinator.market.sql_store import SqlMarketStore
from coordinator.market.store import MarketStore


@pytest.fixture(params=["postgresql", "sqlite", "memory"])
def market_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MarketStore]:
    if request.param == "memory":
        yield MemoryMarketStore()
        return
    if request.param == "postgresql":
        request.applymarker(pytest.mark.services)
        yield SqlMarketStore(request.getfixturevalue("engine"))
        return
    eng = make_engine(f"sqlite:///{tmp_path / 'market.db'}")
    upgrade(eng)
    yield SqlMarketStore(eng)
    eng.dispose()
