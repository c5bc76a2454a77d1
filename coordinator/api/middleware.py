"""Request ids and access logs, as a plain ASGI middleware (no per-request task).

Each request gets an id: the caller's `X-Request-ID` when it is a sane token
(so a trace crosses services), a fresh one otherwise. It is echoed in the
response header, stored in `scope["state"]["request_id"]` for the routes
(audit entries carry it) and logged with the access line.
"""

import logging
import re
import secrets
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["REQUEST_ID_HEADER", "RequestIdMiddleware", "sane_request_id"]

REQUEST_ID_HEADER = "X-Request-ID"
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,64}")

log = logging.getLogger("coordinator.api.access")


def sane_request_id(presented: str | None) -> str:
    if presented is not None and _SANE.fullmatch(presented):
        return presented
    return secrets.token_hex(8)


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        presented = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                presented = value.decode("latin-1")
                break
        rid = sane_request_id(presented)
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = rid
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self._app(scope, receive, send_with_id)
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            log.info(
                "%s %s %d %.1fms rid=%s",
                scope["method"],
                scope["path"],
                status,
                elapsed_ms,
                rid,
                extra={"request_id": rid},
            )
