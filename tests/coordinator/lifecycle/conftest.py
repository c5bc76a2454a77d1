"""Each retirement test gets a database of its own: the retirement service works on
every minted epoch, lot and chain job its database holds."""

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from coordinator.db.session import make_engine
from tests.utils.services import migrated_database


@pytest.fixture
def own_engine() -> Iterator[Engine]:
    with migrated_database() as url:
        eng = make_engine(url)
        yield eng
        eng.dispose()
