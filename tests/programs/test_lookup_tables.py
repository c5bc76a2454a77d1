"""Address lookup tables: created and extended with the real program, used by v0
transactions on both backends (rpc: over HTTP to the embedded JSON-RPC), through the
exactly-once job machine, and still usable after a restart of the embedded ledger
from its store (the accounts a v0 transaction loads from a table are written
through and named in the journal)."""

from collections.abc import Callable
from typing import TypedDict

import httpx
import pytest
from solana.rpc.async_api import AsyncClient
from solders.address_lookup_table_account import AddressLookupTableAccount
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.transaction import Transaction, VersionedTransaction

from programs import spl
from programs.jobs import Job, run_jobs
from programs.jobstore import MemoryJobStore
from programs.ledger import EmbeddedLedger, MemoryLedgerStore
from programs.lookup_tables import (
    MAX_ADDRESSES_PER_EXTEND,
    create_lookup_table,
    extend_lookup_table,
    table_addresses,
)
from programs.roles.deployment import user_accounts
from programs.roles.oracle import mint_energy
from programs.roles.token import PAYMENT_DECIMALS
from programs.roles.trading import Trade, approve_escrow, settle
from programs.roles.transactions import sign
from programs.table_jobs import EXTEND_KIND, ensure_tables
from programs.txsize import MAX_TRANSACTION_SIZE, check_transaction_size
from tests.programs.conftest import World, add_users, make_world, run, serve


async def _funded_pairs(world: World, n_users: int) -> tuple[list[Keypair], list[Pubkey]]:
    await world.ledger.airdrop(world.settler.pubkey(), 10**10)
    users = await add_users(world, n_users, payment=1000)
    for u in users:
        await approve_escrow(
            world.ledger, world.deployment, payer=world.payer, owner=u, energy=0, payment=1000
        )
    return users, [user_accounts(world.deployment, u.pubkey()).payment for u in users]


async def _table(world: World, addresses: list[Pubkey]) -> AddressLookupTableAccount:
    ledger, payer, authority = world.ledger, world.payer, world.settler
    table, create = create_lookup_table(
        authority.pubkey(), payer.pubkey(), await ledger.recent_slot()
    )
    await ledger.send_transaction(sign([create], payer, [], await ledger.latest_blockhash()))
    for start in range(0, len(addresses), MAX_ADDRESSES_PER_EXTEND):
        chunk = addresses[start : start + MAX_ADDRESSES_PER_EXTEND]
        extend = extend_lookup_table(table, authority.pubkey(), payer.pubkey(), chunk)
        tx = sign([extend], payer, [authority], await ledger.latest_blockhash())
        assert check_transaction_size(tx) <= MAX_TRANSACTION_SIZE
        await ledger.send_transaction(tx)
    account = await ledger.get_account(table)
    assert account is not None
    return AddressLookupTableAccount(table, table_addresses(bytes(account.data)))


def _v0(
    world: World, instructions: list[Instruction], table: AddressLookupTableAccount, blockhash: Hash
) -> VersionedTransaction:
    message = MessageV0.try_compile(world.settler.pubkey(), instructions, [table], blockhash)
    return VersionedTransaction(message, [world.settler])


def _payments(world: World, pairs: list[tuple[Pubkey, Pubkey]], amount: int) -> list[Instruction]:
    d = world.deployment
    return [
        spl.transfer_checked(
            source=source,
            mint=d.payment_mint,
            destination=destination,
            authority=d.settlement_authority,
            amount=amount,
            decimals=PAYMENT_DECIMALS,
        )
        for source, destination in pairs
    ]


def test_a_v0_transaction_moves_what_no_legacy_one_could_hold(world: World) -> None:
    async def scenario() -> None:
        _, accounts = await _funded_pairs(world, 40)
        table = await _table(world, [world.deployment.payment_mint, *accounts])
        assert table.addresses[1:] == accounts
        pairs = [(accounts[2 * i], accounts[2 * i + 1]) for i in range(20)]
        # 20 payments naming 40 token accounts: too big for a legacy transaction.
        legacy = Transaction.new_with_payer(_payments(world, pairs, 7), world.settler.pubkey())
        assert len(bytes(legacy.message)) > MAX_TRANSACTION_SIZE
        blockhash = await world.ledger.latest_blockhash()
        tx = _v0(world, _payments(world, pairs, 7), table, blockhash)
        assert check_transaction_size(tx) <= MAX_TRANSACTION_SIZE
        signature = await world.ledger.send_transaction(tx)
        for source, destination in pairs:
            assert await world.ledger.token_balance(source) == 993
            assert await world.ledger.token_balance(destination) == 1007
        # The journal names the accounts the transaction loaded from the table.
        named = await world.embedded.signatures_for_address(accounts[5])
        assert signature in [s.signature for s in named]
        # Sent again: answered from the journal, not applied twice.
        assert await world.ledger.send_transaction(tx) == signature
        assert await world.ledger.token_balance(accounts[0]) == 993

    run(scenario())


def test_v0_jobs_run_exactly_once(world: World) -> None:
    async def scenario() -> None:
        _, accounts = await _funded_pairs(world, 30)
        table = await _table(world, accounts)
        pairs = [(accounts[i], accounts[i + 15]) for i in range(15)]

        def build(job: Job, blockhash: Hash) -> VersionedTransaction:
            return _v0(world, _payments(world, pairs, int(job.payload)), table, blockhash)

        store = MemoryJobStore()
        jobs = [Job(key="pay:1", kind="pay", payload="5")]
        done = await run_jobs(world.ledger, store, jobs, build)
        assert [j.status for j in done] == ["confirmed"]
        again = await run_jobs(world.ledger, store, jobs, build)
        assert again[0].signature == done[0].signature
        assert await world.ledger.token_balance(accounts[0]) == 995
        assert await world.ledger.token_balance(accounts[15]) == 1005

    run(scenario())


def test_tables_and_what_v0_moved_survive_a_restart() -> None:
    async def scenario() -> None:
        store = MemoryLedgerStore()
        world = await make_world(store)
        _, accounts = await _funded_pairs(world, 6)
        table = await _table(world, accounts)
        pairs = [(accounts[0], accounts[1]), (accounts[2], accounts[3])]
        tx = _v0(world, _payments(world, pairs, 9), table, await world.ledger.latest_blockhash())
        await world.ledger.send_transaction(tx)

        restarted = await EmbeddedLedger.open(store)
        assert await restarted.token_balance(accounts[0]) == 991
        assert await restarted.token_balance(accounts[1]) == 1009
        world.ledger = world.embedded = restarted
        blockhash = await restarted.latest_blockhash()
        await restarted.send_transaction(_v0(world, _payments(world, pairs, 1), table, blockhash))
        assert await restarted.token_balance(accounts[0]) == 990
        assert await restarted.token_balance(accounts[3]) == 1010

    run(scenario())


def test_get_transaction_shows_a_v0_transaction_as_a_validator_does() -> None:
    async def scenario() -> None:
        world = await make_world()
        _, accounts = await _funded_pairs(world, 4)
        table = await _table(world, accounts)
        pairs = [(accounts[0], accounts[1]), (accounts[2], accounts[3])]
        blockhash = await world.ledger.latest_blockhash()
        signature = await world.ledger.send_transaction(
            _v0(world, _payments(world, pairs, 3), table, blockhash)
        )
        async with serve(world.embedded) as served, AsyncClient(served.url) as client:
            body = {"jsonrpc": "2.0", "id": 1, "method": "getTransaction",
                    "params": [str(signature), {"encoding": "json"}]}  # fmt: skip
            async with httpx.AsyncClient() as http:
                refused = (await http.post(served.url, json=body)).json()
                body["params"] = [
                    str(signature),
                    {"encoding": "jsonParsed", "maxSupportedTransactionVersion": 0},
                ]
                parsed = (await http.post(served.url, json=body)).json()["result"]
            assert refused["error"]["code"] == -32015
            answer = await client.get_transaction(
                signature, encoding="json", max_supported_transaction_version=0
            )
        assert answer.value is not None
        assert answer.value.transaction.version == 0
        meta = answer.value.transaction.meta
        assert meta is not None
        assert meta.loaded_addresses is not None
        assert set(meta.loaded_addresses.writable) == set(accounts)
        # Parsed: the loaded accounts come last, from the table, and the balances
        # (lamports and tokens) cover them by their index among all the keys.
        keys = parsed["transaction"]["message"]["accountKeys"]
        loaded = [k for k in keys if k["source"] == "lookupTable"]
        assert {k["pubkey"] for k in loaded} == {str(a) for a in accounts}
        assert all(k["writable"] and not k["signer"] for k in loaded)
        assert len(parsed["meta"]["preBalances"]) == len(keys)
        moved = {
            keys[b["accountIndex"]]["pubkey"]: int(b["uiTokenAmount"]["amount"])
            for b in parsed["meta"]["postTokenBalances"]
        }
        before = {
            keys[b["accountIndex"]]["pubkey"]: int(b["uiTokenAmount"]["amount"])
            for b in parsed["meta"]["preTokenBalances"]
        }
        assert moved[str(accounts[1])] - before[str(accounts[1])] == 3
        assert "loadedAddresses" not in parsed["meta"]  # in the keys instead

    run(scenario())


class _CrashError(Exception):
    pass


class _Signers(TypedDict):
    authority: Keypair
    payer: Keypair


def test_tables_hold_every_address_once_across_a_crash(world: World) -> None:
    async def scenario() -> None:
        await world.ledger.airdrop(world.settler.pubkey(), 10**10)
        store = MemoryJobStore()
        addresses = [Pubkey.new_unique() for _ in range(300)]
        keys: _Signers = {"authority": world.settler, "payer": world.payer}

        with pytest.raises(_CrashError):
            await ensure_tables(
                world.ledger, store, addresses=addresses, hook=_crash_once(), **keys
            )
        tables = await ensure_tables(world.ledger, store, addresses=addresses, **keys)
        held = [a for t in tables for a in t.addresses]
        assert sorted(held, key=bytes) == sorted(addresses, key=bytes)  # each exactly once
        assert [len(t.addresses) for t in tables] == [256, 44]
        # Asked again: nothing to do; more addresses go into the last table's room.
        assert await ensure_tables(world.ledger, store, addresses=addresses, **keys) == tables
        more = [Pubkey.new_unique() for _ in range(10)]
        grown = await ensure_tables(world.ledger, store, addresses=more, **keys)
        assert [len(t.addresses) for t in grown] == [256, 54]
        assert grown[1].addresses[44:] == more

    run(scenario())


def _crash_once() -> Callable[[str, Job], None]:
    """A hook that crashes once, after the third extend transaction was sent."""
    sent: list[str] = []

    def hook(point: str, job: Job) -> None:
        if point == "sent" and job.kind == EXTEND_KIND:
            sent.append(job.key)
            if len(sent) == 3:
                raise _CrashError

    return hook


def test_settlement_in_v0_transactions_moves_exactly_what_the_trades_say(world: World) -> None:
    async def scenario() -> None:
        users, _ = await _funded_pairs(world, 40)
        d = world.deployment
        # Energy too, so both legs move.
        await mint_energy(
            world.ledger, d, payer=world.payer, oracle=world.oracle, epoch=1,
            grants=[(u.pubkey(), 500) for u in users],
        )  # fmt: skip
        for u in users:
            await approve_escrow(
                world.ledger, d, payer=world.payer, owner=u, energy=500, payment=1000
            )
        store = MemoryJobStore()
        keys: _Signers = {"authority": world.settler, "payer": world.settler}
        # A table of unrelated addresses first: the settlement must pass only the
        # tables its trades use, and still find each account in the first that has it.
        await ensure_tables(
            world.ledger, store, addresses=[Pubkey.new_unique() for _ in range(256)], **keys
        )
        accounts = [d.energy_mint, d.payment_mint]
        for u in users:
            a = user_accounts(d, u.pubkey())
            accounts += [a.energy, a.payment]
        tables = await ensure_tables(world.ledger, store, addresses=accounts, **keys)
        assert len(tables) == 2
        trades = [Trade(users[i % 40].pubkey(), users[(i * 7 + 3) % 40].pubkey(), 1 + i, 2 + i)
                  for i in range(60) if i % 40 != (i * 7 + 3) % 40]  # fmt: skip
        outcomes = await settle(
            world.ledger, d, payer=world.settler, settlement_authority=world.settler,
            epoch=1, trades=trades, tables=tables,
        )  # fmt: skip
        assert all(o.error is None for o in outcomes)
        assert len({o.signature for o in outcomes}) < len(trades) / 10  # many per transaction
        want = {u.pubkey(): [500, 1000] for u in users}
        for t in trades:
            want[t.seller][0] -= t.energy
            want[t.buyer][0] += t.energy
            want[t.buyer][1] -= t.payment
            want[t.seller][1] += t.payment
        for u in users:
            a = user_accounts(d, u.pubkey())
            got = [
                await world.ledger.token_balance(a.energy),
                await world.ledger.token_balance(a.payment),
            ]
            assert got == want[u.pubkey()]

    run(scenario())
