"""Users: created at their first wallet sign-in, roles, token accounts."""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine

from coordinator.api.audit import AuditEvent, append
from coordinator.api.auth.roles import USER, parse_roles
from coordinator.db.models import User

__all__ = ["UserRecord", "get_user", "set_accounts", "set_roles", "sign_in"]


@dataclass(frozen=True, slots=True)
class UserRecord:
    address: str
    stored_roles: frozenset[str]
    created_at: dt.datetime
    last_login_at: dt.datetime
    energy_account: str | None
    payment_account: str | None
    first_time: bool = False


def _load(conn: Connection, address: str, lock: bool = False) -> UserRecord | None:
    query = select(
        User.address, User.roles, User.created_at, User.last_login_at, User.energy_account,
        User.payment_account,
    ).where(User.address == address)  # fmt: skip
    row = conn.execute(query.with_for_update() if lock else query).one_or_none()
    if row is None:
        return None
    return UserRecord(
        row.address, parse_roles(row.roles), row.created_at, row.last_login_at,
        row.energy_account, row.payment_account,
    )  # fmt: skip


def get_user(engine: Engine, address: str) -> UserRecord | None:
    with engine.connect() as conn:
        return _load(conn, address)


def sign_in(engine: Engine, address: str, now: dt.datetime, event: AuditEvent) -> UserRecord:
    """Record a sign-in (creating the user the first time) with its audit entry."""
    with engine.begin() as conn:
        user = _load(conn, address, lock=True)
        if user is None:
            conn.execute(
                insert(User).values(address=address, roles="", created_at=now, last_login_at=now)
            )
            append(conn, AuditEvent(address, "auth.register", address,
                                    request_id=event.request_id), now)  # fmt: skip
        else:
            conn.execute(update(User).where(User.address == address).values(last_login_at=now))
        append(conn, event, now)
        loaded = _load(conn, address)
    assert loaded is not None
    return UserRecord(
        loaded.address, loaded.stored_roles, loaded.created_at, loaded.last_login_at,
        loaded.energy_account, loaded.payment_account, first_time=user is None,
    )  # fmt: skip


def set_accounts(engine: Engine, address: str, energy: str, payment: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(User)
            .where(User.address == address)
            .values(energy_account=energy, payment_account=payment)
        )


def set_roles(
    engine: Engine, address: str, roles: Iterable[str], now: dt.datetime, event: AuditEvent
) -> bool:
    """Replace a user's stored roles (`user` is implied); False for an unknown user."""
    stored = ",".join(sorted(set(roles) - {USER}))
    with engine.begin() as conn:
        done = conn.execute(update(User).where(User.address == address).values(roles=stored))
        if done.rowcount == 0:
            return False
        append(conn, event, now)
        return True
