"""Sessions the server can end: per request, a session token must carry its user's
current token version and must not have been signed out.

The truth is in the database every instance shares (`users.token_version`,
`revoked_tokens`). Reading it at every request would be a query a request, so
each instance keeps its answer for a session as long as the user's *session
stamp* in Redis is unchanged: a random value at `<prefix>:sv:<address>` that
the instance changing a user's roles or ending a session replaces right after
its transaction commits (`changed`). The stamp is read in the rate limiter's
Lua call (`RateLimiter.hit_and_stamp`), so the check costs no round trip of its
own while nothing changed, and a change is seen by every instance at its next
request. An answer is read again anyway after `trust_s` (60 s), which bounds how
long a lost stamp update (Redis failing at that moment) can go unnoticed.

The stamp is read before the database: an answer is kept under the stamp seen
before it was read, so a change committed meanwhile is read again at the next
request. A stamp missing from Redis (expired, or Redis's data lost) is created
with a fresh random value, never one an answer was kept under.

While Redis is unreachable (or not configured) each instance keeps an answer for
at most `ttl_s` seconds (`GTX_SESSION_CHECK_S`), and forgets a user's answers at
once when it changes them itself: the instance making a change refuses the old
token at once, the others within `ttl_s`. The database is read in a worker
thread, never on the event loop.
"""

import datetime as dt
import logging
import secrets
import time
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import delete, exists, insert, select
from sqlalchemy.engine import Connection, Engine
from starlette.concurrency import run_in_threadpool

from coordinator.api.auth import errors
from coordinator.api.auth.errors import AuthError
from coordinator.api.auth.tokens import Session
from coordinator.db.models import RevokedToken, User
from coordinator.db.session import read_connection
from coordinator.ops.metrics import REDIS_ERRORS

__all__ = ["STAMP_TTL_S", "SessionGuard", "revoke_token"]

log = logging.getLogger(__name__)

_MAX_ENTRIES = 50_000
# A session stamp's lifetime in Redis (renewed by every change; a new random one
# after it lapses, which costs each live session one database read).
STAMP_TTL_S = 86_400


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
        self,
        engine: Engine,
        *,
        ttl_s: float = 1.0,
        trust_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._ttl_s = ttl_s
        self._trust_s = trust_s
        self._clock = clock
        self._redis: aioredis.Redis | None = None
        self._prefix = ""
        # jti -> (read at, subject, why the session is refused or None, the stamp
        # seen before the read or None)
        self._seen: dict[str, tuple[float, str, str | None, str | None]] = {}

    def use_redis(self, client: aioredis.Redis | None, prefix: str) -> None:
        """Share session stamps through `client` (None: this instance's memory only)."""
        self._redis = client
        self._prefix = prefix

    def stamp_key(self, subject: str) -> str:
        return f"{self._prefix}:sv:{subject}"

    @staticmethod
    def fresh_stamp() -> str:
        return secrets.token_hex(8)

    def _read(self, session: Session) -> str | None:
        with read_connection(self._engine) as conn:
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

    async def check(self, session: Session, stamp: str | None = None) -> None:
        """Raise AuthError (`session_revoked`) when `session` has been ended. `stamp`:
        the user's session stamp read from Redis for this request, None when Redis
        could not be asked (then an answer is kept `ttl_s`)."""
        now = self._clock()
        seen = self._seen.get(session.token_id)
        if seen is None or (
            now - seen[0] >= self._ttl_s
            if stamp is None
            else seen[3] != stamp or now - seen[0] >= self._trust_s
        ):
            if len(self._seen) > _MAX_ENTRIES:
                self._seen.clear()
            refusal = await run_in_threadpool(self._read, session)
            seen = (now, session.subject, refusal, stamp)
            self._seen[session.token_id] = seen
        if seen[2] is not None:
            raise AuthError(errors.SESSION_REVOKED, seen[2])

    def forget(self, subject: str) -> None:
        """Read `subject`'s sessions again at their next request here."""
        self._seen = {jti: s for jti, s in self._seen.items() if s[1] != subject}

    async def changed(self, subject: str) -> None:
        """`subject`'s roles or sessions were changed (committed): every instance reads
        them again at their next request (here at once, elsewhere through the stamp)."""
        self.forget(subject)
        if self._redis is None:
            return
        try:
            await self._redis.set(self.stamp_key(subject), self.fresh_stamp(), ex=STAMP_TTL_S)
        except (RedisError, OSError) as exc:
            REDIS_ERRORS.labels("session_stamp").inc()
            log.warning(
                "session stamp of %s not renewed (other instances see the change within "
                "%.0f s): %s",
                subject,
                self._trust_s,
                exc,
            )
