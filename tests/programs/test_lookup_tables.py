"""Address lookup tables on the embedded ledger: created and extended with the real
program, used by v0 transactions, and still usable after a restart from the store
(the accounts a v0 transaction loads from a table are written through)."""

from solders.address_lookup_table_account import AddressLookupTableAccount
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.transaction import Transaction, VersionedTransaction

from programs import spl
from programs.ledger import EmbeddedLedger, MemoryLedgerStore
from programs.lookup_tables import (
    MAX_ADDRESSES_PER_EXTEND,
    create_lookup_table,
    extend_lookup_table,
    table_addresses,
)
from programs.roles import PAYMENT_DECIMALS, approve_escrow, sign, user_accounts
from programs.txsize import MAX_TRANSACTION_SIZE, check_transaction_size
from tests.programs.conftest import World, add_users, make_world, run


async def _table(world: World, addresses: list[Pubkey]) -> AddressLookupTableAccount:
    ledger, payer, authority = world.embedded, world.payer, world.settler
    recent = ledger.recent_slot()
    table, create = create_lookup_table(authority.pubkey(), payer.pubkey(), recent)
    await ledger.send_transaction(sign([create], payer, [], await ledger.latest_blockhash()))
    for start in range(0, len(addresses), MAX_ADDRESSES_PER_EXTEND):
        chunk = addresses[start : start + MAX_ADDRESSES_PER_EXTEND]
        extend = extend_lookup_table(table, authority.pubkey(), payer.pubkey(), chunk)
        tx = sign([extend], payer, [authority], await ledger.latest_blockhash())
        await ledger.send_transaction(tx)
    account = await ledger.get_account(table)
    assert account is not None
    return AddressLookupTableAccount(table, table_addresses(bytes(account.data)))


def _v0(world: World, instructions: list, table: AddressLookupTableAccount, blockhash: Hash):  # type: ignore[no-untyped-def]
    message = MessageV0.try_compile(world.settler.pubkey(), instructions, [table], blockhash)
    return VersionedTransaction(message, [world.settler])


def _payments(world: World, pairs: list[tuple[Keypair, Keypair]], amount: int) -> list:  # type: ignore[type-arg]
    d = world.deployment
    return [
        spl.transfer_checked(
            source=user_accounts(d, a.pubkey()).payment,
            mint=d.payment_mint,
            destination=user_accounts(d, b.pubkey()).payment,
            authority=d.settlement_authority,
            amount=amount,
            decimals=PAYMENT_DECIMALS,
        )
        for a, b in pairs
    ]


def test_v0_transactions_through_a_table_and_after_a_restart() -> None:
    async def scenario() -> None:
        store = MemoryLedgerStore()
        world = await make_world(store)
        await world.embedded.airdrop(world.settler.pubkey(), 10**10)
        users = await add_users(world, 40, payment=1000)
        for u in users:
            await approve_escrow(
                world.ledger, world.deployment, payer=world.payer, owner=u, energy=0, payment=1000
            )
        addresses = [user_accounts(world.deployment, u.pubkey()).payment for u in users]
        table = await _table(world, [world.deployment.payment_mint, *addresses])
        assert table.addresses[1:] == addresses

        # 20 payments naming 40 accounts: too big for a legacy transaction.
        pairs = [(users[2 * i], users[2 * i + 1]) for i in range(20)]
        legacy = Transaction.new_with_payer(_payments(world, pairs, 7), world.settler.pubkey())
        assert len(bytes(legacy.message)) > MAX_TRANSACTION_SIZE
        tx = _v0(world, _payments(world, pairs, 7), table, await world.embedded.latest_blockhash())
        assert check_transaction_size(tx) <= MAX_TRANSACTION_SIZE
        await world.embedded.send_transaction(tx)
        for a, b in pairs:
            assert (
                await world.embedded.token_balance(
                    user_accounts(world.deployment, a.pubkey()).payment
                )
                == 993
            )
            assert (
                await world.embedded.token_balance(
                    user_accounts(world.deployment, b.pubkey()).payment
                )
                == 1007
            )
        # The journal names the accounts the transaction loaded from the table.
        named = await world.embedded.signatures_for_address(addresses[5])
        assert tx.signatures[0] in [s.signature for s in named]

        # A restart loads the store: the balances moved through the table were
        # written, and the table still serves.
        again = await EmbeddedLedger.open(store)
        assert await again.token_balance(addresses[0]) == 993
        world.embedded = again
        tx2 = _v0(world, _payments(world, pairs[:3], 1), table, await again.latest_blockhash())
        await again.send_transaction(tx2)
        assert await again.token_balance(addresses[0]) == 992
        assert await again.token_balance(addresses[1]) == 1008

    run(scenario())
