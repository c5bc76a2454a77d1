"""An in-memory AlertSource: the rules' inputs set by the test."""

from coordinator.ops.alerts.rules import (
    EpochRows,
    GatewaySeen,
    LedgerFailure,
    MarketWindow,
    Progress,
    WithheldMint,
)

__all__ = ["FakeSource"]


class FakeSource:
    """Every due epoch closed and cleared; gateways, rejections and failures as set."""

    def __init__(self) -> None:
        self.seen: list[GatewaySeen] = []
        self.rejected: dict[str, int] = {}
        self.failures: list[LedgerFailure] = []
        self.withheld: list[WithheldMint] = []
        self.window = MarketWindow((), (), {})
        self.done = Progress()

    def gateways(self, default_poll_interval_s: int) -> list[GatewaySeen]:
        return self.seen

    def rejections(self, since_s: int, until_s: int) -> dict[str, int]:
        return self.rejected

    def ledger_failures(self, since_s: int) -> list[LedgerFailure]:
        return self.failures

    def epochs(self, lo: int, hi: int) -> EpochRows:
        return EpochRows(frozenset(range(lo, hi + 1)), frozenset(range(lo, hi + 1)), 0, 0)

    def withheld_mints(self) -> list[WithheldMint]:
        return self.withheld

    def market(self, window: int, trailing: int, after: int | None) -> MarketWindow:
        epochs = tuple(e for e in self.window.epochs if after is None or e.epoch > after)
        return MarketWindow(epochs, self.window.history, self.window.gateways_of)

    def progress(self) -> Progress:
        return self.done
