"""`gtx-edge`: run the gateway agent, show its local state, install it as a service.

gtx-edge run --config gateway.toml      # until SIGTERM / Ctrl-C, then flush and go offline
gtx-edge status --config gateway.toml   # outbox, drops, sequence, last poll per meter
gtx-edge install-service --config /etc/gtx/gateway.toml   # the systemd unit

Exit status: 0 after a clean stop; 2 for a configuration or key problem
(`edge.service.CONFIG_ERROR_EXIT`: the unit does not restart on it); 1 for
anything unexpected, logged with its traceback and cause (the unit restarts
the agent, which loses nothing: see `edge.agent`).
"""

import argparse
import asyncio
import contextlib
import logging
import shlex
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from edge.agent import GatewayAgent, Publisher
from edge.config import GatewayConfig, load_config
from edge.errors import ConfigError, GatewayError
from edge.meter_reader import ModbusMeterReader
from edge.outbox import Outbox
from edge.publisher import MqttPublisher
from edge.service import CONFIG_ERROR_EXIT, UNIT_NAME, Notifier, install_unit, render_unit
from edge.signing import DeviceKey
from wire.health import decode_health, format_status
from wire.text import printable

__all__ = ["build_parser", "install_service", "main", "run_gateway", "status_text"]

log = logging.getLogger("edge.cli")


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
    install = sub.add_parser(
        "install-service", help="write the systemd unit that runs this gateway (as root)"
    )
    install.add_argument("--config", type=Path, required=True, help="gateway TOML config")
    install.add_argument("--user", default="gtx", help="the dedicated user it runs as (gtx)")
    install.add_argument(
        "--unit-dir", type=Path, default=Path("/etc/systemd/system"), help="where to write it"
    )
    install.add_argument("--stdout", action="store_true", help="print the unit, write nothing")
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
                config=config,
                key=key,
                reader=reader,
                outbox=outbox,
                connect=connect,
                notifier=Notifier.from_environment(),
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


def _gtx_edge() -> list[str]:
    """The command that runs this installation's `gtx-edge`."""
    beside = Path(sys.executable).parent / "gtx-edge"
    if beside.is_file():
        return [str(beside)]
    return [sys.executable, "-m", "edge.cli"]


def install_service(
    config: GatewayConfig, config_path: Path, *, user: str, unit_dir: Path | None
) -> tuple[str, Path | None]:
    """The unit for the gateway `config` (read from `config_path`), written
    into `unit_dir` unless it is None; returns (unit text, where it went).
    Raises ConfigError if the unit cannot be written."""
    text = render_unit(config, config_path, exec_start=_gtx_edge(), user=user)
    if unit_dir is None:
        return text, None
    try:
        return text, install_unit(text, unit_dir)
    except OSError as exc:
        raise ConfigError(f"cannot write the unit into {unit_dir}: {exc.strerror}") from exc


def _next_steps(config_path: Path, user: str, state_dir: Path) -> str:
    config = shlex.quote(str(config_path.resolve()))
    unit = UNIT_NAME.removesuffix(".service")
    return "\n".join(
        [
            "next, as root:",
            f"  id {user} >/dev/null 2>&1 || useradd --system --home-dir {state_dir} "
            f"--shell /usr/sbin/nologin {user}",
            f"  chgrp {user} {config} && chmod 0640 {config}   # it holds the broker password",
            f"  systemctl daemon-reload && systemctl enable --now {unit}",
            f"  journalctl -u {unit} -f                        # its log",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        config = load_config(args.config)
        if args.command == "status":
            print(printable(f"gateway id:     {DeviceKey.load(config.key_file).gateway_id}"))
            print(printable(f"meters:         {', '.join(m.meter_id for m in config.meters)}"))
            print(status_text(config))
        elif args.command == "install-service":
            unit_dir = None if args.stdout else args.unit_dir
            text, written = install_service(config, args.config, user=args.user, unit_dir=unit_dir)
            if written is None:
                print(text, end="")
            else:
                print(printable(f"wrote {written}"))
                print(_next_steps(args.config, args.user, config.state_file.resolve().parent))
        else:
            asyncio.run(run_gateway(config))
    except GatewayError as exc:
        print(printable(f"error: {exc}"), file=sys.stderr)
        return CONFIG_ERROR_EXIT
    except Exception:
        # Whatever it was, say what and why before going: the service manager
        # restarts the agent, and the state file keeps every unacknowledged
        # reading and the sequence counter.
        log.critical("gtx-edge stopped by an unexpected error", exc_info=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
