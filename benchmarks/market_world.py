"""A deployment on the embedded ledger with funded, approved users: the set-up shared by
bench_settlement.py and bench_market.py (imported from their own folder)."""

from solders.keypair import Keypair

from programs.ledger import EmbeddedLedger, LedgerStore
from programs.roles.deployment import Deployment
from programs.roles.oracle import mint_energy
from programs.roles.registry import register_user
from programs.roles.token import bootstrap, mint_payment
from programs.roles.trading import approve_escrow

KWH = 10**9
FUNDS = 10**6 * KWH  # each user's energy and payment, and what they approve


async def funded_market(
    store: LedgerStore, n_users: int
) -> tuple[EmbeddedLedger, Deployment, Keypair, Keypair, list[Keypair]]:
    """(ledger, deployment, payer, settlement authority, users). The settlement
    authority is funded, as `gtx-coordinator run` funds it to pay its own fees."""
    ledger = await EmbeddedLedger.open(store)
    payer, oracle, rec, settler = Keypair(), Keypair(), Keypair(), Keypair()
    await ledger.airdrop(payer.pubkey(), 10**12)
    await ledger.airdrop(settler.pubkey(), 10**12)
    deployment = await bootstrap(
        ledger,
        payer=payer,
        energy_mint=Keypair(),
        payment_mint=Keypair(),
        oracle=oracle.pubkey(),
        rec_authority=rec.pubkey(),
        settlement_authority=settler.pubkey(),
    )
    users = [Keypair() for _ in range(n_users)]
    for user in users:
        await register_user(ledger, deployment, payer=payer, owner=user.pubkey())
    grants = [(u.pubkey(), FUNDS) for u in users]
    await mint_payment(ledger, deployment, payer=payer, rec_authority=rec, grants=grants)
    await mint_energy(ledger, deployment, payer=payer, oracle=oracle, epoch=0, grants=grants)
    for user in users:
        await approve_escrow(
            ledger, deployment, payer=payer, owner=user, energy=FUNDS, payment=FUNDS
        )
    return ledger, deployment, payer, settler, users
