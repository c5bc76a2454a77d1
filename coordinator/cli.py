"""`gtx-coordinator`: migrate the database, manage devices, run ingest, serve the
embedded ledger as Solana JSON-RPC."""

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import ssl
import sys
import time
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from coordinator.api import repository as repo
from coordinator.config import Settings, invalid_settings, monitor_client_id
from coordinator.db.migrate import upgrade
from coordinator.db.models import EpochRecord
from coordinator.db.session import database_errors, make_engine
from coordinator.devices.broker_accounts import broker_from_settings
from coordinator.devices.broker_setup import write_broker_state
from coordinator.devices.registry import register_device
from coordinator.errors import BrokerError, ConfigError, CoordinatorError
from coordinator.governance import GovernanceReader, SqlGovernance, defaults_from, schedule
from coordinator.notify.store import SqlNotifyStore
from coordinator.onchain.ledger import embedded_writer, open_readonly
from coordinator.onchain.minting import retry_parked
from coordinator.onchain.reconcile import Reconciliation, reconcile
from coordinator.ops.broker_audit import run_audit
from coordinator.ops.logs import configure_logging
from coordinator.ops.metrics import serve_metrics, watch_database
from coordinator.ops.monitor import run_monitor
from coordinator.readings.epoch_close import recompute_epoch, recorded_length, summary_json
from coordinator.readings.oracle import epoch_of, epoch_span
from coordinator.runner import maintain_partitions, prepare_sessions, run_ingest
from programs.errors import LedgerError
from programs.ledger.embedded import EmbeddedLedger
from programs.ledger.jsonrpc import serve as serve_json_rpc
from programs.ledger.store import SqlLedgerStore
from wire.text import printable

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gtx-coordinator",
        description="GridTokenX coordinator. Settings come from GTX_* environment variables "
        "(GTX_DATABASE_URL, GTX_MQTT_HOST, GTX_MQTT_PORT, GTX_TOPIC_ROOT, ...; "
        "docs/operations.md lists them).",
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help="what to do (COMMAND -h: more)"
    )
    sub.add_parser("migrate", help="create or upgrade the database schema")
    add = sub.add_parser("device-add", help="register a gateway's public key")
    add.add_argument("gateway_id", help="base58 Ed25519 public key of the gateway")
    rev = sub.add_parser("device-revoke", help="reject a gateway's readings from now on")
    rev.add_argument("gateway_id", help="base58 Ed25519 public key of the gateway to revoke")
    sub.add_parser("run", help="run ingest and epoch closing until interrupted")
    epoch = sub.add_parser("epoch", help="epoch tools")
    epoch_sub = epoch.add_subparsers(
        dest="epoch_command", required=True, metavar="EPOCH_COMMAND", help="epoch tool to run"
    )
    recompute = epoch_sub.add_parser(
        "recompute",
        help="recompute an epoch from stored readings and compare with its close (with the "
        "epoch length the data was made with)",
    )
    recompute.add_argument(
        "epoch",
        type=int,
        help="epoch id: its start in Unix seconds divided by the epoch length "
        "(the demo and the monitor print ids with their UTC start-end)",
    )
    params = sub.add_parser(
        "params", help="governed parameters: the values in force now and those scheduled"
    )
    params.add_argument("--epoch", type=int, help="show the values in force at this epoch")
    params.add_argument("--json", action="store_true", help="JSON instead of text")
    sub.add_parser("partitions", help="create coming readings partitions, drop expired ones")
    rec = sub.add_parser(
        "reconcile",
        help="account for every closed epoch's energy (minted, withheld, pending) and every "
        "balance on the ledger; exit 1 naming each epoch, user or wallet that disagrees",
    )
    rec.add_argument("--since-epoch", type=int, help="only the epochs from this one on")
    rec.add_argument(
        "--credits", type=Path, help="JSON {wallet: payment base units issued}: check payments too"
    )
    retry = sub.add_parser(
        "mint-retry", help="mint again the grants parked after repeated refusals (mint_failed)"
    )
    notify = sub.add_parser(
        "notify", help="user notifications: the outbox and its parked deliveries"
    )
    notify_sub = notify.add_subparsers(
        dest="notify_command", required=True, metavar="NOTIFY_COMMAND", help="what to do"
    )
    notify_sub.add_parser(
        "status", help="deliveries by status, the oldest pending one's age, the parked ones"
    )
    notify_retry = notify_sub.add_parser(
        "retry", help="make parked deliveries due now, with a fresh count of attempts"
    )
    notify_retry.add_argument("--user", help="only this wallet's")
    retry.add_argument("--epoch", type=int, help="only this epoch's")
    retry.add_argument("--owner", help="only this wallet's")
    mon = sub.add_parser(
        "monitor",
        help="live operator view of the MQTT topics (gateways, readings, epochs, alerts) on "
        "the broker at GTX_MQTT_HOST:GTX_MQTT_PORT under GTX_TOPIC_ROOT",
    )
    mon.add_argument(
        "--once",
        action="store_true",
        help="print one snapshot and exit (1 when no GridTokenX message arrived)",
    )
    mon.add_argument("--json", action="store_true", help="JSON instead of text")
    mon.add_argument(
        "--refresh", type=float, default=1.0, help="seconds between redraws (default 1)"
    )
    bc = sub.add_parser(
        "broker-config",
        help="write the broker's initial dynamic-security state (roles, service accounts, "
        "enrolled gateways disabled) before the broker first starts",
    )
    bc.add_argument("out", type=Path, help="the plugin's state file (plugin_opt_config_file)")
    bc.add_argument("--force", action="store_true", help="replace an existing file")
    bi = sub.add_parser(
        "broker-init",
        help="on a running broker: create the coordinator's persistent session(s), then "
        "enable the enrolled gateways' accounts",
    )
    bi.add_argument(
        "--client-id",
        action="append",
        default=[],
        help="a coordinator instance's client id (repeat; default: GTX_MQTT_CLIENT_ID)",
    )
    bi.add_argument(
        "--wait", type=float, default=60.0, help="seconds to wait for the broker (default 60)"
    )
    sub.add_parser(
        "broker-audit",
        help="read the broker's log on stdin: pass it on without per-message lines, log and "
        "count (gtx_broker_refusals_total) every refused login, subscription and publish",
    )
    ledger = sub.add_parser("ledger", help="the embedded ledger")
    ledger_sub = ledger.add_subparsers(
        dest="ledger_command", required=True, metavar="LEDGER_COMMAND", help="ledger tool to run"
    )
    serve = ledger_sub.add_parser(
        "serve",
        help="serve the embedded ledger as a Solana JSON-RPC endpoint (and its websocket), "
        "read-only unless told otherwise",
    )
    serve.add_argument(
        "--listen",
        default="127.0.0.1:8899",
        type=_address,
        help="HOST:PORT of the JSON-RPC, the websocket on the same port (default "
        "127.0.0.1:8899, as a validator)",
    )
    serve.add_argument(
        "--pubsub-port",
        type=int,
        default=None,
        help="also serve the websocket on this port (default: the RPC port + 1, as a "
        "validator; 0: only on the RPC port)",
    )
    serve.add_argument(
        "--allow-send",
        action="store_true",
        help="accept sendTransaction: this process then writes the ledger, and refuses to "
        "start while another does (a coordinator with GTX_LEDGER=embedded)",
    )
    serve.add_argument(
        "--allow-airdrop",
        action="store_true",
        help="answer requestAirdrop with lamports out of thin air (development only; "
        "writes the ledger like --allow-send)",
    )
    serve.add_argument(
        "--poll",
        type=float,
        default=0.5,
        help="read-only: seconds between looks for what the ledger's writer journaled",
    )
    return parser


def _reader(engine: Engine, settings: Settings) -> GovernanceReader:
    reader = GovernanceReader(SqlGovernance(engine), defaults_from(settings), ttl_s=3600)
    asyncio.run(reader.changes())
    return reader


def _params(engine: Engine, settings: Settings, epoch: int | None, as_json: bool) -> int:
    """Print the governed parameters: in force now (or at `epoch`) and scheduled."""
    reader = _reader(engine, settings)
    current = epoch_of(int(time.time()), settings.epoch_length_s) if epoch is None else epoch
    rows = schedule(reader.defaults, reader.source.param_changes(), current)
    if as_json:
        values = [
            {"name": r.name.value, "value": r.value, "from_epoch": r.from_epoch,
             "authority": r.authority, "applied": r.applied}
            for r in rows
        ]  # fmt: skip
        print(json.dumps({"epoch": current, "values": values}, indent=2))
        return 0
    span = epoch_span(current, settings.epoch_length_s)
    print(f"governed parameters at epoch {current} [{span}]:")
    for r in rows:
        since = "default" if r.from_epoch is None else f"from epoch {r.from_epoch}"
        when = "scheduled" if r.from_epoch is not None and r.from_epoch > current else "in force"
        by = "" if r.authority is None else f" by {r.authority}"
        flag = ""
        if not r.applied and r.from_epoch is not None:
            flag = "  (recorded, not applied: the epoch length is fixed per deployment)"
        print(printable(f"  {r.name.value:<18} {r.value:<16} {when:<9} {since}{by}{flag}"))
    return 0


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def _serve_ledger(args: argparse.Namespace, settings: Settings, engine: Engine) -> None:
    if settings.ledger != "embedded":
        raise ConfigError(
            f"`ledger serve` serves the embedded ledger; GTX_LEDGER is {settings.ledger!r} "
            "(a cluster has its own RPC)"
        )
    upgrade(engine)
    host, port = args.listen
    pubsub = port + 1 if args.pubsub_port is None and port else args.pubsub_port or None
    writes = args.allow_send or args.allow_airdrop

    def ready(rpc_port: int, pubsub_port: int | None) -> None:
        also = "" if pubsub_port is None else f" and ws://{host}:{pubsub_port}"
        mode = ("sendTransaction accepted" if args.allow_send else "no sendTransaction") + (
            ", airdrops" if args.allow_airdrop else ""
        )
        state = f"writes ({mode})" if writes else "read-only, following the database"
        print(
            printable(
                f"serving the embedded ledger: http://{host}:{rpc_port} "
                f"(websocket ws://{host}:{rpc_port}{also}); {state}; Ctrl-C stops"
            ),
            flush=True,
        )

    async def serve_it() -> None:
        async with contextlib.AsyncExitStack() as stack:
            if writes:
                await stack.enter_async_context(embedded_writer(engine))
            ledger = await EmbeddedLedger.open(SqlLedgerStore(engine))
            try:
                await serve_json_rpc(
                    ledger,
                    host,
                    port,
                    pubsub_port=pubsub,
                    allow_send=args.allow_send,
                    allow_airdrop=args.allow_airdrop,
                    follow_interval=None if writes else args.poll,
                    on_ready=ready,
                )
            except OSError as exc:
                reason = os.strerror(exc.errno) if exc.errno else str(exc)
                where = f"{host}:{port}" + ("" if pubsub is None else f" and :{pubsub}")
                raise ConfigError(
                    f"cannot serve the JSON-RPC on {where}: {reason} "
                    "(choose others with --listen and --pubsub-port)"
                ) from None

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_it())


def _recompute(engine: Engine, settings: Settings, epoch: int) -> int:
    # The length the data was made with (stored with each close), not today's setting:
    # epoch ids only mean something with the length they were counted in.
    length_s = recorded_length(engine, epoch) or settings.epoch_length_s
    # The lateness window in force then bounds where the epoch's readings are.
    lateness = _reader(engine, settings).lateness_at(epoch)
    result = recompute_epoch(engine, epoch, length_s, lateness)
    body = summary_json(result, length_s)
    print(body)
    label = f"epoch {epoch} [{epoch_span(epoch, length_s)}, {length_s} s]"
    with engine.connect() as conn:
        stored = conn.execute(
            select(EpochRecord.summary_json).where(EpochRecord.epoch == epoch)
        ).scalar_one_or_none()
    if stored is None:
        print(f"{label} is not closed yet", file=sys.stderr)
        return 0
    if stored != body:
        print(f"MISMATCH with the stored close of {label}:\n{stored}", file=sys.stderr)
        return 1
    print(f"{label}: matches the stored close", file=sys.stderr)
    return 0


def _tls_context(settings: Settings) -> ssl.SSLContext | None:
    tls = settings.mqtt_tls_config()
    if tls is None:
        return None
    try:
        return tls.context()
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"TLS to the broker (GTX_MQTT_CA_FILE ...): {exc}") from exc


async def _prepare_sessions(settings: Settings, ids: list[str], wait_s: float) -> dict[str, bool]:
    """prepare_sessions, retrying while the broker is not up yet (a new broker)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while True:
        try:
            return await prepare_sessions(settings, ids)
        except BrokerError:
            if loop.time() >= deadline:
                raise
            await asyncio.sleep(1.0)


def _broker_command(args: argparse.Namespace, settings: Settings, engine: Engine) -> None:
    if args.command == "broker-audit":
        if settings.metrics_port:
            serve_metrics(settings.metrics_port, settings.metrics_addr)
        with contextlib.suppress(KeyboardInterrupt):
            run_audit(sys.stdin, sys.stdout)
        return
    upgrade(engine)
    if args.command == "broker-config":
        write_broker_state(args.out, settings, repo.broker_entries(engine), force=args.force)
        print(printable(f"broker state written to {args.out}"))
        return
    ids = args.client_id or [settings.mqtt_client_id]
    existed = asyncio.run(_prepare_sessions(settings, ids, args.wait))
    for client_id, held in existed.items():
        state = "already held" if held else "created"
        print(printable(f"coordinator session {client_id}: {state}"))
    broker_from_settings(settings).sync(repo.broker_entries(engine))
    print("gateway accounts: in line with the database")


def _notify(args: argparse.Namespace, engine: Engine) -> int:
    store = SqlNotifyStore(engine)
    now = dt.datetime.now(dt.UTC)
    if args.notify_command == "retry":
        n = store.retry_parked(now, user=args.user)
        print(f"{n} parked deliveries put back to be sent now")
        return 0
    counts, oldest = store.backlog(now)
    print("deliveries: " + ", ".join(f"{status} {n}" for status, n in counts.items()))
    print(f"oldest pending: {oldest:.0f} s")
    for row in store.parked():
        d = row.delivery
        print(printable(
            f"parked {d.key} {d.channel.value} {d.event.kind.value} {d.event.event_id} "
            f"user {d.event.user} after {row.attempts} attempts: {row.last_error}"
        ))  # fmt: skip
    return 0


def _reconcile(engine: Engine, settings: Settings, since: int | None, credits: Path | None) -> int:
    issued = None
    if credits is not None:
        try:
            issued = {w: int(units) for w, units in json.loads(credits.read_text()).items()}
        except (OSError, ValueError, AttributeError, TypeError) as exc:
            raise ConfigError(
                f"--credits {credits}: not a JSON object of wallet: base units ({exc})"
            ) from exc
    lateness = _reader(engine, settings).lateness_at

    async def run() -> Reconciliation:
        async with open_readonly(settings, engine) as (ledger, deployment):
            return await reconcile(
                engine, ledger, deployment, length_s=settings.epoch_length_s,
                lateness_s=lateness, credits=issued, since_epoch=since,
            )  # fmt: skip

    result = asyncio.run(run())
    summary, *mismatches = result.lines()
    print(printable(summary))
    for line in mismatches:
        print(printable(line), file=sys.stderr)
    print("reconciled: " + ("yes" if result.ok else "NO"))
    return 0 if result.ok else 1


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        raise invalid_settings(exc) from None


def _monitor(args: argparse.Namespace, settings: Settings) -> int:
    try:
        view = asyncio.run(
            run_monitor(
                host=settings.mqtt_host, port=settings.mqtt_port,
                root=settings.topic_root, out=sys.stdout,
                username=settings.mqtt_username, password=settings.mqtt_password,
                tls=_tls_context(settings),
                client_id=monitor_client_id(settings.mqtt_username),
                once=args.once, as_json=args.json, refresh_s=args.refresh,
            )
        )  # fmt: skip
    except KeyboardInterrupt:
        return 0
    if args.once and not view.messages:
        print(
            printable(
                f"no GridTokenX messages on {settings.mqtt_host}:{settings.mqtt_port} under "
                f"{settings.topic_root}/: wrong broker, port or GTX_TOPIC_ROOT?"
            ),
            file=sys.stderr,
        )
        return 1
    return 0


def _dispatch(args: argparse.Namespace, settings: Settings, engine: Engine) -> int:  # noqa: PLR0912 - a branch per command
    if args.command == "migrate":
        upgrade(engine)
        print("database schema is up to date")
    elif args.command == "device-add":
        new = register_device(engine, args.gateway_id)
        print(printable(("registered " if new else "re-activated ") + args.gateway_id))
    elif args.command == "device-revoke":
        if not repo.revoke_gateway(engine, args.gateway_id, dt.datetime.now(dt.UTC)):
            print(printable(f"unknown gateway {args.gateway_id}"), file=sys.stderr)
            return 1
        # Its broker account too: disabled, and disconnected by the broker.
        broker_from_settings(settings).sync(repo.broker_entries(engine))
        print(printable("revoked " + args.gateway_id))
    elif args.command == "epoch":
        return _recompute(engine, settings, args.epoch)
    elif args.command == "params":
        return _params(engine, settings, args.epoch, args.json)
    elif args.command == "reconcile":
        return _reconcile(engine, settings, args.since_epoch, args.credits)
    elif args.command == "mint-retry":
        n = retry_parked(engine, epoch=args.epoch, owner=args.owner)
        print(f"{n} parked grant(s) put back to be minted by the chain worker")
    elif args.command == "notify":
        return _notify(args, engine)
    elif args.command == "partitions":
        maintain_partitions(engine, settings)
    elif args.command == "monitor":
        return _monitor(args, settings)
    elif args.command.startswith("broker-"):
        _broker_command(args, settings, engine)
    elif args.command == "ledger":
        _serve_ledger(args, settings, engine)
    elif args.command == "run":
        upgrade(engine)
        watch_database(engine)
        if settings.metrics_port:
            serve_metrics(settings.metrics_port, settings.metrics_addr)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_ingest(settings, engine, with_chain=True))
    return 0


def _expected(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The first error of a task group that is the operator's or the world's (a
    CoordinatorError or a database failure), or None: a defect, shown in full."""
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            found = _expected(exc)
            if found is not None:
                return found
        elif isinstance(exc, CoordinatorError | LedgerError | OperationalError | InterfaceError):
            return exc
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = _settings()
        configure_logging(logging.INFO, json_lines=settings.log_json)
        engine = make_engine(settings.database_url)
        try:
            with database_errors(engine):
                try:
                    return _dispatch(args, settings, engine)
                except BaseExceptionGroup as group:
                    leaf = _expected(group)
                    if leaf is None:
                        raise
                    raise leaf from group
        finally:
            engine.dispose()
    except (CoordinatorError, LedgerError) as exc:
        print(printable(f"error: {exc}"), file=sys.stderr)
        return 2
