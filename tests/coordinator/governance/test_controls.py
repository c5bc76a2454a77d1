"""Emergency controls, pure: scopes, what a pause or resume changes, the memo."""

import datetime as dt

import pytest

from coordinator.governance import (
    ALL_SCOPES,
    Action,
    ChangeRefused,
    ControlConflict,
    Controls,
    Pause,
    Scope,
    check_control,
    control_memo,
    parse_scopes,
)

AT = dt.datetime(2026, 12, 4, 10, tzinfo=dt.UTC)


def paused(*scopes: Scope) -> Controls:
    return Controls({s: Pause(s, AT, 7, "W", "audit") for s in scopes})


def test_all_is_maintenance_mode_and_unknown_scopes_are_refused() -> None:
    assert parse_scopes(["all"]) == ALL_SCOPES
    assert parse_scopes(["clearing", "minting"]) == {Scope.CLEARING, Scope.MINTING}
    with pytest.raises(ChangeRefused, match="'readings' is not one of"):
        parse_scopes(["readings"])
    assert paused(*ALL_SCOPES).maintenance
    assert not paused(Scope.ORDERS).maintenance


def test_pausing_what_is_paused_and_resuming_what_runs_are_conflicts() -> None:
    state = paused(Scope.CLEARING)
    assert check_control(state, Action.PAUSE, ALL_SCOPES) == ALL_SCOPES - {Scope.CLEARING}
    with pytest.raises(ControlConflict) as conflict:
        check_control(state, Action.PAUSE, frozenset({Scope.CLEARING}))
    assert (conflict.value.code, conflict.value.detail) == (
        "already_paused",
        "clearing is already paused",
    )
    with pytest.raises(ControlConflict, match="not_paused"):
        check_control(state, Action.RESUME, frozenset({Scope.MINTING, Scope.ORDERS}))
    assert check_control(state, Action.RESUME, ALL_SCOPES) == {Scope.CLEARING}


def test_the_refusal_says_since_when_and_why_and_the_memo_names_the_authority() -> None:
    state = paused(Scope.ORDERS)
    assert state.refusal(Scope.CLEARING) is None
    assert state.refusal(Scope.ORDERS) == (
        "orders is paused by the REC authority since 2026-12-04 10:00 UTC (epoch 7): audit"
    )
    assert control_memo(Action.PAUSE, [Scope.SETTLEMENT, Scope.CLEARING], 9, "W", 5, "S") == (
        b"gtx/v1 control action=pause scopes=clearing,settlement epoch=9 by=W at=5 sig=S"
    )
