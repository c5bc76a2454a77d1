"""The JSON-RPC's pure parts: transaction errors as a validator shows them (JSON and
message), instructions in jsonParsed as a validator's parsers give them, and the
execution meta kept in the journal."""

import pytest
import solders.system_program as system
import solders.transaction_status as status
import spl.token.instructions as token
from solders.instruction import Instruction
from solders.message import Message
from solders.pubkey import Pubkey
from spl.token.instructions import AuthorityType  # type: ignore[attr-defined]
from spl.token.models import (
    ApproveParams,
    BurnParams,
    CloseAccountParams,
    InitializeAccountParams,
    InitializeMintParams,
    MintToParams,
    SetAuthorityParams,
    TransferParams,
)

from programs import spl
from programs.ledger.jsonrpc import transaction_error_message, ui_transaction_error
from programs.ledger.jsonrpc.parsers import parse_instruction
from programs.ledger.meta import ExecutionMeta, InnerInstruction, format_memos
from wire.base58 import b58encode

A, B, C, D = (Pubkey.new_unique() for _ in range(4))
TOKEN = str(spl.TOKEN_PROGRAM_ID)


@pytest.mark.parametrize(
    ("error", "ui", "message"),
    [
        (
            status.TransactionErrorFieldless.BlockhashNotFound,
            "BlockhashNotFound",
            "Blockhash not found",
        ),
        (
            status.TransactionErrorFieldless.AccountNotFound,
            "AccountNotFound",
            "Attempt to debit an account but found no record of a prior credit.",
        ),
        (
            status.TransactionErrorInstructionError(2, status.InstructionErrorCustom(17)),
            {"InstructionError": [2, {"Custom": 17}]},
            "Error processing Instruction 2: custom program error: 0x11",
        ),
        (
            status.TransactionErrorInstructionError(
                0, status.InstructionErrorFieldless.InvalidInstructionData
            ),
            {"InstructionError": [0, "InvalidInstructionData"]},
            "Error processing Instruction 0: invalid instruction data",
        ),
        (
            status.TransactionErrorInsufficientFundsForRent(1),
            {"InsufficientFundsForRent": {"account_index": 1}},
            "Transaction results in an account (1) with insufficient funds for rent",
        ),
        (
            status.TransactionErrorDuplicateInstruction(3),
            {"DuplicateInstruction": 3},
            "Transaction contains a duplicate instruction (3) that is not allowed",
        ),
        (
            status.TransactionErrorProgramExecutionTemporarilyRestricted(4),
            {"ProgramExecutionTemporarilyRestricted": {"account_index": 4}},
            "Execution of the program referenced by account at index 4 is temporarily restricted.",
        ),
    ],
)
def test_transaction_errors_as_a_validator_shows_them(
    error: object, ui: object, message: str
) -> None:
    # The ledger journals solders' text of the error; the RPC shows its JSON and message.
    assert ui_transaction_error(str(error)) == ui
    assert transaction_error_message(ui) == message


def test_every_fieldless_error_has_a_validators_message() -> None:
    for name in dir(status.TransactionErrorFieldless):
        if name.startswith("_") or not name[0].isupper():
            continue
        error = getattr(status.TransactionErrorFieldless, name)
        assert ui_transaction_error(str(error)) == name
        assert transaction_error_message(name) != name or name in {
            "ResanitizationNeeded",
            "CommitCancelled",
        }
    for name in dir(status.InstructionErrorFieldless):
        if name.startswith("_") or not name[0].isupper():
            continue
        inner = getattr(status.InstructionErrorFieldless, name)
        ui = ui_transaction_error(str(status.TransactionErrorInstructionError(0, inner)))
        assert ui == {"InstructionError": [0, name]}
        assert not transaction_error_message(ui).endswith(name), name


def _parsed(*instructions: Instruction) -> list[object]:
    message = Message(list(instructions), A)
    keys = [str(k) for k in message.account_keys]
    return [
        parse_instruction(keys[ix.program_id_index], bytes(ix.accounts), bytes(ix.data), keys, 1)
        for ix in message.instructions
    ]


def _info(instruction: Instruction) -> tuple[str, dict[str, object]]:
    (parsed,) = _parsed(instruction)
    assert isinstance(parsed, dict)
    assert parsed["program"] in ("spl-token", "system", "spl-associated-token-account")
    body = parsed["parsed"]
    return body["type"], body["info"]


def test_token_instructions_parse_as_a_validators_parser_does() -> None:
    program = spl.TOKEN_PROGRAM_ID
    assert _info(
        token.transfer(TransferParams(program_id=program, source=B, dest=C, owner=A, amount=5))
    ) == (
        "transfer",
        {"source": str(B), "destination": str(C), "amount": "5", "authority": str(A)},
    )
    kind, info = _info(
        spl.transfer_checked(source=B, mint=D, destination=C, authority=A, amount=1500, decimals=3)
    )
    assert kind == "transferChecked"
    assert info["tokenAmount"] == {
        "uiAmount": 1.5,
        "decimals": 3,
        "amount": "1500",
        "uiAmountString": "1.5",
    }
    assert (info["source"], info["mint"], info["destination"]) == (str(B), str(D), str(C))
    assert _info(
        token.approve(ApproveParams(program_id=program, source=B, delegate=C, owner=A, amount=7))
    ) == (
        "approve",
        {"source": str(B), "delegate": str(C), "amount": "7", "owner": str(A)},
    )
    assert _info(spl.revoke(source=B, owner=A)) == (
        "revoke",
        {"source": str(B), "owner": str(A)},
    )
    assert _info(
        token.mint_to(MintToParams(program_id=program, mint=D, dest=B, mint_authority=A, amount=9))
    ) == (
        "mintTo",
        {"mint": str(D), "account": str(B), "amount": "9", "mintAuthority": str(A)},
    )
    assert (
        _info(token.burn(BurnParams(program_id=program, account=B, mint=D, owner=A, amount=2)))[1][
            "amount"
        ]
        == "2"
    )
    assert _info(
        token.close_account(CloseAccountParams(program_id=program, account=B, dest=C, owner=A))
    ) == (
        "closeAccount",
        {"account": str(B), "destination": str(C), "owner": str(A)},
    )
    assert _info(spl.freeze_account(account=B, mint=D, authority=A)) == (
        "freezeAccount",
        {"account": str(B), "mint": str(D), "freezeAuthority": str(A)},
    )
    assert _info(spl.thaw_account(account=B, mint=D, authority=A))[0] == "thawAccount"
    assert _info(
        token.set_authority(
            SetAuthorityParams(
                program_id=program,
                account=D,
                authority=AuthorityType.MINT_TOKENS,
                current_authority=A,
                new_authority=C,
            )
        )
    ) == (
        "setAuthority",
        {
            "mint": str(D),
            "authorityType": "mintTokens",
            "newAuthority": str(C),
            "authority": str(A),
        },
    )
    kind, info = _info(
        token.initialize_mint(
            InitializeMintParams(
                decimals=6, program_id=program, mint=D, mint_authority=A, freeze_authority=C
            )
        )
    )
    assert kind == "initializeMint"
    assert info["freezeAuthority"] == str(C)
    assert info["decimals"] == 6
    assert _info(
        token.initialize_account(
            InitializeAccountParams(program_id=program, account=B, mint=D, owner=C)
        )
    )[1] == {
        "account": str(B),
        "mint": str(D),
        "owner": str(C),
        "rentSysvar": "SysvarRent111111111111111111111111111111111",
    }


def test_multisig_authorities_and_batches() -> None:
    signer = Pubkey.new_unique()
    transfer = token.transfer(
        TransferParams(
            program_id=spl.TOKEN_PROGRAM_ID,
            source=B,
            dest=C,
            owner=D,
            amount=5,
            signers=[A, signer],
        )
    )
    assert _info(transfer)[1] == {
        "source": str(B),
        "destination": str(C),
        "amount": "5",
        "multisigAuthority": str(D),
        "signers": [str(A), str(signer)],
    }
    batch = spl.batch(
        [
            spl.transfer_checked(
                source=B, mint=D, destination=C, authority=A, amount=1, decimals=0
            ),
            spl.transfer_checked(
                source=C, mint=D, destination=B, authority=A, amount=2, decimals=0
            ),
        ]
    )
    kind, info = _info(batch)
    assert kind == "batch"
    inner = info["instructions"]
    assert isinstance(inner, list)
    assert [i["type"] for i in inner] == ["transferChecked", "transferChecked"]
    assert [i["info"]["destination"] for i in inner] == [str(C), str(B)]


def test_system_ata_memo_and_unknown_programs() -> None:
    create = system.create_account(
        system.CreateAccountParams(
            from_pubkey=A, to_pubkey=B, lamports=10, space=165, owner=spl.TOKEN_PROGRAM_ID
        )
    )
    assert _info(create) == (
        "createAccount",
        {"source": str(A), "newAccount": str(B), "lamports": 10, "space": 165, "owner": TOKEN},
    )
    seeded = system.create_account_with_seed(
        system.CreateAccountWithSeedParams(
            from_pubkey=A, to_pubkey=B, base=A, seed="gtx", lamports=1, space=2, owner=C
        )
    )
    assert _info(seeded)[1]["seed"] == "gtx"
    assert _info(system.allocate(system.AllocateParams(pubkey=A, space=7))) == (
        "allocate",
        {"account": str(A), "space": 7},
    )
    kind, info = _info(spl.create_associated_token_account(payer=A, owner=C, mint=D))
    assert kind == "createIdempotent"
    assert (info["wallet"], info["mint"], info["source"]) == (str(C), str(D), str(A))
    memo, bad_memo, other = _parsed(
        spl.memo(b"gtx/v1 hello"),
        spl.memo(b"\xff\xfe"),
        Instruction(Pubkey.new_unique(), b"\x01\x02", []),
    )
    assert memo == {
        "program": "spl-memo",
        "programId": str(spl.MEMO_PROGRAM_ID),
        "parsed": "gtx/v1 hello",
        "stackHeight": 1,
    }
    assert isinstance(bad_memo, dict)
    assert "parsed" not in bad_memo  # not UTF-8: shown partially decoded
    assert bad_memo["data"] == b58encode(b"\xff\xfe")
    assert isinstance(other, dict)
    assert set(other) == {"programId", "accounts", "data", "stackHeight"}


def test_a_validators_memo_field() -> None:
    assert format_memos([]) is None
    assert format_memos([b"hello", "\U0001f996".encode()]) == "[5] hello; [4] \U0001f996"
    assert format_memos([b"\xff"]) == "[1] (unparsable)"


def _token(mint: Pubkey, owner: Pubkey, amount: int) -> bytes:
    return bytes(mint) + bytes(owner) + amount.to_bytes(8, "little")


def test_execution_meta_round_trips_through_its_stored_form() -> None:
    meta = ExecutionMeta(
        fee=5000,
        pre_balances=(10, 20, 30),
        post_balances=(5, 25, 0),
        pre_tokens={1: _token(D, C, 0), 2: _token(D, A, 7)},
        post_tokens={1: _token(D, C, 3), 2: _token(D, B, 7)},
        decimals={bytes(D): 9},
        compute_units=1234,
        inner_instructions=((0, (InnerInstruction(3, b"\x01\x02", b"data", 2),)),),
        return_data=(spl.TOKEN_PROGRAM_ID, b"\x07"),
        token_programs={2: Pubkey.new_unique()},
    )
    again = ExecutionMeta.from_bytes(meta.to_bytes())
    assert again == meta
    same, before, after = again.token_balances
    assert (same.account_index, same.mint, same.owner, same.decimals) == (1, D, C, 9)
    assert (same.pre, same.post, same.program_id) == (0, 3, spl.TOKEN_PROGRAM_ID)
    # An owner changed within the transaction: the account shows twice.
    assert (before.owner, before.pre, before.post) == (A, 7, None)
    assert (after.owner, after.pre, after.post) == (B, None, 7)
    assert after.program_id == meta.token_programs[2]
