"""Each module here gets its own PostgreSQL database, and `own_engine` one per test:
minting works on every closed epoch and chain job its database holds, so epochs,
grants and jobs that other tests leave in the run's shared database would be
minted here too."""

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from coordinator.db.session import make_engine
from tests.utils.services import migrated_database


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with migrated_database() as url:
        yield url


@pytest.fixture
def own_engine() -> Iterator[Engine]:
    """A database of this test's own: the worker mints every closed epoch it finds."""
    with migrated_database() as url:
        eng = make_engine(url)
        yield eng
        eng.dispose()
