"""The ASGI app: JSON-RPC 2.0 over HTTP POST (single requests and batches), the
PubSub websocket on the same path, and GET /health."""

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from programs.errors import LedgerUnavailable
from programs.ledger.embedded import EmbeddedLedger
from programs.ledger.jsonrpc.errors import (
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    NODE_UNHEALTHY,
    PARSE_ERROR,
    Json,
    RpcError,
)
from programs.ledger.jsonrpc.methods import METHODS
from programs.ledger.jsonrpc.node import Node
from programs.ledger.jsonrpc.pubsub import PubSub

__all__ = ["create_app"]

log = logging.getLogger(__name__)


async def _answer(node: Node, request: Json) -> dict[str, Json] | None:
    """The response object for one request; None for a notification (no id)."""
    if not isinstance(request, dict) or request.get("jsonrpc") != "2.0":
        return _error(None, RpcError(INVALID_REQUEST, "Invalid request"))
    request_id = request.get("id")
    is_notification = "id" not in request
    method = request.get("method")
    params = request.get("params", [])
    try:
        if not isinstance(method, str) or not isinstance(params, list):
            raise RpcError(INVALID_REQUEST, "Invalid request")
        handler = METHODS.get(method)
        if handler is None:
            raise RpcError(METHOD_NOT_FOUND, "Method not found")
        result = await handler(node, params)
    except RpcError as exc:
        return None if is_notification else _error(request_id, exc)
    except LedgerUnavailable as exc:
        error = RpcError(NODE_UNHEALTHY, "Node is unhealthy", {"reason": str(exc)})
        return None if is_notification else _error(request_id, error)
    if is_notification:
        return None
    return {"jsonrpc": "2.0", "result": result, "id": request_id}


def _error(request_id: Json, error: RpcError) -> dict[str, Json]:
    return {"jsonrpc": "2.0", "error": error.to_json(), "id": request_id}


async def _follow(ledger: EmbeddedLedger, interval: float) -> None:
    """Take in what the ledger's writer journals, every `interval` seconds."""
    while True:
        try:
            while await ledger.catch_up():
                pass
        except LedgerUnavailable as exc:
            log.warning("the ledger's store is unavailable: %s", exc)
        await asyncio.sleep(interval)


def create_app(
    ledger: EmbeddedLedger,
    *,
    allow_send: bool = False,
    allow_airdrop: bool = False,
    follow_interval: float | None = None,
    rpc_address: str | None = None,
    pubsub_address: str | None = None,
) -> Starlette:
    """The JSON-RPC endpoint (POST /), its PubSub websocket (/) and the health probe
    (GET /health) for `ledger`.

    Read-only unless told: `allow_send` accepts sendTransaction (only where this
    process is the ledger's one writer), `allow_airdrop` makes requestAirdrop credit
    lamports out of thin air (tests, the demo; never where others can reach it).
    `follow_interval` (seconds) makes it a replica following a store another
    process writes (it runs while the app's lifespan does). The addresses are what
    getClusterNodes reports.
    """
    node = Node(ledger, allow_send, allow_airdrop, rpc_address, pubsub_address)
    pubsub = PubSub(node)

    async def rpc(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            return JSONResponse(_error(None, RpcError(PARSE_ERROR, "Parse error")))
        if isinstance(body, list):
            if not body:
                return JSONResponse(_error(None, RpcError(INVALID_REQUEST, "Invalid request")))
            answers = [await _answer(node, item) for item in body]
            present = [a for a in answers if a is not None]
            return JSONResponse(present) if present else Response(status_code=204)
        answer = await _answer(node, body)
        return JSONResponse(answer) if answer is not None else Response(status_code=204)

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def subscriptions(websocket: WebSocket) -> None:
        await pubsub.serve(websocket)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        follower = None
        if follow_interval is not None:
            follower = asyncio.create_task(_follow(ledger, follow_interval), name="follow")
        try:
            yield
        finally:
            if follower is not None:
                follower.cancel()
                await asyncio.gather(follower, return_exceptions=True)
            await pubsub.close()

    return Starlette(
        routes=[
            Route("/", rpc, methods=["POST"]),
            WebSocketRoute("/", subscriptions),
            Route("/health", health, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
