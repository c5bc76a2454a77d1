"""`gtx-sim`: serve a fleet of simulated meters over Modbus TCP (or RTU on
pseudo-terminals, `--rtu-pty`) until Ctrl-C."""

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Mapping, Sequence

from device_sim.clock import SimClock
from device_sim.errors import SimulatorError
from device_sim.fleet import FleetMember, build_fleet
from device_sim.rtu import ModbusSimRtuServer, PtyNullModem
from device_sim.server import ModbusSimServer
from edge.registermap import available_maps
from wire.text import printable

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gtx-sim", description="Simulated AMI meters served over Modbus TCP."
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help="what to do (COMMAND -h: more)"
    )
    serve = sub.add_parser(
        "serve",
        help="serve a fleet of meters until interrupted",
        description="Serve N meters, unit ids 1..247 per port; more than 247 use the "
        "following ports (with --rtu-pty: one pseudo-terminal per 247).",
    )
    serve.add_argument("--meters", type=int, default=10, help="number of meters (default 10)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=5020, help="first TCP port (default 5020)")
    serve.add_argument(
        "--accel",
        type=float,
        default=1.0,
        help="simulated seconds per real second (1440 = one day per minute)",
    )
    serve.add_argument(
        "--start", type=int, default=None, help="simulated start, UTC epoch seconds (default now)"
    )
    serve.add_argument(
        "--map",
        choices=available_maps(),
        default=None,
        help="register map for every meter (default: a mix)",
    )
    serve.add_argument("--seed", type=int, default=0, help="fleet and weather seed")
    serve.add_argument(
        "--rtu-pty",
        action="store_true",
        help="serve Modbus RTU on pseudo-terminals instead of TCP; prints each device for the "
        'gateway (transport = "serial", device = ...); needs pyserial',
    )
    serve.add_argument(
        "--utc-offset-hours", type=float, default=7.0, help="campus local time (default UTC+7)"
    )
    return parser


def _describe(members: Sequence[FleetMember], places: Mapping[int, str]) -> str:
    lines = []
    for m in members:
        lines.append(
            f"{places[m.group]} unit {m.unit_id:3d}  {m.map_name:<10}  serial {m.serial}  "
            f"{m.meter.kind:<9} rated {m.meter.rated_power_w} W"
        )
    return "\n".join(lines)


async def _serve(args: argparse.Namespace) -> None:
    clock = SimClock(start_s=args.start, accel=args.accel)
    members = build_fleet(
        args.meters,
        seed=args.seed,
        utc_offset_s=round(args.utc_offset_hours * 3600),
        map_name=args.map,
    )
    groups = sorted({m.group for m in members})
    places: dict[int, str] = {}
    async with contextlib.AsyncExitStack() as stack:
        for group in groups:
            mine = [m for m in members if m.group == group]
            meters = {m.unit_id: m.meter for m in mine}
            maps = {m.unit_id: m.map_name for m in mine}
            serials = {m.unit_id: m.serial for m in mine}
            server: ModbusSimServer
            if args.rtu_pty:
                cable = await stack.enter_async_context(PtyNullModem())
                server = ModbusSimRtuServer(
                    meters, map_name=maps, device=cable.server_end, clock=clock, serials=serials
                )
                places[group] = f"device {cable.gateway_end}"
            else:
                server = ModbusSimServer(
                    meters,
                    map_name=maps,
                    host=args.host,
                    port=args.port + group,
                    clock=clock,
                    serials=serials,
                )
                places[group] = f"port {args.port + group}"
            await stack.enter_async_context(server)
        print(_describe(members, places), flush=True)
        where = (
            "RTU device " + ", ".join(places[g].removeprefix("device ") for g in groups)
            if args.rtu_pty
            else f"{args.host}:{args.port}..{args.port + groups[-1]}"
        )
        print(
            f"serving {len(members)} meters on {where}, accel {args.accel}; Ctrl-C to stop",
            flush=True,
        )
        stop = asyncio.Event()
        # SIGTERM (docker stop) ends the run as cleanly as Ctrl-C does.
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    """Entry point of `gtx-sim`."""
    args = build_parser().parse_args(argv)
    if args.meters < 1:
        print("gtx-sim: --meters must be at least 1", file=sys.stderr)
        return 2
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(args))
    except SimulatorError as exc:
        print(printable(f"error: {exc}"), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
