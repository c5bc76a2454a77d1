"""The metrics behind the operators' alerting rules move where the events happen:
database errors (against PostgreSQL, and a port where none listens), closed epochs'
energy, the alert monitor's firing gauge."""

from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

from coordinator.ops import metrics


def _value(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


@pytest.fixture
def unreachable() -> Iterator[Engine]:
    # Port 1 on the loopback: nothing listens, the connection is refused at once.
    engine = create_engine("postgresql+psycopg://postgres@127.0.0.1:1/none")
    yield engine
    engine.dispose()


def test_a_refused_database_connection_is_counted(unreachable: Engine) -> None:
    metrics.watch_database(unreachable)
    before = _value("gtx_database_errors_total", kind="connection")
    with pytest.raises(OperationalError), unreachable.connect():
        pass
    assert _value("gtx_database_errors_total", kind="connection") == before + 1


@pytest.mark.services
def test_a_failing_statement_is_counted_as_other(database_url: str) -> None:
    engine = create_engine(database_url)
    metrics.watch_database(engine)
    before = {k: _value("gtx_database_errors_total", kind=k) for k in ("connection", "other")}
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1  # no error: not counted
            with pytest.raises(ProgrammingError):
                conn.execute(text("SELECT * FROM no_such_table_here"))
    finally:
        engine.dispose()
    assert _value("gtx_database_errors_total", kind="other") == before["other"] + 1
    assert _value("gtx_database_errors_total", kind="connection") == before["connection"]


def test_a_closed_epoch_counts_its_energy() -> None:
    before = {d: _value("gtx_closed_energy_wh_total", direction=d) for d in ("import", "export")}
    minted = _value("gtx_closed_mint_base_units_total")
    metrics.record_closed_epoch(import_wh=120, export_wh=3_400, mint_base_units=3_400 * 10**6)
    assert _value("gtx_closed_energy_wh_total", direction="import") == before["import"] + 120
    assert _value("gtx_closed_energy_wh_total", direction="export") == before["export"] + 3_400
    assert _value("gtx_closed_mint_base_units_total") == minted + 3_400 * 10**6


def test_alerts_firing_counts_each_kind_and_zeroes_the_rest() -> None:
    metrics.record_alerts_firing(["a_kind", "b_kind"], ["a_kind", "a_kind", "b_kind"])
    assert (
        _value("gtx_alerts_firing", kind="a_kind"),
        _value("gtx_alerts_firing", kind="b_kind"),
    ) == (2, 1)
    metrics.record_alerts_firing(["a_kind", "b_kind"], ["b_kind"])
    assert (
        _value("gtx_alerts_firing", kind="a_kind"),
        _value("gtx_alerts_firing", kind="b_kind"),
    ) == (0, 1)
