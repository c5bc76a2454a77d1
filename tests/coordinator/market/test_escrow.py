"""The unsigned Approve and the checks a signed one must pass (no services)."""

import pytest
from solders.hash import Hash
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from coordinator.market import ApprovalRejected, EscrowNeed, build_approval, check_signed_approval
from coordinator.market.escrow import required_escrow
from coordinator.market.rules import Side
from programs import spl
from programs.roles.deployment import Deployment, user_accounts
from programs.roles.transactions import sign

KWH = 10**9


def _deployment() -> Deployment:
    keys = [Pubkey.new_unique() for _ in range(5)]
    return Deployment(*keys)


def _signed(
    deployment: Deployment, owner: Keypair, payer: Keypair | None, need: EscrowNeed
) -> bytes:
    fee_payer = None if payer is None else payer.pubkey()
    tx = build_approval(deployment, owner.pubkey(), need, Hash.new_unique(), fee_payer=fee_payer)
    tx.partial_sign([owner], tx.message.recent_blockhash)
    return bytes(tx)


def test_required_escrow_sums_open_orders_and_what_is_owed() -> None:
    need = required_escrow(
        [(Side.SELL, 2 * KWH, 1000), (Side.BUY, KWH, 25_000), (Side.BUY, KWH // 2, 30_000)],
        EscrowNeed(KWH, 7),
    )
    assert need == EscrowNeed(3 * KWH, 25_000 + 15_000 + 7)


@pytest.mark.parametrize("platform_pays", [False, True])
def test_a_signed_approval_is_accepted_and_ready_to_send(platform_pays: bool) -> None:
    deployment, owner, payer = _deployment(), Keypair(), Keypair()
    fee_payer = payer if platform_pays else None
    need = EscrowNeed(5 * KWH, 12_345)
    tx, amounts = check_signed_approval(
        deployment, owner.pubkey(), _signed(deployment, owner, fee_payer, need), fee_payer=fee_payer
    )
    assert amounts == need
    tx.verify()  # every signature present and valid
    assert tx.message.account_keys[0] == (payer if platform_pays else owner).pubkey()


def test_an_unsigned_or_foreign_signed_approval_is_rejected() -> None:
    deployment, owner, other = _deployment(), Keypair(), Keypair()
    unsigned = build_approval(deployment, owner.pubkey(), EscrowNeed(1, 1), Hash.new_unique())
    with pytest.raises(ApprovalRejected, match="not signed by the owner"):
        check_signed_approval(deployment, owner.pubkey(), bytes(unsigned))
    with pytest.raises(ApprovalRejected, match="not the approval built"):
        check_signed_approval(
            deployment, owner.pubkey(), _signed(deployment, other, None, EscrowNeed(1, 1))
        )
    with pytest.raises(ApprovalRejected, match="not a transaction"):
        check_signed_approval(deployment, owner.pubkey(), b"\x01garbage")


def test_anything_riding_on_the_owners_signature_is_rejected() -> None:
    deployment, owner = _deployment(), Keypair()
    accounts = user_accounts(deployment, owner.pubkey())
    # The owner's signature over a transfer of their energy elsewhere is no approval.
    steal = spl.transfer_checked(
        source=accounts.energy,
        mint=deployment.energy_mint,
        destination=Pubkey.new_unique(),
        authority=owner.pubkey(),
        amount=1,
        decimals=9,
    )
    approve = build_approval(deployment, owner.pubkey(), EscrowNeed(1, 1), Hash.new_unique())
    ixs = [steal, steal]
    tx = sign(ixs, owner, [], approve.message.recent_blockhash)
    with pytest.raises(ApprovalRejected):
        check_signed_approval(deployment, owner.pubkey(), bytes(tx))
    # An approval to someone else's delegate is not ours either.
    other = Deployment(
        deployment.energy_mint,
        deployment.payment_mint,
        deployment.oracle,
        deployment.rec_authority,
        Pubkey.new_unique(),
    )
    foreign = build_approval(other, owner.pubkey(), EscrowNeed(1, 1), Hash.new_unique())
    foreign.partial_sign([owner], foreign.message.recent_blockhash)
    with pytest.raises(ApprovalRejected, match="not the approval built"):
        check_signed_approval(
            deployment, owner.pubkey(), bytes(Transaction.from_bytes(bytes(foreign)))
        )
