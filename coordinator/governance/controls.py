"""Emergency controls: the REC authority pauses and resumes parts of the market.

Pure: the scopes, the state, what a pause or resume changes, and the memo text.

A pause or resume is signed by the REC authority's own wallet (Ed25519 over
`control_text`, as at sign-in, checked by `signing.check_signed`); the platform
records it on chain as `control_text + " sig=<base58>"`, paying the fee only, so
anyone can check the wallet's signature from the memo alone:

    gtx/v1 control action=pause scopes=clearing,settlement epoch=E by=<wallet> at=<t> sig=<b58>

`epoch` is the epoch running at `at` (the signing time), the scopes are those
asked for, sorted.

Scopes: `orders` (placing orders; cancelling stays open), `clearing` (the gate
closure of each epoch), `settlement` (moving tokens for cleared trades) and
`minting` (minting and attesting closed epochs). `all` (maintenance mode) is
the four at once. Readings are never paused: ingest and epoch close go on, so
nothing a meter measured is lost, and on resume the paused work runs once:
epochs closed meanwhile are minted, epochs whose orders waited are cleared,
cleared trades are settled (each an exactly-once job).
"""

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from coordinator.governance.errors import ChangeRefused, ControlConflict

__all__ = [
    "ALL_SCOPES",
    "Action",
    "Controls",
    "Pause",
    "Scope",
    "check_control",
    "control_memo",
    "control_text",
    "parse_scopes",
]

MAINTENANCE = "all"


class Scope(StrEnum):
    ORDERS = "orders"
    CLEARING = "clearing"
    SETTLEMENT = "settlement"
    MINTING = "minting"


class Action(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"


ALL_SCOPES = frozenset(Scope)


@dataclass(frozen=True, slots=True)
class Pause:
    """Why and since when one scope is paused, and by whom (a wallet)."""

    scope: Scope
    since: dt.datetime
    since_epoch: int
    by: str
    reason: str


@dataclass(frozen=True, slots=True)
class Controls:
    """The paused scopes (a scope absent from `pauses` runs)."""

    pauses: Mapping[Scope, Pause] = field(default_factory=dict)

    def paused(self, scope: Scope) -> bool:
        return scope in self.pauses

    @property
    def maintenance(self) -> bool:
        return self.pauses.keys() >= ALL_SCOPES

    def refusal(self, scope: Scope) -> str | None:
        """A sentence saying why `scope` is paused, or None while it runs."""
        pause = self.pauses.get(scope)
        if pause is None:
            return None
        return (
            f"{scope} is paused by the REC authority since "
            f"{pause.since:%Y-%m-%d %H:%M} UTC (epoch {pause.since_epoch}): {pause.reason}"
        )


def parse_scopes(names: Iterable[str]) -> frozenset[Scope]:
    """Scope names (`all` for every scope); ChangeRefused for an unknown one."""
    scopes: set[Scope] = set()
    for name in names:
        if name == MAINTENANCE:
            scopes |= ALL_SCOPES
            continue
        try:
            scopes.add(Scope(name))
        except ValueError:
            known = ", ".join([*(s.value for s in Scope), MAINTENANCE])
            raise ChangeRefused("unknown_scope", f"{name!r} is not one of {known}") from None
    if not scopes:
        raise ChangeRefused("unknown_scope", "name at least one scope")
    return frozenset(scopes)


def check_control(controls: Controls, action: Action, scopes: frozenset[Scope]) -> frozenset[Scope]:
    """The scopes `action` changes; ControlConflict when it would change none."""
    if action is Action.PAUSE:
        changed = frozenset(s for s in scopes if not controls.paused(s))
        if not changed:
            raise ControlConflict("already_paused", f"{_names(scopes)} already paused")
    else:
        changed = frozenset(s for s in scopes if controls.paused(s))
        if not changed:
            raise ControlConflict("not_paused", f"{_names(scopes)} not paused: nothing to resume")
    return changed


def _names(scopes: Iterable[Scope]) -> str:
    names = sorted(s.value for s in scopes)
    return ", ".join(names) + (" is" if len(names) == 1 else " are")


def control_text(action: Action, scopes: Iterable[Scope], epoch: int, by: str, at: int) -> str:
    """What the authority's wallet signs (module doc)."""
    names = ",".join(sorted(s.value for s in scopes))
    return f"gtx/v1 control action={action.value} scopes={names} epoch={epoch} by={by} at={at}"


def control_memo(
    action: Action, scopes: Iterable[Scope], epoch: int, by: str, at: int, signature: str
) -> bytes:
    """The memo recorded on chain: the signed text and the wallet's signature."""
    return f"{control_text(action, scopes, epoch, by, at)} sig={signature}".encode()
