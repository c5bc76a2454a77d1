"""The JSON-RPC app under uvicorn: `serve` runs until cancelled (Ctrl-C)."""

import asyncio
import contextlib
from collections.abc import Callable

import uvicorn

from programs.ledger.embedded import EmbeddedLedger
from programs.ledger.jsonrpc.app import create_app

__all__ = ["serve"]


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
) -> None:
    """Serve `ledger`'s JSON-RPC (and its websocket) on host:port until cancelled; with
    `pubsub_port` the websocket also there, as a validator (its RPC port + 1). Port 0
    takes a free one: `on_ready(rpc port, pubsub port)` says which, once listening."""
    app = create_app(
        ledger,
        allow_send=allow_send,
        allow_airdrop=allow_airdrop,
        follow_interval=follow_interval,
    )
    main = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    )
    servers = [main]
    if pubsub_port is not None:
        servers.append(
            uvicorn.Server(
                uvicorn.Config(
                    app, host=host, port=pubsub_port, log_level="warning", lifespan="off"
                )
            )
        )
    tasks = [asyncio.create_task(s.serve(), name=f"jsonrpc-{i}") for i, s in enumerate(servers)]
    try:
        while not all(s.started for s in servers):
            done = [t for t in tasks if t.done()]
            if done:
                await done[0]  # raises what stopped it (e.g. the port is taken)
                raise RuntimeError("the JSON-RPC server stopped while starting")
            await asyncio.sleep(0.02)
        if on_ready is not None:
            on_ready(
                _bound_port(main), _bound_port(servers[1]) if pubsub_port is not None else None
            )
        await asyncio.shield(asyncio.gather(*tasks))
    finally:
        for s in servers:
            s.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)
