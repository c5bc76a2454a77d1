"""The governed parameters: what they are, what values they may take, the text the
REC authority's wallet signs to change one, and which value is in force at an epoch.

Pure: no I/O, no clock (time comes in as `now`), no logging.

A change says "from epoch N, parameter P is V", signed by the authority's own
wallet (Ed25519 over `change_text`, as at sign-in); the platform records it on
chain as `change_text + " sig=<base58>"`, so anyone can check the wallet's
signature from the memo alone:

    gtx/v1 param name=k value=1/3 from=1964001 by=<wallet> at=1767225600 sig=<base58>

Schedule resolution: the value of P in force at epoch E is that of the change of P
with the greatest `from_epoch` <= E (of two with the same `from_epoch`, the one
recorded later), else the default. A clearing stores the rules it ran with in
its inputs, and recomputing an epoch asks `params_at` for that epoch, so a past
epoch is always judged by the parameters in force then.

| name | unit | takes effect |
|---|---|---|
| `pricing` | `pay_as_clear` or `pay_as_bid` | clearing of epochs >= N |
| `k` | fraction `n/d` in [0, 1] | clearing of epochs >= N |
| `tick` | payment base units per kWh | orders for, and clearing of, epochs >= N |
| `lot` | energy base units | orders for, and clearing of, epochs >= N |
| `price_min`, `price_max` | payment base units per kWh | orders placed for epochs >= N |
| `rated_power_pct` | % of a meter's rated power | readings received from epoch N on |
| `lateness_window_s` | seconds | readings received from epoch N on; closing of epochs >= N |
| `epoch_length_s` | seconds | recorded and validated only (see below) |
| `grid_import_price` | payment base units per kWh | orders for, and bills of, epochs >= N |
| `grid_export_price` | payment base units per kWh | orders for, and bills of, epochs >= N |
| `emission_factor` | gCO2 per kWh of grid energy | avoided emissions of epochs >= N |

The grid prices are the campus's retail (import) and feed-in (export) tariff: the
grid is the counterparty of last resort, so nobody sells below feed-in or buys above
retail (`coordinator.market.rules.orders.check_grid_band`), and bills price what the
market did not cover against them (`coordinator.lifecycle.bills`). Both are whole
multiples of 1000 (0.001 credit per kWh), so a whole Wh costs a whole base unit.

The epoch length is fixed per deployment (`GTX_EPOCH_LENGTH_S`): epoch numbers
are `unix time // length` everywhere (readings, orders, clearings, mints), so
changing it at runtime needs epochs numbered by recorded boundaries. That is
future work; a change of `epoch_length_s` is validated, recorded on chain and
reported as not applied.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from fractions import Fraction
from typing import Any

from coordinator.governance.errors import ChangeRefused
from coordinator.governance.signing import wallet_signed
from coordinator.market.rules.orders import MarketRules, PricingRule
from coordinator.readings.oracle.config import OracleConfig

__all__ = [
    "GRID_PRICE_STEP",
    "MAX_AGE_S",
    "MAX_SKEW_S",
    "MIN_LEAD_EPOCHS",
    "NOT_APPLIED",
    "GovernedParams",
    "Param",
    "ParamChange",
    "ScheduledValue",
    "change_memo",
    "change_text",
    "check_band",
    "check_change",
    "params_at",
    "parse_value",
    "schedule",
]

MEMO_KIND = "gtx/v1 param"
# A change takes effect from the next epoch at the earliest: every instance reads
# the schedule well within an epoch, and nothing already decided is changed.
MIN_LEAD_EPOCHS = 1
# How old the signed text may be when it reaches the API (and how far ahead).
MAX_AGE_S = 300
MAX_SKEW_S = 60


class Param(StrEnum):
    EPOCH_LENGTH_S = "epoch_length_s"
    PRICING = "pricing"
    K = "k"
    TICK = "tick"
    LOT = "lot"
    PRICE_MIN = "price_min"
    PRICE_MAX = "price_max"
    RATED_POWER_PCT = "rated_power_pct"
    LATENESS_WINDOW_S = "lateness_window_s"
    GRID_IMPORT_PRICE = "grid_import_price"
    GRID_EXPORT_PRICE = "grid_export_price"
    EMISSION_FACTOR = "emission_factor"


# Recorded, validated and reported, but not applied (see the module doc).
NOT_APPLIED = frozenset({Param.EPOCH_LENGTH_S})

_INT = re.compile(r"0|[1-9][0-9]{0,17}")
_FRACTION = re.compile(r"(0|[1-9][0-9]{0,6})/([1-9][0-9]{0,6})")
_SECONDS_PER_DAY = 86_400
# Inclusive ranges of the integer parameters.
_RANGES = {
    Param.EPOCH_LENGTH_S: (10, _SECONDS_PER_DAY),
    Param.TICK: (1, 10**9),
    Param.LOT: (1, 10**12),
    Param.PRICE_MIN: (1, 10**15),
    Param.PRICE_MAX: (1, 10**15),
    Param.RATED_POWER_PCT: (1, 1000),
    Param.LATENESS_WINDOW_S: (60, 30 * _SECONDS_PER_DAY),
    Param.GRID_IMPORT_PRICE: (1000, 10**15),
    Param.GRID_EXPORT_PRICE: (0, 10**15),
    Param.EMISSION_FACTOR: (0, 10_000),
}
# Grid prices are whole multiples of this (0.001 credit per kWh): Wh x price / 1000
# is then a whole payment base unit, so bills are exact.
GRID_PRICE_STEP = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class GovernedParams:
    """The values in force at one epoch. Defaults come from the settings and the
    market's defaults; changes come from the REC authority."""

    epoch_length_s: int = 900
    pricing: PricingRule = PricingRule.PAY_AS_CLEAR
    k: Fraction = Fraction(1, 2)
    tick: int = 1000
    lot: int = 10**6
    price_min: int = 1000
    price_max: int = 10**12
    rated_power_pct: int = 100
    lateness_window_s: int = 7 * _SECONDS_PER_DAY
    grid_import_price: int = 250_000
    grid_export_price: int = 60_000
    emission_factor: int = 400

    def market_rules(self) -> MarketRules:
        return MarketRules(lot=self.lot, tick=self.tick, pricing=self.pricing, k=self.k)

    def price_band(self) -> tuple[int, int]:
        return self.price_min, self.price_max

    def grid_band(self) -> tuple[int, int]:
        """(feed-in, retail): what the grid pays for and charges for a kWh."""
        return self.grid_export_price, self.grid_import_price

    def oracle_config(self, base: OracleConfig) -> OracleConfig:
        """`base` (the deployment's oracle limits) with the governed ones."""
        return replace(
            base, lateness_window_s=self.lateness_window_s, rated_power_pct=self.rated_power_pct
        )

    def text(self, name: Param) -> str:
        """The canonical text of one value (what a change says and the memo carries)."""
        value = getattr(self, name.value)
        if isinstance(value, Fraction):
            return f"{value.numerator}/{value.denominator}"
        return str(value)

    def texts(self) -> dict[Param, str]:
        return {Param(f.name): self.text(Param(f.name)) for f in fields(self)}

    def with_text(self, name: Param, text: str) -> "GovernedParams":
        changed: dict[str, Any] = {name.value: _value(name, text)}
        return replace(self, **changed)


@dataclass(frozen=True, slots=True, kw_only=True)
class ParamChange:
    """One signed change: from `from_epoch` on, `name` is `value` (canonical text).
    `authority` is the signing wallet (base58), `issued_at` Unix seconds, and
    `signature` the wallet's base58 Ed25519 signature over `change_text(self)`."""

    name: Param
    value: str
    from_epoch: int
    authority: str
    issued_at: int
    signature: str = ""


@dataclass(frozen=True, slots=True)
class ScheduledValue:
    """A value in force from `from_epoch` (None: the default, in force since always)."""

    name: Param
    value: str
    from_epoch: int | None
    authority: str | None
    applied: bool


def _value(name: Param, text: str) -> object:
    """The typed value of `text` for `name`; ChangeRefused when it is not one."""
    if name is Param.PRICING:
        try:
            return PricingRule(text)
        except ValueError:
            choices = ", ".join(p.value for p in PricingRule)
            raise ChangeRefused("invalid_value", f"pricing must be one of {choices}") from None
    if name is Param.K:
        match = _FRACTION.fullmatch(text)
        if match is None:
            raise ChangeRefused("invalid_value", "k must be a fraction n/d, e.g. 1/2")
        k = Fraction(int(match[1]), int(match[2]))
        if not 0 <= k <= 1:
            raise ChangeRefused("invalid_value", "k must lie between 0 and 1")
        return k
    low, high = _RANGES[name]
    if _INT.fullmatch(text) is None:
        raise ChangeRefused("invalid_value", f"{name} must be a whole number, e.g. {low}")
    value = int(text)
    if not low <= value <= high:
        raise ChangeRefused("invalid_value", f"{name} must lie between {low} and {high}")
    if name is Param.EPOCH_LENGTH_S and _SECONDS_PER_DAY % value:
        raise ChangeRefused("invalid_value", "epoch_length_s must divide a day (86400 s)")
    if name in (Param.GRID_IMPORT_PRICE, Param.GRID_EXPORT_PRICE) and value % GRID_PRICE_STEP:
        raise ChangeRefused(
            "invalid_value", f"{name} must be a multiple of {GRID_PRICE_STEP} (0.001 credit/kWh)"
        )
    return value


def parse_value(name: str, text: str) -> tuple[Param, str]:
    """The parameter and the canonical text of `text`; ChangeRefused if either is unknown."""
    try:
        param = Param(name)
    except ValueError:
        known = ", ".join(p.value for p in Param)
        raise ChangeRefused("unknown_parameter", f"{name!r} is not one of {known}") from None
    canonical = GovernedParams().with_text(param, text.strip()).text(param)
    return param, canonical


def change_text(change: ParamChange) -> str:
    """What the authority's wallet signs."""
    return (
        f"{MEMO_KIND} name={change.name.value} value={change.value} from={change.from_epoch} "
        f"by={change.authority} at={change.issued_at}"
    )


def change_memo(change: ParamChange) -> bytes:
    """The memo recorded on chain: the signed text and the signature."""
    return f"{change_text(change)} sig={change.signature}".encode()


def _ordered(changes: Sequence[ParamChange]) -> list[ParamChange]:
    # Stable: of two changes with one from_epoch, the later recorded stays later.
    return sorted(changes, key=lambda c: c.from_epoch)


def params_at(
    defaults: GovernedParams, changes: Sequence[ParamChange], epoch: int
) -> GovernedParams:
    """The parameters in force at `epoch` (`changes` in the order they were recorded)."""
    params = defaults
    for change in _ordered(changes):
        if change.from_epoch > epoch:
            break
        params = params.with_text(change.name, change.value)
    return params


def check_band(params: GovernedParams, epoch: int) -> None:
    """ChangeRefused when `params` (those in force at `epoch`) are inconsistent: an
    inverted price band, or a feed-in price above retail."""
    if params.price_min > params.price_max:
        raise ChangeRefused(
            "invalid_value",
            f"from epoch {epoch} price_min {params.price_min} would exceed "
            f"price_max {params.price_max}",
        )
    if params.grid_export_price > params.grid_import_price:
        raise ChangeRefused(
            "invalid_value",
            f"from epoch {epoch} the feed-in price {params.grid_export_price} would exceed "
            f"the retail price {params.grid_import_price}",
        )


def check_change(
    change: ParamChange,
    *,
    defaults: GovernedParams,
    changes: Sequence[ParamChange],
    current_epoch: int,
    now: int,
) -> ParamChange:
    """`change` with its value in canonical form, if it may be recorded now; else
    ChangeRefused: unknown parameter or invalid value, too soon (from the next
    epoch at the earliest), a signature that is not the authority's over exactly
    this text, a text signed too long ago, or a schedule it would make inconsistent.
    """
    name, value = parse_value(change.name, change.value)
    if value != change.value:
        raise ChangeRefused(
            "invalid_value", f"write the value as {value!r}: that is the text the wallet signs"
        )
    earliest = current_epoch + MIN_LEAD_EPOCHS
    if change.from_epoch < earliest:
        raise ChangeRefused(
            "too_soon",
            f"a change takes effect from a future epoch: {earliest} at the earliest "
            f"(epoch {current_epoch} is running)",
        )
    if not now - MAX_AGE_S <= change.issued_at <= now + MAX_SKEW_S:
        raise ChangeRefused(
            "stale_request", f"the change was signed at {change.issued_at}; sign it again now"
        )
    if not wallet_signed(change.authority, change_text(change), change.signature):
        raise ChangeRefused(
            "bad_signature", "the signature is not the caller's wallet's over this change's text"
        )
    after = [*changes, change]
    boundaries = sorted({c.from_epoch for c in after if c.from_epoch >= change.from_epoch})
    for epoch in boundaries:
        check_band(params_at(defaults, after, epoch), epoch)
    return replace(change, name=name)


def schedule(
    defaults: GovernedParams, changes: Sequence[ParamChange], current_epoch: int
) -> list[ScheduledValue]:
    """Per parameter: the value in force at `current_epoch`, then each scheduled later."""
    now = params_at(defaults, changes, current_epoch)
    in_force: dict[Param, ParamChange] = {}
    for change in _ordered(changes):
        if change.from_epoch <= current_epoch:
            in_force[change.name] = change
    out: list[ScheduledValue] = []
    for name in Param:
        current = in_force.get(name)
        # A default is the deployment's setting: in force, whatever the name.
        applied = current is None or name not in NOT_APPLIED
        out.append(
            ScheduledValue(
                name, now.text(name), None if current is None else current.from_epoch,
                None if current is None else current.authority, applied,
            )
        )  # fmt: skip
        out.extend(
            ScheduledValue(name, c.value, c.from_epoch, c.authority, name not in NOT_APPLIED)
            for c in _ordered(changes)
            if c.name is name and c.from_epoch > current_epoch
        )
    return out
