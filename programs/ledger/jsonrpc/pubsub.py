"""The websocket subscriptions of a validator's PubSub endpoint, on the same port as the
JSON-RPC (and on the next port up where `serve` is asked to, as a validator):

    accountSubscribe / programSubscribe     an account's (a program's accounts') new state
    signatureSubscribe                      a transaction's outcome, once, then it ends
    slotSubscribe / rootSubscribe           each new slot (every slot is final at once)
    logsSubscribe                           each transaction's logs ("all", or mentions)

and their `...Unsubscribe`. Notifications follow the ledger: `EmbeddedLedger.listen`
reports each batch of journaled transactions (processed here, or taken in from the
writer by a read-only replica), and a hub task turns them into notifications for
every connection. A signature already journaled when subscribed is notified at
once. Every notification is "finalized", whatever commitment is asked.
"""

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import count

from solders.pubkey import Pubkey
from solders.signature import Signature
from starlette.websockets import WebSocket, WebSocketDisconnect

from programs.errors import LedgerError
from programs.ledger.jsonrpc.accounts import program_filters
from programs.ledger.jsonrpc.encoding import encode_account
from programs.ledger.jsonrpc.errors import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    Json,
    RpcError,
    invalid_params,
    ui_transaction_error,
)
from programs.ledger.jsonrpc.node import VERSION, Node
from programs.ledger.jsonrpc.params import account_encoding, config, param, pubkey, signature
from programs.ledger.store import JournalEntry

__all__ = ["PubSub"]

_NOTIFICATION = {
    "account": "accountNotification",
    "program": "programNotification",
    "signature": "signatureNotification",
    "slot": "slotNotification",
    "root": "rootNotification",
    "logs": "logsNotification",
}


@dataclass(eq=False)
class _Subscription:
    kind: str
    target: Pubkey | Signature | None = None
    encoding: str = "base64"
    filters: list[Callable[..., bool]] = field(default_factory=list)
    last: dict[Pubkey, str] = field(default_factory=dict)  # what was last sent, per account


@dataclass(eq=False)
class _Connection:
    outbox: asyncio.Queue[str]
    subscriptions: dict[int, _Subscription] = field(default_factory=dict)


class PubSub:
    """Subscriptions of every websocket connection to one ledger."""

    def __init__(self, node: Node) -> None:
        self._node = node
        self._connections: set[_Connection] = set()
        self._ids = count(1)
        self._batches: asyncio.Queue[Sequence[JournalEntry]] = asyncio.Queue()
        self._hub: asyncio.Task[None] | None = None
        self._stop_listening: Callable[[], None] | None = None

    def _start(self) -> None:
        if self._hub is None or self._hub.done():
            self._stop_listening = self._node.ledger.listen(self._batches.put_nowait)
            self._hub = asyncio.create_task(self._dispatch(), name="pubsub-hub")

    async def close(self) -> None:
        if self._stop_listening is not None:
            self._stop_listening()
            self._stop_listening = None
        if self._hub is not None:
            self._hub.cancel()
            await asyncio.gather(self._hub, return_exceptions=True)
            self._hub = None

    async def serve(self, websocket: WebSocket) -> None:
        """Run one websocket connection until it closes."""
        self._start()
        await websocket.accept()
        connection = _Connection(asyncio.Queue())
        self._connections.add(connection)
        sender = asyncio.create_task(self._send(websocket, connection), name="pubsub-send")
        try:
            while True:
                text = await websocket.receive_text()
                for message in await self._answer(connection, text):
                    connection.outbox.put_nowait(json.dumps(message))
        except WebSocketDisconnect:
            pass
        finally:
            self._connections.discard(connection)
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)

    @staticmethod
    async def _send(websocket: WebSocket, connection: _Connection) -> None:
        while True:
            await websocket.send_text(await connection.outbox.get())

    # --- requests -----------------------------------------------------------------------

    async def _answer(self, connection: _Connection, text: str) -> list[Json]:
        """The messages to send for one request: its answer, then any notification it
        leads to at once (a signature already journaled)."""
        try:
            request = json.loads(text)
        except ValueError:
            return [_error(None, RpcError(PARSE_ERROR, "Parse error"))]
        if not isinstance(request, dict) or request.get("jsonrpc") != "2.0":
            return [_error(None, RpcError(INVALID_REQUEST, "Invalid request"))]
        request_id = request.get("id")
        method = request.get("method")
        params = request.get("params", [])
        after: list[Json] = []
        try:
            if not isinstance(method, str) or not isinstance(params, list):
                raise RpcError(INVALID_REQUEST, "Invalid request")
            result = await self._call(connection, method, params, after)
        except RpcError as exc:
            return [_error(request_id, exc)]
        except LedgerError as exc:
            return [_error(request_id, RpcError(-32005, "Node is unhealthy", str(exc)))]
        if "id" not in request:
            return after  # a notification: no answer
        return [{"jsonrpc": "2.0", "result": result, "id": request_id}, *after]

    async def _call(
        self, connection: _Connection, method: str, params: list[Json], after: list[Json]
    ) -> Json:
        if method.endswith("Unsubscribe") and method[: -len("Unsubscribe")] in _NOTIFICATION:
            kind = method[: -len("Unsubscribe")]
            sub_id = param(params, 0)
            found = connection.subscriptions.get(sub_id) if isinstance(sub_id, int) else None
            if found is None or found.kind != kind:
                raise RpcError(INVALID_PARAMS, "Invalid subscription id.")
            del connection.subscriptions[sub_id]
            return True
        if not method.endswith("Subscribe") or method[: -len("Subscribe")] not in _NOTIFICATION:
            raise RpcError(METHOD_NOT_FOUND, "Method not found")
        kind = method[: -len("Subscribe")]
        sub = self._subscription(kind, params)
        sub_id = next(self._ids)
        connection.subscriptions[sub_id] = sub
        if kind == "signature":
            assert isinstance(sub.target, Signature)
            entry = await self._node.ledger.journal_entry(sub.target)
            if entry is not None:
                del connection.subscriptions[sub_id]
                after.append(_signature_notification(sub_id, entry))
        return sub_id

    def _subscription(self, kind: str, params: list[Json]) -> _Subscription:
        if kind == "account":
            options = config(params, 1)
            return _Subscription(kind, pubkey(param(params, 0)), account_encoding(options))
        if kind == "program":
            options = config(params, 1)
            return _Subscription(
                kind,
                pubkey(param(params, 0)),
                account_encoding(options),
                program_filters(options.get("filters")),
            )
        if kind == "signature":
            return _Subscription(kind, signature(param(params, 0)))
        if kind == "logs":
            selector = param(params, 0, "all")
            if selector in ("all", "allWithVotes"):
                return _Subscription(kind)
            mentions = selector.get("mentions") if isinstance(selector, dict) else None
            if not isinstance(mentions, list) or len(mentions) != 1:
                raise invalid_params("Invalid Request: Only 1 address supported")
            return _Subscription(kind, pubkey(mentions[0]))
        return _Subscription(kind)

    # --- notifications ------------------------------------------------------------------

    async def _dispatch(self) -> None:
        while True:
            entries = await self._batches.get()
            for entry in entries:
                for connection in list(self._connections):
                    for sub_id, sub in list(connection.subscriptions.items()):
                        await self._notify(connection, sub_id, sub, entry)

    async def _notify(
        self, connection: _Connection, sub_id: int, sub: _Subscription, entry: JournalEntry
    ) -> None:
        slot = entry.slot
        value: Json
        if sub.kind == "slot":
            value = {"parent": max(slot - 1, 0), "root": slot, "slot": slot}
            self._push(connection, sub_id, sub, value)
        elif sub.kind == "root":
            self._push(connection, sub_id, sub, slot)
        elif sub.kind == "signature":
            if sub.target == entry.signature:
                connection.outbox.put_nowait(json.dumps(_signature_notification(sub_id, entry)))
                connection.subscriptions.pop(sub_id, None)
        elif sub.kind == "logs":
            if sub.target is None or sub.target in entry.addresses:
                err = None if entry.error is None else ui_transaction_error(entry.error)
                value = {"signature": str(entry.signature), "err": err, "logs": list(entry.logs)}
                self._push(connection, sub_id, sub, _context(slot, value))
        elif sub.kind == "account":
            assert isinstance(sub.target, Pubkey)
            if sub.target in entry.addresses:
                await self._account_changed(connection, sub_id, sub, sub.target, slot)
        elif sub.kind == "program":
            for address in entry.addresses:
                await self._account_changed(connection, sub_id, sub, address, slot)

    async def _account_changed(
        self, connection: _Connection, sub_id: int, sub: _Subscription, address: Pubkey, slot: int
    ) -> None:
        account = await self._node.ledger.get_account(address)
        if sub.kind == "program" and (
            account is None
            or account.owner != sub.target
            or not all(check(account) for check in sub.filters)
        ):
            return
        decimals = {}
        if account is not None and sub.encoding == "jsonParsed":
            mint = await self._node.ledger.get_token_account(address)
            if mint is not None:
                found = await self._node.ledger.get_mint(mint.mint)
                decimals = {mint.mint: 0 if found is None else found.decimals}
        encoded = (
            _closed_account()
            if account is None
            else encode_account(account, sub.encoding, decimals)
        )
        text = json.dumps(encoded, sort_keys=True)
        if sub.last.get(address) == text:
            return  # named, not changed
        sub.last[address] = text
        value = encoded if sub.kind == "account" else {"pubkey": str(address), "account": encoded}
        self._push(connection, sub_id, sub, _context(slot, value))

    @staticmethod
    def _push(connection: _Connection, sub_id: int, sub: _Subscription, result: Json) -> None:
        message = {
            "jsonrpc": "2.0",
            "method": _NOTIFICATION[sub.kind],
            "params": {"result": result, "subscription": sub_id},
        }
        connection.outbox.put_nowait(json.dumps(message))


def _signature_notification(sub_id: int, entry: JournalEntry) -> Json:
    err = None if entry.error is None else ui_transaction_error(entry.error)
    return {
        "jsonrpc": "2.0",
        "method": "signatureNotification",
        "params": {"result": _context(entry.slot, {"err": err}), "subscription": sub_id},
    }


def _context(slot: int, value: Json) -> Json:
    return {"context": {"apiVersion": VERSION, "slot": slot}, "value": value}


def _closed_account() -> Json:
    """What a validator sends for an account that was closed: empty, owned by System."""
    return {
        "data": ["", "base64"],
        "executable": False,
        "lamports": 0,
        "owner": "11111111111111111111111111111111",
        "rentEpoch": 0,
        "space": 0,
    }


def _error(request_id: Json, error: RpcError) -> Json:
    return {"jsonrpc": "2.0", "error": error.to_json(), "id": request_id}
