"""`gtx-coordinator`: migrate the database, manage devices, run ingest."""

import argparse
import asyncio
import contextlib
import logging
import sys

from sqlalchemy import select
from sqlalchemy.engine import Engine

from coordinator.config import Settings
from coordinator.db.migrate import upgrade
from coordinator.db.models import EpochRecord
from coordinator.db.session import make_engine
from coordinator.devices.registry import register_device, revoke_device
from coordinator.errors import CoordinatorError
from coordinator.ops.logs import configure_logging
from coordinator.ops.metrics import serve_metrics
from coordinator.ops.monitor import run_monitor
from coordinator.readings.epoch_close import recompute_epoch, summary_json
from coordinator.runner import maintain_partitions, run_ingest

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gtx-coordinator",
        description="GridTokenX coordinator. Settings come from GTX_* environment variables "
        "(GTX_DATABASE_URL, GTX_MQTT_HOST, GTX_MQTT_PORT, GTX_TOPIC_ROOT, ...).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="create or upgrade the database schema")
    add = sub.add_parser("device-add", help="register a gateway's public key")
    add.add_argument("gateway_id", help="base58 Ed25519 public key of the gateway")
    rev = sub.add_parser("device-revoke", help="reject a gateway's readings from now on")
    rev.add_argument("gateway_id")
    sub.add_parser("run", help="run ingest and epoch closing until interrupted")
    epoch = sub.add_parser("epoch", help="epoch tools")
    epoch_sub = epoch.add_subparsers(dest="epoch_command", required=True)
    recompute = epoch_sub.add_parser(
        "recompute", help="recompute an epoch from stored readings and compare with its close"
    )
    recompute.add_argument("epoch", type=int)
    sub.add_parser("partitions", help="create coming readings partitions, drop expired ones")
    mon = sub.add_parser(
        "monitor",
        help="live operator view of the MQTT topics (gateways, readings, epochs, alerts)",
    )
    mon.add_argument("--once", action="store_true", help="print one snapshot and exit")
    mon.add_argument("--json", action="store_true", help="JSON instead of text")
    mon.add_argument("--refresh", type=float, default=1.0, help="seconds between redraws")
    return parser


def _recompute(engine: Engine, settings: Settings, epoch: int) -> int:
    result = recompute_epoch(engine, epoch, settings.epoch_length_s, settings.lateness_window_s)
    body = summary_json(result, settings.epoch_length_s)
    print(body)
    with engine.connect() as conn:
        stored = conn.execute(
            select(EpochRecord.summary_json).where(EpochRecord.epoch == epoch)
        ).scalar_one_or_none()
    if stored is None:
        print(f"epoch {epoch} is not closed yet", file=sys.stderr)
        return 0
    if stored != body:
        print(f"MISMATCH with the stored close of epoch {epoch}:\n{stored}", file=sys.stderr)
        return 1
    print(f"epoch {epoch}: matches the stored close", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings()
    configure_logging(logging.INFO, json_lines=settings.log_json)
    engine = make_engine(settings.database_url)
    try:
        if args.command == "migrate":
            upgrade(engine)
            print("database schema is up to date")
        elif args.command == "device-add":
            new = register_device(engine, args.gateway_id)
            print(("registered " if new else "re-activated ") + args.gateway_id)
        elif args.command == "device-revoke":
            if not revoke_device(engine, args.gateway_id):
                print(f"unknown gateway {args.gateway_id}", file=sys.stderr)
                return 1
            print("revoked " + args.gateway_id)
        elif args.command == "epoch":
            return _recompute(engine, settings, args.epoch)
        elif args.command == "partitions":
            maintain_partitions(engine, settings)
        elif args.command == "monitor":
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(
                    run_monitor(
                        host=settings.mqtt_host, port=settings.mqtt_port,
                        root=settings.topic_root, out=sys.stdout,
                        username=settings.mqtt_username, password=settings.mqtt_password,
                        once=args.once, as_json=args.json, refresh_s=args.refresh,
                    )
                )  # fmt: skip
        elif args.command == "run":
            upgrade(engine)
            if settings.metrics_port:
                serve_metrics(settings.metrics_port, settings.metrics_addr)
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(run_ingest(settings, engine, with_chain=True))
    except CoordinatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    return 0
