"""Lookup tables of the settlement's accounts, kept as exactly-once jobs.

`ensure_tables` makes sure every given address is in a table of the settlement
authority: it finishes table jobs a crash left, fills the last table's room,
creates tables as needed (a create names a recent slot; one whose slot left
SlotHashes before it landed fails, and the next table gets a new slot), extends
them at most `MAX_ADDRESSES_PER_EXTEND` addresses a transaction, and returns
once the new addresses can be used (from the slot after the one that added
them). The tables in use are those of confirmed create jobs (`alt:create:NNNN`),
read back from the ledger, so no other record is kept.
"""

import asyncio
import hashlib
import json
from collections.abc import Sequence

from solders.address_lookup_table_account import (
    LOOKUP_TABLE_MAX_ADDRESSES,
    AddressLookupTableAccount,
    derive_lookup_table_address,
)
from solders.hash import Hash
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from programs.errors import LedgerUsageError
from programs.jobs import Build, Hook, Job, JobStore, no_hook, run_jobs
from programs.ledger.base import Ledger
from programs.lookup_tables import (
    MAX_ADDRESSES_PER_EXTEND,
    create_lookup_table,
    extend_lookup_table,
    table_addresses,
)
from programs.roles.transactions import sign

__all__ = ["CREATE_KIND", "EXTEND_KIND", "ensure_tables", "load_tables"]


CREATE_KIND = "alt-create"
EXTEND_KIND = "alt-extend"
_PREFIX = "alt:"


def _create_key(n: int) -> str:
    return f"alt:create:{n:04d}"


async def load_tables(
    ledger: Ledger, store: JobStore, authority: Pubkey
) -> list[AddressLookupTableAccount]:
    """The tables created by confirmed create jobs, in order, with their addresses."""
    tables, _ = await _tables_and_creates(ledger, store, authority)
    return tables


async def _tables_and_creates(
    ledger: Ledger, store: JobStore, authority: Pubkey
) -> tuple[list[AddressLookupTableAccount], int]:
    """(`load_tables`, how many create jobs exist: the next one's number)."""
    tables = []
    n = 0
    while (job := await asyncio.to_thread(store.get, _create_key(n))) is not None:
        n += 1
        if job.status != "confirmed":
            continue
        table, _ = derive_lookup_table_address(authority, json.loads(job.payload)["slot"])
        account = await ledger.get_account(table)
        if account is not None:
            tables.append(AddressLookupTableAccount(table, table_addresses(bytes(account.data))))
    return tables, n


async def ensure_tables(
    ledger: Ledger,
    store: JobStore,
    *,
    authority: Keypair,
    payer: Keypair,
    addresses: Sequence[Pubkey],
    hook: Hook = no_hook,  # tests raise from it to simulate a crash (programs.jobs)
    activation_timeout_s: float = 30.0,
) -> list[AddressLookupTableAccount]:
    """Tables (of `authority`, rent paid by `payer`) holding every one of `addresses`,
    creating and extending them as needed, once each across crashes (jobs keyed
    `alt:...` in `store`); returns once the new addresses can be used."""
    build = _builder(authority, payer)
    unfinished = await asyncio.to_thread(store.unfinished, _PREFIX)
    if unfinished:
        await run_jobs(ledger, store, unfinished, build, hook=hook)
    tables, created = await _tables_and_creates(ledger, store, authority.pubkey())
    present = {a for t in tables for a in t.addresses}
    missing = list(dict.fromkeys(a for a in addresses if a not in present))
    if not missing:
        return tables
    # Room left in the last table first, then new tables.
    plan: list[tuple[Pubkey, list[Pubkey]]] = []
    if tables and len(tables[-1].addresses) < LOOKUP_TABLE_MAX_ADDRESSES:
        room = LOOKUP_TABLE_MAX_ADDRESSES - len(tables[-1].addresses)
        plan.append((tables[-1].key, missing[:room]))
        missing = missing[room:]
    while missing:
        slot = await ledger.recent_slot()
        job = Job(_create_key(created), CREATE_KIND, json.dumps({"slot": slot}))
        (done,) = await run_jobs(ledger, store, [job], build, hook=hook)
        created += 1
        if done.status != "confirmed":
            continue  # e.g. its slot left SlotHashes before it landed: a new slot, a new table
        table, _ = derive_lookup_table_address(authority.pubkey(), slot)
        plan.append((table, missing[:LOOKUP_TABLE_MAX_ADDRESSES]))
        missing = missing[LOOKUP_TABLE_MAX_ADDRESSES:]
    extends = []
    for table, chunk in plan:
        for start in range(0, len(chunk), MAX_ADDRESSES_PER_EXTEND):
            part = [str(a) for a in chunk[start : start + MAX_ADDRESSES_PER_EXTEND]]
            digest = hashlib.sha256("".join(part).encode()).hexdigest()[:16]
            payload = json.dumps({"table": str(table), "addresses": part})
            extends.append(Job(f"alt:extend:{table}:{digest}", EXTEND_KIND, payload))
    done_extends = await run_jobs(ledger, store, extends, build, hook=hook)
    failed = [j for j in done_extends if j.status != "confirmed"]
    if failed:
        raise LedgerUsageError(f"extending lookup table failed: {failed[0].key}: {failed[0].error}")
    # Usable from the slot after the one that added them: a transaction sent once the
    # reported slot has reached it lands later (the embedded ledger is there at once).
    last = max((j.slot or 0) for j in done_extends)
    deadline = asyncio.get_running_loop().time() + activation_timeout_s
    while await ledger.recent_slot() < last:
        if asyncio.get_running_loop().time() > deadline:
            raise LedgerUsageError(f"lookup table addresses not active after slot {last}")
        await asyncio.sleep(0.2)
    return await load_tables(ledger, store, authority.pubkey())


def _builder(authority: Keypair, payer: Keypair) -> Build:
    def build(job: Job, blockhash: Hash) -> Transaction:
        payload = json.loads(job.payload)
        if job.kind == CREATE_KIND:
            _, create = create_lookup_table(authority.pubkey(), payer.pubkey(), payload["slot"])
            return sign([create], payer, [], blockhash)
        table = Pubkey.from_string(payload["table"])
        chunk = [Pubkey.from_string(a) for a in payload["addresses"]]
        extend = extend_lookup_table(table, authority.pubkey(), payer.pubkey(), chunk)
        return sign([extend], payer, [authority], blockhash)

    return build
