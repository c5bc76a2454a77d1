"""The embedded ledger's JSON-RPC against @solana/kit, the official JavaScript SDK.

The suite is tests/solana_kit/compat.test.mjs (Node >= 20, its npm packages pinned by
tests/solana_kit/package-lock.json and installed with `npm ci` on first use). This test
serves an embedded ledger holding a GridTokenX deployment (an attestation, a minted
epoch, a settlement) on a free port, writes what the suite should find there to a
fixture file, serves the same ledger read-only on a second port, and runs the suite
with `node --test`. The suite funds its own accounts (airdrops) and builds its own
mint through the SDK, so the same file checks any endpoint: SOLANA_RPC_URL=...
npm test in tests/solana_kit.
"""

import asyncio
import json
import os
import subprocess
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
import uvicorn

from programs.ledger import EmbeddedLedger, MemoryLedgerStore
from programs.ledger.jsonrpc import create_app
from programs.roles.oracle import mint_energy, post_attestation
from programs.roles.trading import Trade, approve_escrow, settle
from tests.programs.conftest import add_users, deploy
from tests.utils.services import async_wait_until
from tests.utils.tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
KIT_DIR = ROOT / "tests" / "solana_kit"
KIT_VERSION = "8.4.0"
KWH = 10**9
CREDIT = 10**6


def _installed_kit_version() -> str | None:
    manifest = KIT_DIR / "node_modules" / "@solana" / "kit" / "package.json"
    if not manifest.is_file():
        return None
    return str(json.loads(manifest.read_text())["version"])


@pytest.fixture(scope="session")
def kit_suite() -> tuple[str, Path]:
    """(node, the suite's directory), after `npm ci` from the committed lock file if
    the pinned SDK is not installed yet."""
    node = require_tool("node", "the @solana/kit compatibility suite runs on Node.js >= 20")
    if _installed_kit_version() != KIT_VERSION:
        npm = require_tool("npm", "to install @solana/kit from tests/solana_kit")
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=KIT_DIR,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, "npm ci failed in tests/solana_kit:\n" + done.stderr
        assert _installed_kit_version() == KIT_VERSION
    return node, KIT_DIR


async def _serve(stack: AsyncExitStack, app: object) -> str:
    """`app` on a free loopback port until the stack closes; its URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")  # type: ignore[arg-type]
    )
    task = asyncio.create_task(server.serve(), name="jsonrpc")

    async def stop() -> None:
        server.should_exit = True
        await task

    stack.push_async_callback(stop)
    await async_wait_until(lambda: server.started or task.done(), 10, "uvicorn to start")
    assert server.started, task.exception() if task.done() else "not started"
    port = server.servers[0].sockets[0].getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def _gridtokenx_world(embedded: EmbeddedLedger) -> dict[str, object]:
    """A deployment with an attestation, a minted epoch and a settlement: what the
    suite checks as an explorer would show it."""
    world = await deploy(embedded, embedded)
    seller, buyer = await add_users(world, 2, payment=50 * CREDIT)
    attestation = await post_attestation(
        embedded, payer=world.payer, oracle=world.oracle, epoch=1, merkle_root=b"\x5a" * 32
    )
    minted = 3 * KWH
    await mint_energy(
        embedded,
        world.deployment,
        payer=world.payer,
        oracle=world.oracle,
        epoch=1,
        grants=[(seller.pubkey(), minted)],
    )
    await approve_escrow(
        embedded, world.deployment, payer=world.payer, owner=seller, energy=minted, payment=0
    )
    await approve_escrow(
        embedded, world.deployment, payer=world.payer, owner=buyer, energy=0, payment=50 * CREDIT
    )
    trades = [
        Trade(seller.pubkey(), buyer.pubkey(), energy=KWH, payment=4 * CREDIT),
        Trade(seller.pubkey(), buyer.pubkey(), energy=KWH // 2, payment=2 * CREDIT),
    ]
    outcomes = await settle(
        embedded,
        world.deployment,
        payer=world.payer,
        settlement_authority=world.settler,
        epoch=1,
        trades=trades,
    )
    assert all(o.error is None for o in outcomes)
    assert outcomes[0].signature == outcomes[1].signature  # one transaction, one batch
    return {
        "oracle": str(world.oracle.pubkey()),
        "attestation": str(attestation),
        "settlement": str(outcomes[0].signature),
        "settlement_authority": str(world.settler.pubkey()),
        "buyer": str(buyer.pubkey()),
        "energy_mint": str(world.deployment.energy_mint),
        "bought": KWH + KWH // 2,
        "minted": minted,
    }


@pytest.mark.timeout(300)
def test_solana_kit_suite(kit_suite: tuple[str, Path], tmp_path: Path) -> None:
    node, suite_dir = kit_suite

    async def scenario() -> tuple[int, str]:
        embedded = await EmbeddedLedger.open(MemoryLedgerStore())
        fixture = tmp_path / "fixture.json"
        fixture.write_text(json.dumps(await _gridtokenx_world(embedded)))
        async with AsyncExitStack() as stack:
            url = await _serve(stack, create_app(embedded, allow_send=True, allow_airdrop=True))
            readonly = await _serve(stack, create_app(embedded))
            env = {
                **os.environ,
                "SOLANA_RPC_URL": url,
                "SOLANA_WS_URL": url.replace("http://", "ws://"),
                "GTX_LEDGER": "embedded",
                "GTX_FIXTURE": str(fixture),
                "GTX_READONLY_RPC_URL": readonly,
            }
            process = await asyncio.create_subprocess_exec(
                node,
                "--test",
                "--test-reporter=spec",
                "compat.test.mjs",
                cwd=suite_dir,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            output, _ = await asyncio.wait_for(process.communicate(), timeout=240)
            return process.returncode or 0, output.decode()

    code, output = asyncio.run(scenario())
    assert code == 0, output
    assert "# fail 0" in output or "ℹ fail 0" in output, output
