"""The dashboard end to end in headless Chromium (Playwright for Python) against the
whole system running as `gridtokenx demo`: simulated meters and gateways, ingest,
epochs, minting, clearing and settlement on the embedded ledger, simulated traders.

One demo serves every test of this module. The browser signs in with the
development login holding a test key: the wallet of the demo's one consumer
(written into the demo's wallet folder before it starts, and made admin through
GTX_ADMIN_WALLETS so the operations page is covered too), so the user has readings
and the campus credit the demo grants its buyers.

Every browser context here refuses, and the test then fails on, any request to a
host other than 127.0.0.1: the dashboard, its charts and the API docs are served
by the coordinator alone. Each page is photographed at desktop width and at
360 px into $GTX_TEST_ARTIFACTS/dashboard (default var/screenshots/dashboard; the
folder is printed at the end of the run), and audited with axe-core (npm, pinned
in tests/web/package.json, installed with `npm ci` on first use).

Needs Debian's chromium (`apt-get install -y chromium`) and, for the audit, npm:
skipped without them, failed under CI (`CI=true`), where scripts/test installs them.
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
from typing import Any
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from playwright.sync_api import Browser, BrowserContext, Page, Route, sync_playwright
from solders.keypair import Keypair

from demo.campus import campus_plan
from tests.utils.tools import CHROMIUM, require_tool
from tests.web.conftest import SCREENSHOT_FOLDERS

ROOT = Path(__file__).resolve().parents[2]
WEB_TESTS = Path(__file__).resolve().parent
AXE_VERSION = "4.14.1"  # as pinned in package.json and package-lock.json

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
# One lot (1 Wh): sellers offer a few Wh from an 8 s epoch's PV; the bid tops every ask
# and stays at the grid's retail price (0.25 credit/kWh by default), the most a bid may.
_BUY_KWH, _BID = "0.001", "0.250"
_DESKTOP, _PHONE = 1200, 360
_SIGNED_IN_PAGES = ("market", "energy", "trade", "trades", "epochs", "notifications", "admin")


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


@pytest.fixture(scope="module")
def artifacts() -> Path:
    base = os.environ.get("GTX_TEST_ARTIFACTS")
    root = (Path(base) if base else ROOT / "var" / "screenshots") / "dashboard"
    root.mkdir(parents=True, exist_ok=True)
    SCREENSHOT_FOLDERS.append(root)
    return root


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo")


@pytest.fixture(scope="module")
def consumer_key(workdir: Path) -> Keypair:
    """The test key: placed as the demo consumer's wallet before the demo starts."""
    (consumer,) = [
        m for m in campus_plan(_GATEWAYS, _METERS, _SEED) if m.kind == "consumer"
    ]  # the demo's only buyer with this plan
    key = Keypair()
    wallets = workdir / "wallets"
    wallets.mkdir(parents=True)
    (wallets / f"{consumer.meter_id}.json").write_text(bytes(key).hex())
    return key


@pytest.fixture(scope="module")
def demo(workdir: Path, artifacts: Path, consumer_key: Keypair) -> Iterator[str]:
    """`gridtokenx demo` with everything embedded; yields the dashboard's URL."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GTX_")}
    # No GTX_AUTH_DOMAIN: in development sign-in names the host the page came from.
    env["GTX_ADMIN_WALLETS"] = str(consumer_key.pubkey())
    log = artifacts / "demo.log"
    argv = [
        sys.executable, "-c", "from demo import main; raise SystemExit(main())",
        "demo", "--workdir", str(workdir), "--gateways", str(_GATEWAYS),
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


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(CHROMIUM), args=_ARGS, headless=True)
        with contextlib.closing(launched):
            yield launched


def _dev_key_entry(key: Keypair) -> str:
    """The dashboard's stored development key (localStorage "gtx-dev-key") for `key`."""
    private = Ed25519PrivateKey.from_private_bytes(bytes(key)[:32])
    pkcs8 = private.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return json.dumps({"address": str(key.pubkey()), "pkcs8": b64encode(pkcs8).decode()})


Contexts = Callable[..., BrowserContext]


@pytest.fixture
def contexts(browser: Browser, consumer_key: Keypair) -> Iterator[Contexts]:
    """Browser contexts that let no request leave 127.0.0.1 (each one is refused and
    recorded, and the test fails on it); `signed_in` ones hold the consumer's key."""
    made: list[BrowserContext] = []
    elsewhere: list[str] = []

    def guard(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    def make(*, width: int = _DESKTOP, signed_in: bool = False, bypass_csp: bool = False) -> Any:
        context = browser.new_context(
            viewport={"width": width, "height": 900}, bypass_csp=bypass_csp
        )
        context.route("**/*", guard)
        if signed_in:
            context.add_init_script(
                "if (!localStorage.getItem('gtx-dev-key'))"
                f" localStorage.setItem('gtx-dev-key', {json.dumps(_dev_key_entry(consumer_key))});"
            )
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()
    assert elsewhere == [], f"requests left the host: {elsewhere}"


def _open(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_function("() => document.body.dataset.state === 'ready'")


def _sign_in(page: Page, demo: str, address: str) -> None:
    _open(page, demo + "/#signin")
    assert page.is_visible("#dev")
    assert "DEVELOPMENT LOGIN" in page.inner_text("#dev")
    page.click("#dev-login")
    page.wait_for_function("() => document.querySelector('#whoami').dataset.address")
    assert page.get_attribute("#whoami", "data-address") == address


def _show(
    page: Page,
    name: str,
    ready: str = "true",
    within_s: float = 20,
    shot: Path | None = None,
    go: bool = True,
) -> None:
    """Open page `name` (unless `go` is false: it is opening) and wait until it has
    its data and `ready` (JS) holds; the page refreshes itself on live events, so
    data that arrives later shows up. Predicates are functions, not strings: the
    page's CSP forbids eval."""
    if go:
        page.evaluate(f"location.hash = '#{name}'")
    page.wait_for_function(
        f"() => document.querySelector('#page').dataset.page === '{name}'"
        f" && Number(document.querySelector('#page').dataset.refreshed) > 0 && ({ready})",
        timeout=within_s * 1000,
    )
    if shot is not None:
        page.screenshot(path=shot, full_page=True)


# My buy order at `price` in the trade page's "My orders" table: its cells
# (placed, delivered, side, kWh, limit, outcome, ...) and its status, or none.
_MY_ORDER = """(price) => {
  const rows = [...document.querySelectorAll('#page table')].at(-1)?.tBodies[0]?.rows ?? [];
  const row = [...rows].find((tr) => tr.cells[2]?.innerText === 'buy'
    && tr.cells[4]?.innerText === price);
  return row ? row.querySelector('.outcome').dataset.status : '';
}"""

# The price chart (first on the market page) and its uPlot instance's state.
_CHART = """(selector) => {
  const plot = document.querySelector(selector);
  const u = plot?.chart;
  return u ? { points: Number(plot.dataset.points), labels: u.axes.map((a) => a.label),
    ticks: u.axes.map((a) => (a._values || []).length), legend: plot.querySelector('.u-legend')
      ?.innerText ?? '' } : null;
}"""


def test_the_market_page_is_public_and_the_navigation_hides_until_sign_in(
    contexts: Contexts, demo: str, artifacts: Path
) -> None:
    page = contexts().new_page()
    failed: list[str] = []
    page.on(
        "response",
        lambda r: (
            failed.append(f"{r.status} {r.url}")
            if r.status >= 400 and "/api/v1/me" not in r.url
            else None
        ),
    )
    _open(page, demo + "/")
    assert page.evaluate("location.hash") in {"", "#market"}
    for private in ("#energy", "#trade", "#trades", "#epochs", "#admin"):
        assert page.locator(f'#nav a[href="{private}"]').is_hidden(), private
    assert page.locator('#nav a[href="#market"]').is_visible()
    assert page.locator("#signin-link").is_visible()
    _show(page, "market", "document.querySelector('#open-epoch')?.dataset.epoch")
    # Prices and volumes once the simulated traders' first epoch cleared with trades.
    _show(
        page, "market",
        "!document.querySelector('.stat b').innerText.includes('none yet')"
        " && [...document.querySelectorAll('.chart-plot')].every((p) => p.dataset.points > 0)",
        within_s=90, shot=artifacts / f"market-signed-out-{_DESKTOP}.png",
    )  # fmt: skip
    text = page.inner_text("#page")
    assert "credits/kWh" in text
    assert "call auction" in text
    # Signed out, the page follows the market's event stream (no polling): an epoch
    # closing (every 8 s here) reaches it as an event.
    assert page.evaluate("document.body.dataset.stream") == "/api/v1/market/events"
    epochs = page.evaluate("Number(document.body.dataset.epochEvents || 0)")
    page.wait_for_function(
        "(epochs) => Number(document.body.dataset.epochEvents || 0) > epochs",
        arg=epochs,
        timeout=30_000,
    )
    assert failed == []

    # Signing in starts here, and the message names the host the page came from.
    page.click("#signin-link")
    page.wait_for_function("() => document.querySelector('#page').dataset.page === 'signin'")
    host = demo.removeprefix("http://")
    assert page.inner_text(".signin-domain") == host
    message = page.evaluate(
        """async (address) => (await (await fetch('/api/v1/auth/nonce', {method: 'POST',
          headers: {'Content-Type': 'application/json'}, body: JSON.stringify({address})}))
          .json()).message""",
        str(Keypair().pubkey()),
    )
    assert message.startswith(f"{host} wants you to sign in with your Solana account:")
    page.screenshot(path=artifacts / f"signin-{_DESKTOP}.png", full_page=True)


def test_sign_in_then_energy_balances_order_trade_and_its_transaction(
    contexts: Contexts, demo: str, consumer_key: Keypair, artifacts: Path
) -> None:
    page = contexts(signed_in=True).new_page()
    _sign_in(page, demo, str(consumer_key.pubkey()))
    assert page.locator('#nav a[href="#trade"]').is_visible()
    assert page.locator('#nav a[href="#admin"]').is_visible()  # GTX_ADMIN_WALLETS

    # Readings: the consumer's meter imports energy every epoch.
    _show(page, "energy", "document.querySelector('#page .chart-plot').dataset.points > 0")
    # Issue 21: the matched renewable share and the certificates load (empty or not).
    _show(page, "energy",
          "['#matched-share', '#certificates'].every((id) =>"
          " document.querySelector(id + ' table') !== null)")  # fmt: skip
    # The campus credit the demo grants its buyers, read from the ledger.
    _show(page, "energy",
          "parseFloat(document.querySelector('#payment-balance b').innerText) > 0",
          shot=artifacts / f"energy-{_DESKTOP}.png")  # fmt: skip

    # Wait until the simulated sellers offer minted energy for the next epoch, then
    # bid above every ask: the order fills when that epoch clears.
    _show(page, "trade",
          "document.querySelector('.book').innerText.includes('ask limit')"
          " && document.querySelectorAll('.book table')[1].tBodies[0].rows[0].cells.length > 1",
          within_s=60)  # fmt: skip
    page.select_option("#order-side", "buy")
    page.fill("#order-kwh", _BUY_KWH)
    page.fill("#order-price", _BID)
    page.click("#order-form button[type=submit]")
    page.wait_for_function(f"() => ({_MY_ORDER})('{_BID}') !== ''", timeout=15_000)
    assert page.evaluate(_MY_ORDER, _BID) in {"pending", "open", "filled", "partial"}
    assert "order placed" in page.inner_text("#order-status")
    page.screenshot(path=artifacts / f"trade-{_DESKTOP}.png", full_page=True)

    # The epoch clears: the order fills (the page refreshes itself on each epoch event).
    page.wait_for_function(
        f"() => ['filled', 'partial'].includes(({_MY_ORDER})('{_BID}'))", timeout=45_000
    )
    page.screenshot(path=artifacts / f"trade-filled-{_DESKTOP}.png", full_page=True)

    # The trade settles on chain: time, price, amount with every decimal, a link.
    _show(page, "trades",
          "[...document.querySelectorAll('#page tbody tr')].some((tr) =>"
          " tr.cells[2]?.innerText === 'buy' && tr.cells[7]?.innerText === 'settled')",
          within_s=30, shot=artifacts / f"trades-{_DESKTOP}.png")  # fmt: skip
    row = page.locator("#page tbody tr", has_text="settled").first
    cells = row.locator("td").all_inner_texts()
    assert cells[0] != "—"  # when it cleared
    assert float(cells[6]) > 0  # a 1 Wh trade costs a fraction of a credit: not 0.00
    row.locator("a").click()
    _show(page, "tx", "document.querySelector('.facts')?.innerText.includes('succeeded')",
          shot=artifacts / f"transaction-{_DESKTOP}.png", go=False)  # fmt: skip

    # Once its epoch closes, the purchase is on the user's bill against the grid.
    _show(page, "energy",
          "[...document.querySelectorAll('#bill tbody tr')].some((tr) =>"
          " parseFloat(tr.cells[3]?.innerText) > 0)",
          within_s=45, shot=artifacts / f"energy-bill-{_DESKTOP}.png")  # fmt: skip
    assert "Saved against the grid" in page.inner_text("#bill")
    assert "CO\u2082 avoided" in page.inner_text("#bill")

    _show(page, "epochs", "document.querySelectorAll('#page tbody tr').length > 1",
          shot=artifacts / f"epochs-{_DESKTOP}.png")  # fmt: skip
    _show(page, "admin", "document.querySelector('#page').innerText.includes('Gateways')"
          " && document.querySelector('#campus-totals').innerText.includes('Saved against')",
          shot=artifacts / f"admin-{_DESKTOP}.png")  # fmt: skip
    _show(page, "market", "true", shot=artifacts / f"market-{_DESKTOP}.png")


def test_the_order_form_survives_live_updates(
    contexts: Contexts, demo: str, consumer_key: Keypair
) -> None:
    page = contexts(signed_in=True).new_page()
    _sign_in(page, demo, str(consumer_key.pubkey()))
    _show(page, "trade", "document.querySelector('#open-epoch').dataset.epoch")
    page.select_option("#order-side", "buy")
    page.fill("#order-kwh", "0.123")
    page.fill("#order-price", "0.31")
    page.focus("#order-price")
    page.evaluate("() => document.querySelector('#order-price').setSelectionRange(2, 4)")
    before = page.evaluate(
        "() => [Number(document.body.dataset.liveEvents || 0),"
        " Number(document.querySelector('#open-epoch').dataset.epoch)]"
    )
    # Several live events (readings every 2 s, an epoch every 8 s) each refresh the page.
    page.wait_for_function(
        """([events, epoch]) => Number(document.body.dataset.liveEvents || 0) >= events + 4
          && Number(document.querySelector('#open-epoch').dataset.epoch) > epoch
          && Number(document.querySelector('#page').dataset.refreshed) > 4""",
        arg=before,
        timeout=40_000,
    )
    state = page.evaluate(
        """() => { const f = document.querySelector('#order-form'),
          p = document.querySelector('#order-price');
          return [f.side.value, f.kwh.value, p.value, document.activeElement?.id,
                  p.selectionStart, p.selectionEnd]; }"""
    )
    assert state == ["buy", "0.123", "0.31", "order-price", 2, 4]


def test_charts_have_time_axes_units_legends_and_tooltips(
    contexts: Contexts, demo: str, artifacts: Path
) -> None:
    page = contexts().new_page()
    _open(page, demo + "/#market")
    _show(page, "market",
          "[...document.querySelectorAll('.chart-plot')].slice(0, 2)"
          ".every((p) => p.dataset.points > 1)", within_s=90)  # fmt: skip
    price = page.evaluate(_CHART, "#page .chart-plot")
    assert price["labels"][0].startswith("time (")
    assert price["labels"][1] == "volume (kWh)"
    assert price["labels"][2] == "price (credits/kWh)"
    assert all(n > 1 for n in price["ticks"]), price  # every axis has tick values
    assert "volume" in price["legend"]
    assert "clearing price" in price["legend"]

    # Hover the newest epoch that traded: the tooltip shows its time, price and volume.
    plot = page.locator("#page .chart-plot").first
    left = page.evaluate(
        """() => { const u = document.querySelector('#page .chart-plot').chart;
          const i = u.data[2].findLastIndex((v) => v != null);
          return u.valToPos(u.data[0][i], 'x'); }"""
    )
    box = plot.locator(".u-over").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + left, box["y"] + box["height"] / 2)
    tip = plot.locator(".chart-tip")
    tip.wait_for(state="visible", timeout=5_000)
    text = tip.inner_text()
    assert "credits/kWh" in text
    assert "kWh" in text
    assert "–" in text.splitlines()[0]  # the epoch's window
    page.screenshot(path=artifacts / f"chart-tooltip-{_DESKTOP}.png")

    energy = page.evaluate(_CHART, "#page section:nth-of-type(3) .chart-plot")
    assert energy["labels"][1] == "energy per epoch (Wh)"
    assert "produced" in energy["legend"]
    assert "consumed" in energy["legend"]


def test_notifications_opt_in_secret_once_refusal_and_a_test_message(
    contexts: Contexts, demo: str, consumer_key: Keypair, artifacts: Path
) -> None:
    page = contexts(signed_in=True).new_page()
    _sign_in(page, demo, str(consumer_key.pubkey()))
    _show(page, "notifications", "document.querySelectorAll('#notify-form .kinds input').length")
    # The demo has no mail server: the email field says so instead of failing later.
    assert page.is_disabled("#notify-email")
    assert "no mail server" in page.inner_text("#notify-email-hint")

    page.fill("#notify-webhook", "http://127.0.0.1:9/hook")
    page.click("#notify-form button[type=submit]")
    page.wait_for_function("() => document.querySelector('#notify-status').innerText")
    assert "not saved: 127.0.0.1 is a loopback address" in page.inner_text("#notify-status")

    page.fill("#notify-webhook", "https://93.184.216.34/gtx")  # public: accepted
    page.check("#notify-form input[value=trade_settled]")
    page.click("#notify-form button[type=submit]")
    page.wait_for_function("() => document.querySelector('#notify-status').innerText === 'saved'")
    assert page.inner_text("#notify-secret-value").startswith("whsec_")
    page.click("#notify-test")
    _show(page, "notifications",
          "document.querySelector('#page tbody').innerText.includes('webhook')",
          go=False, shot=artifacts / f"notifications-{_DESKTOP}.png")  # fmt: skip
    # Reopened, the page shows the choices kept and the secret no more.
    page.reload()
    _show(page, "notifications", "document.querySelector('#notify-webhook').value", go=False)
    assert page.input_value("#notify-webhook") == "https://93.184.216.34/gtx"
    assert page.is_checked("#notify-form input[value=trade_settled]")
    assert page.is_hidden("#notify-secret")


def test_every_page_fits_a_360px_screen(
    contexts: Contexts, demo: str, consumer_key: Keypair, artifacts: Path
) -> None:
    signed_out = contexts(width=_PHONE).new_page()
    _open(signed_out, demo + "/#market")
    pages: list[tuple[Page, str]] = [(signed_out, "market"), (signed_out, "signin")]
    page = contexts(width=_PHONE, signed_in=True).new_page()
    _sign_in(page, demo, str(consumer_key.pubkey()))
    pages += [(page, name) for name in _SIGNED_IN_PAGES]
    for each, name in pages:
        label = f"{name}-signed-out" if each is signed_out and name == "market" else name
        _show(each, name, shot=artifacts / f"{label}-{_PHONE}.png")
        widths = each.evaluate(
            "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1], f"{name} scrolls sideways at {_PHONE} px: {widths}"


@pytest.fixture(scope="module")
def axe_source() -> str:
    """axe-core's browser bundle, after `npm ci` from tests/web's lock file if needed."""
    bundle = WEB_TESTS / "node_modules" / "axe-core" / "axe.min.js"
    manifest = bundle.parent / "package.json"
    if not manifest.is_file() or json.loads(manifest.read_text())["version"] != AXE_VERSION:
        npm = require_tool("npm", "to install axe-core, the accessibility audit, from tests/web")
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=WEB_TESTS, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert done.returncode == 0, "npm ci failed in tests/web:\n" + done.stderr
    return bundle.read_text()


def _audit(page: Page, axe: str) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now."""
    page.evaluate(axe)
    result = page.evaluate("() => axe.run(document, { resultTypes: ['violations'] })")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:5]}"
        for v in result["violations"]
        if v["impact"] in {"serious", "critical"}
    ]


def test_no_serious_accessibility_violations(
    contexts: Contexts, demo: str, consumer_key: Keypair, axe_source: str
) -> None:
    # The audit script is evaluated in the page, which the page's CSP would refuse.
    signed_out = contexts(bypass_csp=True).new_page()
    _open(signed_out, demo + "/#market")
    page = contexts(signed_in=True, bypass_csp=True).new_page()
    _sign_in(page, demo, str(consumer_key.pubkey()))
    found: dict[str, list[str]] = {}
    checks = [(signed_out, "market"), (signed_out, "signin")]
    checks += [(page, name) for name in _SIGNED_IN_PAGES]
    for each, name in checks:
        _show(each, name)
        violations = _audit(each, axe_source)
        if violations:
            found[name] = violations
    assert found == {}


def test_the_api_docs_work_offline_with_an_authorize_button(
    contexts: Contexts, demo: str, artifacts: Path
) -> None:
    page = contexts().new_page()
    page.goto(demo + "/api/v1/docs")
    page.locator(".swagger-ui .info .title", has_text="GridTokenX coordinator").wait_for()
    page.click(".swagger-ui button.authorize")
    dialog = page.locator(".swagger-ui .dialog-ux")
    dialog.wait_for()
    text = dialog.inner_text()
    assert "bearer" in text
    assert "session_cookie" in text
    page.screenshot(path=artifacts / f"api-docs-{_DESKTOP}.png", full_page=False)


def test_the_demo_lets_one_be_a_simulated_prosumer(
    contexts: Contexts, demo: str, artifacts: Path
) -> None:
    page = contexts().new_page()
    _open(page, demo + "/#signin")
    users = page.locator("#demo-users")
    users.wait_for()
    assert "operator" in users.inner_text()  # how to be admin in the demo
    prosumer = users.locator("li", has_text="prosumer").first
    wallet = prosumer.locator("button").get_attribute("data-wallet")
    page.screenshot(path=artifacts / f"signin-demo-{_DESKTOP}.png", full_page=True)
    prosumer.locator("button").click()
    page.wait_for_function("() => document.querySelector('#whoami').dataset.address")
    assert page.get_attribute("#whoami", "data-address") == wallet
    # A prosumer's solar production, and energy tokens minted from it to sell.
    _show(page, "energy",
          "document.querySelector('#page .chart-plot').chart.data[1].some((v) => v > 0)"
          " && parseFloat(document.querySelector('#energy-balance b').innerText) > 0",
          within_s=30, shot=artifacts / f"energy-prosumer-{_DESKTOP}.png")  # fmt: skip
    # Its sell order is approved with the demo's key for it (no wallet in this browser).
    _show(page, "trade", "document.querySelector('#open-epoch').dataset.epoch")
    page.fill("#order-kwh", "0.001")
    page.fill("#order-price", "9.999")
    page.click("#order-form button[type=submit]")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#page .outcome')].some((o) =>"
        " o.dataset.status === 'open')",
        timeout=15_000,
    )
    page.click("#logout")
    page.wait_for_function("() => !document.querySelector('#whoami').dataset.address")
