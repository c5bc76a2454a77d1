"""How the roles make transactions: legacy ones signed by the payer and the role's
authorities, checked against the 1232-byte limit, and sent; `PlannedTx` pairs a signed
transaction with the input items (grants, trades) it carries, so a caller can store
its signature before sending.

Every transaction opens with the ledger's `FeePolicy` instructions (priority fee):
`send_instructions` adds them, the pure `build_*` of each role take them as `fee`.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import Transaction

from programs.ledger.base import AnyTransaction, Ledger
from programs.txsize import check_transaction_size

__all__ = ["PlannedTx", "send_instructions", "send_planned", "sign", "sign_with"]


@dataclass(frozen=True, slots=True)
class PlannedTx:
    """A signed transaction and which input items (grants, trades) it carries."""

    item_indices: tuple[int, ...]
    tx: AnyTransaction

    @property
    def signature(self) -> Signature:
        return self.tx.signatures[0]


def sign(
    instructions: Sequence[Instruction], payer: Keypair, signers: Sequence[Keypair], blockhash: Hash
) -> Transaction:
    """A legacy transaction paid by `payer`, signed by it and `signers` (duplicates dropped),
    checked against the size limit."""
    payer_key = payer.pubkey()
    return sign_with(instructions, payer_key, _keyring(payer_key, payer, signers), blockhash)


def _keyring(
    payer_key: Pubkey, payer: Keypair, signers: Sequence[Keypair]
) -> dict[Pubkey, Keypair]:
    """Keypairs by public key, payer first, duplicates dropped (Keypair.pubkey() costs
    ~16 us, so callers signing many transactions build this once)."""
    unique = {payer_key: payer}
    for keypair in signers:
        unique.setdefault(keypair.pubkey(), keypair)
    return unique


def sign_with(
    instructions: Sequence[Instruction],
    payer_key: Pubkey,
    keyring: dict[Pubkey, Keypair],
    blockhash: Hash,
) -> Transaction:
    """`sign` with the keys already derived (`keyring`: keypairs by public key, payer
    first). Signs the message bytes directly (half the cost of
    `Transaction(keypairs, ...)`, same bytes) when the keyring holds exactly the
    message's signers; otherwise lets solders sign, and fail, as it always has."""
    message = Message.new_with_blockhash(list(instructions), payer_key, blockhash)
    required = message.account_keys[: message.header.num_required_signatures]
    if len(required) == len(keyring) and all(key in keyring for key in required):
        data = bytes(message)
        tx = Transaction.populate(message, [keyring[key].sign_message(data) for key in required])
    else:
        tx = Transaction(list(keyring.values()), message, blockhash)
    check_transaction_size(tx)
    return tx


async def send_instructions(
    ledger: Ledger, instructions: Sequence[Instruction], payer: Keypair, signers: Sequence[Keypair]
) -> Signature:
    """One transaction of the ledger's fee instructions and `instructions`, signed and
    sent at the latest blockhash."""
    instructions = [*ledger.fee_policy.instructions(), *instructions]
    tx = sign(instructions, payer, signers, await ledger.latest_blockhash())
    return await ledger.send_transaction(tx)


async def send_planned(ledger: Ledger, planned: Sequence[PlannedTx]) -> list[Signature]:
    """Send planned transactions in order; stops at the first failure (raised)."""
    return [await ledger.send_transaction(p.tx) for p in planned]
