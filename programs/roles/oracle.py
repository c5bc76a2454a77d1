"""The oracle: each epoch's exported energy minted to its owners (MintToChecked, each
transaction opened by the memo `gtx/v1 mint epoch=E`), and the epoch's Merkle root of
accepted readings attested by the memo `gtx/v1 attest epoch=E root=HEX`.

Both come as a pure `build_*` returning signed transactions, so that
`programs.jobs` stores their signatures before sending (the crash-safe way), and an
async operation that builds and sends. Under a mint multisig (`MultisigSpec` in
`programs.roles.token`) the oracle and `cosigners` sign for the mint authority.
"""

from collections.abc import Sequence

from solders.hash import Hash
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import Transaction

from programs import spl
from programs.ledger.base import NO_PRIORITY_FEE, FeePolicy, Ledger
from programs.roles.deployment import Deployment, user_accounts
from programs.roles.memos import memo_text
from programs.roles.token import ENERGY_DECIMALS
from programs.roles.transactions import PlannedTx, send_planned, sign
from programs.txsize import pack_instruction_groups

__all__ = [
    "attestation_memo",
    "build_attestation",
    "build_mint_energy",
    "mint_energy",
    "mint_memo",
    "post_attestation",
]


def _attempt(attempt: int) -> list[tuple[str, object]]:
    if attempt < 0:
        raise ValueError("attempts are numbered from 0")
    return [("attempt", attempt)] if attempt else []


def mint_memo(epoch: int, attempt: int = 0) -> bytes:
    """`gtx/v1 mint epoch=E`, opening each of the epoch's minting transactions; a retry
    of a refused one says which (`attempt=N`), so it is never the same transaction."""
    return memo_text("mint", [("epoch", epoch), *_attempt(attempt)])


def attestation_memo(epoch: int, merkle_root: bytes, attempt: int = 0) -> bytes:
    """`gtx/v1 attest epoch=E root=HEX` (a retry: `... attempt=N`)."""
    return memo_text("attest", [("epoch", epoch), ("root", merkle_root.hex()), *_attempt(attempt)])


def build_mint_energy(
    deployment: Deployment,
    *,
    payer: Keypair,
    oracle: Keypair,
    epoch: int,
    grants: Sequence[tuple[Pubkey, int]],
    blockhash: Hash,
    cosigners: Sequence[Keypair] = (),
    fee: FeePolicy = NO_PRIORITY_FEE,
    attempt: int = 0,
) -> list[PlannedTx]:
    """Signed MintToChecked transactions for `grants` (owner, base units), packed
    under the size limit, each opened by a memo naming the epoch (and `attempt`).

    Under a mint multisig the oracle and `cosigners` sign for it."""
    signers = [oracle, *cosigners]
    multisig_signers = [k.pubkey() for k in signers] if deployment.mint_multisig else []
    prefix = [*fee.instructions(), spl.memo(mint_memo(epoch, attempt), [oracle.pubkey()])]
    groups = [
        [
            spl.mint_to_checked(
                mint=deployment.energy_mint,
                destination=user_accounts(deployment, owner).energy,
                authority=deployment.mint_multisig or oracle.pubkey(),
                amount=amount,
                decimals=ENERGY_DECIMALS,
                multisig_signers=multisig_signers,
            )
        ]
        for owner, amount in grants
    ]
    return [
        PlannedTx(b.group_indices, sign(b.instructions, payer, signers, blockhash))
        for b in pack_instruction_groups(groups, payer.pubkey(), prefix=prefix)
    ]


async def mint_energy(
    ledger: Ledger,
    deployment: Deployment,
    *,
    payer: Keypair,
    oracle: Keypair,
    epoch: int,
    grants: Sequence[tuple[Pubkey, int]],
    cosigners: Sequence[Keypair] = (),
) -> list[Signature]:
    """Mint each owner's exported energy for `epoch`; returns the signatures in order.

    Not idempotent by itself: `programs.jobs.run_mint_epoch` is the crash-safe way."""
    planned = build_mint_energy(
        deployment,
        payer=payer,
        oracle=oracle,
        epoch=epoch,
        grants=grants,
        blockhash=await ledger.latest_blockhash(),
        cosigners=cosigners,
        fee=ledger.fee_policy,
    )
    return await send_planned(ledger, planned)


def build_attestation(
    *,
    payer: Keypair,
    oracle: Keypair,
    epoch: int,
    merkle_root: bytes,
    blockhash: Hash,
    fee: FeePolicy = NO_PRIORITY_FEE,
    attempt: int = 0,
) -> Transaction:
    """The signed memo `gtx/v1 attest epoch=E root=HEX` of the epoch's Merkle root."""
    if len(merkle_root) != 32:
        raise ValueError("a Merkle root is 32 bytes")
    message = attestation_memo(epoch, merkle_root, attempt)
    instructions = [*fee.instructions(), spl.memo(message, [oracle.pubkey()])]
    return sign(instructions, payer, [oracle], blockhash)


async def post_attestation(
    ledger: Ledger, *, payer: Keypair, oracle: Keypair, epoch: int, merkle_root: bytes
) -> Signature:
    """Post the Merkle root of the epoch's accepted readings as a memo signed by the oracle.

    Not idempotent by itself: `programs.jobs.run_attestation` is the crash-safe way."""
    tx = build_attestation(
        payer=payer,
        oracle=oracle,
        epoch=epoch,
        merkle_root=merkle_root,
        blockhash=await ledger.latest_blockhash(),
        fee=ledger.fee_policy,
    )
    return await ledger.send_transaction(tx)
