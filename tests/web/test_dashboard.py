"""The dashboard end to end in headless Chromium against a real coordinator
(uvicorn, PostgreSQL, Redis, embedded ledger): development login, energy chart,
balances, placing an order signed by the browser's key, seeing it in the book.

Needs Debian's chromium (`apt-get install -y chromium`); skipped without it.
Screenshots go to $GTX_TEST_ARTIFACTS (default: the test's tmp directory).
"""

import datetime as dt
import os
import secrets
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from solders.pubkey import Pubkey
from sqlalchemy.engine import Engine

from coordinator.api import repository as repo
from coordinator.api.chain import ChainAccess
from coordinator.api.main import create_app
from coordinator.broker_credentials import MemoryBroker
from coordinator.config import Settings
from edge.base58 import b58decode
from programs.roles import mint_payment
from provisioning.keys import Signer
from tests.coordinator.api.conftest import auth_settings
from tests.coordinator.api.factories import store_epoch
from tests.programs.conftest import World, make_world, run
from tests.utils.services import wait_until
from tests.web.cdp import CHROMIUM, Page, chromium

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)",
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def server(engine: Engine, request: pytest.FixtureRequest) -> Iterator[tuple[str, World]]:
    world = run(make_world())
    chain = ChainAccess(world.ledger, world.deployment, world.payer, world.rec)
    app = create_app(
        Settings(), engine, broker=MemoryBroker(), ledger=chain,
        auth_settings=auth_settings(request, auth_domain="127.0.0.1"),
    )  # fmt: skip
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, name="uvicorn", daemon=True)
    thread.start()
    wait_until(lambda: srv.started, what="uvicorn start")
    yield f"http://127.0.0.1:{port}", world
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    root = Path(os.environ.get("GTX_TEST_ARTIFACTS", tmp_path)) / "dashboard"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _give_energy(engine: Engine, owner: str) -> None:
    gw = Signer.generate()
    now = dt.datetime.now(dt.UTC)
    token = repo.issue_token(engine, owner=owner, ttl_s=600, note="e2e", now=now).token
    repo.enrol(
        engine, token=token, gateway_id=gw.address,
        proof=b58decode(gw.enrolment_proof(token, gw.address)),
        meters=[repo.MeterSpec("sdm630-0001", "sdm630", 63_000, owner)], now=now,
    )  # fmt: skip
    store_epoch(engine, gw, "sdm630-0001", 3_000_000 + secrets.randbelow(1_000_000), 6)


async def _show(page: Page, name: str, ready: str, artifacts: Path) -> None:
    await page.eval(f"location.hash = '#{name}'")
    await page.wait_for(f"document.querySelector('#page').dataset.page === '{name}' && ({ready})")
    await page.screenshot(artifacts / f"{name}.png")


async def test_dashboard_login_energy_balances_and_an_order(
    server: tuple[str, World], engine: Engine, artifacts: Path, tmp_path: Path
) -> None:
    url, world = server
    async with chromium(tmp_path / "profile") as page:
        await page.send("Page.navigate", url=url + "/")
        await page.wait_for("document.body.dataset.state === 'ready'")
        assert await page.eval("!document.querySelector('#dev').hidden")
        assert "DEVELOPMENT LOGIN" in await page.eval("document.querySelector('#dev').innerText")
        await page.screenshot(artifacts / "login.png")
        await page.eval("document.querySelector('#dev-login').click()")
        address = await page.wait_for("document.querySelector('#whoami').dataset.address")
        assert len(b58decode(address)) == 32

        _give_energy(engine, address)
        await run_async_mint(world, address)
        await _show(page, "energy", "document.querySelectorAll('svg.chart rect').length > 0",
                    artifacts)  # fmt: skip
        assert "0.120" in await page.eval("document.querySelector('#page').innerText")  # minted
        await _show(page, "tokens",
                    "document.querySelector('#payment-balance b').innerText === '50.00'",
                    artifacts)  # fmt: skip

        await _show(page, "book", "!!document.querySelector('#order-form')", artifacts)
        await page.eval(
            "(() => { const f = document.querySelector('#order-form');"
            " f.side.value = 'buy'; f.kwh.value = '2'; f.price.value = '0.5';"
            " f.requestSubmit(); })()"
        )
        await page.wait_for("document.body.innerText.includes('order placed')")
        text = await page.eval("document.querySelector('#page').innerText")
        assert "open" in text  # my order, its escrow approved by the browser's key
        assert "2.000" in text  # the book level: 2 kWh at 0.50
        await page.screenshot(artifacts / "book-after-order.png")


async def run_async_mint(world: World, address: str) -> None:
    grants = [(Pubkey.from_string(address), 50_000_000)]
    await mint_payment(
        world.ledger, world.deployment, payer=world.payer, rec_authority=world.rec, grants=grants
    )
