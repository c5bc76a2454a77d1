"""The on-chain roles as operations the coordinator calls, over any `Ledger`.

| role | here |
|---|---|
| energy token, payment | `bootstrap` (two SPL mints), `mint_payment` |
| registry | `register_user` (ATAs), `record_registration_memo` |
| oracle | `mint_energy` (MintTo per epoch), `post_attestation` (Merkle root memo) |
| trading | `approve_escrow` (users delegate to the settlement authority), `settle` |
| governance | `freeze_user` / `thaw_user`, `record_governance_memo` |

Operations that may be retried after a crash come in two halves: a pure
`build_*` that returns signed transactions (so the caller can store their
signatures before sending) and an async operation that builds and sends.
Every transaction opens with the ledger's `FeePolicy` instructions (priority
fee), which the pure builders take as `fee`.

With a `MultisigSpec` at bootstrap, the energy mint's authority is an SPL
multisig (M of N, e.g. oracle + REC authority 2-of-2): minting then needs
`cosigners` besides the oracle, at least M signers in all.
"""

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from solders.address_lookup_table_account import AddressLookupTableAccount
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message, MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import Transaction, VersionedTransaction

from programs import spl
from programs.errors import LedgerUsageError, TransactionFailed
from programs.ledger.base import NO_PRIORITY_FEE, AnyTransaction, FeePolicy, Ledger
from programs.txsize import (
    GroupSize,
    check_transaction_size,
    first_table_of,
    pack_instruction_groups,
    pack_sized_groups,
    pack_v0_groups,
)

__all__ = [
    "ENERGY_DECIMALS",
    "MEMO_PREFIX",
    "PAYMENT_DECIMALS",
    "Deployment",
    "MultisigSpec",
    "PlannedTx",
    "SettlementSigner",
    "Trade",
    "TradeOutcome",
    "UserAccounts",
    "approve_escrow",
    "approve_escrow_instructions",
    "bootstrap",
    "build_attestation",
    "build_mint_energy",
    "build_settlement",
    "freeze_user",
    "mint_energy",
    "mint_payment",
    "pack_settlement",
    "post_attestation",
    "record_governance_memo",
    "record_registration_memo",
    "register_user",
    "send_planned",
    "settle",
    "sign",
    "thaw_user",
    "user_accounts",
]

ENERGY_DECIMALS = 9  # 1 kWh = 10**9 base units
PAYMENT_DECIMALS = 6
MEMO_PREFIX = "gtx/v1"


@dataclass(frozen=True, slots=True)
class Deployment:
    """Addresses of one GridTokenX deployment on a ledger."""

    energy_mint: Pubkey
    payment_mint: Pubkey
    oracle: Pubkey
    rec_authority: Pubkey
    settlement_authority: Pubkey
    mint_multisig: Pubkey | None = None  # the energy mint's authority, where configured

    @property
    def energy_mint_authority(self) -> Pubkey:
        return self.oracle if self.mint_multisig is None else self.mint_multisig


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


@dataclass(frozen=True, slots=True)
class UserAccounts:
    """A user's associated token accounts for the energy and payment mints."""

    owner: Pubkey
    energy: Pubkey
    payment: Pubkey


@dataclass(frozen=True, slots=True)
class Trade:
    """One settled match: `energy` base units seller -> buyer, `payment` buyer -> seller."""

    seller: Pubkey
    buyer: Pubkey
    energy: int
    payment: int

    def __post_init__(self) -> None:
        if self.energy <= 0 or self.payment < 0:
            raise ValueError(f"trade amounts must be positive: {self}")
        if self.seller == self.buyer:
            raise ValueError("a trade needs two parties")


@dataclass(frozen=True, slots=True)
class PlannedTx:
    """A signed transaction and which input items (grants, trades) it carries."""

    item_indices: tuple[int, ...]
    tx: AnyTransaction

    @property
    def signature(self) -> Signature:
        return self.tx.signatures[0]


@dataclass(frozen=True, slots=True)
class TradeOutcome:
    """How one trade ended: settled in `signature`, or failed with `error`."""

    index: int
    signature: Signature | None
    error: str | None


@functools.lru_cache(maxsize=1 << 16)  # settlement asks four times a trade
def user_accounts(deployment: Deployment, owner: Pubkey) -> UserAccounts:
    """An owner's energy and payment token accounts (associated token addresses)."""
    return UserAccounts(
        owner,
        spl.associated_token_address(owner, deployment.energy_mint),
        spl.associated_token_address(owner, deployment.payment_mint),
    )


def sign(
    instructions: Sequence[Instruction], payer: Keypair, signers: Sequence[Keypair], blockhash: Hash
) -> Transaction:
    """A legacy transaction paid by `payer`, signed by it and `signers` (duplicates dropped),
    checked against the size limit."""
    payer_key = payer.pubkey()
    return _sign_with(instructions, payer_key, _keyring(payer_key, payer, signers), blockhash)


def _keyring(
    payer_key: Pubkey, payer: Keypair, signers: Sequence[Keypair]
) -> dict[Pubkey, Keypair]:
    """Keypairs by public key, payer first, duplicates dropped (Keypair.pubkey() costs
    ~16 us, so callers signing many transactions build this once)."""
    unique = {payer_key: payer}
    for keypair in signers:
        unique.setdefault(keypair.pubkey(), keypair)
    return unique


def _sign_with(
    instructions: Sequence[Instruction],
    payer_key: Pubkey,
    keyring: dict[Pubkey, Keypair],
    blockhash: Hash,
) -> Transaction:
    """`sign` with the keys already derived. Signs the message bytes directly (half the
    cost of `Transaction(keypairs, ...)`, same bytes) when the keyring holds exactly the
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


async def _send(
    ledger: Ledger, instructions: Sequence[Instruction], payer: Keypair, signers: Sequence[Keypair]
) -> Signature:
    instructions = [*ledger.fee_policy.instructions(), *instructions]
    tx = sign(instructions, payer, signers, await ledger.latest_blockhash())
    return await ledger.send_transaction(tx)


async def send_planned(ledger: Ledger, planned: Sequence[PlannedTx]) -> list[Signature]:
    """Send planned transactions in order; stops at the first failure (raised)."""
    return [await ledger.send_transaction(p.tx) for p in planned]


def _memo(kind: str, fields: Sequence[tuple[str, object]]) -> bytes:
    body = " ".join(f"{key}={value}" for key, value in fields)
    return f"{MEMO_PREFIX} {kind} {body}".encode()


# --- energy token, payment ----------------------------------------------------------


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
        await _send(ledger, instructions, payer, signers)
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


# --- registry -------------------------------------------------------------------------


async def register_user(
    ledger: Ledger, deployment: Deployment, *, payer: Keypair, owner: Pubkey
) -> UserAccounts:
    """Create `owner`'s ATAs for both mints (paid by `payer`); idempotent."""
    accounts = user_accounts(deployment, owner)
    missing = [
        mint
        for mint, address in (
            (deployment.energy_mint, accounts.energy),
            (deployment.payment_mint, accounts.payment),
        )
        if await ledger.get_account(address) is None
    ]
    if missing:
        instructions = [
            spl.create_associated_token_account(payer=payer.pubkey(), owner=owner, mint=mint)
            for mint in missing
        ]
        await _send(ledger, instructions, payer, [])
    return accounts


async def record_registration_memo(
    ledger: Ledger,
    *,
    payer: Keypair,
    rec_authority: Keypair,
    gateway_id: str,
    meter_id: str,
    owner: Pubkey,
) -> Signature:
    """Record a gateway / meter registration as a Memo signed by the REC authority."""
    message = _memo("register", [("gateway", gateway_id), ("meter", meter_id), ("owner", owner)])
    return await _send(
        ledger, [spl.memo(message, [rec_authority.pubkey()])], payer, [rec_authority]
    )


# --- oracle ---------------------------------------------------------------------------


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
) -> list[PlannedTx]:
    """Signed MintToChecked transactions for `grants` (owner, base units), packed
    under the size limit, each opened by a memo naming the epoch.

    Under a mint multisig the oracle and `cosigners` sign for it."""
    signers = [oracle, *cosigners]
    multisig_signers = [k.pubkey() for k in signers] if deployment.mint_multisig else []
    prefix = [
        *fee.instructions(),
        spl.memo(_memo("mint", [("epoch", epoch)]), [oracle.pubkey()]),
    ]
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
) -> Transaction:
    """The signed memo `gtx/v1 attest epoch=E root=HEX` of the epoch's Merkle root."""
    if len(merkle_root) != 32:
        raise ValueError("a Merkle root is 32 bytes")
    message = _memo("attest", [("epoch", epoch), ("root", merkle_root.hex())])
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


# --- trading --------------------------------------------------------------------------


def approve_escrow_instructions(
    deployment: Deployment, owner: Pubkey, *, energy: int, payment: int
) -> list[Instruction]:
    """The owner's Approve of the settlement authority over both of its token accounts."""
    accounts = user_accounts(deployment, owner)
    return [
        spl.approve_checked(
            source=accounts.energy,
            mint=deployment.energy_mint,
            delegate=deployment.settlement_authority,
            owner=owner,
            amount=energy,
            decimals=ENERGY_DECIMALS,
        ),
        spl.approve_checked(
            source=accounts.payment,
            mint=deployment.payment_mint,
            delegate=deployment.settlement_authority,
            owner=owner,
            amount=payment,
            decimals=PAYMENT_DECIMALS,
        ),
    ]


async def approve_escrow(
    ledger: Ledger,
    deployment: Deployment,
    *,
    payer: Keypair,
    owner: Keypair,
    energy: int,
    payment: int,
) -> Signature:
    """Escrow for orders: allow the settlement authority to move up to `energy` and
    `payment` base units (each replaces the previous allowance)."""
    instructions = approve_escrow_instructions(
        deployment, owner.pubkey(), energy=energy, payment=payment
    )
    return await _send(ledger, instructions, payer, [owner])


class _Parties:
    """The token accounts of one deployment's trading parties, derived once per owner,
    and what a trade's two transfers name. A settlement asks for each party's accounts
    several times a trade: `user_accounts` would hash the whole Deployment each time."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self._accounts: dict[Pubkey, UserAccounts] = {}
        # in every trade's transfers: added to each trade's own keys without rehashing
        self.common = frozenset(
            (
                deployment.energy_mint,
                deployment.payment_mint,
                deployment.settlement_authority,
                spl.TOKEN_PROGRAM_ID,
            )
        )

    def accounts(self, owner: Pubkey) -> UserAccounts:
        found = self._accounts.get(owner)
        if found is None:
            found = self._accounts[owner] = user_accounts(self.deployment, owner)
        return found

    def instructions(self, trade: Trade) -> list[Instruction]:
        """Energy seller -> buyer, then payment buyer -> seller, under the delegation."""
        seller = self.accounts(trade.seller)
        buyer = self.accounts(trade.buyer)
        deployment = self.deployment
        authority = deployment.settlement_authority
        return [
            spl.transfer_checked(
                source=seller.energy,
                mint=deployment.energy_mint,
                destination=buyer.energy,
                authority=authority,
                amount=trade.energy,
                decimals=ENERGY_DECIMALS,
            ),
            spl.transfer_checked(
                source=buyer.payment,
                mint=deployment.payment_mint,
                destination=seller.payment,
                authority=authority,
                amount=trade.payment,
                decimals=PAYMENT_DECIMALS,
            ),
        ]

    def own_keys(self, trade: Trade) -> tuple[Pubkey, Pubkey, Pubkey, Pubkey]:
        """The keys of `instructions` that are the parties' (all but `common`)."""
        seller = self.accounts(trade.seller)
        buyer = self.accounts(trade.buyer)
        return seller.energy, buyer.energy, buyer.payment, seller.payment

    def keys(self, trade: Trade) -> frozenset[Pubkey]:
        """Every key `instructions` names (the tests hold the two together)."""
        return self.common.union(self.own_keys(trade))


def _settlement_prefix(epoch: int, authority: Pubkey, fee: FeePolicy) -> list[Instruction]:
    return [*fee.instructions(), spl.memo(_memo("settle", [("epoch", epoch)]), [authority])]


def pack_settlement(
    deployment: Deployment,
    *,
    payer: Pubkey,
    epoch: int,
    trades: Sequence[Trade],
    fee: FeePolicy = NO_PRIORITY_FEE,
    tables: Sequence[AddressLookupTableAccount] = (),
    batch: bool = False,
) -> list[tuple[int, ...]]:
    """Which trades go together, in order, in as few transactions as fit in 1232 bytes
    (sizes only: nothing is built or signed): legacy transactions, or v0 ones naming
    the accounts found in `tables` by index (and at most 64 accounts each); with
    `batch`, each transaction's transfers in one token-program batch (`spl.batch`)."""
    if not trades:
        return []
    prefix = _settlement_prefix(epoch, deployment.settlement_authority, fee)
    parties = _Parties(deployment)
    # Every trade's two transfers have the same layout; only the accounts differ.
    first = parties.instructions(trades[0])
    layout = GroupSize.batched(first) if batch else GroupSize.of(first)
    groups = [
        GroupSize(
            parties.keys(t),
            layout.signers,
            layout.instructions,
            layout.instruction_bytes,
            layout.programs,
            layout.batch_accounts,
            layout.batch_data,
        )
        for t in trades
    ]
    if tables:
        packed = pack_v0_groups(groups, payer, tables, prefix=prefix)
    else:
        packed = pack_sized_groups(groups, payer, prefix=prefix)
    return [indices for indices, _ in packed]


class SettlementSigner:
    """The fee payer and the settlement authority, their public keys derived once
    (`Keypair.pubkey()` costs ~20 us, as much as a transfer in the SVM)."""

    def __init__(self, deployment: Deployment, payer: Keypair, settlement_authority: Keypair):
        authority_key = settlement_authority.pubkey()
        if authority_key != deployment.settlement_authority:
            raise LedgerUsageError("not this deployment's settlement authority")
        self.deployment = deployment
        self._parties = _Parties(deployment)
        self.payer_key = payer.pubkey()
        self._first: tuple[Sequence[AddressLookupTableAccount], dict[Pubkey, int]] | None = None
        self._keyring = {self.payer_key: payer}
        self._keyring.setdefault(authority_key, settlement_authority)

    def sign(
        self,
        epoch: int,
        trades: Sequence[Trade],
        blockhash: Hash,
        fee: FeePolicy,
        tables: Sequence[AddressLookupTableAccount] = (),
        batch: bool = False,
    ) -> AnyTransaction:
        """One transaction of `trades` (both legs of each), already packed to fit: v0
        over `tables` when given, else legacy; the transfers in one batch instruction
        with `batch`."""
        parties = self._parties
        transfers: list[Instruction] = []
        for trade in trades:
            transfers += parties.instructions(trade)
        instructions = _settlement_prefix(epoch, self.deployment.settlement_authority, fee)
        instructions += [spl.batch(transfers)] if batch else transfers
        if not tables:
            return _sign_with(instructions, self.payer_key, self._keyring, blockhash)
        # Only the tables these trades use, in order (the compiler scans every table
        # it is given; a deployment may have many).
        if self._first is None or self._first[0] is not tables:
            self._first = (tables, first_table_of(tables))
        first = self._first[1]
        named = {k for t in trades for k in parties.own_keys(t)}
        named.update(parties.common)
        used = sorted({first[k] for k in named if k in first})
        message = MessageV0.try_compile(
            self.payer_key, instructions, [tables[i] for i in used], blockhash
        )
        data = to_bytes_versioned(message)
        required = message.account_keys[: message.header.num_required_signatures]
        tx = VersionedTransaction.populate(
            message, [self._keyring[key].sign_message(data) for key in required]
        )
        check_transaction_size(tx)
        return tx


def build_settlement(
    deployment: Deployment,
    *,
    payer: Keypair,
    settlement_authority: Keypair,
    epoch: int,
    trades: Sequence[Trade],
    blockhash: Hash,
    fee: FeePolicy = NO_PRIORITY_FEE,
    tables: Sequence[AddressLookupTableAccount] = (),
    batch: bool = False,
) -> list[PlannedTx]:
    """Signed transactions moving both legs of each trade under the escrow delegation,
    both legs always in the same transaction, as many trades per transaction as fit
    (v0 over `tables` when given; in one batch instruction with `batch`)."""
    signer = SettlementSigner(deployment, payer, settlement_authority)
    packed = pack_settlement(
        deployment,
        payer=signer.payer_key,
        epoch=epoch,
        trades=trades,
        fee=fee,
        tables=tables,
        batch=batch,
    )
    return [
        PlannedTx(
            indices,
            signer.sign(epoch, [trades[i] for i in indices], blockhash, fee, tables, batch),
        )
        for indices in packed
    ]


async def settle(
    ledger: Ledger,
    deployment: Deployment,
    *,
    payer: Keypair,
    settlement_authority: Keypair,
    epoch: int,
    trades: Sequence[Trade],
    tables: Sequence[AddressLookupTableAccount] = (),
    batch: bool | None = None,
) -> list[TradeOutcome]:
    """Settle `trades`; one outcome per trade, in input order.

    A failing trade fails its whole transaction (atomic), so the trades of a
    failed transaction are retried one per transaction to settle all the
    others and pin the error on the trade that caused it (unbatched, so that the
    error names the leg). `batch` defaults to what the ledger takes.
    """
    outcomes: dict[int, TradeOutcome] = {}
    batch = ledger.token_batch if batch is None else batch
    planned = build_settlement(
        deployment,
        payer=payer,
        settlement_authority=settlement_authority,
        epoch=epoch,
        trades=trades,
        blockhash=await ledger.latest_blockhash(),
        fee=ledger.fee_policy,
        tables=tables,
        batch=batch,
    )
    retry: list[int] = []
    for p in planned:
        try:
            signature = await ledger.send_transaction(p.tx)
        except TransactionFailed as exc:
            if len(p.item_indices) == 1 and not batch:
                outcomes[p.item_indices[0]] = TradeOutcome(p.item_indices[0], None, exc.error)
            else:
                retry.extend(p.item_indices)
            continue
        for index in p.item_indices:
            outcomes[index] = TradeOutcome(index, signature, None)
    for index in retry:
        single = build_settlement(
            deployment,
            payer=payer,
            settlement_authority=settlement_authority,
            epoch=epoch,
            trades=[trades[index]],
            blockhash=await ledger.latest_blockhash(),
            fee=ledger.fee_policy,
            tables=tables,
        )[0]
        try:
            outcomes[index] = TradeOutcome(index, await ledger.send_transaction(single.tx), None)
        except TransactionFailed as exc:
            outcomes[index] = TradeOutcome(index, None, exc.error)
    return [outcomes[i] for i in range(len(trades))]


# --- governance -----------------------------------------------------------------------


async def _freeze_or_thaw(
    ledger: Ledger,
    deployment: Deployment,
    payer: Keypair,
    rec_authority: Keypair,
    owner: Pubkey,
    *,
    freeze: bool,
) -> Signature:
    accounts = user_accounts(deployment, owner)
    build = spl.freeze_account if freeze else spl.thaw_account
    instructions = [
        build(account=account, mint=mint, authority=rec_authority.pubkey())
        for account, mint in (
            (accounts.energy, deployment.energy_mint),
            (accounts.payment, deployment.payment_mint),
        )
    ]
    return await _send(ledger, instructions, payer, [rec_authority])


async def freeze_user(
    ledger: Ledger, deployment: Deployment, *, payer: Keypair, rec_authority: Keypair, owner: Pubkey
) -> Signature:
    """Emergency stop: freeze both of `owner`'s token accounts (REC authority signs)."""
    return await _freeze_or_thaw(ledger, deployment, payer, rec_authority, owner, freeze=True)


async def thaw_user(
    ledger: Ledger, deployment: Deployment, *, payer: Keypair, rec_authority: Keypair, owner: Pubkey
) -> Signature:
    """Undo `freeze_user`."""
    return await _freeze_or_thaw(ledger, deployment, payer, rec_authority, owner, freeze=False)


async def record_governance_memo(
    ledger: Ledger, *, payer: Keypair, rec_authority: Keypair, change: str
) -> Signature:
    """Record a parameter change as a memo signed by the REC authority."""
    message = _memo("governance", [("change", change)])
    return await _send(
        ledger, [spl.memo(message, [rec_authority.pubkey()])], payer, [rec_authority]
    )
