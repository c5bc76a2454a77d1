"""The embedded ledger as a validator: what it journals of each transaction, a
read-only replica following its writer, the websocket subscriptions, and the
answers a validator gives where a request cannot be served. (The @solana/kit suite,
tests/programs/test_solana_kit.py, checks the rest as the SDK uses it.)"""

import asyncio
import base64
import json
import time
from pathlib import Path
from typing import Any

import httpx2
from solders.compute_budget import set_compute_unit_price
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction
from spl.token.instructions import close_account
from spl.token.models import CloseAccountParams
from sqlalchemy import create_engine
from websockets.asyncio.client import ClientConnection, connect

from programs import spl
from programs.ledger import EmbeddedLedger, JournalEntry, SqlLedgerStore
from programs.ledger.jsonrpc.methods import message_fee
from programs.roles.deployment import user_accounts
from programs.roles.oracle import mint_energy, post_attestation
from programs.roles.transactions import sign
from tests.programs.conftest import World, add_users, deploy, make_world, run, serve

KWH = 10**9


class _Rpc:
    """Plain JSON-RPC calls, to see exactly what the server answers."""

    def __init__(self, http: httpx2.AsyncClient, url: str) -> None:
        self.http = http
        self.url = url

    async def call(self, method: str, *params: object) -> dict[str, Any]:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        answer: dict[str, Any] = (await self.http.post(self.url, json=body)).json()
        return answer

    async def result(self, method: str, *params: object) -> Any:
        answer = await self.call(method, *params)
        assert "error" not in answer, answer
        return answer["result"]

    async def error(self, method: str, *params: object) -> dict[str, Any]:
        answer = await self.call(method, *params)
        assert "error" in answer, answer
        error: dict[str, Any] = answer["error"]
        return error


def test_the_journal_keeps_what_a_validator_reports(embedded_world: World) -> None:
    async def scenario() -> None:
        world = embedded_world
        (owner,) = await add_users(world, 1)
        started = int(time.time())
        attestation = await post_attestation(
            world.ledger, payer=world.payer, oracle=world.oracle, epoch=3, merkle_root=b"\x01" * 32
        )
        (minted,) = await mint_energy(
            world.ledger,
            world.deployment,
            payer=world.payer,
            oracle=world.oracle,
            epoch=3,
            grants=[(owner.pubkey(), 2 * KWH)],
        )
        entry = await world.embedded.journal_entry(minted)
        assert entry is not None
        assert entry.meta is not None
        assert entry.block_time is not None
        assert started <= entry.block_time <= int(time.time())
        tx = Transaction.from_bytes(entry.tx)
        keys = tx.message.account_keys
        assert len(entry.meta.pre_balances) == len(keys) == len(entry.meta.post_balances)
        assert entry.meta.fee == 5000 * len(tx.signatures)
        assert entry.meta.pre_balances[0] - entry.meta.post_balances[0] == entry.meta.fee
        energy = user_accounts(world.deployment, owner.pubkey()).energy
        (balance,) = [b for b in entry.meta.token_balances if keys[b.account_index] == energy]
        assert (balance.pre, balance.post, balance.decimals) == (0, 2 * KWH, 9)
        assert (balance.mint, balance.owner) == (world.deployment.energy_mint, owner.pubkey())
        assert entry.meta.compute_units > 0
        assert f"Program {spl.TOKEN_PROGRAM_ID} success" in entry.logs
        noted = await world.embedded.journal_entry(attestation)
        assert noted is not None
        assert noted.memo is not None
        assert noted.memo.startswith("[")
        assert "gtx/v1 attest epoch=3 root=0101" in noted.memo

    run(scenario())


def test_a_read_only_replica_follows_the_writer(tmp_path: Path) -> None:
    async def scenario() -> None:
        engine = create_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
        store = SqlLedgerStore(engine)
        store.create_tables()
        writer = await EmbeddedLedger.open(store)
        replica = await EmbeddedLedger.open(SqlLedgerStore(engine))
        heard: list[JournalEntry] = []
        replica.listen(heard.extend)
        assert replica.genesis_hash == writer.genesis_hash
        world = await deploy(writer, writer)
        (owner,) = await add_users(world, 1)
        energy = user_accounts(world.deployment, owner.pubkey()).energy
        assert await replica.get_account(energy) is None
        while await replica.catch_up(batch=3):
            pass
        assert replica.slot == writer.slot
        assert [e.slot for e in heard] == list(range(1, writer.slot + 1))
        assert await replica.get_account(energy) == await writer.get_account(energy)
        assert await replica.get_account(world.payer.pubkey()) == await writer.get_account(
            world.payer.pubkey()
        )
        # A closed account is gone from the replica too.
        close = close_account(
            CloseAccountParams(
                program_id=spl.TOKEN_PROGRAM_ID,
                account=energy,
                dest=owner.pubkey(),
                owner=owner.pubkey(),
            )
        )
        await writer.send_transaction(
            sign([close], world.payer, [owner], await writer.latest_blockhash())
        )
        assert [e.slot for e in await replica.catch_up()] == [writer.slot]
        assert await replica.get_account(energy) is None
        assert await replica.catch_up() == []
        engine.dispose()

    run(scenario())


async def _receive(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
    return message


async def _subscribe(ws: ClientConnection, method: str, *params: object) -> int:
    await ws.send(json.dumps({"jsonrpc": "2.0", "id": 7, "method": method, "params": list(params)}))
    answer = await _receive(ws)
    assert answer["id"] == 7, answer
    sub_id: int = answer["result"]
    return sub_id


def test_websocket_subscriptions() -> None:
    async def scenario() -> None:
        world = await make_world()
        (owner,) = await add_users(world, 1)
        energy = user_accounts(world.deployment, owner.pubkey()).energy
        async with serve(world.embedded) as served:
            url = served.url.replace("http://", "ws://")
            async with connect(url) as ws:
                slots = await _subscribe(ws, "slotSubscribe")
                logs = await _subscribe(ws, "logsSubscribe", {"mentions": [str(energy)]})
                program = await _subscribe(
                    ws,
                    "programSubscribe",
                    str(spl.TOKEN_PROGRAM_ID),
                    {
                        "encoding": "jsonParsed",
                        "filters": [
                            {"dataSize": 165},
                            {"memcmp": {"offset": 32, "bytes": str(owner.pubkey())}},
                        ],
                    },
                )
                (minted,) = await mint_energy(
                    world.ledger,
                    world.deployment,
                    payer=world.payer,
                    oracle=world.oracle,
                    epoch=1,
                    grants=[(owner.pubkey(), KWH)],
                )
                got: dict[int, dict[str, Any]] = {}
                while len(got) < 3:
                    message = await _receive(ws)
                    got[message["params"]["subscription"]] = message
                slot = got[slots]["params"]["result"]
                assert slot["slot"] == world.embedded.slot
                assert got[slots]["method"] == "slotNotification"
                value = got[logs]["params"]["result"]["value"]
                assert value["signature"] == str(minted)
                assert value["err"] is None
                changed = got[program]["params"]["result"]["value"]
                assert changed["pubkey"] == str(energy)
                assert changed["account"]["data"]["parsed"]["info"]["tokenAmount"]["amount"] == str(
                    KWH
                )
                # A signature already journaled: the answer, then its one notification.
                await ws.send(
                    json.dumps(
                        {
                            "jsonrpc": "2.0",
                            "id": 8,
                            "method": "signatureSubscribe",
                            "params": [str(minted)],
                        }
                    )
                )
                answer = await _receive(ws)
                while "id" not in answer:  # notifications of the subscriptions above
                    answer = await _receive(ws)
                notified = await _receive(ws)
                assert notified["method"] == "signatureNotification"
                assert notified["params"]["subscription"] == answer["result"]
                assert notified["params"]["result"]["value"] == {"err": None}
                for method, sub_id in (("slotUnsubscribe", slots), ("logsUnsubscribe", logs)):
                    await ws.send(
                        json.dumps(
                            {"jsonrpc": "2.0", "id": 9, "method": method, "params": [sub_id]}
                        )
                    )
                    assert (await _receive(ws))["result"] is True
                await ws.send(
                    json.dumps(
                        {"jsonrpc": "2.0", "id": 10, "method": "slotUnsubscribe", "params": [slots]}
                    )
                )
                refused = await _receive(ws)
                assert refused["error"] == {"code": -32602, "message": "Invalid subscription id."}

    run(scenario())


def test_answers_where_a_request_cannot_be_served() -> None:
    async def scenario() -> None:
        world = await make_world()
        async with serve(world.embedded) as served, httpx2.AsyncClient(http2=False) as http:
            rpc = _Rpc(http, served.url)
            future = world.embedded.slot + 5
            assert await rpc.error("getBlock", future, {"maxSupportedTransactionVersion": 0}) == {
                "code": -32004,
                "message": f"Block not available for slot {future}",
            }
            genesis = await rpc.result("getBlock", 0)
            assert genesis["blockhash"] == await rpc.result("getGenesisHash")
            assert genesis["transactions"] == []
            block = await rpc.result(
                "getBlock", 1, {"transactionDetails": "none", "rewards": False}
            )
            assert block["previousBlockhash"] == genesis["blockhash"]
            assert set(block) == {
                "blockHeight",
                "blockTime",
                "blockhash",
                "parentSlot",
                "previousBlockhash",
            }
            assert (await rpc.error("getBlockTime", 0))["code"] == -32004
            signature = str(world.deployment.energy_mint)  # not a signature
            assert (await rpc.error("getTransaction", signature))["code"] == -32602
            refused = await rpc.error("getTransaction", "1" * 64, {"commitment": "processed"})
            assert refused["message"] == "Method does not support commitment below `confirmed`"
            too_many = await rpc.error("getMultipleAccounts", [str(Pubkey.new_unique())] * 101)
            assert too_many["message"] == "Too many inputs provided; max 100"
            filters = [{"dataSize": 165}] * 5
            refused = await rpc.error(
                "getProgramAccounts", str(spl.TOKEN_PROGRAM_ID), {"filters": filters}
            )
            assert refused["message"] == "Too many filters provided; max 4"
            context = await rpc.error(
                "getBalance", str(world.payer.pubkey()), {"minContextSlot": future}
            )
            assert context["code"] == -32016
            # Fees: what getFeeForMessage says is what the runtime charges.
            priced = Message(
                [set_compute_unit_price(5_000), spl.memo(b"fee")], world.payer.pubkey()
            )
            tx = Transaction([world.payer], priced, await world.embedded.latest_blockhash())
            signed = await world.embedded.send_transaction(tx)
            entry = await world.embedded.journal_entry(signed)
            assert entry is not None
            assert entry.meta is not None
            assert entry.meta.fee == message_fee(tx.message) > 5000
            fees = await rpc.result("getRecentPrioritizationFees", [str(world.payer.pubkey())])
            assert fees[-1] == {"slot": entry.slot, "prioritizationFee": 5000}
            # Simulation: a stale blockhash fails it, or is replaced when asked.
            stale = sign([spl.memo(b"old")], world.payer, [], Hash.new_unique())
            body = base64.b64encode(bytes(stale)).decode()
            value = (await rpc.result("simulateTransaction", body, {"encoding": "base64"}))["value"]
            assert value["err"] == "BlockhashNotFound"
            value = (
                await rpc.result(
                    "simulateTransaction",
                    body,
                    {
                        "encoding": "base64",
                        "replaceRecentBlockhash": True,
                        "innerInstructions": True,
                    },
                )
            )["value"]
            assert value["err"] is None
            assert value["replacementBlockhash"]["blockhash"]
            assert value["unitsConsumed"] > 0
            both = {"encoding": "base64", "replaceRecentBlockhash": True, "sigVerify": True}
            refused = await rpc.error("simulateTransaction", body, both)
            assert refused["message"] == "sigVerify may not be used with replaceRecentBlockhash"
            # A preflight failure, as a validator words it.
            nobody = Keypair().pubkey()
            dust = transfer(
                TransferParams(from_pubkey=world.payer.pubkey(), to_pubkey=nobody, lamports=1)
            )
            tx = Transaction(
                [world.payer],
                Message([dust], world.payer.pubkey()),
                await world.embedded.latest_blockhash(),
            )
            body = base64.b64encode(bytes(tx)).decode()
            failed = await rpc.error("sendTransaction", body, {"encoding": "base64"})
            assert failed["code"] == -32002
            assert failed["message"] == (
                "Transaction simulation failed: Transaction results in an account (1) with "
                "insufficient funds for rent"
            )
            assert failed["data"]["err"] == {"InsufficientFundsForRent": {"account_index": 1}}
            assert failed["data"]["logs"]
            assert await world.embedded.signature_status(tx.signatures[0]) is None
            # Skipping the preflight, it lands and fails.
            landed = await rpc.result(
                "sendTransaction", body, {"encoding": "base64", "skipPreflight": True}
            )
            assert landed == str(tx.signatures[0])
            status = await world.embedded.signature_status(tx.signatures[0])
            assert status is not None
            assert status.error is not None
        # Served read-only: what a validator answers for a method it does not offer,
        # and for an airdrop without a faucet.
        async with (
            serve(world.embedded, writes=False) as served,
            httpx2.AsyncClient(http2=False) as http,
        ):
            rpc = _Rpc(http, served.url)
            refused = await rpc.error("sendTransaction", body, {"encoding": "base64"})
            assert (refused["code"], refused["message"]) == (-32601, "Method not found")
            refused = await rpc.error("requestAirdrop", str(nobody), 10**9)
            assert refused == {"code": -32600, "message": "Invalid request"}
            assert await rpc.result("getHealth") == "ok"

    run(scenario())
