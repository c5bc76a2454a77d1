"""`gtx-edge`: run the gateway agent, or show its local state to the installer.

gtx-edge run --config gateway.toml      # until SIGTERM / Ctrl-C, then flush and go offline
gtx-edge status --config gateway.toml   # outbox, drops, sequence, last poll per meter
"""

import argparse
import asyncio
import contextlib
import logging
import signal
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
from wire.health import decode_health, format_status
from wire.text import printable

__all__ = ["build_parser", "main", "run_gateway", "status_text"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gtx-edge", description="GridTokenX gateway agent")
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help="what to do (COMMAND -h: more)"
    )
    run = sub.add_parser("run", help="poll meters and publish signed readings until stopped")
    run.add_argument(
        "--config", type=Path, required=True, help="gateway TOML config (gtx-provision writes it)"
    )
    status = sub.add_parser("status", help="show the gateway's local state")
    status.add_argument(
        "--config", type=Path, required=True, help="gateway TOML config of the gateway to show"
    )
    return parser


async def run_gateway(config: GatewayConfig) -> None:
    """Run the agent for `config` until SIGTERM / SIGINT (graceful) or cancelled."""
    key = DeviceKey.load(config.key_file)
    outbox = Outbox(config.state_file, max_entries=config.outbox.max_entries)

    @contextlib.asynccontextmanager
    async def connect() -> AsyncIterator[Publisher]:
        async with MqttPublisher(config.broker, config.gateway_id or key.gateway_id) as publisher:
            yield publisher

    loop = asyncio.get_running_loop()
    try:
        async with ModbusMeterReader(timeout_s=config.polling.timeout_s) as reader:
            agent = GatewayAgent(
                config=config, key=key, reader=reader, outbox=outbox, connect=connect
            )
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, agent.stop)
            try:
                await agent.run()
            finally:
                for signum in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(signum)
    finally:
        outbox.close()


def status_text(config: GatewayConfig) -> str:
    """What `gtx-edge status` prints: live outbox figures, then the last health report;
    each line free of control characters (`wire.text.printable`)."""
    if not config.state_file.exists():
        return printable(f"no state file at {config.state_file}: the gateway has not run yet")
    outbox = Outbox(config.state_file, max_entries=config.outbox.max_entries)
    try:
        lines = [
            f"state file:     {config.state_file}",
            f"outbox depth:   {outbox.depth()} of {config.outbox.max_entries}",
            f"dropped:        {outbox.dropped()} (outbox full; newest dropped seq "
            f"{outbox.last_dropped_seq()})",
            f"next sequence:  {outbox.next_seq()}",
        ]
        lines = [printable(line) for line in lines]
        saved = outbox.load_health()
    finally:
        outbox.close()
    if saved is None:
        lines.append("no health report saved yet")
    else:
        try:
            lines += ["", "last health report:", format_status(decode_health(saved))]
        except ValueError as exc:
            lines.append(printable(f"saved health report unreadable: {exc}"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        config = load_config(args.config)
        if args.command == "status":
            print(printable(f"gateway id:     {DeviceKey.load(config.key_file).gateway_id}"))
            print(printable(f"meters:         {', '.join(m.meter_id for m in config.meters)}"))
            print(status_text(config))
        else:
            asyncio.run(run_gateway(config))
    except GatewayError as exc:
        print(printable(f"error: {exc}"), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
