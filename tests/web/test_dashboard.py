"""The dashboard end to end in headless Chromium (Playwright for Python) against the
whole system running as `gridtokenx demo`: simulated meters and gateways, ingest,
epochs, minting, clearing and settlement on the embedded ledger, simulated traders.

The browser signs in with the development login holding a test key: the wallet of
the demo's one consumer (written into the demo's wallet folder before it starts),
so the user has readings and the campus credit the demo grants its buyers. It sees
its energy and balances, places a buy order above the simulated sellers' asks, sees
it in the book, and sees it filled and the trade settled after the epoch clears.

Needs Debian's chromium (`apt-get install -y chromium`): skipped without it, failed
under CI (`CI=true`), where scripts/test installs it.
Screenshots and the demo's log go to $GTX_TEST_ARTIFACTS/dashboard (default: the
test's tmp directory).
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from base64 import b64encode
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from playwright.sync_api import Page, sync_playwright
from solders.keypair import Keypair

from demo.campus import campus_plan
from tests.utils.tools import CHROMIUM, require_tool

_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
_GATEWAYS, _METERS, _SEED = 1, 4, 7
_EPOCH_S, _POLL_S = 8, 2
# One lot (1 Wh): sellers offer a few Wh from an 8 s epoch's PV; the bid tops every ask.
_BUY_KWH, _BID = "0.001", "1.00"


@pytest.fixture(scope="module", autouse=True)
def _chromium() -> None:
    require_tool("chromium", "the dashboard test drives Debian's Chromium at /usr/bin/chromium")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def _wait(predicate: Callable[[], bool], within_s: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + within_s
    while not predicate():
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:]
            raise AssertionError(f"timed out after {within_s} s waiting for {what}\n{tail}")
        time.sleep(0.2)


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    root = Path(os.environ.get("GTX_TEST_ARTIFACTS", tmp_path)) / "dashboard"
    root.mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture
def consumer_key(tmp_path: Path) -> Keypair:
    """The test key: placed as the demo consumer's wallet before the demo starts."""
    (consumer,) = [
        m for m in campus_plan(_GATEWAYS, _METERS, _SEED) if m.kind == "consumer"
    ]  # the demo's only buyer with this plan
    key = Keypair()
    wallets = tmp_path / "demo" / "wallets"
    wallets.mkdir(parents=True)
    (wallets / f"{consumer.meter_id}.json").write_text(bytes(key).hex())
    return key


@pytest.fixture
def demo(tmp_path: Path, artifacts: Path, consumer_key: Keypair) -> Iterator[str]:
    """`gridtokenx demo` with everything embedded; yields the dashboard's URL."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GTX_")}
    env["GTX_AUTH_DOMAIN"] = "127.0.0.1"  # the host the browser signs in at
    log = artifacts / "demo.log"
    argv = [
        sys.executable, "-c", "from demo import main; raise SystemExit(main())",
        "demo", "--workdir", str(tmp_path / "demo"), "--gateways", str(_GATEWAYS),
        "--meters-per-gateway", str(_METERS), "--epoch-seconds", str(_EPOCH_S),
        "--poll-seconds", str(_POLL_S), "--api-port", str(port),
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(
            lambda: proc.poll() is None and _answers(url + "/api/v1/health"),
            40, "the demo's API", log,
        )  # fmt: skip
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _dev_key_entry(key: Keypair) -> str:
    """The dashboard's stored development key (localStorage "gtx-dev-key") for `key`."""
    private = Ed25519PrivateKey.from_private_bytes(bytes(key)[:32])
    pkcs8 = private.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return json.dumps({"address": str(key.pubkey()), "pkcs8": b64encode(pkcs8).decode()})


def _show(page: Page, name: str, ready: str, artifacts: Path, within_s: float = 20) -> None:
    """Open page `name` and wait until `ready` (JS) holds; the dashboard re-renders
    itself on live events, so data that arrives later shows up without reloads.
    Predicates are functions, not strings: the page's CSP forbids eval."""
    page.evaluate(f"location.hash = '#{name}'")
    page.wait_for_function(
        f"() => document.querySelector('#page').dataset.page === '{name}' && ({ready})",
        timeout=within_s * 1000,
    )
    page.screenshot(path=artifacts / f"{name}.png", full_page=True)


# My buy order at `price` in the book page's "My orders" table: its cells
# (id, side, epoch, kWh, limit, status), or none.
_MY_ORDER = """(price) => {
  const rows = [...document.querySelectorAll('#page table')].at(-1)?.rows ?? [];
  return [...rows].map((tr) => [...tr.cells].map((c) => c.innerText))
    .find((c) => c[1] === 'buy' && c[4] === price) ?? ['', '', '', '', '', ''];
}"""


def _my_order(page: Page, price: str) -> tuple[str, str]:
    """(epoch, status) of my buy order at `price`."""
    cells: list[str] = page.evaluate(_MY_ORDER, price)
    return cells[2], cells[5]


def test_dashboard_login_balances_order_and_trade(
    demo: str, consumer_key: Keypair, artifacts: Path
) -> None:
    address = str(consumer_key.pubkey())
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=_ARGS, headless=True)
        with contextlib.closing(browser):
            context = browser.new_context(viewport={"width": 1200, "height": 900})
            context.add_init_script(
                "if (!localStorage.getItem('gtx-dev-key'))"
                f" localStorage.setItem('gtx-dev-key', {json.dumps(_dev_key_entry(consumer_key))});"
            )
            page = context.new_page()
            page.goto(demo + "/")
            page.wait_for_function("() => document.body.dataset.state === 'ready'")
            assert page.is_visible("#dev")
            assert "DEVELOPMENT LOGIN" in page.inner_text("#dev")
            page.screenshot(path=artifacts / "login.png")

            page.click("#dev-login")
            page.wait_for_function("() => document.querySelector('#whoami').dataset.address")
            assert page.get_attribute("#whoami", "data-address") == address

            # Readings: the consumer's meter imports energy every epoch.
            _show(page, "energy", "document.querySelectorAll('svg.chart rect').length > 0",
                  artifacts)  # fmt: skip
            # The campus credit the demo grants its buyers, read from the ledger.
            _show(page, "tokens",
                  "parseFloat(document.querySelector('#payment-balance b').innerText) > 0",
                  artifacts)  # fmt: skip

            # Wait until the simulated sellers hold minted energy and offer it for the
            # next epoch, then bid above every ask: the order fills when that epoch clears.
            _show(page, "book",
                  "[...(document.querySelector('#page table')?.rows ?? [])]"
                  ".some((tr) => tr.cells[0].innerText === 'sell')",
                  artifacts, within_s=60)  # fmt: skip
            page.evaluate(
                "(() => { const f = document.querySelector('#order-form');"
                f" f.side.value = 'buy'; f.kwh.value = '{_BUY_KWH}'; f.price.value = '{_BID}';"
                " f.requestSubmit(); })()"
            )
            page.wait_for_function(
                "(price) => [...document.querySelectorAll('#page table')].at(-1).innerText"
                ".includes(price)",
                arg=_BID,
                timeout=15_000,
            )
            assert _my_order(page, _BID)[1] in {"pending", "open", "filled", "partial"}
            page.screenshot(path=artifacts / "book-after-order.png", full_page=True)

            # The epoch clears: the order fills; then its epoch's trade settles on chain.
            page.wait_for_function(
                f"(price) => !['pending', 'open', ''].includes(({_MY_ORDER})(price)[5])",
                arg=_BID,
                timeout=45_000,
            )  # the page re-renders itself on each epoch event
            epoch, status = _my_order(page, _BID)
            assert status in {"filled", "partial"}
            page.screenshot(path=artifacts / "book-filled.png", full_page=True)
            _show(page, "trades",
                  "[...document.querySelectorAll('#page tr')].some((tr) =>"
                  " tr.cells[1]?.innerText === 'buy'"
                  f" && tr.cells[0]?.innerText === '{epoch}'"
                  " && tr.cells[6]?.innerText === 'settled')",
                  artifacts, within_s=30)  # fmt: skip
            _show(page, "epochs", "document.querySelectorAll('svg.chart rect').length > 0",
                  artifacts)  # fmt: skip
