"""Settlement packing from the trades' accounts alone agrees with packing the built
instructions (the same transactions, every one within 1232 bytes)."""

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from programs.ledger import FeePolicy
from programs.roles.deployment import Deployment
from programs.roles.trading import Trade, _Parties, _settlement_prefix, pack_settlement
from programs.txsize import (
    MAX_TRANSACTION_SIZE,
    GroupSize,
    pack_instruction_groups,
    signed_size,
)

DEPLOYMENT = Deployment(
    energy_mint=Pubkey.new_unique(),
    payment_mint=Pubkey.new_unique(),
    oracle=Pubkey.new_unique(),
    rec_authority=Pubkey.new_unique(),
    settlement_authority=Pubkey.new_unique(),
)
PARTIES = _Parties(DEPLOYMENT)
PAYER = Keypair().pubkey()
USERS = [Pubkey.new_unique() for _ in range(40)]

_trades = st.lists(
    st.tuples(
        st.sampled_from(USERS),
        st.sampled_from(USERS),
        st.integers(1, 2**64 - 1),
        st.integers(1, 2**64 - 1),
    )
    .filter(lambda t: t[0] != t[1])
    .map(lambda t: Trade(*t)),
    max_size=120,
)
_fees = st.sampled_from([FeePolicy(), FeePolicy(compute_unit_price=5), FeePolicy(1000, 1_400_000)])


@settings(max_examples=80, deadline=None)
@given(_trades, _fees, st.integers(0, 2**40), st.booleans())
def test_packing_by_accounts_matches_packing_the_instructions(
    trades: list[Trade], fee: FeePolicy, epoch: int, authority_pays: bool
) -> None:
    payer = DEPLOYMENT.settlement_authority if authority_pays else PAYER
    packed = pack_settlement(DEPLOYMENT, payer=payer, epoch=epoch, trades=trades, fee=fee)
    prefix = _settlement_prefix(epoch, DEPLOYMENT.settlement_authority, fee)
    groups = [PARTIES.instructions(t) for t in trades]
    reference = pack_instruction_groups(groups, payer, prefix=prefix)
    assert packed == [b.group_indices for b in reference]


@settings(max_examples=80, deadline=None)
@given(_trades)
def test_a_trade_names_exactly_the_keys_its_transfers_name(trades: list[Trade]) -> None:
    for trade in trades:
        assert PARTIES.keys(trade) == GroupSize.of(PARTIES.instructions(trade)).keys
        assert set(PARTIES.own_keys(trade)) == PARTIES.keys(trade) - PARTIES.common


def test_a_real_book_fills_transactions_to_the_limit() -> None:
    # Neighbouring trades share a party, as in a uniform-price sweep.
    trades = [Trade(USERS[i % 40], USERS[(i + 1) % 40], 10, 10) for i in range(60)]
    prefix = _settlement_prefix(1, DEPLOYMENT.settlement_authority, FeePolicy())
    packed = pack_settlement(DEPLOYMENT, payer=PAYER, epoch=1, trades=trades)
    assert len(packed) > 1
    for indices, following in itertools.pairwise(packed):
        ixs = prefix + [ix for i in indices for ix in PARTIES.instructions(trades[i])]
        assert signed_size(ixs, PAYER) <= MAX_TRANSACTION_SIZE
        more = ixs + PARTIES.instructions(trades[following[0]])
        assert signed_size(more, PAYER) > MAX_TRANSACTION_SIZE
