"""End-of-demo reconciliation: `coordinator.onchain.reconcile` (every closed epoch's
verified export minted, withheld or pending; every balance on the ledger explained),
given what only the demo knows: the campus credit it issued to its users."""

from collections.abc import Iterable, Mapping

from sqlalchemy.engine import Engine

from coordinator.onchain.ledger import Chain
from coordinator.onchain.reconcile import Reconciliation
from coordinator.onchain.reconcile import reconcile as reconcile_all
from coordinator.readings.oracle import Epochs

__all__ = ["Reconciliation", "reconcile"]


async def reconcile(
    engine: Engine,
    chain: Chain,
    credits: Mapping[str, int],
    wallets: Iterable[str],
    *,
    length_s: Epochs,
    lateness_s: int,
) -> Reconciliation:
    return await reconcile_all(
        engine, chain.ledger, chain.deployment, length_s=length_s, lateness_s=lateness_s,
        credits=credits, wallets=wallets,
    )  # fmt: skip
