"""Emissions avoided by matched renewable energy.

Pure: no I/O. Energy consumed from the campus's own renewable generation, matched
to a user in an epoch, displaces grid energy that would have emitted the grid's
emission factor in force for that epoch (gCO2 per kWh, a governed parameter or the
REC authority's uploaded series). Wh x gCO2/kWh is milligrams, so the result is an
exact integer in mgCO2.

Which Wh count as matched is not decided here: `MatchedEnergy` says, per (wallet,
epoch). `BoughtAndImported` is the interim rule (the energy bought on the market in
an epoch that met metered import); a rule from retirement records replaces it
behind the same interface.
"""

from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from coordinator.lifecycle.bills import WH, Usage

__all__ = [
    "BoughtAndImported",
    "MatchedEnergy",
    "avoided_mg",
    "campus_avoided_mg",
]

Key = tuple[str, int]
"""(wallet, epoch)."""


class MatchedEnergy(Protocol):
    """Matched renewable Wh per (wallet, epoch), given what was metered and traded."""

    def matched_wh(self, usages: Mapping[Key, Usage]) -> dict[Key, int]: ...


class BoughtAndImported:
    """Interim: the whole Wh bought on the market in an epoch that met metered import,
    min(import, bought). Until certificates say which energy was retired to whom."""

    def matched_wh(self, usages: Mapping[Key, Usage]) -> dict[Key, int]:
        return {key: min(u.import_wh, u.bought // WH) for key, u in usages.items()}


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
