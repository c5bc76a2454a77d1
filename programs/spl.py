"""Pure builders for the SPL Token, Associated Token Account and Memo instructions the
roles use. Nothing here talks to a ledger.

The token instructions come from solana-py's `spl.token.instructions` (parameter
classes from `spl.token.models`), except TransferChecked, which settlement builds
thousands of times per epoch: it is encoded here directly (solana-py's pydantic and
construct layers cost ~20 us per instruction), byte for byte the same, which a test
checks. ATA derivations are memoized for the same reason. The memo is built here so
its signers are read-only (solana-py's `create_memo` write-locks the signer for no
reason).
Amounts are integers in base units; the `*_checked` variants make the token
program verify the mint and its decimals too.

`batch` wraps several token instructions into one: the Batch instruction of p-token,
the token program's newer implementation (SIMD-0266), which LiteSVM runs. The
runtime then zeroes an SBF stack and serializes accounts once for the whole batch
instead of once per instruction, which is most of what a transfer costs there: a
settlement transaction runs about twice as fast. A cluster still on the original
token program rejects it (invalid instruction data), so it is used only where the
ledger says it may (`Ledger.token_batch`).
"""

import struct
from collections.abc import Sequence
from functools import lru_cache

import spl.token.instructions as _token
from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account
from solders.token.associated import get_associated_token_address
from spl.memo.constants import MEMO_PROGRAM_ID
from spl.token.constants import ASSOCIATED_TOKEN_PROGRAM_ID, TOKEN_PROGRAM_ID
from spl.token.models import (
    ApproveCheckedParams,
    FreezeAccountParams,
    InitializeMint2Params,
    InitializeMultisig2Params,
    MintToCheckedParams,
    RevokeParams,
    ThawAccountParams,
)

__all__ = [
    "ASSOCIATED_TOKEN_PROGRAM_ID",
    "MAX_BATCH_ACCOUNTS",
    "MAX_MULTISIG_SIGNERS",
    "MEMO_PROGRAM_ID",
    "MINT_SIZE",
    "MULTISIG_SIZE",
    "TOKEN_ACCOUNT_SIZE",
    "TOKEN_PROGRAM_ID",
    "approve_checked",
    "associated_token_address",
    "batch",
    "burn_checked",
    "create_associated_token_account",
    "create_mint",
    "create_multisig",
    "freeze_account",
    "memo",
    "mint_to_checked",
    "revoke",
    "thaw_account",
    "transfer_checked",
]

MINT_SIZE = 82
TOKEN_ACCOUNT_SIZE = 165
MULTISIG_SIZE = 355
MAX_MULTISIG_SIGNERS = 11

MAX_BATCH_ACCOUNTS = 255
"""Account metas one instruction may carry (the runtime's MaxAccountsExceeded above)."""
_BATCH = 255  # p-token's discriminator for Batch
_TRANSFER_CHECKED = 12  # the token program's instruction index for TransferChecked
_TRANSFER_CHECKED_DATA = struct.Struct("<BQB")  # index, u64 amount, u8 decimals
_BURN_CHECKED = 15  # the token program's instruction index for BurnChecked (same layout)


# A pure function of its inputs; bounded so a long-lived coordinator cannot grow it
# without limit (each derivation is a find_program_address, ~7 us).
@lru_cache(maxsize=1 << 16)
def associated_token_address(owner: Pubkey, mint: Pubkey) -> Pubkey:
    """The address of `owner`'s associated token account for `mint` (SPL Token program)."""
    return get_associated_token_address(owner, mint)


def create_mint(
    *,
    payer: Pubkey,
    mint: Pubkey,
    decimals: int,
    mint_authority: Pubkey,
    freeze_authority: Pubkey | None,
    rent_lamports: int,
) -> list[Instruction]:
    """Allocate the mint account (the `mint` key must sign) and InitializeMint2 it."""
    return [
        create_account(
            CreateAccountParams(
                from_pubkey=payer,
                to_pubkey=mint,
                lamports=rent_lamports,
                space=MINT_SIZE,
                owner=TOKEN_PROGRAM_ID,
            )
        ),
        _token.initialize_mint2(
            InitializeMint2Params(
                decimals=decimals,
                program_id=TOKEN_PROGRAM_ID,
                mint=mint,
                mint_authority=mint_authority,
                freeze_authority=freeze_authority,
            )
        ),
    ]


def create_multisig(
    *, payer: Pubkey, multisig: Pubkey, signers: Sequence[Pubkey], m: int, rent_lamports: int
) -> list[Instruction]:
    """Allocate an SPL multisig account (M of N) usable as a mint or freeze authority."""
    if not 1 <= m <= len(signers) <= MAX_MULTISIG_SIGNERS:
        raise ValueError(f"need 1 <= m <= n <= {MAX_MULTISIG_SIGNERS}, got m={m} n={len(signers)}")
    return [
        create_account(
            CreateAccountParams(
                from_pubkey=payer,
                to_pubkey=multisig,
                lamports=rent_lamports,
                space=MULTISIG_SIZE,
                owner=TOKEN_PROGRAM_ID,
            )
        ),
        _token.initialize_multisig2(
            InitializeMultisig2Params(
                program_id=TOKEN_PROGRAM_ID, multisig=multisig, m=m, signers=list(signers)
            )
        ),
    ]


def create_associated_token_account(*, payer: Pubkey, owner: Pubkey, mint: Pubkey) -> Instruction:
    """CreateIdempotent: succeeds, and changes nothing, when the account already exists."""
    result: Instruction = _token.create_idempotent_associated_token_account(payer, owner, mint)
    return result


def mint_to_checked(
    *,
    mint: Pubkey,
    destination: Pubkey,
    authority: Pubkey,
    amount: int,
    decimals: int,
    multisig_signers: Sequence[Pubkey] = (),
) -> Instruction:
    """Mint `amount` base units to the token account `destination`."""
    result: Instruction = _token.mint_to_checked(
        MintToCheckedParams(
            program_id=TOKEN_PROGRAM_ID,
            mint=mint,
            dest=destination,
            mint_authority=authority,
            amount=amount,
            decimals=decimals,
            signers=list(multisig_signers),
        )
    )
    return result


def transfer_checked(
    *,
    source: Pubkey,
    mint: Pubkey,
    destination: Pubkey,
    authority: Pubkey,
    amount: int,
    decimals: int,
) -> Instruction:
    """Move `amount` between token accounts; `authority` is the owner or its delegate."""
    try:
        data = _TRANSFER_CHECKED_DATA.pack(_TRANSFER_CHECKED, amount, decimals)
    except struct.error as exc:
        raise ValueError(f"amount {amount} or decimals {decimals} out of range") from exc
    accounts = [
        AccountMeta(source, is_signer=False, is_writable=True),
        AccountMeta(mint, is_signer=False, is_writable=False),
        AccountMeta(destination, is_signer=False, is_writable=True),
        AccountMeta(authority, is_signer=True, is_writable=False),
    ]
    return Instruction(TOKEN_PROGRAM_ID, data, accounts)


def burn_checked(
    *, account: Pubkey, mint: Pubkey, authority: Pubkey, amount: int, decimals: int
) -> Instruction:
    """Destroy `amount` base units held in `account`; `authority` is the owner or its
    delegate (a delegate's burn draws down its delegated amount, as a transfer does)."""
    try:
        data = _TRANSFER_CHECKED_DATA.pack(_BURN_CHECKED, amount, decimals)
    except struct.error as exc:
        raise ValueError(f"amount {amount} or decimals {decimals} out of range") from exc
    accounts = [
        AccountMeta(account, is_signer=False, is_writable=True),
        AccountMeta(mint, is_signer=False, is_writable=True),
        AccountMeta(authority, is_signer=True, is_writable=False),
    ]
    return Instruction(TOKEN_PROGRAM_ID, data, accounts)


def batch(instructions: Sequence[Instruction]) -> Instruction:
    """One token-program instruction running `instructions` in order, all or nothing.

    Data: the Batch discriminator, then per instruction its account count and data
    length (one byte each) and its data; the accounts are theirs, concatenated."""
    if not instructions:
        raise ValueError("an empty batch")
    data = bytearray((_BATCH,))
    accounts: list[AccountMeta] = []
    for ix in instructions:
        metas = ix.accounts
        inner = ix.data
        if ix.program_id != TOKEN_PROGRAM_ID:
            raise ValueError("a batch holds token-program instructions only")
        if inner[:1] == bytes((_BATCH,)):
            raise ValueError("a batch cannot hold a batch")
        if len(metas) > 255 or len(inner) > 255:
            raise ValueError("a batched instruction has at most 255 accounts and data bytes")
        data += bytes((len(metas), len(inner)))
        data += inner
        accounts += metas
    if len(accounts) > MAX_BATCH_ACCOUNTS:
        raise ValueError(f"{len(accounts)} accounts in one batch (at most {MAX_BATCH_ACCOUNTS})")
    return Instruction(TOKEN_PROGRAM_ID, bytes(data), accounts)


def approve_checked(
    *, source: Pubkey, mint: Pubkey, delegate: Pubkey, owner: Pubkey, amount: int, decimals: int
) -> Instruction:
    """Let `delegate` move up to `amount` from `source` (replaces any earlier approval)."""
    result: Instruction = _token.approve_checked(
        ApproveCheckedParams(
            program_id=TOKEN_PROGRAM_ID,
            source=source,
            mint=mint,
            delegate=delegate,
            owner=owner,
            amount=amount,
            decimals=decimals,
        )
    )
    return result


def revoke(*, source: Pubkey, owner: Pubkey) -> Instruction:
    """Withdraw whatever delegation `source` has."""
    result: Instruction = _token.revoke(
        RevokeParams(program_id=TOKEN_PROGRAM_ID, account=source, owner=owner)
    )
    return result


def freeze_account(*, account: Pubkey, mint: Pubkey, authority: Pubkey) -> Instruction:
    """Freeze a token account (the mint's freeze authority signs): it can no longer move."""
    result: Instruction = _token.freeze_account(
        FreezeAccountParams(
            program_id=TOKEN_PROGRAM_ID, account=account, mint=mint, authority=authority
        )
    )
    return result


def thaw_account(*, account: Pubkey, mint: Pubkey, authority: Pubkey) -> Instruction:
    """Undo `freeze_account`."""
    result: Instruction = _token.thaw_account(
        ThawAccountParams(
            program_id=TOKEN_PROGRAM_ID, account=account, mint=mint, authority=authority
        )
    )
    return result


def memo(message: bytes, signers: Sequence[Pubkey] = ()) -> Instruction:
    """An SPL Memo (v2): the program checks that every listed signer signed the transaction.

    The memo must be valid UTF-8, which the program enforces.
    """
    accounts = [AccountMeta(pubkey=s, is_signer=True, is_writable=False) for s in signers]
    return Instruction(MEMO_PROGRAM_ID, message, accounts)
