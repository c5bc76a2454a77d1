"""What the on-chain tests share: a database of their own, closed epochs with given
exports, producers with token accounts, and ledgers that misbehave on purpose."""

import datetime as dt
from collections.abc import Mapping
from dataclasses import replace

from solders.account import Account
from solders.hash import Hash
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.token.state import Mint, TokenAccount, TokenAccountState
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from coordinator.db.models import EpochRecord, MeterEpochEnergyRow
from coordinator.devices.registry import register_device, register_meter
from coordinator.onchain.ledger import Chain
from coordinator.readings.epoch_close import EpochCloser
from coordinator.readings.ingest.commit import commit_batch
from coordinator.readings.ingest.decide import verify_all
from coordinator.readings.ingest.screen import Incoming, Parsed
from coordinator.readings.ingest.store import SqlReadingStore
from coordinator.readings.oracle import OracleConfig, epoch_start
from edge.signing import DeviceKey
from programs.ledger.base import AnyTransaction, FeePolicy, Ledger, TxStatus
from programs.roles.deployment import user_accounts
from programs.roles.governance import freeze_user, thaw_user
from programs.roles.registry import register_user
from wire.reading import Reading, encode_payload

__all__ = [
    "LATENESS",
    "LENGTH",
    "Campus",
    "CrashAfterSend",
    "CrashError",
    "StaleFreezeState",
    "closed_epoch",
    "energy_of",
    "freeze",
    "producers",
    "thaw",
]


LENGTH = 900
LATENESS = 7 * 24 * 3600


class Campus:
    """Producers' meters behind one gateway: signed readings committed as ingest does,
    epochs closed as the closer does, so that the stored readings alone give each
    epoch's verified export (what the reconciliation recomputes)."""

    def __init__(self, engine: Engine, owners: list[str]) -> None:
        self.engine = engine
        self.key = DeviceKey.generate()
        register_device(engine, self.key.gateway_id)
        self.meters = {owner: f"pv-{n}" for n, owner in enumerate(owners)}
        for owner, meter in self.meters.items():
            register_meter(
                engine, self.key.gateway_id, meter, model="sdm630", rated_power_w=50_000,
                owner=owner,
            )  # fmt: skip
        self.exported = dict.fromkeys(owners, 0)
        self.read_at: int | None = None
        self.seq = 0
        self.store = SqlReadingStore(engine)
        self.closer = EpochCloser(engine, length_s=LENGTH, grace_s=0, lateness_s=LATENESS)

    def _read(self, ts: int) -> None:
        parsed = []
        for owner, meter in self.meters.items():
            self.seq += 1
            reading = Reading(self.key.gateway_id, meter, self.seq, ts, 0, self.exported[owner])
            signed = self.key.sign(reading)
            at = dt.datetime.fromtimestamp(ts, dt.UTC)
            parsed.append(Parsed(Incoming("gtx/v1/x", encode_payload(signed), at), signed))
        devices = self.store.devices([self.key.gateway_id])
        decision = commit_batch(
            self.store, parsed, [], verified=verify_all(parsed, devices), now=ts,
            config=OracleConfig(), length_s=LENGTH,
        )  # fmt: skip
        assert len(decision.accepted) == len(parsed), decision
        self.read_at = ts

    def export(self, epoch: int, wh: Mapping[str, int]) -> None:
        """Over `epoch`, each owner's meter exports `wh` (read at its start and end),
        and the epoch closes."""
        start, end = epoch_start(epoch, LENGTH), epoch_start(epoch + 1, LENGTH)
        if self.read_at != start:
            self._read(start)
        for owner, units in wh.items():
            self.exported[owner] += units
        self._read(end)
        closed = self.closer.close_due(end)
        assert [c.summary.epoch for c in closed][-1:] == [epoch], closed


def closed_epoch(engine: Engine, epoch: int, exports: Mapping[str | None, int]) -> None:
    """A closed epoch in which each owner's meter (None: a meter with no owner)
    exported the given Wh."""
    gw = DeviceKey.generate().gateway_id
    register_device(engine, gw)
    for n, owner in enumerate(exports):
        register_meter(engine, gw, f"m{n}", model="sdm630", rated_power_w=50_000, owner=owner)
    with engine.begin() as conn:
        conn.execute(
            insert(MeterEpochEnergyRow),
            [
                {"epoch": epoch, "gateway_id": gw, "meter_id": f"m{n}", "import_wh": 0,
                 "export_wh": wh}
                for n, wh in enumerate(exports.values())
            ],
        )  # fmt: skip
        conn.execute(
            insert(EpochRecord).values(
                epoch=epoch, length_s=900, closed_at=dt.datetime.now(dt.UTC),
                reading_count=len(exports), total_import_wh=0,
                total_export_wh=sum(exports.values()),
                mint_base_units=sum(exports.values()) * 1_000_000,
                merkle_root=epoch.to_bytes(32, "big"), summary_json="{}",
            )
        )  # fmt: skip


async def producers(chain: Chain, n: int) -> list[str]:
    """`n` wallets with their token accounts, as the chain worker would make them."""
    wallets = [Keypair().pubkey() for _ in range(n)]
    for wallet in wallets:
        await register_user(chain.ledger, chain.deployment, payer=chain.keys.payer, owner=wallet)
    return [str(w) for w in wallets]


async def freeze(chain: Chain, owner: str) -> None:
    keys = chain.keys
    await freeze_user(
        chain.ledger, chain.deployment, payer=keys.payer, rec_authority=keys.rec_authority,
        owner=Pubkey.from_string(owner),
    )  # fmt: skip


async def thaw(chain: Chain, owner: str) -> None:
    keys = chain.keys
    await thaw_user(
        chain.ledger, chain.deployment, payer=keys.payer, rec_authority=keys.rec_authority,
        owner=Pubkey.from_string(owner),
    )  # fmt: skip


async def energy_of(chain: Chain, owner: str) -> int:
    accounts = user_accounts(chain.deployment, Pubkey.from_string(owner))
    return await chain.ledger.token_balance(accounts.energy)


class _Delegating:
    """A ledger that does what `inner` does; subclasses change one thing."""

    def __init__(self, inner: Ledger) -> None:
        self.inner = inner

    @property
    def fee_policy(self) -> FeePolicy:
        return self.inner.fee_policy

    @property
    def token_batch(self) -> bool:
        return self.inner.token_batch

    async def latest_blockhash(self) -> Hash:
        return await self.inner.latest_blockhash()

    async def is_blockhash_valid(self, blockhash: Hash) -> bool:
        return await self.inner.is_blockhash_valid(blockhash)

    async def recent_slot(self) -> int:
        return await self.inner.recent_slot()

    async def send_transaction(self, tx: AnyTransaction) -> Signature:
        return await self.inner.send_transaction(tx)

    async def signature_status(self, signature: Signature) -> TxStatus | None:
        return await self.inner.signature_status(signature)

    async def get_account(self, address: Pubkey) -> Account | None:
        return await self.inner.get_account(address)

    async def get_token_account(self, address: Pubkey) -> TokenAccount | None:
        return await self.inner.get_token_account(address)

    async def get_mint(self, address: Pubkey) -> Mint | None:
        return await self.inner.get_mint(address)

    async def token_balance(self, address: Pubkey) -> int:
        return await self.inner.token_balance(address)

    async def minimum_balance_for_rent_exemption(self, size: int) -> int:
        return await self.inner.minimum_balance_for_rent_exemption(size)

    async def airdrop(self, address: Pubkey, lamports: int) -> None:
        await self.inner.airdrop(address, lamports)

    def on(self, chain: Chain) -> Chain:
        """`chain` on this ledger."""
        return replace(chain, ledger=self)


class StaleFreezeState(_Delegating):
    """Reports every token account as not frozen: a read made just before a freeze."""

    async def get_token_account(self, address: Pubkey) -> TokenAccount | None:
        account = await self.inner.get_token_account(address)
        if account is None or account.state != TokenAccountState.Frozen:
            return account
        return TokenAccount(
            account.mint, account.owner, account.amount, account.delegate,
            TokenAccountState.Initialized, account.is_native, account.delegated_amount,
            account.close_authority,
        )  # fmt: skip


class CrashError(Exception):
    """The coordinator died here."""


class CrashAfterSend(_Delegating):
    """Sends (the ledger processes the transaction), then dies before the answer."""

    async def send_transaction(self, tx: AnyTransaction) -> Signature:
        await self.inner.send_transaction(tx)
        raise CrashError("after sending")
