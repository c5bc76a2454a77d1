"""`gtx-provision`: the installer's commands on the gateway.

Only `init` exists so far: it makes the device key on the gateway itself.
"""

import argparse
import json
import sys
from pathlib import Path

from edge.errors import GatewayError
from edge.signing import DeviceKey

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gtx-provision", description=__doc__)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser(
        "init",
        help="generate this gateway's Ed25519 device key (mode 0600) and print its id",
    )
    init.add_argument("--key-file", type=Path, required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "init":
            return _init(args.key_file, as_json=args.json)
    except GatewayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_USAGE


def _init(key_file: Path, *, as_json: bool) -> int:
    if key_file.exists():
        key = DeviceKey.load(key_file)
        created = False
    else:
        key = DeviceKey.generate()
        key.save(key_file)
        created = True
    if as_json:
        print(json.dumps({"gateway_id": key.gateway_id, "created": created}))
    else:
        verb = "created" if created else "kept existing"
        print(f"{verb} device key {key_file}\ngateway id: {key.gateway_id}")
    return EXIT_OK
