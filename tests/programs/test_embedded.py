"""The embedded LiteSVM ledger: idempotent sends, blockhash expiry, durability."""

from collections.abc import Sequence

import pytest
from solders.account import Account
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import Transaction, VersionedTransaction

from programs import spl
from programs.errors import (
    LedgerUnavailable,
    TransactionExpired,
    TransactionFailed,
    TransactionTooLarge,
)
from programs.ledger import EmbeddedLedger, JournalEntry, MemoryLedgerStore, TxStatus
from programs.ledger.embedded import writable_keys
from programs.ledger.rpc import RpcLedger
from programs.roles.deployment import user_accounts
from programs.roles.oracle import build_mint_energy, mint_energy
from programs.roles.transactions import sign
from tests.programs.conftest import World, add_users, make_world, run


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_writable_keys_follow_the_header() -> None:
    payer, other = Keypair(), Keypair()
    source, mint, dest = Pubkey.new_unique(), Pubkey.new_unique(), Pubkey.new_unique()
    ix = spl.transfer_checked(
        source=source, mint=mint, destination=dest, authority=other.pubkey(), amount=1, decimals=0
    )
    tx = sign([ix], payer, [other], Hash.new_unique())
    assert set(writable_keys(tx.message)) == {payer.pubkey(), source, dest}


def test_resending_a_processed_transaction_applies_it_once(world: World) -> None:
    async def scenario() -> None:
        (user,) = await add_users(world, 1)
        energy = user_accounts(world.deployment, user.pubkey()).energy
        (planned,) = build_mint_energy(
            world.deployment,
            payer=world.payer,
            oracle=world.oracle,
            epoch=7,
            grants=[(user.pubkey(), 5)],
            blockhash=await world.ledger.latest_blockhash(),
        )
        assert await world.ledger.signature_status(planned.signature) is None
        first = await world.ledger.send_transaction(planned.tx)
        again = await world.ledger.send_transaction(planned.tx)
        assert first == again == planned.signature
        assert await world.ledger.token_balance(energy) == 5
        status = await world.ledger.signature_status(planned.signature)
        assert status is not None
        assert status.ok
        assert status.slot > 0

    run(scenario())


def test_a_failed_transaction_is_journaled_with_its_logs(world: World) -> None:
    """Sent directly, the runtime's failure is journaled (the fee was taken); sent over
    JSON-RPC, the preflight refuses it first and nothing lands, as on a validator."""

    async def scenario() -> None:
        seller, buyer = await add_users(world, 2)
        accounts = user_accounts(world.deployment, seller.pubkey())
        ix = spl.transfer_checked(
            source=accounts.energy,
            mint=world.deployment.energy_mint,
            destination=user_accounts(world.deployment, buyer.pubkey()).energy,
            authority=seller.pubkey(),
            amount=1,
            decimals=9,
        )
        tx = sign([ix], world.payer, [seller], await world.ledger.latest_blockhash())
        with pytest.raises(TransactionFailed) as info:
            await world.ledger.send_transaction(tx)
        assert "insufficient funds" in " ".join(info.value.logs)
        assert "Custom(1)" in info.value.error
        status = await world.ledger.signature_status(tx.signatures[0])
        if isinstance(world.ledger, RpcLedger):
            assert status is None
        else:
            assert status is not None
            assert not status.ok
        with pytest.raises(TransactionFailed):  # the same bytes fail the same way
            await world.ledger.send_transaction(tx)

    run(scenario())


def test_unrecorded_failures_leave_no_journal_entry() -> None:
    async def scenario() -> None:
        ledger = await EmbeddedLedger.open(MemoryLedgerStore())
        broke = Keypair()  # a fee payer that does not exist
        tx = sign([spl.memo(b"hi")], broke, [], await ledger.latest_blockhash())
        with pytest.raises(TransactionFailed):
            await ledger.send_transaction(tx)
        assert await ledger.signature_status(tx.signatures[0]) is None

    run(scenario())


def test_oversized_transactions_are_refused_before_sending() -> None:
    async def scenario() -> None:
        ledger = await EmbeddedLedger.open(MemoryLedgerStore())
        payer = Keypair()
        await ledger.airdrop(payer.pubkey(), 10**9)
        big = Transaction(
            [payer],
            Message([spl.memo(b"x" * 1200)], payer.pubkey()),
            await ledger.latest_blockhash(),
        )
        with pytest.raises(TransactionTooLarge):
            await ledger.send_transaction(big)
        assert await ledger.signature_status(big.signatures[0]) is None

    run(scenario())


def test_blockhashes_expire_and_unknown_ones_are_refused() -> None:
    async def scenario() -> None:
        clock = _Clock()
        ledger = await EmbeddedLedger.open(
            MemoryLedgerStore(), blockhash_ttl=60, slot_seconds=0.4, clock=clock
        )
        payer = Keypair()
        await ledger.airdrop(payer.pubkey(), 10**9)
        first = await ledger.latest_blockhash()
        assert await ledger.latest_blockhash() == first  # same slot
        clock.now += 0.5
        second = await ledger.latest_blockhash()
        assert second != first
        assert await ledger.is_blockhash_valid(first)
        clock.now += 60
        assert not await ledger.is_blockhash_valid(first)
        assert await ledger.is_blockhash_valid(second)
        stale = sign([spl.memo(b"late", [payer.pubkey()])], payer, [], first)
        with pytest.raises(TransactionExpired):
            await ledger.send_transaction(stale)
        forged = sign([spl.memo(b"x")], payer, [], Hash.new_unique())
        with pytest.raises(TransactionExpired):
            await ledger.send_transaction(forged)

    run(scenario())


def test_state_survives_a_restart_and_nothing_applies_twice() -> None:
    async def scenario() -> None:
        world = await make_world()
        users = await add_users(world, 3, payment=1_000_000)
        grants = [(u.pubkey(), 10**9 * (i + 1)) for i, u in enumerate(users)]
        (planned,) = build_mint_energy(
            world.deployment,
            payer=world.payer,
            oracle=world.oracle,
            epoch=1,
            grants=grants,
            blockhash=await world.ledger.latest_blockhash(),
        )
        await world.ledger.send_transaction(planned.tx)
        watched = [world.payer.pubkey()]
        for u in users:
            accounts = user_accounts(world.deployment, u.pubkey())
            watched += [accounts.energy, accounts.payment]
        before = [await world.ledger.get_account(a) for a in watched]
        mint_before = await world.ledger.get_mint(world.deployment.energy_mint)

        restarted = await EmbeddedLedger.open(world.store)  # a new process, same store
        assert [await restarted.get_account(a) for a in watched] == before
        assert await restarted.get_mint(world.deployment.energy_mint) == mint_before
        # The pre-restart transaction is known by signature and is not applied again.
        assert await restarted.send_transaction(planned.tx) == planned.signature
        assert not await restarted.is_blockhash_valid(planned.tx.message.recent_blockhash)
        energy = user_accounts(world.deployment, users[0].pubkey()).energy
        assert await restarted.token_balance(energy) == 10**9
        # And the ledger goes on working.
        await mint_energy(
            restarted,
            world.deployment,
            payer=world.payer,
            oracle=world.oracle,
            epoch=2,
            grants=grants[:1],
        )
        assert await restarted.token_balance(energy) == 2 * 10**9
        status = await restarted.signature_status(planned.signature)
        assert status is not None
        assert status.ok

    run(scenario())


class _FailingStore(MemoryLedgerStore):
    def __init__(self) -> None:
        super().__init__()
        self.fail = False

    def commit(
        self, accounts: Sequence[tuple[Pubkey, Account | None]], entry: JournalEntry | None
    ) -> None:
        if self.fail:
            raise OSError("disk full")
        super().commit(accounts, entry)


def test_a_store_failure_rolls_the_svm_back_to_the_store() -> None:
    async def scenario() -> None:
        store = _FailingStore()
        world = await make_world(store)
        (user,) = await add_users(world, 1)
        energy = user_accounts(world.deployment, user.pubkey()).energy
        store.fail = True
        with pytest.raises(LedgerUnavailable):
            await mint_energy(
                world.ledger,
                world.deployment,
                payer=world.payer,
                oracle=world.oracle,
                epoch=1,
                grants=[(user.pubkey(), 5)],
            )
        assert await world.ledger.token_balance(energy) == 0
        store.fail = False
        signatures = await mint_energy(
            world.ledger,
            world.deployment,
            payer=world.payer,
            oracle=world.oracle,
            epoch=1,
            grants=[(user.pubkey(), 5)],
        )
        assert await world.ledger.token_balance(energy) == 5
        assert all(isinstance(s, Signature) for s in signatures)

    run(scenario())


class _FailingBatchStore(MemoryLedgerStore):
    def __init__(self) -> None:
        super().__init__()
        self.fail = False

    def commit_many(
        self, accounts: Sequence[tuple[Pubkey, Account | None]], entries: Sequence[JournalEntry]
    ) -> None:
        if self.fail:
            raise OSError("disk full")
        super().commit_many(accounts, entries)


async def _two_mints(
    world: World, user: Keypair, epochs: tuple[int, int]
) -> list[Transaction | VersionedTransaction]:
    blockhash = await world.ledger.latest_blockhash()
    return [
        build_mint_energy(
            world.deployment,
            payer=world.payer,
            oracle=world.oracle,
            epoch=epoch,
            grants=[(user.pubkey(), 5)],
            blockhash=blockhash,
        )[0].tx
        for epoch in epochs
    ]


def test_a_batch_is_stored_in_one_write_and_applied_once() -> None:
    async def scenario() -> None:
        store = _FailingBatchStore()
        world = await make_world(store)
        (user,) = await add_users(world, 1)
        energy = user_accounts(world.deployment, user.pubkey()).energy
        txs = await _two_mints(world, user, (1, 2))
        store.fail = True
        with pytest.raises(LedgerUnavailable):
            await world.embedded.send_transactions(txs)
        # Neither landed: the SVM was rolled back to the store, nothing journaled.
        assert await world.embedded.token_balance(energy) == 0
        assert [await world.embedded.signature_status(t.signatures[0]) for t in txs] == [None] * 2
        store.fail = False
        first = await world.embedded.send_transactions(txs)
        again = await world.embedded.send_transactions(txs)  # answered from the journal
        assert first == again
        assert all(isinstance(o, TxStatus) and o.ok for o in first)
        assert await world.embedded.token_balance(energy) == 10
        # After a restart the journal still knows both, from the one write.
        restarted = await EmbeddedLedger.open(store)
        assert await restarted.token_balance(energy) == 10
        assert await restarted.send_transactions(txs) == first

    run(scenario())


def test_a_batch_reports_expired_transactions_without_applying_them() -> None:
    async def scenario() -> None:
        world = await make_world()
        (user,) = await add_users(world, 1)
        energy = user_accounts(world.deployment, user.pubkey()).energy
        stale = await _two_mints(world, user, (1, 2))
        restarted = await EmbeddedLedger.open(world.store)  # forgets the blockhash
        outcomes = await restarted.send_transactions(stale)
        assert all(isinstance(o, TransactionExpired) for o in outcomes)
        assert await restarted.token_balance(energy) == 0

    run(scenario())
