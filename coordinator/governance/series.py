"""Tariff series: the REC authority's per-epoch values of a grid parameter (retail
price, feed-in price, emission factor) for a run of future epochs, uploaded at once.

Pure: no I/O, no clock. A series is one parameter's values for the consecutive epochs
`from_epoch`, `from_epoch + 1`, ...; its canonical form is CSV, one `epoch,value` line
per epoch (header `epoch,<name>`, `\\n` line ends, no trailing blank line), and its
SHA-256 is what the authority's wallet signs, in a text like a parameter change's:

    gtx/v1 series name=grid_import_price from=1964001 count=96 sha256=<hex> by=<wallet> at=<unix>

The platform records it on chain as that text + " sig=<base58>", so anyone holding
the CSV can check it was the one signed.

Resolution: at an epoch a series covers, the value of the latest recorded series
covering it is in force; elsewhere the parameter schedule decides
(`coordinator.governance.params.params_at`).
"""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

from coordinator.governance.errors import ChangeRefused
from coordinator.governance.params import (
    MAX_AGE_S,
    MAX_SKEW_S,
    MIN_LEAD_EPOCHS,
    GovernedParams,
    Param,
    ParamChange,
    check_band,
    params_at,
    parse_value,
)
from coordinator.governance.signing import wallet_signed

__all__ = [
    "MAX_SERIES_EPOCHS",
    "SERIES_PARAMS",
    "TariffSeries",
    "check_series",
    "params_with_series",
    "parse_csv",
    "series_csv",
    "series_hash",
    "series_memo",
    "series_text",
]

MEMO_KIND = "gtx/v1 series"
SERIES_PARAMS = frozenset({Param.GRID_IMPORT_PRICE, Param.GRID_EXPORT_PRICE, Param.EMISSION_FACTOR})
# A year of quarter-hour epochs in one upload.
MAX_SERIES_EPOCHS = 366 * 96


@dataclass(frozen=True, slots=True, kw_only=True)
class TariffSeries:
    """`name`'s values from `from_epoch` on, one per epoch; signed like a change."""

    name: Param
    from_epoch: int
    values: tuple[int, ...]
    authority: str
    issued_at: int
    signature: str = ""

    def covers(self, epoch: int) -> bool:
        return self.from_epoch <= epoch < self.from_epoch + len(self.values)

    def value_at(self, epoch: int) -> int:
        return self.values[epoch - self.from_epoch]


def series_csv(name: Param, from_epoch: int, values: Sequence[int]) -> str:
    lines = [f"epoch,{name.value}", *(f"{from_epoch + i},{v}" for i, v in enumerate(values))]
    return "\n".join(lines)


def series_hash(series: TariffSeries) -> str:
    csv = series_csv(series.name, series.from_epoch, series.values)
    return hashlib.sha256(csv.encode()).hexdigest()


def series_text(series: TariffSeries) -> str:
    """What the authority's wallet signs."""
    return (
        f"{MEMO_KIND} name={series.name.value} from={series.from_epoch} "
        f"count={len(series.values)} sha256={series_hash(series)} by={series.authority} "
        f"at={series.issued_at}"
    )


def series_memo(series: TariffSeries) -> bytes:
    return f"{series_text(series)} sig={series.signature}".encode()


def parse_csv(text: str) -> tuple[Param, int, tuple[int, ...]]:
    """(parameter, first epoch, values) of an uploaded CSV: a header `epoch,<name>`,
    then `epoch,value` lines for consecutive epochs. ChangeRefused, saying which line,
    when it is not one."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if len(lines) < 2:
        raise ChangeRefused("invalid_series", "a series is a header epoch,<name> and 1+ lines")
    head = lines[0].split(",")
    if len(head) != 2 or head[0].strip() != "epoch":
        raise ChangeRefused("invalid_series", "the header must be epoch,<parameter name>")
    name = _series_param(head[1].strip())
    epochs, values = [], []
    for number, line in enumerate(lines[1:], start=2):
        cells = [c.strip() for c in line.split(",")]
        if len(cells) != 2 or not cells[0].isdigit():
            raise ChangeRefused("invalid_series", f"line {number}: expected epoch,value")
        epochs.append(int(cells[0]))
        values.append(_series_value(name, cells[1], f"line {number}: "))
    if epochs != list(range(epochs[0], epochs[0] + len(epochs))):
        raise ChangeRefused("invalid_series", "the epochs must be consecutive, in order")
    return name, epochs[0], tuple(values)


def _series_param(name: str) -> Param:
    try:
        param = Param(name)
    except ValueError:
        param = None
    if param not in SERIES_PARAMS:
        known = ", ".join(sorted(p.value for p in SERIES_PARAMS))
        raise ChangeRefused("invalid_series", f"a series is of one of {known}, not {name!r}")
    assert param is not None
    return param


def _series_value(name: Param, text: str, where: str = "") -> int:
    try:
        _, canonical = parse_value(name.value, text)
    except ChangeRefused as exc:
        raise ChangeRefused("invalid_series", f"{where}{exc.detail}") from None
    return int(canonical)


def params_with_series(
    defaults: GovernedParams,
    changes: Sequence[ParamChange],
    series: Sequence[TariffSeries],
    epoch: int,
) -> GovernedParams:
    """The parameters in force at `epoch`: the schedule's, then each series covering
    `epoch` in the order recorded (so the latest wins)."""
    params = params_at(defaults, changes, epoch)
    for s in series:
        if s.covers(epoch):
            params = params.with_text(s.name, str(s.value_at(epoch)))
    return params


def check_series(
    series: TariffSeries,
    *,
    defaults: GovernedParams,
    changes: Sequence[ParamChange],
    recorded: Sequence[TariffSeries],
    current_epoch: int,
    now: int,
) -> TariffSeries:
    """`series`, if it may be recorded now; else ChangeRefused: not a grid parameter,
    empty, too long or a value out of range, too soon (from the next epoch at the
    earliest), signed too long ago or not by the caller's wallet over exactly this
    text, or a feed-in price above retail at any epoch it covers."""
    _series_param(series.name.value)
    if not 1 <= len(series.values) <= MAX_SERIES_EPOCHS:
        raise ChangeRefused("invalid_series", f"a series has 1..{MAX_SERIES_EPOCHS} values")
    for i, value in enumerate(series.values):
        _series_value(series.name, str(value), f"epoch {series.from_epoch + i}: ")
    earliest = current_epoch + MIN_LEAD_EPOCHS
    if series.from_epoch < earliest:
        raise ChangeRefused(
            "too_soon",
            f"a series starts at a future epoch: {earliest} at the earliest "
            f"(epoch {current_epoch} is running)",
        )
    if not now - MAX_AGE_S <= series.issued_at <= now + MAX_SKEW_S:
        raise ChangeRefused(
            "stale_request", f"the series was signed at {series.issued_at}; sign it again now"
        )
    if not wallet_signed(series.authority, series_text(series), series.signature):
        raise ChangeRefused(
            "bad_signature", "the signature is not the caller's wallet's over this series' text"
        )
    after = [*recorded, series]
    for i in range(len(series.values)):
        epoch = series.from_epoch + i
        check_band(params_with_series(defaults, changes, after, epoch), epoch)
    return replace(series, values=tuple(series.values))
