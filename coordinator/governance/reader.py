"""Governance as every instance reads it: the controls and the parameter schedule,
from the database (the source of truth all instances share), kept for at most
`ttl_s` seconds in the process, never read on the event loop.

An instance that writes a change calls `forget()`, so it sees the change at once;
the others within `ttl_s` (`GTX_GOVERNANCE_REFRESH_S`, 1 s by default), far
inside one epoch.
"""

import asyncio
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from coordinator.config import Settings
from coordinator.governance.controls import Controls, Scope
from coordinator.governance.params import GovernedParams, ParamChange
from coordinator.governance.series import TariffSeries, params_with_series
from coordinator.governance.store import GovernanceSource
from coordinator.market.orders_service import PlacementTerms

__all__ = ["GovernanceReader", "defaults_from"]

T = TypeVar("T")


def defaults_from(settings: Settings) -> GovernedParams:
    """The parameters in force where no change says otherwise."""
    return GovernedParams(
        epoch_length_s=settings.epoch_length_s,
        lateness_window_s=settings.lateness_window_s,
        grid_import_price=settings.grid_import_price,
        grid_export_price=settings.grid_export_price,
        emission_factor=settings.emission_factor,
    )


class _Cached(Generic[T]):
    def __init__(self, load: Callable[[], T], ttl_s: float, clock: Callable[[], float]) -> None:
        self._load, self._ttl_s, self._clock = load, ttl_s, clock
        self._value: tuple[float, T] | None = None

    async def get(self) -> T:
        now = self._clock()
        if self._value is None or now - self._value[0] >= self._ttl_s:
            self._value = (now, await asyncio.to_thread(self._load))
        return self._value[1]

    def forget(self) -> None:
        self._value = None

    def last(self, default: T) -> T:
        """The value last read (`default` before the first read), without reading."""
        return default if self._value is None else self._value[1]


class GovernanceReader:
    def __init__(
        self,
        source: GovernanceSource,
        defaults: GovernedParams,
        *,
        ttl_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.defaults = defaults
        self._controls = _Cached(source.controls, ttl_s, clock)
        self._changes = _Cached(source.param_changes, ttl_s, clock)
        self._series = _Cached(source.tariff_series, ttl_s, clock)

    def forget(self) -> None:
        """Read the database again at the next call (after this process changed it)."""
        self._controls.forget()
        self._changes.forget()
        self._series.forget()

    async def controls(self) -> Controls:
        return await self._controls.get()

    async def changes(self) -> list[ParamChange]:
        return await self._changes.get()

    async def series(self) -> list[TariffSeries]:
        return await self._series.get()

    async def params_at(self, epoch: int) -> GovernedParams:
        changes, series = await self.changes(), await self.series()
        return params_with_series(self.defaults, changes, series, epoch)

    async def schedule(self) -> Callable[[int], GovernedParams]:
        """The parameters in force per epoch, from the schedule and series read now (for
        callers that ask about many epochs at once, e.g. bills)."""
        changes, series = await self.changes(), await self.series()
        return lambda epoch: params_with_series(self.defaults, changes, series, epoch)

    def known_params_at(self, epoch: int) -> GovernedParams:
        """`params_at` from the schedule last read (for synchronous callers, e.g. the
        epoch closer in its thread); refreshed by any async read."""
        return params_with_series(
            self.defaults, self._changes.last([]), self._series.last([]), epoch
        )

    def lateness_at(self, epoch: int) -> int:
        """The lateness window that bounds where epoch `epoch`'s readings can be: the
        larger of those in force at it and at the next (late readings of an epoch
        arrive while the next one runs)."""
        return max(
            self.known_params_at(epoch).lateness_window_s,
            self.known_params_at(epoch + 1).lateness_window_s,
        )

    async def placement_terms(self, epoch: int) -> PlacementTerms:
        """What an order for `epoch` is placed under now (`MarketContext.terms`)."""
        params = await self.params_at(epoch)
        controls = await self.controls()
        return PlacementTerms(
            params.market_rules(),
            params.price_band(),
            controls.refusal(Scope.ORDERS),
            grid_band=params.grid_band(),
        )
