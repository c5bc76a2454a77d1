"""`gtx-coordinator`: migrate the database, manage devices, run ingest."""

import argparse
import asyncio
import contextlib
import logging
import sys

from coordinator.config import Settings
from coordinator.db.migrate import upgrade
from coordinator.db.session import make_engine
from coordinator.errors import CoordinatorError
from coordinator.registry import register_device, revoke_device
from coordinator.runner import run_ingest

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
    sub.add_parser("run", help="run ingest until interrupted")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = Settings()
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
        elif args.command == "run":
            upgrade(engine)
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(run_ingest(settings, engine))
    except CoordinatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    return 0
