"""The verifier's own reading of a transaction's bytes, against transactions solders
builds: signatures, memo texts and who really signed each memo."""

from solders.keypair import Keypair
from solders.signature import Signature

from programs import spl
from programs.roles.transactions import sign
from tests.verify.fakes import BLOCKHASH, memo_transaction, v0_memo_transaction
from verify.solana import MEMO_PROGRAM, parse_transaction


def test_the_memo_program_is_the_one_the_platform_writes_with() -> None:
    assert str(spl.MEMO_PROGRAM_ID) == MEMO_PROGRAM


def test_legacy_transaction_memos_and_signers() -> None:
    oracle = Keypair()
    tx = memo_transaction([b"gtx/v1 mint epoch=1", b"second"], oracle)
    signature, memos = parse_transaction(bytes(tx))
    assert signature == str(tx.signatures[0])
    assert [m.text for m in memos] == ["gtx/v1 mint epoch=1", "second"]
    assert all(m.signers == (str(oracle.pubkey()),) for m in memos)


def test_v0_transaction() -> None:
    oracle = Keypair()
    tx = v0_memo_transaction(b"gtx/v1 settle epoch=3", oracle)
    signature, memos = parse_transaction(bytes(tx))
    assert signature == str(tx.signatures[0])
    assert [(m.text, m.signers) for m in memos] == [("gtx/v1 settle epoch=3",
                                                     (str(oracle.pubkey()),))]  # fmt: skip


def test_a_forged_signature_credits_nobody() -> None:
    oracle = Keypair()
    tx = memo_transaction([b"gtx/v1 mint epoch=1"], oracle)
    signatures = list(tx.signatures)
    signatures[1] = Signature.from_bytes(bytes(64))  # the oracle's, replaced
    tx.signatures = signatures
    _, memos = parse_transaction(bytes(tx))
    assert memos[0].signers == ()


def test_instructions_of_other_programs_are_not_memos() -> None:
    payer = Keypair()
    transfer = spl.memo(b"x", [])
    other = type(transfer)(payer.pubkey(), b"gtx/v1 mint epoch=1", [])  # a program of no memo
    tx = sign([other, transfer], payer, [], BLOCKHASH)
    _, memos = parse_transaction(bytes(tx))
    assert [m.text for m in memos] == ["x"]


def test_truncated_bytes_are_refused() -> None:
    tx = memo_transaction([b"gtx/v1 mint epoch=1"], Keypair())
    raw = bytes(tx)
    for cut in (0, 1, 65, len(raw) - 1):
        try:
            parse_transaction(raw[:cut])
        except ValueError:
            continue
        raise AssertionError(f"a transaction cut at {cut} bytes was read")
