"""The governance tables on SQLite and PostgreSQL: migration 0009 over existing users,
the controls and the parameter schedule as every instance reads them."""

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from coordinator.api.users import get_user
from coordinator.db.migrate import upgrade
from coordinator.db.session import make_engine
from coordinator.governance import (
    ControlConflict,
    GovernanceReader,
    GovernedParams,
    Param,
    ParamChange,
    Pause,
    Scope,
    SqlGovernance,
)
from tests.utils.services import fresh_database

AT = dt.datetime(2026, 12, 4, 10, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def old_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database at revision 0008 (before governance) holding a signed-in admin."""

    def prepare(engine: Engine) -> Engine:
        upgrade(engine, "0008_settled_epochs")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO users (address, roles, created_at, last_login_at) "
                    "VALUES (:a, 'admin', :t, :t)"
                ),
                {"a": "Admin1111111111111111111111111111111111111", "t": AT},
            )
        return engine

    if request.param == "sqlite":
        engine = prepare(make_engine(f"sqlite:///{tmp_path / 'old.db'}"))
        yield engine
        engine.dispose()
        return
    request.applymarker(pytest.mark.services)
    with fresh_database() as url:
        engine = prepare(make_engine(url))
        yield engine
        engine.dispose()


def test_the_migration_keeps_users_and_their_sessions_valid(old_engine: Engine) -> None:
    upgrade(old_engine)
    user = get_user(old_engine, "Admin1111111111111111111111111111111111111")
    assert user is not None
    assert (user.stored_roles, user.managed, user.token_version) == (frozenset({"admin"}), False, 0)


def test_controls_and_schedule_round_trip(old_engine: Engine) -> None:
    upgrade(old_engine)
    store = SqlGovernance(old_engine)
    assert store.controls().pauses == {}
    store.pause(
        [Pause(Scope.CLEARING, AT, 5, "W", "why"), Pause(Scope.ORDERS, AT, 5, "W", "x")], "memo-sig"
    )
    state = store.controls()
    assert sorted(state.pauses) == [Scope.CLEARING, Scope.ORDERS]
    assert state.pauses[Scope.CLEARING] == Pause(Scope.CLEARING, AT, 5, "W", "why")
    with pytest.raises(ControlConflict):
        store.pause([Pause(Scope.ORDERS, AT, 6, "V", "again")], "")
    store.resume([Scope.ORDERS])
    assert list(store.controls().pauses) == [Scope.CLEARING]
    # The pause of clearing holds its epochs back from 5 until the leader catches up.
    ((held, first),) = store.held_clearings()
    assert first == 5
    store.caught_up([held], AT)
    assert store.held_clearings() == []

    change = ParamChange(
        name=Param.TICK, value="2000", from_epoch=9, authority="W", issued_at=1, signature="S1"
    )
    assert store.add_param_change(change, "memo", AT)
    assert not store.add_param_change(change, "memo", AT)  # one signature, one change
    later = ParamChange(
        name=Param.TICK, value="3000", from_epoch=9, authority="W", issued_at=2, signature="S2"
    )
    assert store.add_param_change(later, "memo", AT)
    assert store.param_changes() == [change, later]
    assert store.has_signature("S1")


async def test_every_instance_reads_the_same_state(old_engine: Engine) -> None:
    upgrade(old_engine)
    writer = SqlGovernance(old_engine)
    reader = GovernanceReader(SqlGovernance(old_engine), GovernedParams(), ttl_s=0)
    assert not (await reader.controls()).paused(Scope.SETTLEMENT)
    writer.pause([Pause(Scope.SETTLEMENT, AT, 5, "W", "why")], "")
    assert (await reader.controls()).paused(Scope.SETTLEMENT)
    writer.add_param_change(
        ParamChange(
            name=Param.LOT, value="2000000", from_epoch=9, authority="W", issued_at=1, signature="S"
        ),
        "m",
        AT,
    )
    assert (await reader.params_at(8)).lot == 10**6
    assert (await reader.params_at(9)).lot == 2 * 10**6
    assert reader.known_params_at(9).lot == 2 * 10**6
