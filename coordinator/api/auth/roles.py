"""Roles: every signed-in wallet is a `user`; `admin` runs the coordinator
(enrolment, gateways, audit, admins); `rec_authority` holds the REC authority's
governance powers (freeze, thaw, emergency controls, parameters, REC authorities).

Where roles come from: the roles stored on the user, and, until someone sets the
user's roles through the API, the wallets listed in `GTX_ADMIN_WALLETS` /
`GTX_REC_AUTHORITY_WALLETS` (they bootstrap the first admin and authority). Once
set through the API the database alone decides, so a listed wallet can be demoted
(`effective_roles`).

Separation of duties (`role_change_problem`): nobody changes their own roles;
only an admin grants or removes `admin`, only a REC authority grants or removes
`rec_authority` (so an admin cannot make itself, or anyone, an authority); the
last REC authority cannot be removed.
"""

from collections.abc import Iterable

from coordinator.api.auth import errors
from coordinator.api.auth.errors import AuthError

__all__ = [
    "ADMIN",
    "ALL_ROLES",
    "REC_AUTHORITY",
    "USER",
    "effective_roles",
    "parse_roles",
    "role_change_problem",
    "roles_at_login",
]

USER = "user"
ADMIN = "admin"
REC_AUTHORITY = "rec_authority"
ALL_ROLES = frozenset({USER, ADMIN, REC_AUTHORITY})


def parse_roles(stored: str) -> frozenset[str]:
    """Roles stored as comma-separated text; unknown names are ignored."""
    return frozenset(r.strip() for r in stored.split(",")) & ALL_ROLES


def roles_at_login(
    address: str,
    stored: str,
    admins: Iterable[str],
    rec_authorities: Iterable[str],
) -> frozenset[str]:
    """`user`, the roles stored on the user, and those configured for the wallet."""
    roles = {USER, *parse_roles(stored)}
    if address in set(admins):
        roles.add(ADMIN)
    if address in set(rec_authorities):
        roles.add(REC_AUTHORITY)
    return frozenset(roles)


def effective_roles(
    address: str,
    stored: str,
    *,
    managed: bool,
    admins: Iterable[str],
    rec_authorities: Iterable[str],
) -> frozenset[str]:
    """The roles a sign-in grants: once `managed` (set through the API) the stored
    roles alone, before that also the configured ones (`roles_at_login`)."""
    if managed:
        return frozenset({USER, *parse_roles(stored)})
    return roles_at_login(address, stored, admins, rec_authorities)


def role_change_problem(
    *,
    actor: str,
    actor_roles: frozenset[str],
    target: str,
    before: frozenset[str],
    after: frozenset[str],
    authorities_after: int,
) -> AuthError | None:
    """Why `actor` may not change `target`'s roles from `before` to `after` (None: it
    may). `authorities_after` counts the REC authorities there would be afterwards."""
    changed = (before ^ after) - {USER}
    if not changed:
        return None
    if actor == target:
        return AuthError(errors.SELF_ROLE_CHANGE, "nobody changes their own roles")
    if ADMIN in changed and ADMIN not in actor_roles:
        return AuthError(errors.DUTY_ADMIN, "only an admin grants or removes the admin role")
    if REC_AUTHORITY in changed and REC_AUTHORITY not in actor_roles:
        return AuthError(
            errors.DUTY_REC_AUTHORITY,
            "only a REC authority grants or removes the rec_authority role",
        )
    if REC_AUTHORITY in before - after and authorities_after < 1:
        return AuthError(errors.LAST_REC_AUTHORITY, "the last REC authority cannot be removed")
    return None
