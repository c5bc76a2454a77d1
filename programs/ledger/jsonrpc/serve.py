"""The JSON-RPC app under uvicorn: `serve` runs until cancelled (Ctrl-C)."""

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator, Sequence

import uvicorn

from programs.ledger.embedded import EmbeddedLedger
from programs.ledger.jsonrpc.app import create_app

__all__ = ["listen", "serve"]


class _Server(uvicorn.Server):
    """uvicorn leaving the process's signal handlers alone: the program that embeds
    the server (the demo) stops it with everything else by cancelling `serve`."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def listen(host: str, port: int, pubsub_port: int | None = None) -> list[socket.socket]:
    """The listening sockets `serve` needs, bound now (a program binds them before it
    starts anything else): OSError if a port is taken. The caller closes them."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    bound: list[socket.socket] = []
    try:
        for p in [port] if pubsub_port is None else [port, pubsub_port]:
            bound.append(socket.create_server((host, p), family=family))
    except OSError:
        for sock in bound:
            sock.close()
        raise
    return bound


def _bound_port(server: uvicorn.Server) -> int:
    for listener in server.servers:
        for sock in listener.sockets:
            return int(sock.getsockname()[1])
    raise RuntimeError("the server has no socket")


async def serve(
    ledger: EmbeddedLedger,
    host: str,
    port: int,
    *,
    pubsub_port: int | None = None,
    allow_send: bool = False,
    allow_airdrop: bool = False,
    follow_interval: float | None = None,
    on_ready: Callable[[int, int | None], None] | None = None,
    handle_signals: bool = True,
    sockets: Sequence[socket.socket] | None = None,
) -> None:
    """Serve `ledger`'s JSON-RPC (and its websocket) on host:port until cancelled; with
    `pubsub_port` the websocket also there, as a validator (its RPC port + 1). Port 0
    takes a free one: `on_ready(rpc port, pubsub port)` says which, once listening. A
    port that cannot be bound raises OSError before anything is served; `sockets`, from
    `listen(host, port, pubsub_port)`, are used instead of binding (and left open).
    Without `handle_signals` uvicorn leaves SIGINT and SIGTERM to the caller."""
    app = create_app(
        ledger,
        allow_send=allow_send,
        allow_airdrop=allow_airdrop,
        follow_interval=follow_interval,
    )
    server_class = uvicorn.Server if handle_signals else _Server
    with contextlib.ExitStack() as owned:
        if sockets is None:
            sockets = listen(host, port, pubsub_port)
            for sock in sockets:
                owned.enter_context(sock)
        servers = [
            server_class(
                uvicorn.Config(
                    app, host=host, port=sock.getsockname()[1], log_level="warning",
                    lifespan="off" if i else "on",
                )
            )
            for i, sock in enumerate(sockets)
        ]  # fmt: skip
        await _run(servers, list(sockets), on_ready)


async def _run(
    servers: list[uvicorn.Server],
    sockets: list[socket.socket],
    on_ready: Callable[[int, int | None], None] | None,
) -> None:
    tasks = [
        asyncio.create_task(s.serve(sockets=[sock]), name=f"jsonrpc-{i}")
        for i, (s, sock) in enumerate(zip(servers, sockets, strict=True))
    ]
    try:
        while not all(s.started for s in servers):
            done = [t for t in tasks if t.done()]
            if done:
                await done[0]  # raises what stopped it (e.g. the app's startup)
                raise RuntimeError("the JSON-RPC server stopped while starting")
            await asyncio.sleep(0.02)
        if on_ready is not None:
            on_ready(_bound_port(servers[0]), _bound_port(servers[1]) if servers[1:] else None)
        await asyncio.shield(asyncio.gather(*tasks))
    finally:
        for s in servers:
            s.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)
