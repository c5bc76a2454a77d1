"""What the API needs of the ledger, injected into `create_app` (or not).

Without it the API still signs users in and serves everything from the
database; registration then records the user and defers creating their token
accounts (done at a later sign-in once a ledger is configured), and balances,
orders and governance answer 503 `ledger_unavailable`.
"""

from dataclasses import dataclass

from solders.keypair import Keypair

from programs.ledger.base import Ledger
from programs.roles.deployment import Deployment

__all__ = ["ChainAccess"]


@dataclass(frozen=True, slots=True)
class ChainAccess:
    """A ledger, the deployment on it, the fee payer for registrations, and (where
    this coordinator holds it) the REC authority's key for governance actions."""

    ledger: Ledger
    deployment: Deployment
    payer: Keypair
    rec_authority: Keypair | None = None
