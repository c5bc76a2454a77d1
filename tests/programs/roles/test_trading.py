"""Escrow and settlement, on both ledger backends: both legs of a trade move together
under the delegation, a bad trade is pinned on itself, a p-token batch moves what
separate transfers move."""

import pytest
from solders.transaction import VersionedTransaction

from programs import spl
from programs.roles.deployment import user_accounts
from programs.roles.trading import Trade
from tests.programs.conftest import World, run
from tests.programs.roles.market import CREDIT, KWH, balances_of, open_market, settle_trades


def test_delegated_settlement_moves_both_tokens_atomically(world: World) -> None:
    async def scenario() -> None:
        seller, buyer = await open_market(world, payment_allowance=10 * CREDIT)
        trade = Trade(seller.pubkey(), buyer.pubkey(), energy=2 * KWH, payment=3 * CREDIT)
        (outcome,) = await settle_trades(world, [trade])
        assert outcome.error is None
        assert outcome.signature is not None
        assert await balances_of(world, seller, buyer) == [
            3 * KWH,
            103 * CREDIT,
            2 * KWH,
            97 * CREDIT,
        ]
        buyer_payment = await world.ledger.get_token_account(
            user_accounts(world.deployment, buyer.pubkey()).payment
        )
        assert buyer_payment is not None
        assert buyer_payment.delegated_amount == 7 * CREDIT  # allowance used up by the trade

    run(scenario())


def test_insufficient_payment_delegation_fails_the_whole_pair(world: World) -> None:
    async def scenario() -> None:
        seller, buyer = await open_market(world, payment_allowance=1 * CREDIT)
        before = await balances_of(world, seller, buyer)
        trade = Trade(seller.pubkey(), buyer.pubkey(), energy=2 * KWH, payment=3 * CREDIT)
        (outcome,) = await settle_trades(world, [trade])
        assert outcome.signature is None
        assert outcome.error is not None
        assert await balances_of(world, seller, buyer) == before  # not even the energy leg

    run(scenario())


def test_one_bad_trade_does_not_block_the_others(world: World) -> None:
    async def scenario() -> None:
        seller, buyer = await open_market(world, payment_allowance=10 * CREDIT)
        good = Trade(seller.pubkey(), buyer.pubkey(), energy=KWH, payment=CREDIT)
        bad = Trade(seller.pubkey(), buyer.pubkey(), energy=KWH, payment=50 * CREDIT)
        outcomes = await settle_trades(world, [good, bad, good])
        assert [o.error is None for o in outcomes] == [True, False, True]
        assert await balances_of(world, seller, buyer) == [
            3 * KWH,
            102 * CREDIT,
            2 * KWH,
            98 * CREDIT,
        ]

    run(scenario())


@pytest.mark.parametrize("batch", [True, False], ids=["batched", "one-instruction-each"])
def test_settlement_in_a_token_batch_moves_what_separate_transfers_move(
    world: World, batch: bool
) -> None:
    """p-token's Batch instruction (what the embedded ledger's token program takes, on
    both backends): one instruction carries every transfer, all or nothing."""

    async def scenario() -> None:
        seller, buyer = await open_market(world, payment_allowance=10 * CREDIT)
        trades = [
            Trade(seller.pubkey(), buyer.pubkey(), energy=KWH, payment=CREDIT),
            Trade(seller.pubkey(), buyer.pubkey(), energy=KWH // 2, payment=2 * CREDIT),
        ]
        outcomes = await settle_trades(world, trades, batch=batch)
        assert [o.error for o in outcomes] == [None, None]
        assert outcomes[0].signature == outcomes[1].signature  # one transaction
        assert await balances_of(world, seller, buyer) == [
            3 * KWH + KWH // 2,
            103 * CREDIT,
            KWH + KWH // 2,
            97 * CREDIT,
        ]
        assert outcomes[0].signature is not None
        entry = await world.embedded.journal_entry(outcomes[0].signature)
        assert entry is not None
        message = VersionedTransaction.from_bytes(entry.tx).message
        keys = message.account_keys
        token = [
            ix for ix in message.instructions if keys[ix.program_id_index] == spl.TOKEN_PROGRAM_ID
        ]
        assert len(token) == (1 if batch else 4)

        # A batch fails whole: an overdrawn second transfer undoes the first; the trade
        # is then tried alone, one instruction a transfer, so the error names the
        # payment leg (instruction 2, after the memo and the energy leg).
        before = await balances_of(world, seller, buyer)
        (failed,) = await settle_trades(
            world,
            [Trade(seller.pubkey(), buyer.pubkey(), energy=KWH, payment=50 * CREDIT)],
            epoch=2,
            batch=batch,
        )
        assert failed.signature is None
        assert failed.error is not None
        assert "InstructionError((2," in failed.error
        assert await balances_of(world, seller, buyer) == before

    run(scenario())
