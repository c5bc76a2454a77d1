"""Sessions the server can end: per request, a session token must carry its user's
current token version and must not have been signed out.

The truth is in the database every instance shares (`users.token_version`,
`revoked_tokens`); each instance keeps an answer for at most `ttl_s` seconds
(`GTX_GOVERNANCE_REFRESH_S`), and forgets a user's answers at once when it
changes them itself. So a demoted admin's token is refused by the instance that
demoted it at once, and by every other instance within `ttl_s`. The database is
read in a worker thread, never on the event loop.
"""

import datetime as dt
import time
from collections.abc import Callable

from sqlalchemy import delete, exists, insert, select
from sqlalchemy.engine import Connection, Engine
from starlette.concurrency import run_in_threadpool

from coordinator.api.auth import errors
from coordinator.api.auth.errors import AuthError
from coordinator.api.auth.tokens import Session
from coordinator.db.models import RevokedToken, User

__all__ = ["SessionGuard", "revoke_token"]

_MAX_ENTRIES = 50_000


def revoke_token(conn: Connection, session: Session, now: dt.datetime) -> None:
    """End `session` (sign-out), in the caller's transaction; expired revocations go."""
    conn.execute(delete(RevokedToken).where(RevokedToken.expires_at < now))
    conn.execute(
        insert(RevokedToken).values(
            jti=session.token_id,
            subject=session.subject[:64],
            expires_at=dt.datetime.fromtimestamp(session.expires_at, dt.UTC),
            revoked_at=now,
        )
    )


class SessionGuard:
    def __init__(
        self, engine: Engine, *, ttl_s: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._engine = engine
        self._ttl_s = ttl_s
        self._clock = clock
        # jti -> (read at, subject, why the session is refused or None)
        self._seen: dict[str, tuple[float, str, str | None]] = {}

    def _read(self, session: Session) -> str | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(
                    select(User.token_version)
                    .where(User.address == session.subject)
                    .scalar_subquery(),
                    exists().where(RevokedToken.jti == session.token_id),
                )
            ).one()
        version, revoked = row
        if revoked:
            return "this session was signed out; sign in again"
        if (version or 0) != session.version:
            return "your roles or sessions were changed since you signed in; sign in again"
        return None

    async def check(self, session: Session) -> None:
        """Raise AuthError (`session_revoked`) when `session` has been ended."""
        now = self._clock()
        seen = self._seen.get(session.token_id)
        if seen is None or now - seen[0] >= self._ttl_s:
            if len(self._seen) > _MAX_ENTRIES:
                self._seen.clear()
            refusal = await run_in_threadpool(self._read, session)
            seen = (now, session.subject, refusal)
            self._seen[session.token_id] = seen
        if seen[2] is not None:
            raise AuthError(errors.SESSION_REVOKED, seen[2])

    def forget(self, subject: str) -> None:
        """Read `subject`'s sessions again at their next request (changed here)."""
        self._seen = {jti: s for jti, s in self._seen.items() if s[1] != subject}
