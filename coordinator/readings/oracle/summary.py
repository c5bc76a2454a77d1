"""An epoch's energy totals and the energy tokens minted for its exports.

The energy token has 9 decimals: 1 kWh = 10**9 base units, so 1 Wh = 10**6
base units, exactly. Each meter's owner is minted its exported energy (gross
export, not net of import: import is bought on the market or from the grid).

    meters a: import 120 Wh, export 0; b: import 5 Wh, export 1,250 Wh
    -> totals import 125 Wh, export 1,250 Wh; mint b 1,250,000,000 base units
       (1.25 kWh), a nothing; epoch mint 1,250,000,000.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from coordinator.readings.oracle.epochs import EpochEnergy

__all__ = [
    "BASE_UNITS_PER_KWH",
    "BASE_UNITS_PER_WH",
    "ENERGY_TOKEN_DECIMALS",
    "EpochSummary",
    "MeterEpochEnergy",
    "MeterKey",
    "summarize_epoch",
    "wh_to_base_units",
]

ENERGY_TOKEN_DECIMALS = 9
BASE_UNITS_PER_KWH = 1_000_000_000  # 10**ENERGY_TOKEN_DECIMALS
BASE_UNITS_PER_WH = BASE_UNITS_PER_KWH // 1000


class MeterKey(NamedTuple):
    """A meter, globally: meter ids are unique only within their gateway."""

    gateway_id: str
    meter_id: str


@dataclass(frozen=True, slots=True)
class MeterEpochEnergy:
    meter: MeterKey
    import_wh: int
    export_wh: int
    mint_base_units: int


@dataclass(frozen=True, slots=True)
class EpochSummary:
    """Per-meter energy ordered by meter, totals, and the epoch's mint."""

    epoch: int
    meters: tuple[MeterEpochEnergy, ...]
    total_import_wh: int
    total_export_wh: int
    mint_base_units: int


def wh_to_base_units(wh: int) -> int:
    """Energy-token base units for `wh` watt-hours (exact)."""
    if wh < 0:
        raise ValueError(f"energy must be non-negative, got {wh}")
    return wh * BASE_UNITS_PER_WH


def summarize_epoch(epoch: int, energies: Mapping[MeterKey, EpochEnergy]) -> EpochSummary:
    """Summarize one epoch from each meter's energy in it (`meter_epoch_energy`
    entries for `epoch`, or the sums stored as readings were accepted)."""
    meters: list[MeterEpochEnergy] = []
    for meter, energy in sorted(energies.items()):
        if energy.epoch != epoch:
            raise ValueError(f"energy of {meter} is for epoch {energy.epoch}, not {epoch}")
        if energy.import_wh < 0 or energy.export_wh < 0:
            raise ValueError(f"energy of {meter} is negative")
        meters.append(
            MeterEpochEnergy(
                meter, energy.import_wh, energy.export_wh, wh_to_base_units(energy.export_wh)
            )
        )
    return EpochSummary(
        epoch=epoch,
        meters=tuple(meters),
        total_import_wh=sum(m.import_wh for m in meters),
        total_export_wh=sum(m.export_wh for m in meters),
        mint_base_units=sum(m.mint_base_units for m in meters),
    )
