"""A tiny Chrome DevTools Protocol client over `websockets`, and a headless
Chromium launched for one test (Debian's /usr/bin/chromium)."""

import asyncio
import base64
import itertools
import json
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import websockets

CHROMIUM = Path("/usr/bin/chromium")


class Page:
    def __init__(self, ws: Any) -> None:
        self._ws = ws
        self._ids = itertools.count(1)

    async def send(self, method: str, **params: object) -> dict[str, Any]:
        ident = next(self._ids)
        await self._ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(await self._ws.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result

    async def eval(self, expression: str) -> Any:
        result = await self.send(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, within_s: float = 15.0) -> Any:
        deadline = time.monotonic() + within_s
        while True:
            try:
                value = await self.eval(expression)
            except RuntimeError:  # e.g. the document is still loading
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                text = await self.eval("document.body.innerText")
                raise AssertionError(f"timed out waiting for {expression}; page:\n{text}")
            await asyncio.sleep(0.05)

    async def screenshot(self, path: Path) -> None:
        shot = await self.send("Page.captureScreenshot", format="png")
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))


def _port_file(profile: Path, within_s: float = 15.0) -> int:
    deadline = time.monotonic() + within_s
    active = profile / "DevToolsActivePort"
    while time.monotonic() < deadline:
        if active.exists() and active.read_text().strip():
            return int(active.read_text().splitlines()[0])
        time.sleep(0.05)
    raise AssertionError("Chromium did not open its DevTools port")


def _launch(profile: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start Chromium; its process and the DevTools websocket of its page."""
    proc = subprocess.Popen(
        [str(CHROMIUM), "--headless=new", "--no-sandbox", "--disable-gpu",
         "--remote-debugging-port=0", f"--user-data-dir={profile}", "--window-size=1200,900",
         "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        port = _port_file(profile)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as r:
            targets = json.load(r)
        return proc, next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
    except BaseException:
        _stop(proc)
        raise


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@asynccontextmanager
async def chromium(profile: Path) -> AsyncIterator[Page]:
    proc, url = await asyncio.to_thread(_launch, profile)
    try:
        async with websockets.connect(url, max_size=None) as ws:
            page = Page(ws)
            await page.send("Page.enable")
            yield page
    finally:
        await asyncio.to_thread(_stop, proc)
