"""The 1232-byte check and the instruction-group packer."""

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from solders.address_lookup_table_account import AddressLookupTableAccount
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message, MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from programs import spl
from programs.errors import TransactionTooLarge
from programs.txsize import (
    MAX_ACCOUNT_LOCKS,
    MAX_TRANSACTION_SIZE,
    GroupSize,
    check_transaction_size,
    pack_instruction_groups,
    pack_sized_groups,
    pack_v0_groups,
    signed_size,
)

PAYER = Keypair()


def _memo(length: int, signer: Pubkey | None = None) -> Instruction:
    return spl.memo(b"x" * length, [signer] if signer else [])


def _signed(instructions: list[Instruction], signers: list[Keypair]) -> Transaction:
    return Transaction(signers, Message(instructions, signers[0].pubkey()), Hash.new_unique())


def test_signed_size_is_the_serialized_size() -> None:
    other = Keypair()
    instructions = [_memo(100, other.pubkey()), _memo(7)]
    tx = _signed(instructions, [PAYER, other])
    assert signed_size(instructions, PAYER.pubkey()) == len(bytes(tx))
    assert check_transaction_size(tx) == len(bytes(tx))


def test_limit_is_exact() -> None:
    # Memo data above 127 bytes takes a 2-byte length prefix.
    base = signed_size([_memo(0)], PAYER.pubkey()) + 1
    fits = _signed([_memo(MAX_TRANSACTION_SIZE - base)], [PAYER])
    assert check_transaction_size(fits) == MAX_TRANSACTION_SIZE
    too_big = _signed([_memo(MAX_TRANSACTION_SIZE - base + 1)], [PAYER])
    with pytest.raises(TransactionTooLarge) as info:
        check_transaction_size(too_big)
    assert info.value.size == MAX_TRANSACTION_SIZE + 1


def test_a_group_too_big_alone_is_refused() -> None:
    with pytest.raises(TransactionTooLarge):
        pack_instruction_groups([[_memo(10)], [_memo(1300)]], PAYER.pubkey())


def test_trade_pairs_pack_several_per_transaction() -> None:
    mints = Pubkey.new_unique(), Pubkey.new_unique()
    authority = Pubkey.new_unique()
    groups = [
        [
            spl.transfer_checked(
                source=Pubkey.new_unique(),
                mint=mints[leg],
                destination=Pubkey.new_unique(),
                authority=authority,
                amount=1,
                decimals=6,
            )
            for leg in (0, 1)
        ]
        for _ in range(40)
    ]
    batches = pack_instruction_groups(groups, PAYER.pubkey(), prefix=[_memo(20, authority)])
    assert len(batches) > 1
    assert all(len(b.group_indices) >= 4 for b in batches[:-1])
    # Greedy: the next group would not have fitted in the previous batch.
    for batch, following in itertools.pairwise(batches):
        extra = groups[following.group_indices[0]]
        assert signed_size([*batch.instructions, *extra], PAYER.pubkey()) > MAX_TRANSACTION_SIZE


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=600), min_size=0, max_size=30),
    st.integers(min_value=0, max_value=100),
)
def test_packing_keeps_order_groups_whole_and_every_tx_under_the_limit(
    lengths: list[int], prefix_length: int
) -> None:
    groups = [[_memo(n), _memo(n // 2)] for n in lengths]
    prefix = [_memo(prefix_length)]
    batches = pack_instruction_groups(groups, PAYER.pubkey(), prefix=prefix)
    assert [i for b in batches for i in b.group_indices] == list(range(len(groups)))
    for batch in batches:
        expected = prefix + [ix for i in batch.group_indices for ix in groups[i]]
        assert list(batch.instructions) == expected
        assert batch.size == signed_size(expected, PAYER.pubkey()) <= MAX_TRANSACTION_SIZE
        tx = _signed(list(batch.instructions), [PAYER])
        assert check_transaction_size(tx) == batch.size
    assert batches == pack_instruction_groups(groups, PAYER.pubkey(), prefix=prefix)


_KEYS = [Pubkey.new_unique() for _ in range(12)]
_SIGNERS = [Keypair() for _ in range(3)]


def _transfer(draw: st.DrawFn) -> Instruction:
    """A transfer over a small pool of keys, so groups share keys and signers."""
    return spl.transfer_checked(
        source=draw(st.sampled_from(_KEYS)),
        mint=draw(st.sampled_from(_KEYS)),
        destination=draw(st.sampled_from(_KEYS)),
        authority=draw(st.sampled_from([k.pubkey() for k in _SIGNERS])),
        amount=draw(st.integers(0, 2**64 - 1)),
        decimals=6,
    )


@st.composite
def _instruction(draw: st.DrawFn) -> Instruction:
    """A transfer or a memo over a small pool of keys, so groups share keys and signers."""
    if draw(st.booleans()):
        return _transfer(draw)
    signers = draw(st.lists(st.sampled_from([k.pubkey() for k in _SIGNERS]), max_size=2))
    return spl.memo(b"m" * draw(st.integers(0, 200)), signers)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(_instruction(), min_size=1, max_size=4), max_size=25))
def test_the_running_tally_is_the_serialized_size_with_shared_keys_and_signers(
    groups: list[list[Instruction]],
) -> None:
    for batch in pack_instruction_groups(groups, PAYER.pubkey()):
        assert batch.size == signed_size(list(batch.instructions), PAYER.pubkey())
        assert batch.size <= MAX_TRANSACTION_SIZE


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(_instruction(), min_size=1, max_size=4), max_size=25), st.booleans())
def test_packing_from_sizes_is_packing_from_instructions(
    groups: list[list[Instruction]], with_prefix: bool
) -> None:
    prefix = [_memo(30, _SIGNERS[0].pubkey())] if with_prefix else []
    reference = pack_instruction_groups(groups, PAYER.pubkey(), prefix=prefix)
    sized = pack_sized_groups([GroupSize.of(g) for g in groups], PAYER.pubkey(), prefix=prefix)
    assert sized == [(b.group_indices, b.size) for b in reference]


def test_a_sized_group_too_big_alone_is_refused() -> None:
    with pytest.raises(TransactionTooLarge):
        pack_sized_groups([GroupSize.of([_memo(10)]), GroupSize.of([_memo(1300)])], PAYER.pubkey())


_TABLE_KEYS = _KEYS[:9]  # never signers nor programs, as the settlement's tables hold


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.lists(_instruction(), min_size=1, max_size=4), max_size=25),
    st.lists(st.lists(st.sampled_from(_TABLE_KEYS), max_size=9, unique=True), max_size=3),
    st.booleans(),
)
def test_v0_packing_sizes_are_what_the_compiler_produces(
    groups: list[list[Instruction]], tables: list[list[Pubkey]], with_prefix: bool
) -> None:
    prefix = [_memo(30, _SIGNERS[0].pubkey())] if with_prefix else []
    accounts = [AddressLookupTableAccount(Pubkey.new_unique(), t) for t in tables]
    packed = pack_v0_groups(
        [GroupSize.of(g) for g in groups], PAYER.pubkey(), accounts, prefix=prefix
    )
    assert sorted(i for indices, _ in packed for i in indices) == list(range(len(groups)))
    for indices, size in packed:
        instructions = prefix + [ix for i in indices for ix in groups[i]]
        message = MessageV0.try_compile(PAYER.pubkey(), instructions, accounts, Hash.default())
        signers = message.header.num_required_signatures
        assert size == 1 + 64 * signers + len(to_bytes_versioned(message))
        assert size <= MAX_TRANSACTION_SIZE
        named = len(message.account_keys) + sum(
            len(bytes(t.writable_indexes)) + len(bytes(t.readonly_indexes))
            for t in message.address_table_lookups
        )
        assert named <= MAX_ACCOUNT_LOCKS


def _transfer_group(draw: st.DrawFn) -> list[Instruction]:
    return [_transfer(draw) for _ in range(draw(st.integers(1, 3)))]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.composite(_transfer_group)(), max_size=80),
    st.lists(st.lists(st.sampled_from(_TABLE_KEYS), max_size=9, unique=True), max_size=3),
    st.booleans(),
)
def test_batched_packing_sizes_are_what_the_compiler_produces(
    groups: list[list[Instruction]], tables: list[list[Pubkey]], with_prefix: bool
) -> None:
    """Groups in one `spl.batch` instruction per transaction, legacy and v0: the tally
    crosses the one- to two-byte length prefixes of its accounts and data."""
    prefix = [_memo(30, _SIGNERS[0].pubkey())] if with_prefix else []
    accounts = [AddressLookupTableAccount(Pubkey.new_unique(), t) for t in tables]
    sized = [GroupSize.batched(g) for g in groups]
    legacy = pack_sized_groups(sized, PAYER.pubkey(), prefix=prefix)
    v0 = pack_v0_groups(sized, PAYER.pubkey(), accounts, prefix=prefix)
    for packed, v0_tables in ((legacy, None), (v0, accounts)):
        assert [i for indices, _ in packed for i in indices] == list(range(len(groups)))
        for indices, size in packed:
            batch = spl.batch([ix for i in indices for ix in groups[i]])
            assert len(batch.accounts) <= spl.MAX_BATCH_ACCOUNTS
            if v0_tables is None:
                assert size == signed_size([*prefix, batch], PAYER.pubkey())
            else:
                message = MessageV0.try_compile(
                    PAYER.pubkey(), [*prefix, batch], v0_tables, Hash.default()
                )
                signers = message.header.num_required_signatures
                assert size == 1 + 64 * signers + len(to_bytes_versioned(message))
            assert size <= MAX_TRANSACTION_SIZE


def test_a_batch_never_carries_more_accounts_than_an_instruction_may() -> None:
    group = [
        spl.transfer_checked(
            source=_KEYS[0],
            mint=_KEYS[1],
            destination=_KEYS[2],
            authority=PAYER.pubkey(),
            amount=1,
            decimals=9,
        )
    ]
    sized = [GroupSize.batched(group)] * 200
    packed = pack_sized_groups(sized, PAYER.pubkey(), limit=100_000)  # size never binds
    assert [len(indices) for indices, _ in packed] == [63, 63, 63, 11]  # 4 accounts each
