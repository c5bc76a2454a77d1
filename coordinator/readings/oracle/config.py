"""The oracle's tunable limits, one frozen value object checked on construction."""

from dataclasses import dataclass

__all__ = ["OracleConfig"]


@dataclass(frozen=True, slots=True, kw_only=True)
class OracleConfig:
    """Limits of the plausibility rules (all integers: seconds and watt-hours).

    max_future_skew_s: how far a meter's clock may run ahead of the
        coordinator's before a reading counts as from the future.
    lateness_window_s: how old a reading may be on arrival; a gateway's outbox
        buffers readings while offline, so this is days, not minutes.
    energy_tolerance_wh: slack on the rated-power limit for meter resolution:
        each integer-Wh counter can read up to 1 Wh ahead of the true energy,
        so 2 Wh covers both counters of a reading.
    reset_baseline_wh: the most a *new* meter's counter may show beyond what
        it could have registered since the previous reading; meters leave the
        factory or the refurbisher with a little energy on their registers.
    rated_power_pct: the energy a meter may register, as a percentage of what its
        rated power allows in the elapsed time (a governed parameter).
    """

    max_future_skew_s: int = 120
    lateness_window_s: int = 7 * 24 * 3600
    energy_tolerance_wh: int = 2
    reset_baseline_wh: int = 1000
    rated_power_pct: int = 100

    def __post_init__(self) -> None:
        for name in (
            "max_future_skew_s",
            "lateness_window_s",
            "energy_tolerance_wh",
            "reset_baseline_wh",
            "rated_power_pct",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
