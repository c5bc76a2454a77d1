"""The energy token and the payment token: two SPL mints, created at bootstrap, and
payment tokens (campus credit) issued by the REC authority.

The energy mint (9 decimals: 1 kWh = 10**9 base units) is minted by the oracle
(`programs.roles.oracle`), or, with a `MultisigSpec` at bootstrap, by an SPL multisig
(M of N, e.g. oracle + REC authority 2-of-2): minting then needs `cosigners` besides
the oracle, at least M signers in all. The payment mint (6 decimals) is minted by
the REC authority, which may freeze both (`programs.roles.governance`).
"""

from collections.abc import Sequence
from dataclasses import dataclass

from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature

from programs import spl
from programs.errors import LedgerUsageError
from programs.ledger.base import Ledger
from programs.roles.deployment import Deployment, user_accounts
from programs.roles.transactions import PlannedTx, send_instructions, send_planned, sign
from programs.txsize import pack_instruction_groups

__all__ = [
    "ENERGY_DECIMALS",
    "PAYMENT_DECIMALS",
    "MultisigSpec",
    "bootstrap",
    "mint_payment",
]

ENERGY_DECIMALS = 9  # 1 kWh = 10**9 base units
PAYMENT_DECIMALS = 6


@dataclass(frozen=True, slots=True)
class MultisigSpec:
    """An SPL multisig (M of `signers`) to hold the energy mint authority; `account` is
    the new multisig account's keypair (it signs its creation only)."""

    account: Keypair
    signers: tuple[Pubkey, ...]
    m: int

    def __post_init__(self) -> None:
        if not 1 <= self.m <= len(self.signers) <= spl.MAX_MULTISIG_SIGNERS:
            raise ValueError(f"need 1 <= m <= n <= {spl.MAX_MULTISIG_SIGNERS}")
        if len(set(self.signers)) != len(self.signers):
            raise ValueError("multisig signers must be distinct")


async def bootstrap(
    ledger: Ledger,
    *,
    payer: Keypair,
    energy_mint: Keypair,
    payment_mint: Keypair,
    oracle: Pubkey,
    rec_authority: Pubkey,
    settlement_authority: Pubkey,
    mint_multisig: MultisigSpec | None = None,
) -> Deployment:
    """Create the energy mint (9 decimals, minted by the oracle, or by `mint_multisig`
    where given, which must list the oracle) and the payment mint (6 decimals, minted
    by the REC authority); the REC authority may freeze both.

    Idempotent: an existing mint or multisig with the same settings is kept; one with
    other settings raises LedgerUsageError.
    """
    multisig = None if mint_multisig is None else mint_multisig.account.pubkey()
    deployment = Deployment(
        energy_mint.pubkey(),
        payment_mint.pubkey(),
        oracle,
        rec_authority,
        settlement_authority,
        multisig,
    )
    wanted = [
        (energy_mint, ENERGY_DECIMALS, deployment.energy_mint_authority),
        (payment_mint, PAYMENT_DECIMALS, rec_authority),
    ]
    instructions: list[Instruction] = []
    signers: list[Keypair] = []
    if mint_multisig is not None:
        if oracle not in mint_multisig.signers:
            raise LedgerUsageError("the mint multisig must list the oracle")
        instructions += await _multisig_instructions(ledger, payer.pubkey(), mint_multisig)
        signers += [mint_multisig.account] if instructions else []
    rent = await ledger.minimum_balance_for_rent_exemption(spl.MINT_SIZE)
    for keypair, decimals, authority in wanted:
        existing = await ledger.get_mint(keypair.pubkey())
        if existing is None:
            instructions += spl.create_mint(
                payer=payer.pubkey(),
                mint=keypair.pubkey(),
                decimals=decimals,
                mint_authority=authority,
                freeze_authority=rec_authority,
                rent_lamports=rent,
            )
            signers.append(keypair)
        elif (existing.decimals, existing.mint_authority, existing.freeze_authority) != (
            decimals,
            authority,
            rec_authority,
        ):
            raise LedgerUsageError(f"mint {keypair.pubkey()} exists with other settings")
    if instructions:
        await send_instructions(ledger, instructions, payer, signers)
    return deployment


async def _multisig_instructions(
    ledger: Ledger, payer: Pubkey, spec: MultisigSpec
) -> list[Instruction]:
    """Instructions creating the multisig, none if it exists as specified."""
    address = spec.account.pubkey()
    existing = await ledger.get_account(address)
    if existing is None:
        return spl.create_multisig(
            payer=payer,
            multisig=address,
            signers=spec.signers,
            m=spec.m,
            rent_lamports=await ledger.minimum_balance_for_rent_exemption(spl.MULTISIG_SIZE),
        )
    data = bytes(existing.data)
    # Layout: m (u8), n (u8), initialized (bool), then 11 signer slots of 32 bytes.
    ok = (
        existing.owner == spl.TOKEN_PROGRAM_ID
        and len(data) == spl.MULTISIG_SIZE
        and (data[0], data[1], data[2]) == (spec.m, len(spec.signers), 1)
        and [Pubkey.from_bytes(data[3 + 32 * i : 35 + 32 * i]) for i in range(data[1])]
        == list(spec.signers)
    )
    if not ok:
        raise LedgerUsageError(f"multisig {address} exists with other settings")
    return []


async def mint_payment(
    ledger: Ledger,
    deployment: Deployment,
    *,
    payer: Keypair,
    rec_authority: Keypair,
    grants: Sequence[tuple[Pubkey, int]],
) -> list[Signature]:
    """Issue campus credit (payment tokens) to registered owners."""
    groups = [
        [
            spl.mint_to_checked(
                mint=deployment.payment_mint,
                destination=user_accounts(deployment, owner).payment,
                authority=rec_authority.pubkey(),
                amount=amount,
                decimals=PAYMENT_DECIMALS,
            )
        ]
        for owner, amount in grants
    ]
    blockhash = await ledger.latest_blockhash()
    prefix = ledger.fee_policy.instructions()
    batches = pack_instruction_groups(groups, payer.pubkey(), prefix=prefix)
    planned = [
        PlannedTx(b.group_indices, sign(b.instructions, payer, [rec_authority], blockhash))
        for b in batches
    ]
    return await send_planned(ledger, planned)
