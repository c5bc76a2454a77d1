"""`gridtokenx demo`: the whole system in one process, on a simulated campus.

See `demo.system` for what runs and `docs/operations.md` for how
to point it at real servers.

SIGINT (Ctrl-C) and SIGTERM stop the whole demo, however it was launched: the
handlers are installed explicitly, so a background launch (where the shell
leaves SIGINT ignored) stops on SIGINT too. It then prints ``stopped``. A
second signal while it cleans up ends the process at once (the databases are
crash-safe; the gateways' outboxes keep what was not sent).
"""

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.exc import InterfaceError, OperationalError

from coordinator.errors import CoordinatorError
from demo.reconcile import Reconciliation
from demo.system import DemoOptions, run_demo
from device_sim.errors import SimulatorError
from edge.errors import GatewayError
from programs.errors import LedgerError
from wire.text import printable

__all__ = ["build_parser", "main"]

_T = TypeVar("_T")
_EXPECTED = (CoordinatorError, GatewayError, LedgerError, SimulatorError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gridtokenx",
        description="GridTokenX: peer-to-peer energy trading for a campus microgrid.",
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help="what to do (COMMAND -h: more)"
    )
    demo = sub.add_parser(
        "demo",
        help="run the whole system on a simulated campus (embedded services where "
        "GTX_DATABASE_URL / GTX_MQTT_HOST / GTX_REDIS_URL are not set)",
        description="Simulated meters behind gateways publish signed readings; the "
        "coordinator mints energy tokens each epoch and clears a call auction; simulated "
        "users trade with their own keys; the dashboard shows it all. Ctrl-C stops.",
    )
    demo.add_argument(
        "--workdir",
        type=Path,
        default=Path("var/demo"),
        help="folder for the demo's database, keys, wallets and admin token, kept between "
        "runs: a restarted demo goes on where it stopped (default var/demo)",
    )
    demo.add_argument(
        "--gateways", type=int, default=3, help="simulated gateways on the campus (default 3)"
    )
    demo.add_argument(
        "--meters-per-gateway",
        type=int,
        default=10,
        help="meters behind each gateway, about half with PV (default 10)",
    )
    demo.add_argument(
        "--epoch-seconds",
        type=int,
        default=20,
        help="length of an epoch, the market's delivery period (default 20; production: 900)",
    )
    demo.add_argument(
        "--poll-seconds",
        type=int,
        default=4,
        help="seconds between two readings of a meter (default 4)",
    )
    demo.add_argument(
        "--api-port",
        type=int,
        default=8080,
        help="port of the dashboard and API on 127.0.0.1 (default 8080; 0: any free port)",
    )
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


class _Stopped(Exception):  # noqa: N818 - a signal, not an error
    """SIGINT or SIGTERM arrived; the demo was cancelled and has cleaned up."""


def _print_tasks() -> None:
    for task in asyncio.all_tasks():
        print(f"--- task {task.get_name()}", file=sys.stderr)
        task.print_stack(file=sys.stderr)
    sys.stderr.flush()


async def _until_signalled(work: Coroutine[Any, Any, _T]) -> _T:
    """Run `work` until it ends or SIGINT / SIGTERM arrives; then cancel it, wait for
    its clean-up and raise _Stopped. The handlers replace whatever the process
    inherited (SIG_IGN in a background launch) and the API server's own."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal() -> None:
        if stop.is_set():
            print("\nstopped (forced)", flush=True)
            os._exit(130)
        print("\nstopping...", flush=True)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal)
    # `kill -USR1 <pid>`: where every task of the demo waits, on stderr (a stuck demo
    # names what it waits for; its threads say nothing of the event loop's tasks).
    loop.add_signal_handler(signal.SIGUSR1, _print_tasks)
    task = asyncio.create_task(work, name="demo")
    waiter = asyncio.create_task(stop.wait(), name="signals")
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        raise _Stopped
    finally:
        waiter.cancel()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def _expected(exc: BaseException) -> BaseException | None:
    """The operator's or the world's error (a bad setting, a busy port, a server
    gone) in `exc` or in its task groups; None for a defect, shown in full."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _expected(inner)
            if found is not None:
                return found
        return None
    return exc if isinstance(exc, (*_EXPECTED, OperationalError, InterfaceError)) else None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
        result = asyncio.run(_until_signalled(run_demo(options)))
    except _Stopped:
        print("stopped", flush=True)
        return 0
    except KeyboardInterrupt:  # Ctrl-C before the handlers were in place
        print("\nstopped", flush=True)
        return 0
    except BaseException as exc:
        found = _expected(exc)
        if found is None:
            raise
        print(printable(f"error: {found}".splitlines()[0]), file=sys.stderr)
        return 2
    return 0 if result is None else _report(result)


def _report(result: Reconciliation) -> int:
    for line in result.lines():
        print(line, file=sys.stderr if line.startswith("MISMATCH") else sys.stdout)
    print("balances reconcile: " + ("yes" if result.ok else "NO"))
    return 0 if result.ok else 1
