"""`gtx-edge`: run the gateway agent, or show its local state."""

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from edge.agent import GatewayAgent, Publisher
from edge.config import GatewayConfig, load_config
from edge.errors import GatewayError
from edge.meter_reader import ModbusMeterReader
from edge.outbox import Outbox
from edge.publisher import MqttPublisher
from edge.signing import DeviceKey

__all__ = ["main", "run_gateway"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gtx-edge", description="GridTokenX gateway agent")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="poll meters and publish signed readings until interrupted")
    run.add_argument("--config", type=Path, required=True, help="gateway TOML config")
    status = sub.add_parser("status", help="show the gateway's local state")
    status.add_argument("--config", type=Path, required=True)
    return parser


async def run_gateway(config: GatewayConfig) -> None:
    """Run the agent for `config` until cancelled."""
    key = DeviceKey.load(config.key_file)
    outbox = Outbox(config.state_file)

    @contextlib.asynccontextmanager
    async def connect() -> AsyncIterator[Publisher]:
        async with MqttPublisher(config.broker, key.gateway_id) as publisher:
            yield publisher

    try:
        async with ModbusMeterReader() as reader:
            agent = GatewayAgent(
                config=config, key=key, reader=reader, outbox=outbox, connect=connect
            )
            await agent.run()
    finally:
        outbox.close()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        config = load_config(args.config)
        if args.command == "status":
            key = DeviceKey.load(config.key_file)
            outbox = Outbox(config.state_file)
            print(f"gateway id:    {key.gateway_id}")
            print(f"meters:        {', '.join(m.meter_id for m in config.meters)}")
            print(f"next sequence: {outbox.next_seq()}")
            print(f"outbox depth:  {outbox.depth()}")
            outbox.close()
        else:
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(run_gateway(config))
    except GatewayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
