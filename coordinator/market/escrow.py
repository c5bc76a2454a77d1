"""Escrow without custody: the user's own SPL Approve of the settlement authority.

SPL Token keeps one delegate per token account with one `delegated_amount`; a
new Approve replaces the old one and each delegated transfer reduces it. So a
user's open orders share one approval per side, sized as their sum
(`required_escrow`): the energy account's for sell orders, the payment
account's for buy orders at their limit price (no fill costs more).

The coordinator builds the Approve unsigned (`build_approval`); the user's
wallet signs it; `check_signed_approval` accepts it only if it is exactly that
shape (the owner's two ApproveChecked to this deployment's settlement
authority, amounts free) and carries the owner's valid signature. What makes
an order live is the delegation read back from the chain (`read_escrow`).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.token.state import TokenAccount, TokenAccountState
from solders.transaction import Transaction

from coordinator.market.errors import ApprovalRejected
from coordinator.market.rules.orders import Side, payment_for
from programs.ledger.base import Ledger
from programs.roles.deployment import Deployment, user_accounts
from programs.roles.trading import approve_escrow_instructions
from programs.txsize import check_transaction_size

__all__ = [
    "Escrow",
    "EscrowNeed",
    "TokenEscrow",
    "available",
    "build_approval",
    "check_signed_approval",
    "read_escrow",
    "required_escrow",
    "token_escrow",
]

_APPROVE_CHECKED = 13  # SPL Token instruction tag


@dataclass(frozen=True, slots=True)
class EscrowNeed:
    """Base units a user's approvals must cover: `energy` (sell side), `payment` (buy side)."""

    energy: int = 0
    payment: int = 0


def required_escrow(
    orders: Iterable[tuple[Side, int, int]], owed: EscrowNeed = EscrowNeed()
) -> EscrowNeed:
    """What to approve for (side, quantity, limit price) open orders plus `owed`
    (matched, not yet settled amounts)."""
    energy, payment = owed.energy, owed.payment
    for side, quantity, price in orders:
        if side is Side.SELL:
            energy += quantity
        else:
            payment += payment_for(quantity, price)
    return EscrowNeed(energy, payment)


@dataclass(frozen=True, slots=True)
class TokenEscrow:
    """One token account as escrow: None fields when the account does not exist."""

    exists: bool
    delegated: int  # to the settlement authority; 0 if delegated elsewhere or not at all
    balance: int
    frozen: bool

    @property
    def usable(self) -> int:
        """What settlement could move from it now."""
        return 0 if self.frozen else min(self.delegated, self.balance)


@dataclass(frozen=True, slots=True)
class Escrow:
    """A user's escrow on both sides."""

    energy: TokenEscrow
    payment: TokenEscrow

    @property
    def registered(self) -> bool:
        return self.energy.exists and self.payment.exists

    @property
    def frozen(self) -> bool:
        """Either account is frozen (by the REC authority): nothing can move to or from
        it, nor can it be approved, until it is thawed."""
        return self.energy.frozen or self.payment.frozen


_MISSING = TokenEscrow(False, 0, 0, False)


def token_escrow(account: TokenAccount | None, authority: Pubkey) -> TokenEscrow:
    if account is None:
        return _MISSING
    delegated = account.delegated_amount if account.delegate == authority else 0
    frozen = account.state == TokenAccountState.Frozen
    return TokenEscrow(True, delegated, account.amount, frozen)


def available(escrow: Escrow, side: Side) -> int:
    return (escrow.energy if side is Side.SELL else escrow.payment).usable


async def read_escrow(ledger: Ledger, deployment: Deployment, owner: Pubkey) -> Escrow:
    accounts = user_accounts(deployment, owner)
    authority = deployment.settlement_authority
    energy = await ledger.get_token_account(accounts.energy)
    payment = await ledger.get_token_account(accounts.payment)
    return Escrow(token_escrow(energy, authority), token_escrow(payment, authority))


def _message(
    deployment: Deployment,
    owner: Pubkey,
    need: EscrowNeed,
    fee_payer: Pubkey,
    prefix: Sequence[Instruction],
    blockhash: Hash,
) -> Message:
    instructions = [
        *prefix,
        *approve_escrow_instructions(deployment, owner, energy=need.energy, payment=need.payment),
    ]
    return Message.new_with_blockhash(instructions, fee_payer, blockhash)


def build_approval(
    deployment: Deployment,
    owner: Pubkey,
    need: EscrowNeed,
    blockhash: Hash,
    *,
    fee_payer: Pubkey | None = None,
    prefix: Sequence[Instruction] = (),
) -> Transaction:
    """The unsigned Approve of both of `owner`'s token accounts to the settlement
    authority for `need`; the fee is paid by `fee_payer` (default: the owner, who
    then signs alone). `prefix` is the ledger's fee-policy instructions."""
    message = _message(deployment, owner, need, fee_payer or owner, prefix, blockhash)
    tx = Transaction.new_unsigned(message)
    check_transaction_size(tx)
    return tx


def _approved_amounts(message: Message, prefix_len: int) -> EscrowNeed:
    compiled = message.instructions
    if len(compiled) != prefix_len + 2:
        raise ApprovalRejected("an approval holds exactly the two ApproveChecked")
    amounts = []
    for ix in compiled[prefix_len:]:
        data = bytes(ix.data)
        if len(data) != 10 or data[0] != _APPROVE_CHECKED:
            raise ApprovalRejected("not an ApproveChecked instruction")
        amounts.append(int.from_bytes(data[1:9], "little"))
    return EscrowNeed(amounts[0], amounts[1])


def check_signed_approval(
    deployment: Deployment,
    owner: Pubkey,
    tx_bytes: bytes,
    *,
    fee_payer: Keypair | None = None,
    prefix: Sequence[Instruction] = (),
) -> tuple[Transaction, EscrowNeed]:
    """Accept `tx_bytes` if it is `build_approval`'s transaction for `owner` (any
    amounts, any blockhash) with the owner's valid signature; returns it ready to
    send (co-signed by `fee_payer` when the platform pays the fee) and its amounts.

    Raises ApprovalRejected otherwise: nothing else can ride on the owner's signature.
    """
    try:
        tx = Transaction.from_bytes(tx_bytes)
    except ValueError as exc:
        raise ApprovalRejected(f"not a transaction: {exc}") from exc
    message = tx.message
    need = _approved_amounts(message, len(prefix))
    payer = owner if fee_payer is None else fee_payer.pubkey()
    expected = _message(deployment, owner, need, payer, prefix, message.recent_blockhash)
    if message != expected:
        raise ApprovalRejected("not the approval built for this owner and deployment")
    keys = list(message.account_keys)
    position = keys.index(owner)
    if position >= message.header.num_required_signatures or not tx.signatures[position].verify(
        owner, bytes(message)
    ):
        raise ApprovalRejected("not signed by the owner")
    if fee_payer is not None and fee_payer.pubkey() != owner:
        tx.partial_sign([fee_payer], message.recent_blockhash)
    check_transaction_size(tx)
    return tx, need
