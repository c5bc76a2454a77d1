"""Emissions avoided by matched renewable energy.

Pure: no I/O. Energy consumed from the campus's own renewable generation, matched
to a user in an epoch, displaces grid energy that would have emitted the grid's
emission factor in force for that epoch (gCO2 per kWh, a governed parameter or the
REC authority's uploaded series). Wh x gCO2/kWh is milligrams, so the result is an
exact integer in mgCO2.

Which Wh count as matched is not decided here: a `MatchedEnergy` source says, per
(wallet, epoch). The coordinator's is `coordinator.lifecycle.queries.RetiredEnergy`:
the energy tokens each user retired against that epoch's metered import, burned
under their approval and certified (`gtx/v1 certify`), so every avoided gram is
backed by a certificate. `MemoryMatched` holds given figures (tests, tools).
"""

from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

__all__ = [
    "MatchedEnergy",
    "MemoryMatched",
    "avoided_mg",
    "campus_avoided_mg",
]

Key = tuple[str, int]
"""(wallet, epoch)."""


class MatchedEnergy(Protocol):
    """Where matched renewable Wh per (wallet, epoch) come from."""

    @property
    def rule(self) -> str:
        """Which energy counts as matched, in words (the API's `matched_rule`)."""
        ...

    def matched_wh(self, *, since: int, until: int, owner: str | None = None) -> dict[Key, int]:
        """Matched Wh per (wallet, epoch) of epochs since..until (inclusive), of `owner`
        only when given; pairs with nothing matched may be absent. May block (a
        database): the statements service calls it from a worker thread."""
        ...


class MemoryMatched:
    """Matched Wh given up front."""

    rule = "given: matched Wh per user and epoch, held in memory"

    def __init__(self, matched: Mapping[Key, int]) -> None:
        self._matched = dict(matched)

    def matched_wh(self, *, since: int, until: int, owner: str | None = None) -> dict[Key, int]:
        return {
            (wallet, epoch): wh
            for (wallet, epoch), wh in self._matched.items()
            if since <= epoch <= until and owner in (None, wallet)
        }


def avoided_mg(matched: Mapping[Key, int], factor_at: Callable[[int], int]) -> dict[Key, int]:
    """mgCO2 avoided per (wallet, epoch): matched Wh x the factor (gCO2/kWh) in force
    for the epoch the energy was consumed in."""
    out: dict[Key, int] = {}
    for (wallet, epoch), wh in matched.items():
        if wh < 0:
            raise ValueError(f"matched energy of {wallet} in epoch {epoch} is negative")
        out[(wallet, epoch)] = wh * factor_at(epoch)
    return out


def campus_avoided_mg(avoided: Iterable[int]) -> int:
    return sum(avoided)
