"""The emergency controls' banner in headless Chromium: the dashboard of a coordinator
whose market the REC authority paused says so to everyone, signed in or not, and
says nothing once it runs again.

Needs Debian's chromium, like `test_dashboard.py` (skipped without it locally).
"""

import datetime as dt
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import expect, sync_playwright

from coordinator.api.main import create_app
from coordinator.config import Settings
from coordinator.db.migrate import upgrade
from coordinator.db.session import make_engine
from coordinator.governance import ALL_SCOPES, Pause, Scope, SqlGovernance
from tests.utils.services import wait_until
from tests.utils.tools import CHROMIUM, require_tool
from tests.web.test_dashboard import _ARGS

AT = dt.datetime(2026, 12, 4, 10, tzinfo=dt.UTC)


@pytest.fixture
def coordinator(tmp_path: Path) -> Iterator[tuple[str, SqlGovernance]]:
    """The API and dashboard on a SQLite database, served on a free port."""
    require_tool("chromium", "the banner test drives Debian's Chromium at /usr/bin/chromium")
    engine = make_engine(f"sqlite:///{tmp_path / 'gtx.db'}")
    upgrade(engine)
    # Read the controls on every request: the test writes them behind the API's back.
    app = create_app(Settings(redis_url="", ledger="off", governance_refresh_s=0), engine)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="api", daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout=30, what="the API to start")
    try:
        yield f"http://127.0.0.1:{port}", SqlGovernance(engine)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


def test_a_paused_market_shows_a_banner_to_everyone(
    coordinator: tuple[str, SqlGovernance],
) -> None:
    url, governance = coordinator
    governance.pause([Pause(Scope.CLEARING, AT, 7, "W", "meter fraud investigation")], "")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=_ARGS, headless=True)
        try:
            page = browser.new_page()
            page.goto(url + "/")
            banner = page.locator("#banner")
            expect(banner).to_be_visible()
            expect(banner).to_contain_text("clearing is paused since 2026-12-04 10:00 UTC")
            expect(banner).to_contain_text("meter fraud investigation")

            governance.pause(
                [Pause(s, AT, 7, "W", "upgrade") for s in ALL_SCOPES - {Scope.CLEARING}], ""
            )
            page.reload()
            expect(banner).to_contain_text("Maintenance: the market is paused")
            expect(banner).to_contain_text("nothing is lost")

            governance.resume(ALL_SCOPES)
            page.reload()
            expect(banner).to_be_hidden()
        finally:
            browser.close()
