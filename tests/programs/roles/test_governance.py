"""The emergency stop, on both ledger backends: a frozen account cannot trade, receive
energy, or send or receive even by its owner, until thawed."""

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from programs import spl
from programs.errors import TransactionFailed
from programs.roles.deployment import user_accounts
from programs.roles.governance import freeze_user, thaw_user
from programs.roles.oracle import mint_energy
from programs.roles.token import PAYMENT_DECIMALS
from programs.roles.trading import Trade
from programs.roles.transactions import sign
from tests.programs.conftest import World, add_users, run
from tests.programs.roles.market import CREDIT, KWH, balances_of, open_market, settle_trades


def test_a_frozen_account_cannot_trade_until_thawed(world: World) -> None:
    async def scenario() -> None:
        seller, buyer = await open_market(world, payment_allowance=10 * CREDIT)
        trade = Trade(seller.pubkey(), buyer.pubkey(), energy=KWH, payment=CREDIT)
        await freeze_user(
            world.ledger,
            world.deployment,
            payer=world.payer,
            rec_authority=world.rec,
            owner=seller.pubkey(),
        )
        frozen = await world.ledger.get_token_account(
            user_accounts(world.deployment, seller.pubkey()).energy
        )
        assert frozen is not None
        assert str(frozen.state) == str(type(frozen.state).Frozen)
        before = await balances_of(world, seller, buyer)
        (outcome,) = await settle_trades(world, [trade])
        assert outcome.error is not None
        assert await balances_of(world, seller, buyer) == before
        await thaw_user(
            world.ledger,
            world.deployment,
            payer=world.payer,
            rec_authority=world.rec,
            owner=seller.pubkey(),
        )
        (outcome,) = await settle_trades(world, [trade])
        assert outcome.error is None

    run(scenario())


def test_a_frozen_account_cannot_receive_energy(world: World) -> None:
    async def scenario() -> None:
        (user,) = await add_users(world, 1)
        await freeze_user(
            world.ledger,
            world.deployment,
            payer=world.payer,
            rec_authority=world.rec,
            owner=user.pubkey(),
        )
        grant = [(user.pubkey(), KWH)]
        kwargs = {"payer": world.payer, "oracle": world.oracle, "epoch": 1, "grants": grant}
        with pytest.raises(TransactionFailed):
            await mint_energy(world.ledger, world.deployment, **kwargs)  # type: ignore[arg-type]
        energy = user_accounts(world.deployment, user.pubkey()).energy
        assert await world.ledger.token_balance(energy) == 0
        await thaw_user(
            world.ledger,
            world.deployment,
            payer=world.payer,
            rec_authority=world.rec,
            owner=user.pubkey(),
        )
        await mint_energy(world.ledger, world.deployment, **kwargs)  # type: ignore[arg-type]
        assert await world.ledger.token_balance(energy) == KWH

    run(scenario())


def test_a_frozen_account_cannot_send_or_receive_even_by_its_owner(world: World) -> None:
    async def scenario() -> None:
        frozen, other = await add_users(world, 2, payment=10 * CREDIT)
        frozen_accounts = user_accounts(world.deployment, frozen.pubkey())
        other_accounts = user_accounts(world.deployment, other.pubkey())
        await freeze_user(
            world.ledger,
            world.deployment,
            payer=world.payer,
            rec_authority=world.rec,
            owner=frozen.pubkey(),
        )

        async def pay(source: Keypair, src: Pubkey, dest: Pubkey) -> None:
            ix = spl.transfer_checked(
                source=src,
                mint=world.deployment.payment_mint,
                destination=dest,
                authority=source.pubkey(),
                amount=CREDIT,
                decimals=PAYMENT_DECIMALS,
            )
            tx = sign([ix], world.payer, [source], await world.ledger.latest_blockhash())
            await world.ledger.send_transaction(tx)

        with pytest.raises(TransactionFailed):  # send, signed by the owner itself
            await pay(frozen, frozen_accounts.payment, other_accounts.payment)
        with pytest.raises(TransactionFailed):  # receive
            await pay(other, other_accounts.payment, frozen_accounts.payment)
        balances = [frozen_accounts.payment, other_accounts.payment]
        assert [await world.ledger.token_balance(a) for a in balances] == [10 * CREDIT] * 2
        await thaw_user(
            world.ledger,
            world.deployment,
            payer=world.payer,
            rec_authority=world.rec,
            owner=frozen.pubkey(),
        )
        await pay(frozen, frozen_accounts.payment, other_accounts.payment)
        assert [await world.ledger.token_balance(a) for a in balances] == [9 * CREDIT, 11 * CREDIT]

    run(scenario())
