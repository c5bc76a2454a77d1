"""Roles: every signed-in wallet is a `user`; `admin` runs the coordinator
(enrolment, gateways, audit); `rec_authority` holds the REC authority's
governance powers (freeze, thaw, parameter memos)."""

from collections.abc import Iterable

__all__ = ["ADMIN", "ALL_ROLES", "REC_AUTHORITY", "USER", "parse_roles", "roles_at_login"]

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
