"""`gtx-verify` against the running system: readings ingested and an epoch closed on
PostgreSQL, minted and attested on the embedded ledger (its state in the same
database), a market cleared, attested and settled; the coordinator's API and the
ledger's JSON-RPC served over real HTTP. The verifier is given only their two URLs
(and a user's sign-in token): honest evidence verifies, and evidence tampered in the
database (a reading, a root, a clearing result, a consistently forged clearing) is
refused with its reason and exit status 1."""

import asyncio
import contextlib
import datetime as dt
import hashlib
import io
import json
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
import uvicorn
from solders.keypair import Keypair
from solders.transaction import Transaction
from sqlalchemy import text
from sqlalchemy.engine import Engine

from coordinator.api.ledger_view import ChainAccess
from coordinator.api.main import create_app
from coordinator.config import Settings
from coordinator.db.migrate import upgrade
from coordinator.db.session import make_engine
from coordinator.devices.broker_accounts import MemoryBroker
from coordinator.devices.registry import register_device, register_meter
from coordinator.market import (
    SettlementKeys,
    place_order,
    run_market_epoch,
    submit_approval,
)
from coordinator.market.rules import Side, clear_epoch, decode_inputs, encode_inputs
from coordinator.market.rules.canonical import encode_result
from coordinator.onchain.ledger import Chain, market_context, open_chain
from coordinator.onchain.minting import mint_closed_epochs
from coordinator.readings.epoch_close import EpochCloser
from coordinator.readings.ingest.commit import decide_and_commit
from coordinator.readings.ingest.screen import Incoming
from coordinator.readings.ingest.store import SqlReadingStore
from coordinator.readings.oracle import OracleConfig
from coordinator.runner import maintain_partitions
from programs.ledger import EmbeddedLedger
from programs.ledger.jsonrpc import create_app as create_rpc_app
from programs.roles.oracle import mint_energy
from programs.roles.registry import register_user
from programs.roles.token import mint_payment
from provisioning.keys import Signer
from tests.coordinator.api.conftest import auth_settings
from tests.utils.services import async_wait_until, fresh_database
from verify.cli import EXIT_OK, EXIT_REFUSED, main
from wire import topics
from wire.base58 import b58encode
from wire.reading import Reading, encode_payload

pytestmark = pytest.mark.services

LENGTH = 900
KWH = 10**9
ROOT = "gtxtest-verify"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def _serve(app: Any, name: str, *, lifespan: Literal["on", "off"]) -> AsyncIterator[str]:
    """`app` on a free loopback port until the block ends; yields its URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=_free_port(), log_level="warning",
                            lifespan=lifespan)  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(), name=name)
    try:
        await async_wait_until(lambda: server.started or task.done(), 15, f"{name} to start")
        assert server.started, task.exception() if task.done() else "not started"
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        await task


async def _verify(*argv: str) -> tuple[int, str]:
    """Run `gtx-verify` in a thread (it blocks on HTTP while this loop serves)."""
    out = io.StringIO()
    code = await asyncio.to_thread(main, list(argv), out=out)
    return code, out.getvalue()


def _ingest(engine: Engine, gateway: Signer, epoch: int, now: int) -> list[int]:
    """Five readings of one meter inside `epoch`, through ingest's unit of work."""
    start = epoch * LENGTH
    batch = []
    for seq in range(1, 6):
        signed = gateway.sign_reading(
            Reading(gateway.address, "sdm630-0001", seq, start + 60 * seq, 1_000 + 40 * seq,
                    500 + 90 * seq)
        )  # fmt: skip
        batch.append(Incoming(topics.gateway_readings(ROOT, gateway.address),
                              encode_payload(signed), dt.datetime.now(dt.UTC)))  # fmt: skip
    outcome = decide_and_commit(SqlReadingStore(engine), ROOT, OracleConfig(), LENGTH, now, batch)
    assert outcome.accepted == 5, outcome
    return list(range(1, 6))


async def _market(chain: Chain, engine: Engine, epoch: int) -> None:
    """Two sellers and two buyers trade in delivery epoch `epoch`; cleared, attested, settled."""
    ctx = market_context(chain, engine)
    keys, ledger, deployment = chain.keys, chain.ledger, chain.deployment
    users = [Keypair() for _ in range(4)]
    for user in users:
        await register_user(ledger, deployment, payer=keys.payer, owner=user.pubkey())
    sellers, buyers = users[:2], users[2:]
    await mint_energy(ledger, deployment, payer=keys.payer, oracle=keys.oracle, epoch=epoch - 1,
                      grants=[(s.pubkey(), 5 * KWH) for s in sellers])  # fmt: skip
    await mint_payment(ledger, deployment, payer=keys.payer, rec_authority=keys.rec_authority,
                       grants=[(b.pubkey(), 10**6) for b in buyers])  # fmt: skip
    # Inside the grid's band (feed-in 0.06, retail 0.25 credit/kWh by default).
    book = [(sellers[0], Side.SELL, 2, 90_000), (sellers[1], Side.SELL, 1, 85_000),
            (buyers[0], Side.BUY, 2, 100_000), (buyers[1], Side.BUY, 2, 88_000)]  # fmt: skip
    for user, side, kwh, price in book:
        placed = await place_order(
            ctx, owner=str(user.pubkey()), side=side, epoch=epoch, quantity=kwh * KWH,
            limit_price=price, open_epoch=epoch,
        )  # fmt: skip
        assert placed.approval is not None
        tx = Transaction.from_bytes(placed.approval.tx)
        tx.partial_sign([user], tx.message.recent_blockhash)
        await submit_approval(ctx, str(user.pubkey()), bytes(tx))
    report = await run_market_epoch(
        ctx, epoch, SettlementKeys(keys.payer, keys.settlement_authority)
    )
    assert report.clearing.match_count > 0
    assert report.settlement.failed == ()


async def _token(api: str, owner: Signer) -> str:
    async with httpx.AsyncClient(base_url=api) as client:
        nonce = await client.post("/api/v1/auth/nonce", json={"address": owner.address})
        message = nonce.json()["message"]
        login = await client.post("/api/v1/auth/login", json={
            "message": message, "signature": b58encode(owner.sign(message.encode()))})  # fmt: skip
        assert login.status_code == 200, login.text
        token: str = login.json()["token"]
        return token


def _execute(engine: Engine, sql: str, **params: object) -> None:
    with engine.begin() as conn:
        conn.execute(text(sql), params)


async def test_gtx_verify_checks_the_running_system(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with fresh_database("gtx_verify") as url:
        engine = make_engine(url)
        try:
            await asyncio.to_thread(upgrade, engine)
            await _scenario(url, engine, tmp_path, request)
        finally:
            engine.dispose()


async def _scenario(
    url: str, engine: Engine, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    settings = Settings(database_url=url, key_dir=tmp_path / "keys", topic_root=ROOT,
                        epoch_length_s=LENGTH, ledger="embedded")  # fmt: skip
    await asyncio.to_thread(maintain_partitions, engine, settings)
    now = int(time.time())
    epoch = now // LENGTH - 3
    owner, gateway = Signer.generate(), Signer.generate()
    register_device(engine, gateway.address)
    register_meter(engine, gateway.address, "sdm630-0001", model="sdm630", rated_power_w=63_000,
                   owner=owner.address)  # fmt: skip
    seqs = _ingest(engine, gateway, epoch, now)
    closer = EpochCloser(engine, length_s=LENGTH, grace_s=60, lateness_s=settings.lateness_window_s)
    assert epoch in [c.summary.epoch for c in closer.close_due(now)]

    async with open_chain(settings, engine) as chain:
        assert epoch in await mint_closed_epochs(chain, engine)
        delivery = now // LENGTH + 1
        await _market(chain, engine, delivery)
        embedded = chain.ledger
        assert isinstance(embedded, EmbeddedLedger)  # settings.ledger == "embedded"
        access = ChainAccess(embedded, chain.deployment, chain.keys.payer)
        app = create_app(settings, engine, broker=MemoryBroker(),
                         auth_settings=auth_settings(request), ledger=access)  # fmt: skip
        async with (
            _serve(app, "api", lifespan="on") as api,
            _serve(create_rpc_app(embedded), "jsonrpc", lifespan="off") as rpc,
        ):
            token = await _token(api, owner)
            await _check_readings(engine, api, rpc, token, gateway, seqs, epoch, chain, tmp_path)
            await _check_clearing(engine, api, rpc, token, delivery)


async def _check_readings(
    engine: Engine, api: str, rpc: str, token: str, gateway: Signer, seqs: list[int],
    epoch: int, chain: Chain, tmp_path: Path,
) -> None:  # fmt: skip
    common = ["--api", api, "--rpc", rpc, "--token", token]
    for seq in seqs:
        code, out = await _verify("reading", gateway.address, str(seq), *common)
        assert code == EXIT_OK, out
    oracle = str(chain.keys.oracle.pubkey())
    assert f"oracle key {oracle} (from the API" in out
    assert f"VERIFIED reading {gateway.address}/{seqs[-1]} is in epoch {epoch}" in out

    # A proof saved from the API checks with the RPC alone; with a sibling changed, not.
    async with httpx.AsyncClient(base_url=api) as client:
        got = await client.get(f"/api/v1/proofs/{gateway.address}/3",
                               headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    proof = got.json()
    saved = tmp_path / "proof.json"
    saved.write_text(json.dumps(proof))
    file_args = ["reading", "--proof-file", str(saved), "--rpc", rpc, "--oracle", oracle]
    assert (await _verify(*file_args))[0] == EXIT_OK
    proof["proof"][0]["sibling"] = hashlib.sha256(b"not a sibling").hexdigest()
    saved.write_text(json.dumps(proof))
    code, out = await _verify(*file_args)
    assert (code, out.splitlines()[-1][:24]) == (EXIT_REFUSED, "REFUSED [root_mismatch] ")

    # A reading changed in the database no longer carries a valid signature.
    change = "UPDATE readings SET export_wh = export_wh + :d WHERE gateway_id = :g AND seq = 2"
    _execute(engine, change, d=1000, g=gateway.address)
    code, out = await _verify("reading", gateway.address, "2", *common)
    assert code == EXIT_REFUSED, out
    assert "REFUSED [bad_signature] the signature does not verify" in out
    _execute(engine, change, d=-1000, g=gateway.address)

    # A root changed in the database is not the root the oracle attested.
    _execute(engine, "UPDATE epochs SET merkle_root = :r WHERE epoch = :e",
             r=hashlib.sha256(b"forged").digest(), e=epoch)  # fmt: skip
    code, out = await _verify("reading", gateway.address, "4", *common)
    assert code == EXIT_REFUSED, out
    assert "REFUSED [root_mismatch] the path leads to " in out


async def _check_clearing(engine: Engine, api: str, rpc: str, token: str, epoch: int) -> None:
    argv = ["clearing", str(epoch), "--api", api, "--rpc", rpc, "--token", token]
    code, out = await _verify(*argv)
    assert code == EXIT_OK, out
    assert f"VERIFIED the clearing of epoch {epoch} follows from its inputs" in out

    with engine.connect() as conn:
        inputs, result = conn.execute(
            text("SELECT inputs, result FROM clearings WHERE epoch = :e"), {"e": epoch}
        ).one()
    store = "UPDATE clearings SET inputs = :i, inputs_hash = :ih, result = :r, result_hash = :rh" \
            " WHERE epoch = :e"  # fmt: skip

    # The result changed (a match's payment halved), its hash made to fit.
    doc = json.loads(result)
    doc["matches"][0][6] //= 2
    forged = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    _execute(engine, store, i=bytes(inputs), ih=hashlib.sha256(inputs).hexdigest(), r=forged,
             rh=hashlib.sha256(forged).hexdigest(), e=epoch)  # fmt: skip
    code, out = await _verify(*argv)
    assert code == EXIT_REFUSED, out
    assert "REFUSED [result_differs] matches[0] is " in out

    # A consistent forgery: one bid's limit changed and cleared again by the
    # coordinator's own code, every hash recomputed; only the chain disagrees.
    book = decode_inputs(bytes(inputs))
    bid = max((o for o in book.orders if o.side is Side.BUY), key=lambda o: o.limit_price)
    moved = [
        o
        if o is not bid
        else type(o)(o.order_id, o.owner, o.side, o.epoch, o.quantity, o.limit_price + 1000, o.seq)
        for o in book.orders
    ]
    forged_inputs = type(book)(book.epoch, moved, book.escrow, book.rules)  # fmt: skip
    recleared = clear_epoch(forged_inputs)
    _execute(engine, store, i=encode_inputs(forged_inputs), ih=recleared.inputs_hash,
             r=encode_result(recleared), rh=recleared.result_hash, e=epoch)  # fmt: skip
    code, out = await _verify(*argv)
    assert code == EXIT_REFUSED, out
    assert "ok    recomputed from 4 orders: the same result" in out
    assert "REFUSED [memo_mismatch] the chain attests epoch " in out
