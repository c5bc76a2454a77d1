"""Request ids, access logs and request durations, as a plain ASGI middleware (no
per-request task).

Each request gets an id: the caller's `X-Request-ID` when it is a sane token
(so a trace crosses services), a fresh one otherwise. It is echoed in the
response header, stored in `scope["state"]["request_id"]` for the routes
(audit entries carry it) and logged with the access line. Its duration goes to
`gtx_api_request_seconds` by route template (not the path: one series per route,
whatever the ids in it), except the live event stream, which lasts as long as the
client stays.
"""

import logging
import re
import secrets
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coordinator.ops.metrics import API_REQUEST_SECONDS

__all__ = ["REQUEST_ID_HEADER", "RequestIdMiddleware", "route_label", "sane_request_id"]

REQUEST_ID_HEADER = "X-Request-ID"
# Streams (server-sent events) whose duration is the client's, not the API's.
_STREAMS = frozenset({"/api/v1/events"})
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,64}")

log = logging.getLogger("coordinator.api.access")


def sane_request_id(presented: str | None) -> str:
    if presented is not None and _SANE.fullmatch(presented):
        return presented
    return secrets.token_hex(8)


def route_label(scope: Scope) -> str:
    """The route template that answered (set in the scope by FastAPI's router), or
    "static" / "unmatched": never the raw path, which would make a series per id."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    return "static" if str(scope.get("path", "")).startswith("/static/") else "unmatched"


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
            elapsed = time.perf_counter() - started
            elapsed_ms = elapsed * 1000
            route = route_label(scope)
            if route not in _STREAMS:
                API_REQUEST_SECONDS.labels(route, scope["method"], f"{status // 100}xx").observe(
                    elapsed
                )
            log.info(
                "%s %s %d %.1fms rid=%s",
                scope["method"],
                scope["path"],
                status,
                elapsed_ms,
                rid,
                extra={"request_id": rid},
            )
