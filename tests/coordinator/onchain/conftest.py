"""Each module here gets its own PostgreSQL database: minting works on every closed
epoch and chain job its database holds, so epochs, grants and jobs that other
test modules leave in the run's shared database would be minted here too."""

from collections.abc import Iterator

import pytest

from coordinator.db.migrate import upgrade
from coordinator.db.session import make_engine
from tests.utils.services import fresh_database


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with fresh_database() as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
