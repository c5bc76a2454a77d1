"""Each retirement test gets a database of its own: the retirement service works on
every minted epoch, lot and chain job its database holds."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from coordinator.db.migrate import upgrade
from coordinator.db.session import make_engine
from tests.utils.services import migrated_database


@pytest.fixture(params=["postgresql", "sqlite"])
def own_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """The store runs on both: PostgreSQL (the run's server) and a SQLite file (the demo)."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'gtx.db'}")
        upgrade(eng)
        yield eng
        eng.dispose()
        return
    with migrated_database() as url:
        eng = make_engine(url)
        yield eng
        eng.dispose()
