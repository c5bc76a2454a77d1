"""`gridtokenx demo`: the whole system in one process, on a simulated campus.

See `demo.system` for what runs and `docs/operations.md` for how
to point it at real servers.
"""

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from coordinator.errors import CoordinatorError
from demo.reconcile import Reconciliation
from demo.system import DemoOptions, run_demo
from edge.errors import GatewayError
from programs.errors import LedgerError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gridtokenx", description="GridTokenX")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo",
        help="run the whole system on a simulated campus (embedded services where "
        "GTX_DATABASE_URL / GTX_MQTT_HOST / GTX_REDIS_URL are not set)",
    )
    demo.add_argument("--workdir", type=Path, default=Path("var/demo"))
    demo.add_argument("--gateways", type=int, default=3)
    demo.add_argument("--meters-per-gateway", type=int, default=10)
    demo.add_argument("--epoch-seconds", type=int, default=20)
    demo.add_argument("--poll-seconds", type=int, default=4)
    demo.add_argument("--api-port", type=int, default=8080)
    demo.add_argument(
        "--epochs",
        type=int,
        default=0,
        help="stop after this many epochs are minted, reconcile every balance and exit "
        "(0, the default: run until Ctrl-C)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    options = DemoOptions(
        workdir=args.workdir,
        gateways=args.gateways,
        meters_per_gateway=args.meters_per_gateway,
        epoch_s=args.epoch_seconds,
        poll_s=args.poll_seconds,
        api_port=args.api_port,
        epochs=args.epochs,
    )
    try:
        result = asyncio.run(run_demo(options))
    except KeyboardInterrupt:
        print("\nstopped")
        return 0
    except (CoordinatorError, GatewayError, LedgerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0 if result is None else _report(result)


def _report(result: Reconciliation) -> int:
    summary, *mismatches = result.lines()
    print(summary)
    for line in mismatches:
        print(line, file=sys.stderr)
    print("balances reconcile: " + ("yes" if result.ok else "NO"))
    return 0 if result.ok else 1
