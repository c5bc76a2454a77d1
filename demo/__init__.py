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
        "--rpc",
        type=_address,
        default=None,
        metavar="HOST:PORT",
        help="also serve the ledger as a Solana JSON-RPC endpoint there, for wallets, "
        "explorers and SDKs (read-only; websocket on the same port and the next)",
    )
    demo.add_argument(
        "--rpc-allow-send", action="store_true", help="with --rpc: accept sendTransaction"
    )
    demo.add_argument(
        "--rpc-allow-airdrop",
        action="store_true",
        help="with --rpc: answer requestAirdrop (lamports out of thin air)",
    )
    demo.add_argument(
        "--epochs",
        type=int,
        default=0,
        help="stop after this many epochs are minted, reconcile every balance and exit "
        "(0, the default: run until Ctrl-C)",
    )
    return parser


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if (args.rpc_allow_send or args.rpc_allow_airdrop) and args.rpc is None:
        print("error: --rpc-allow-send and --rpc-allow-airdrop need --rpc", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    options = DemoOptions(
        workdir=args.workdir,
        gateways=args.gateways,
        meters_per_gateway=args.meters_per_gateway,
        epoch_s=args.epoch_seconds,
        poll_s=args.poll_seconds,
        api_port=args.api_port,
        epochs=args.epochs,
        rpc=args.rpc,
        rpc_allow_send=args.rpc_allow_send,
        rpc_allow_airdrop=args.rpc_allow_airdrop,
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
    print(
        f"reconciled {result.epochs} epochs: verified export {result.verified_export_wh} Wh, "
        f"minted {result.minted_base_units} base units, {result.trades_settled} trades settled, "
        f"{result.users} users' balances checked on the ledger"
    )
    for line in result.mismatches:
        print("MISMATCH " + line, file=sys.stderr)
    print("balances reconcile: " + ("yes" if result.ok else "NO"))
    return 0 if result.ok else 1
