"""End-of-demo reconciliation: `coordinator.onchain.reconcile` (every closed epoch's
verified export minted, withheld or pending; every balance on the ledger explained),
given what only the demo knows: the campus credit it issued to its users; and the
bills against the grid (`coordinator.lifecycle`): every user's bill of every closed
epoch adds up, the campus's savings are its grid-only bills less its actual costs,
and the market only moved energy and money between users."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from coordinator.config import Settings
from coordinator.governance import GovernanceReader, SqlGovernance, defaults_from
from coordinator.lifecycle.bills import bill_mismatches, campus_total
from coordinator.lifecycle.queries import RetiredEnergy
from coordinator.lifecycle.statements import Statements
from coordinator.lifecycle.usage_store import SqlUsage
from coordinator.onchain.ledger import Chain
from coordinator.onchain.reconcile import Reconciliation as LedgerReconciliation
from coordinator.onchain.reconcile import reconcile as reconcile_all
from coordinator.readings.oracle import Epochs

__all__ = ["Reconciliation", "reconcile"]

_LAST_EPOCH = (1 << 62) - 1


@dataclass(frozen=True, slots=True)
class Reconciliation:
    ledger: LedgerReconciliation
    bills_line: str
    bill_problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.ledger.ok and not self.bill_problems

    def lines(self) -> list[str]:
        """The summaries, then each mismatch (lines starting MISMATCH)."""
        summary, *mismatches = self.ledger.lines()
        bills = [f"MISMATCH bills: {p}" for p in self.bill_problems]
        return [summary, self.bills_line, *mismatches, *bills]


async def _bills(
    engine: Engine, settings: Settings, length_s: Epochs
) -> tuple[str, tuple[str, ...]]:
    reader = GovernanceReader(SqlGovernance(engine), defaults_from(settings))
    statements = Statements(
        SqlUsage(engine), await reader.schedule(), length_s=length_s,
        matched=RetiredEnergy(engine),
    )  # fmt: skip
    per_user, avoided = await statements.bills(since=0, until=_LAST_EPOCH)
    total = campus_total(per_user.values())
    line = (
        f"bills of {len({w for w, _ in per_user})} users over "
        f"{len({e for _, e in per_user})} closed epochs: grid-only {total.grid_only_cost}, "
        f"actual {total.actual_cost}, savings {total.savings} payment base units; "
        f"market paid {total.paid}, received {total.received}; "
        f"avoided {sum(avoided.values())} mgCO2"
    )
    return line, tuple(bill_mismatches(per_user))


async def reconcile(
    engine: Engine,
    chain: Chain,
    credits: Mapping[str, int],
    wallets: Iterable[str],
    *,
    settings: Settings,
    length_s: Epochs | None = None,
) -> Reconciliation:
    """`length_s`: the epochs as governed (the calendar in force); by default
    `settings.epoch_length_s`."""
    if length_s is None:
        length_s = settings.epoch_length_s
    ledger = await reconcile_all(
        engine, chain.ledger, chain.deployment, length_s=length_s,
        lateness_s=settings.lateness_window_s, credits=credits, wallets=wallets,
    )  # fmt: skip
    line, problems = await _bills(engine, settings, length_s)
    return Reconciliation(ledger, line, problems)
