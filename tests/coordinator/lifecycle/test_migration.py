"""Migration 0013 on SQLite and PostgreSQL: it creates the retirement tables whose
unique keys refuse an event applied twice and a certificate retired twice, and its
downgrade removes them again."""

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import insert, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from coordinator.db.migrate import alembic_config, upgrade
from coordinator.db.models import Certificate, LotSource
from tests.utils.services import empty_engine

TABLES = {"energy_lots", "lot_sources", "retirement_runs", "retirements", "certificates"}


@pytest.fixture(params=["sqlite", "postgresql"])
def bare_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "postgresql":
        request.applymarker(pytest.mark.services)
    with empty_engine(request.param, tmp_path) as engine:
        yield engine


def test_upgrade_creates_the_tables_and_downgrade_drops_them(bare_engine: Engine) -> None:
    upgrade(bare_engine, "0016_energy_retirement")
    assert set(inspect(bare_engine).get_table_names()) >= TABLES
    now = dt.datetime.now(dt.UTC)
    with bare_engine.begin() as conn:
        conn.execute(insert(LotSource).values(key="mint:1:W", kind="mint", applied_at=now))
    with pytest.raises(IntegrityError), bare_engine.begin() as conn:
        conn.execute(insert(LotSource).values(key="mint:1:W", kind="mint", applied_at=now))
    cert = {"epoch": 2, "holder": "H", "production_epoch": 1, "meter": "g/m",
            "base_units": 5, "leaf": "ab" * 32, "status": "retired"}  # fmt: skip
    with bare_engine.begin() as conn:
        conn.execute(insert(Certificate).values(**cert))
    with pytest.raises(IntegrityError), bare_engine.begin() as conn:
        conn.execute(insert(Certificate).values(**{**cert, "epoch": 3}))

    config = alembic_config(bare_engine.url.render_as_string(hide_password=False))
    with bare_engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0015_governance_backlogs")
    assert not set(inspect(bare_engine).get_table_names()) & TABLES
    upgrade(bare_engine)  # and up again
    assert set(inspect(bare_engine).get_table_names()) >= TABLES
