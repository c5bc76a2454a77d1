"""Users: created at their first wallet sign-in, roles, sessions, token accounts."""

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import String, bindparam, insert, or_, select, text, update
from sqlalchemy.engine import Connection, Engine

from coordinator.api.audit import AuditEvent, append
from coordinator.api.auth.config import AuthSettings
from coordinator.api.auth.roles import REC_AUTHORITY, USER, effective_roles, parse_roles
from coordinator.api.auth.sessions import revoke_token
from coordinator.api.auth.tokens import Session
from coordinator.api.reads import Reads
from coordinator.db.locks import ROLES_LOCK
from coordinator.db.models import User
from coordinator.db.session import read_connection

__all__ = [
    "Profile",
    "RoleConfig",
    "UserRecord",
    "get_user",
    "profile",
    "rec_authorities",
    "role_config",
    "set_accounts",
    "set_roles",
    "sign_in",
    "sign_out",
]


@dataclass(frozen=True, slots=True)
class RoleConfig:
    """The wallets configured as admins and REC authorities (GTX_*_WALLETS)."""

    admins: frozenset[str] = frozenset()
    rec_authorities: frozenset[str] = frozenset()


def role_config(settings: AuthSettings) -> RoleConfig:
    return RoleConfig(settings.wallets("admin"), settings.wallets("rec_authority"))


@dataclass(frozen=True, slots=True)
class UserRecord:
    address: str
    stored_roles: frozenset[str]
    created_at: dt.datetime
    last_login_at: dt.datetime
    energy_account: str | None
    payment_account: str | None
    first_time: bool = False
    managed: bool = False  # roles set through the API: the database alone decides
    token_version: int = 0

    def roles(self, config: RoleConfig) -> frozenset[str]:
        """The roles this user's sessions carry."""
        return effective_roles(
            self.address, ",".join(self.stored_roles), managed=self.managed,
            admins=config.admins, rec_authorities=config.rec_authorities,
        )  # fmt: skip


def _load(conn: Connection, address: str, lock: bool = False) -> UserRecord | None:
    query = select(
        User.address, User.roles, User.created_at, User.last_login_at, User.energy_account,
        User.payment_account, User.roles_set_at, User.token_version,
    ).where(User.address == address)  # fmt: skip
    row = conn.execute(query.with_for_update() if lock else query).one_or_none()
    if row is None:
        return None
    return UserRecord(
        row.address, parse_roles(row.roles), row.created_at, row.last_login_at,
        row.energy_account, row.payment_account, managed=row.roles_set_at is not None,
        token_version=row.token_version,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Profile:
    created_at: dt.datetime
    energy_account: str | None
    payment_account: str | None


_PROFILE = select(User.created_at, User.energy_account, User.payment_account).where(
    User.address == bindparam("address", type_=String)
)


async def profile(reads: Reads, address: str) -> Profile | None:
    """What `GET /me` shows of the user, on the API's event-loop reads."""
    rows = await reads.all(_PROFILE, {"address": address})
    return None if not rows else Profile(*rows[0])


def get_user(engine: Engine, address: str) -> UserRecord | None:
    with read_connection(engine) as conn:
        return _load(conn, address)


def sign_in(engine: Engine, address: str, now: dt.datetime, event: AuditEvent) -> UserRecord:
    """Record a sign-in (creating the user the first time) with its audit entry."""
    with engine.begin() as conn:
        user = _load(conn, address, lock=True)
        if user is None:
            conn.execute(
                insert(User).values(
                    address=address, roles="", created_at=now, last_login_at=now, token_version=0
                )
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
        managed=loaded.managed, token_version=loaded.token_version,
    )  # fmt: skip


def sign_out(engine: Engine, session: Session, now: dt.datetime, event: AuditEvent) -> None:
    """End `session` for good, with its audit entry."""
    with engine.begin() as conn:
        revoke_token(conn, session, now)
        append(conn, event, now)


def set_accounts(engine: Engine, address: str, energy: str, payment: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(User)
            .where(User.address == address)
            .values(energy_account=energy, payment_account=payment)
        )


def _authorities(conn: Connection, config: RoleConfig) -> set[str]:
    """Every wallet a sign-in would make a REC authority now."""
    rows = conn.execute(
        select(User.address, User.roles, User.roles_set_at).where(
            or_(User.roles.contains(REC_AUTHORITY), User.address.in_(config.rec_authorities))
        )
    ).all()
    known = {r.address for r in rows}
    found = {
        r.address
        for r in rows
        if REC_AUTHORITY
        in effective_roles(
            r.address, r.roles, managed=r.roles_set_at is not None, admins=(),
            rec_authorities=config.rec_authorities,
        )
    }  # fmt: skip
    # A configured wallet that never signed in becomes one at its first sign-in.
    return found | (config.rec_authorities - known)


def rec_authorities(engine: Engine, config: RoleConfig) -> set[str]:
    with engine.connect() as conn:
        return _authorities(conn, config)


Decide = Callable[[UserRecord, set[str]], Iterable[str]]
"""(the user as stored, the REC authorities now) -> the user's new roles; raises to
refuse (nothing is written)."""


def set_roles(
    engine: Engine,
    address: str,
    decide: Decide,
    now: dt.datetime,
    event: Callable[[frozenset[str]], AuditEvent],
    config: RoleConfig,
) -> frozenset[str] | None:
    """Replace a user's roles with what `decide` answers (`user` is implied), ending
    their sessions, with the audit entry `event(roles)`, in one transaction; None for
    an unknown user. Role changes are serialized (an advisory lock on PostgreSQL),
    so two authorities removing each other cannot both succeed."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ROLES_LOCK})
        user = _load(conn, address, lock=True)
        if user is None:
            return None
        roles = frozenset(decide(user, _authorities(conn, config))) | {USER}
        conn.execute(
            update(User)
            .where(User.address == address)
            .values(
                roles=",".join(sorted(roles - {USER})),
                roles_set_at=now,
                token_version=User.token_version + 1,
            )
        )
        append(conn, event(roles), now)
        return roles
