"""The rpc backend over real HTTP against the embedded ledger's JSON-RPC server, and
standard solana-py reads of the same server."""

import asyncio
import base64
import json
from typing import Any

import httpx2
import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.models import TokenAccountOpts
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.transaction import Transaction

from programs import spl
from programs.errors import TransactionExpired, TransactionFailed, UnsupportedOperation
from programs.ledger import EmbeddedLedger, FeePolicy, MemoryLedgerStore
from programs.ledger.jsonrpc import ui_transaction_error
from programs.ledger.rpc import RpcConfig, RpcLedger
from programs.roles.deployment import user_accounts
from programs.roles.oracle import mint_energy, post_attestation
from programs.roles.registry import register_user
from programs.roles.token import bootstrap, mint_payment
from programs.roles.trading import Trade, approve_escrow, settle
from programs.roles.transactions import sign
from tests.programs.conftest import Backend, rpc_ledger, run, serve
from wire.base58 import b58encode

KWH = 10**9
CREDIT = 10**6


def test_roles_work_through_the_rpc_backend_over_http() -> None:
    async def scenario() -> None:
        embedded = await EmbeddedLedger.open(MemoryLedgerStore())
        async with rpc_ledger(embedded, commitment="finalized") as (served, ledger):
            payer, oracle, rec, settler = Keypair(), Keypair(), Keypair(), Keypair()
            await ledger.airdrop(payer.pubkey(), 10 * 10**9)
            await ledger.airdrop(payer.pubkey(), 10 * 10**9)  # the same amount twice
            assert await ledger.balance(payer.pubkey()) == 20 * 10**9
            deployment = await bootstrap(
                ledger,
                payer=payer,
                energy_mint=Keypair(),
                payment_mint=Keypair(),
                oracle=oracle.pubkey(),
                rec_authority=rec.pubkey(),
                settlement_authority=settler.pubkey(),
            )
            seller, buyer = Keypair(), Keypair()
            for user in (seller, buyer):
                await register_user(ledger, deployment, payer=payer, owner=user.pubkey())
            await mint_payment(
                ledger,
                deployment,
                payer=payer,
                rec_authority=rec,
                grants=[(buyer.pubkey(), 50 * CREDIT)],
            )
            (minted,) = await mint_energy(
                ledger,
                deployment,
                payer=payer,
                oracle=oracle,
                epoch=1,
                grants=[(seller.pubkey(), 3 * KWH)],
            )
            await approve_escrow(
                ledger, deployment, payer=payer, owner=seller, energy=3 * KWH, payment=0
            )
            await approve_escrow(
                ledger, deployment, payer=payer, owner=buyer, energy=0, payment=50 * CREDIT
            )
            outcomes = await settle(
                ledger,
                deployment,
                payer=payer,
                settlement_authority=settler,
                epoch=1,
                trades=[
                    Trade(seller.pubkey(), buyer.pubkey(), energy=KWH, payment=4 * CREDIT),
                    Trade(seller.pubkey(), buyer.pubkey(), energy=KWH, payment=99 * CREDIT),
                ],
            )
            assert [o.error is None for o in outcomes] == [True, False]
            s, b = (
                user_accounts(deployment, seller.pubkey()),
                user_accounts(deployment, buyer.pubkey()),
            )
            assert await ledger.token_balance(s.energy) == 2 * KWH
            assert await ledger.token_balance(b.energy) == KWH
            assert await ledger.token_balance(s.payment) == 4 * CREDIT
            assert await ledger.token_balance(b.payment) == 46 * CREDIT
            # Both backends see the same ledger.
            assert await served.embedded.token_balance(b.payment) == 46 * CREDIT
            status = await ledger.signature_status(minted)
            assert status is not None
            assert status.ok

            # A standard client reads it too.
            async with AsyncClient(served.url, http2=False) as client:
                balance = (await client.get_token_account_balance(s.energy)).value
                assert (balance.amount, balance.decimals, balance.ui_amount_string) == (
                    "2000000000",
                    9,
                    "2",
                )
                owned = (
                    await client.get_token_accounts_by_owner(
                        seller.pubkey(), TokenAccountOpts(mint=deployment.energy_mint)
                    )
                ).value
                assert [a.pubkey for a in owned] == [s.energy]
                by_program = (
                    await client.get_token_accounts_by_owner(
                        seller.pubkey(), TokenAccountOpts(program_id=spl.TOKEN_PROGRAM_ID)
                    )
                ).value
                assert {a.pubkey for a in by_program} == {s.energy, s.payment}
                parsed = (await client.get_account_info_json_parsed(s.energy)).value
                assert parsed is not None
                assert not isinstance(parsed.data, bytes)
                info: dict[str, Any] = parsed.data.parsed["info"]  # type: ignore[assignment]
                assert info["tokenAmount"]["amount"] == "2000000000"
                assert info["delegate"] == str(deployment.settlement_authority)
                history = (await client.get_signatures_for_address(s.energy)).value
                assert minted in [h.signature for h in history]
                assert [h.slot for h in history] == sorted((h.slot for h in history), reverse=True)
                # The failed trade was refused by the preflight, as on a validator.
                assert all(h.err is None for h in history)
                page = (
                    await client.get_signatures_for_address(
                        s.energy, limit=1, before=history[0].signature
                    )
                ).value
                assert [p.signature for p in page] == [history[1].signature]
                tx = (await client.get_transaction(minted, encoding="json")).value
                assert tx is not None
                assert tx.slot == status.slot
                raw = (await client.get_transaction(minted, encoding="base64")).value
                assert raw is not None
                assert raw.transaction.transaction.signatures[0] == minted
                assert (await client.get_slot()).value == served.embedded.slot
                assert await client.is_connected()
                assert (await client.get_version()).value.solana_core
                mint = (await client.get_account_info(deployment.energy_mint)).value
                assert mint is not None
                assert mint.owner == spl.TOKEN_PROGRAM_ID

    asyncio.run(scenario())


def test_rpc_backend_errors_expiry_and_priority_fee() -> None:
    async def scenario() -> None:
        fee = FeePolicy(compute_unit_price=1_000, compute_unit_limit=200_000)
        embedded = await EmbeddedLedger.open(MemoryLedgerStore())
        async with rpc_ledger(embedded, commitment="confirmed", fee_policy=fee) as (
            served,
            ledger,
        ):
            payer = Keypair()
            await ledger.airdrop(payer.pubkey(), 10**9)
            # The priority fee opens every transaction the roles build for this ledger.
            signature = await post_attestation(
                ledger, payer=payer, oracle=Keypair(), epoch=1, merkle_root=b"\x07" * 32
            )
            entry = await served.embedded.journal_entry(signature)
            assert entry is not None
            programs = {str(k) for k in Transaction.from_bytes(entry.tx).message.account_keys}
            assert "ComputeBudget111111111111111111111111111111" in programs
            # An expired blockhash: TransactionExpired, and nothing recorded.
            stale = sign([spl.memo(b"late")], payer, [], Hash.new_unique())
            with pytest.raises(TransactionExpired):
                await ledger.send_transaction(stale)
            assert await ledger.signature_status(stale.signatures[0]) is None
            # A runtime failure: TransactionFailed with the error and logs.
            bad = sign(
                [Instruction(spl.MEMO_PROGRAM_ID, b"\xff", [])],
                payer,
                [],
                await ledger.latest_blockhash(),
            )
            with pytest.raises(TransactionFailed) as info:
                await ledger.send_transaction(bad)
            assert "InvalidInstructionData" in info.value.error
            assert any("Invalid UTF-8" in line for line in info.value.logs)
            # Refused by the preflight: nothing landed, as on a validator.
            assert await ledger.signature_status(bad.signatures[0]) is None
            # Without the preflight it lands and fails, with the embedded backend's text.
            config = RpcConfig(served.url, skip_preflight=True, poll_interval=0.005)
            async with RpcLedger.connect(config) as unchecked:
                with pytest.raises(TransactionFailed):
                    await unchecked.send_transaction(bad)
                status = await unchecked.signature_status(bad.signatures[0])
            direct = await served.embedded.signature_status(bad.signatures[0])
            assert status is not None
            assert direct is not None
            assert status.error == direct.error
        with pytest.raises(UnsupportedOperation):
            await RpcLedger.connect(RpcConfig("http://127.0.0.1:1")).airdrop(payer.pubkey(), 1)

    asyncio.run(scenario())


def test_json_rpc_errors_have_standard_codes() -> None:
    async def scenario() -> None:
        embedded = await EmbeddedLedger.open(MemoryLedgerStore())
        async with serve(embedded) as served, httpx2.AsyncClient(http2=False) as http:

            async def call(body: str) -> object:
                response = await http.post(served.url, content=body)
                return response.json()

            parse = await call("{not json")
            assert parse["error"]["code"] == -32700  # type: ignore[index]
            unknown = await call(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "nope"}))
            assert unknown == {
                "jsonrpc": "2.0",
                "error": {"code": -32601, "message": "Method not found"},
                "id": 1,
            }
            bad = await call(
                json.dumps({"jsonrpc": "2.0", "id": 2, "method": "getBalance", "params": ["x"]})
            )
            assert bad["error"]["code"] == -32602  # type: ignore[index]
            batch = await call(
                json.dumps(
                    [
                        {"jsonrpc": "2.0", "id": 3, "method": "getHealth"},
                        {"jsonrpc": "2.0", "id": 4, "method": "getSlot"},
                    ]
                )
            )
            assert batch == [
                {"jsonrpc": "2.0", "result": "ok", "id": 3},
                {"jsonrpc": "2.0", "result": 0, "id": 4},
            ]
            payer = Keypair()
            await embedded.airdrop(payer.pubkey(), 10**9)
            tx = sign(
                [spl.memo(b"b58", [payer.pubkey()])], payer, [], await embedded.latest_blockhash()
            )
            sent = await call(
                json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": 5,
                        "method": "sendTransaction",
                        "params": [b58encode(bytes(tx)), {"encoding": "base58"}],
                    }
                )
            )
            assert sent["result"] == str(tx.signatures[0])  # type: ignore[index]
            too_big = base64.b64encode(b"\x01" * 1300).decode()
            refused = await call(
                json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": 6,
                        "method": "sendTransaction",
                        "params": [too_big, {"encoding": "base64"}],
                    }
                )
            )
            assert refused["error"]["code"] == -32602  # type: ignore[index]
            health = await http.get(f"{served.url}/health")
            assert health.text == "ok"

    asyncio.run(scenario())


def test_ui_transaction_error() -> None:
    assert ui_transaction_error("TransactionErrorFieldless.AccountNotFound") == "AccountNotFound"
    assert ui_transaction_error(
        "TransactionErrorInstructionError((2, Tagged(InstructionErrorCustom(17))))"
    ) == {"InstructionError": [2, {"Custom": 17}]}
    assert ui_transaction_error(
        "TransactionErrorInstructionError((0, Fieldless(InvalidInstructionData)))"
    ) == {"InstructionError": [0, "InvalidInstructionData"]}
    assert ui_transaction_error(
        "TransactionErrorInsufficientFundsForRent { account_index: 2 }"
    ) == {"InsufficientFundsForRent": {"account_index": 2}}
    assert ui_transaction_error("TransactionErrorDuplicateInstruction(3)") == {
        "DuplicateInstruction": 3
    }
    assert ui_transaction_error("something new") == "something new"


def test_the_rpc_backend_fixture_talks_http_to_the_embedded_ledger(backend: Backend) -> None:
    async def scenario() -> None:
        payer = Keypair()
        await backend.ledger.airdrop(payer.pubkey(), 10**9)
        assert await backend.embedded.get_account(payer.pubkey()) is not None
        if backend.name == "rpc":
            assert isinstance(backend.ledger, RpcLedger)
            assert (await backend.ledger.client.get_balance(payer.pubkey())).value == 10**9
        else:
            assert backend.ledger is backend.embedded

    run(scenario())
