"""Shared fixtures: one fresh PostgreSQL database per test run, a topic root per test."""

import re
import secrets
from collections.abc import Iterator

import pytest
from hypothesis import settings
from sqlalchemy.engine import Engine

from coordinator.db.session import make_engine
from tests.utils.services import migrated_database

RUN_ID = secrets.token_hex(4)

# Tests assert behaviour, never speed (benchmarks/ measure that): Hypothesis's
# per-example deadline failed correct code when the machine was busy.
settings.register_profile("gridtokenx", deadline=None)
settings.load_profile("gridtokenx")


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    with migrated_database() as url:
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def topic_root(request: pytest.FixtureRequest) -> str:
    """A topic root no other test or test run shares."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", request.node.name)[:60]
    return f"gtxtest/{RUN_ID}/{name}"
