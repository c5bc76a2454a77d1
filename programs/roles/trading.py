"""Trading: an order's escrow is an SPL `Approve` of the settlement authority over the
owner's two token accounts; settlement moves both legs of each trade
(`TransferChecked` energy seller -> buyer, payment buyer -> seller) under that
delegation, always in the same transaction, as many trades per transaction as fit in
1232 bytes: legacy transactions, v0 ones over address lookup tables, and with p-token
each transaction's transfers in one Batch instruction. Each settlement transaction
opens with the memo `gtx/v1 settle epoch=E`; the market's clearing is attested by the
memo `gtx/v1 clearing epoch=E inputs=H result=H`, signed by the same authority.

`pack_settlement` decides which trades go together from sizes alone and
`SettlementSigner` signs one transaction of them (the market's exactly-once
settlement jobs use the two); `build_settlement` does both, `settle` builds and
sends, pinning each failure on its trade.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from solders.address_lookup_table_account import AddressLookupTableAccount
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from programs import spl
from programs.errors import LedgerUsageError, TransactionFailed
from programs.ledger.base import NO_PRIORITY_FEE, AnyTransaction, FeePolicy, Ledger
from programs.roles.deployment import Deployment, UserAccounts, user_accounts
from programs.roles.memos import memo_text
from programs.roles.token import ENERGY_DECIMALS, PAYMENT_DECIMALS
from programs.roles.transactions import PlannedTx, send_instructions, sign_with
from programs.txsize import (
    GroupSize,
    check_transaction_size,
    first_table_of,
    pack_sized_groups,
    pack_v0_groups,
)

__all__ = [
    "SettlementSigner",
    "Trade",
    "TradeOutcome",
    "approve_escrow",
    "approve_escrow_instructions",
    "build_settlement",
    "clearing_memo",
    "pack_settlement",
    "settle",
    "settlement_memo",
]


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
class TradeOutcome:
    """How one trade ended: settled in `signature`, or failed with `error`."""

    index: int
    signature: Signature | None
    error: str | None


def settlement_memo(epoch: int) -> bytes:
    """`gtx/v1 settle epoch=E`, opening each of the epoch's settlement transactions."""
    return memo_text("settle", [("epoch", epoch)])


def clearing_memo(epoch: int, inputs_hash: str, result_hash: str, attempt: int = 0) -> bytes:
    """`gtx/v1 clearing epoch=E inputs=H result=H`: the hashes of an epoch's clearing
    inputs and result, which anyone can recompute (a retry of a refused one: `...
    attempt=N`)."""
    fields: list[tuple[str, object]] = [
        ("epoch", epoch), ("inputs", inputs_hash), ("result", result_hash)
    ]  # fmt: skip
    if attempt:
        fields.append(("attempt", attempt))
    return memo_text("clearing", fields)


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
    return await send_instructions(ledger, instructions, payer, [owner])


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
    return [*fee.instructions(), spl.memo(settlement_memo(epoch), [authority])]


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
            return sign_with(instructions, self.payer_key, self._keyring, blockhash)
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
