"""The embedded ledger's durable store: in memory, SQLite, and the real PostgreSQL."""

from pathlib import Path

import psycopg
import pytest
from solders.account import Account
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from coordinator.db.migrate import upgrade
from programs.ledger import EmbeddedLedger, JournalEntry, MemoryLedgerStore, SqlLedgerStore
from programs.ledger.meta import ExecutionMeta, InnerInstruction
from programs.ledger.store import LedgerStore
from programs.roles.deployment import user_accounts
from programs.roles.oracle import mint_energy
from programs.roles.trading import Trade, approve_escrow, settle
from tests.programs.conftest import add_users, make_world, run

U64_MAX = (1 << 64) - 1


def _exercise(store: LedgerStore) -> None:
    a, b = Pubkey.new_unique(), Pubkey.new_unique()
    big = Account(lamports=U64_MAX - 1, data=b"\x00\x01" * 50, owner=b, rent_epoch=U64_MAX)
    small = Account(lamports=5, data=b"", owner=a, executable=True)
    signature = Keypair().sign_message(b"tx")
    assert store.last_slot() == 0
    assert store.journal_entry(signature) is None
    store.commit([(a, big), (b, small)], JournalEntry(signature, 7, b"raw", "boom", ("l1", "l2")))
    assert sorted(store.load_accounts(), key=lambda x: bytes(x[0])) == sorted(
        [(a, big), (b, small)], key=lambda x: bytes(x[0])
    )
    assert store.journal_entry(signature) == JournalEntry(
        signature, 7, b"raw", "boom", ("l1", "l2")
    )
    assert store.last_slot() == 7
    changed = Account(lamports=6, data=b"x", owner=a)
    store.commit([(a, None), (b, changed)], JournalEntry(Signature.default(), 9, b"r2", None))
    assert store.load_accounts() == [(b, changed)]
    assert store.journal_entry(Signature.default()) == JournalEntry(
        Signature.default(), 9, b"r2", None
    )
    assert store.last_slot() == 9


def test_memory_store() -> None:
    _exercise(MemoryLedgerStore())


def _sqlite(tmp_path: Path) -> SqlLedgerStore:
    store = SqlLedgerStore(create_engine(f"sqlite:///{tmp_path / 'ledger.db'}"))
    store.create_tables()
    return store


def test_sqlite_store(tmp_path: Path) -> None:
    _exercise(_sqlite(tmp_path))


@pytest.mark.services
def test_postgres_store(pg_ledger_engine: Engine) -> None:
    store = SqlLedgerStore(pg_ledger_engine)
    store.create_tables()
    _exercise(store)


async def _trade_and_restart(store: LedgerStore) -> None:
    world = await make_world(store)
    seller, buyer = await add_users(world, 2, payment=10**7)
    await mint_energy(
        world.ledger,
        world.deployment,
        payer=world.payer,
        oracle=world.oracle,
        epoch=1,
        grants=[(seller.pubkey(), 10**9)],
    )
    await approve_escrow(
        world.ledger, world.deployment, payer=world.payer, owner=seller, energy=10**9, payment=0
    )
    await approve_escrow(
        world.ledger, world.deployment, payer=world.payer, owner=buyer, energy=0, payment=10**7
    )
    trade = Trade(seller.pubkey(), buyer.pubkey(), energy=10**8, payment=10**6)
    kwargs = {"payer": world.payer, "settlement_authority": world.settler, "epoch": 1}
    await settle(world.ledger, world.deployment, trades=[trade], **kwargs)  # type: ignore[arg-type]

    restarted = await EmbeddedLedger.open(store)
    seller_energy = user_accounts(world.deployment, seller.pubkey()).energy
    buyer_payment = user_accounts(world.deployment, buyer.pubkey()).payment
    assert await restarted.token_balance(seller_energy) == 9 * 10**8
    assert await restarted.token_balance(buyer_payment) == 9 * 10**6
    world.ledger = restarted
    (outcome,) = await settle(restarted, world.deployment, trades=[trade], **kwargs)  # type: ignore[arg-type]
    assert outcome.error is None
    assert await restarted.token_balance(seller_energy) == 8 * 10**8


def test_sqlite_ledger_survives_a_restart(tmp_path: Path) -> None:
    run(_trade_and_restart(_sqlite(tmp_path)))


@pytest.mark.services
def test_postgres_ledger_survives_a_restart(pg_ledger_engine: Engine) -> None:
    store = SqlLedgerStore(pg_ledger_engine)
    store.create_tables()
    run(_trade_and_restart(store))


def _exercise_address_index(store: LedgerStore) -> None:
    a, b = sorted([Pubkey.new_unique(), Pubkey.new_unique()], key=bytes)
    sigs = [Keypair().sign_message(bytes([i])) for i in range(3)]
    store.commit([], JournalEntry(sigs[0], 1, b"t0", None, (), (a,)))
    store.commit([], JournalEntry(sigs[1], 2, b"t1", "boom", (), (a, b)))
    store.commit([], JournalEntry(sigs[2], 3, b"t2", None, (), (b,)))
    assert [s.signature for s in store.signatures_for_address(a, limit=10)] == [sigs[1], sigs[0]]
    assert [s.error for s in store.signatures_for_address(a, limit=10)] == ["boom", None]
    assert [s.slot for s in store.signatures_for_address(b, limit=1)] == [3]
    assert [s.slot for s in store.signatures_for_address(b, limit=9, before_slot=3)] == [2]
    entry = store.journal_entry(sigs[1])
    assert entry is not None
    assert entry.addresses == (a, b)


def test_address_index_in_memory_and_sqlite(tmp_path: Path) -> None:
    _exercise_address_index(MemoryLedgerStore())
    _exercise_address_index(_sqlite(tmp_path))


@pytest.mark.services
def test_address_index_on_postgres(pg_ledger_engine: Engine) -> None:
    store = SqlLedgerStore(pg_ledger_engine)
    store.create_tables()
    _exercise_address_index(store)


def _journal_before_0007(engine: Engine) -> tuple[list[Signature], Pubkey, Pubkey]:
    """Three transactions journaled as revision 0006 kept them (address rows with
    signatures): what an upgrade must carry over."""
    upgrade(engine, "0006_chain")
    a, b = sorted([Pubkey.new_unique(), Pubkey.new_unique()], key=bytes)
    sigs = [Keypair().sign_message(bytes([i])) for i in range(3)]
    named = [(a,), (a, b), (b,)]
    with engine.begin() as conn:
        for slot, (sig, keys) in enumerate(zip(sigs, named, strict=True), start=1):
            conn.execute(
                text("INSERT INTO ledger_journal (signature, slot, tx, error, logs) "
                     "VALUES (:s, :slot, :tx, NULL, NULL)"),
                {"s": bytes(sig), "slot": slot, "tx": b"t"},
            )  # fmt: skip
            for key in keys:
                conn.execute(
                    text("INSERT INTO ledger_journal_addresses (address, signature, slot) "
                         "VALUES (:a, :s, :slot)"),
                    {"a": bytes(key), "s": bytes(sig), "slot": slot},
                )  # fmt: skip
    upgrade(engine)
    return sigs, a, b


def _check_carried_over(engine: Engine) -> None:
    sigs, a, b = _journal_before_0007(engine)
    store = SqlLedgerStore(engine)
    assert [s.signature for s in store.signatures_for_address(a, limit=10)] == [sigs[1], sigs[0]]
    assert [s.signature for s in store.signatures_for_address(b, limit=10)] == [sigs[2], sigs[1]]
    entries = store.journal_entries(sigs)
    assert [entries[s].addresses for s in sigs] == [(a,), (a, b), (b,)]
    # One transaction per slot is what the narrow index relies on: the schema holds it.
    with pytest.raises((IntegrityError, psycopg.IntegrityError)):  # COPY raises psycopg's
        store.commit([], JournalEntry(Keypair().sign_message(b"x"), 2, b"t", None, (), (a,)))
    store.commit([], JournalEntry(sigs[0].default(), 4, b"t", None, (), (a, b)))
    assert [s.slot for s in store.signatures_for_address(a, limit=2)] == [4, 2]


def test_upgrade_carries_the_journal_over_on_sqlite(tmp_path: Path) -> None:
    _check_carried_over(create_engine(f"sqlite:///{tmp_path / 'gtx.db'}"))


@pytest.mark.services
def test_upgrade_carries_the_journal_over_on_postgres(pg_ledger_engine: Engine) -> None:
    _check_carried_over(pg_ledger_engine)


def _exercise_validator_fields(store: LedgerStore) -> None:
    """What a validator reports of a transaction, kept with its journal entry; the
    journal by slot; accounts by address; the genesis hash made once."""
    a, b = sorted([Pubkey.new_unique(), Pubkey.new_unique()], key=bytes)
    meta = ExecutionMeta(
        fee=5000,
        pre_balances=(10, 0),
        post_balances=(5, 5),
        pre_tokens={},
        post_tokens={1: bytes(a) + bytes(b) + (42).to_bytes(8, "little")},
        decimals={bytes(a): 6},
        compute_units=321,
        inner_instructions=((0, (InnerInstruction(1, b"\x00", b"\x02", 2),)),),
    )
    sigs = [Keypair().sign_message(bytes([i])) for i in range(3)]
    entries = [
        JournalEntry(
            sigs[0], 1, b"t0", None, ("Program log: hi",), (a,), 1_700_000_000, "[2] hi", meta
        ),
        JournalEntry(sigs[1], 2, b"t1", None, (), (b,)),
        JournalEntry(sigs[2], 4, b"t2", "boom", ("l",), (a, b), 1_700_000_009, None, meta),
    ]
    store.commit_many([(a, Account(7, b"x", b))], entries)
    assert store.journal_entries(sigs) == {e.signature: e for e in entries}
    listed = store.signatures_for_address(a, limit=5)
    assert [(s.memo, s.block_time) for s in listed] == [
        (None, 1_700_000_009),
        ("[2] hi", 1_700_000_000),
    ]
    assert store.journal_slots(2, 9, limit=5) == entries[1:]
    assert store.journal_slots(1, 9, limit=1) == entries[:1]
    assert store.journaled_slots(0, 9, limit=9) == [1, 2, 4]
    assert store.journaled_slots(3, 3, limit=9) == []
    assert store.accounts([a, b]) == {a: Account(7, b"x", b)}
    genesis = store.genesis_hash()
    assert store.genesis_hash() == genesis


def test_validator_fields_in_memory_and_sqlite(tmp_path: Path) -> None:
    _exercise_validator_fields(MemoryLedgerStore())
    _exercise_validator_fields(_sqlite(tmp_path))


@pytest.mark.services
def test_validator_fields_on_postgres(pg_ledger_engine: Engine) -> None:
    store = SqlLedgerStore(pg_ledger_engine)
    store.create_tables()
    _exercise_validator_fields(store)


def _check_upgrade_to_0011(engine: Engine) -> None:
    """A journal entry of revision 0010 (before 0011_ledger_journal_meta) reads back
    without what it never had."""
    upgrade(engine, "0010_mint_grants")
    signature = Keypair().sign_message(b"old")
    a = Pubkey.new_unique()
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO ledger_journal (signature, slot, tx, error, logs, addresses) "
                 "VALUES (:s, 1, :tx, NULL, NULL, :a)"),
            {"s": bytes(signature), "tx": b"t", "a": bytes(a)},
        )  # fmt: skip
        conn.execute(
            text("INSERT INTO ledger_address_slots (address, slot) VALUES (:a, 1)"),
            {"a": bytes(a)},
        )
    upgrade(engine)
    store = SqlLedgerStore(engine)
    entry = store.journal_entry(signature)
    assert entry == JournalEntry(signature, 1, b"t", None, (), (a,))
    assert (entry.meta, entry.block_time, entry.memo) == (None, None, None)
    assert store.genesis_hash() == store.genesis_hash()
    store.commit([], JournalEntry(Keypair().sign_message(b"new"), 2, b"t", None, (), (a,), 9))
    assert [s.block_time for s in store.signatures_for_address(a, limit=5)] == [9, None]


def test_upgrade_to_0011_on_sqlite(tmp_path: Path) -> None:
    _check_upgrade_to_0011(create_engine(f"sqlite:///{tmp_path / 'gtx.db'}"))


@pytest.mark.services
def test_upgrade_to_0011_on_postgres(pg_ledger_engine: Engine) -> None:
    _check_upgrade_to_0011(pg_ledger_engine)
