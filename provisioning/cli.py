"""`gtx-provision`: the installer's commands on the gateway.

    init        make the device key on the gateway (mode 0600) and print its id
    enroll      redeem a one-time enrolment token: register key and meters, get
                broker credentials, write the gateway config (safe to re-run)
    check       end-to-end test: meters, broker login, a reading accepted by the coordinator
    rotate-key  replace the device key, registered before the old one stops working

Exit codes: 0 ok; 1 a check step failed; 2 usage error; 3 local key/config
problem; 4 refused by the coordinator (token used/expired/unknown, revoked,
invalid input); 5 coordinator or broker unreachable.
"""

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from edge.config import load_config
from edge.errors import GatewayError
from edge.signing import DeviceKey
from provisioning.check import run_check
from provisioning.client import UrllibTransport
from provisioning.enroll import EnrolOptions, enroll
from provisioning.errors import (
    LocalError,
    ProvisioningError,
    RefusedError,
    UnreachableError,
    UsageError,
)
from provisioning.gateway_config import parse_meter_spec, recorded_coordinator_url
from provisioning.output import Report, render
from provisioning.rotate import rotate_key
from wire.text import printable

__all__ = [
    "EXIT_CHECK_FAILED",
    "EXIT_LOCAL",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "build_parser",
    "main",
]

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_LOCAL = 3
EXIT_REFUSED = 4
EXIT_UNREACHABLE = 5
# Kept for callers of the first version.
EXIT_FAILED = EXIT_CHECK_FAILED

_TOKEN_ENV = "GTX_ENROLMENT_TOKEN"  # noqa: S105 (the variable's name, not a token)
_URL_ENV = "GTX_COORDINATOR_URL"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gtx-provision", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help="what to do (COMMAND -h: more)"
    )
    init = sub.add_parser("init", help="generate this gateway's device key and print its id")
    init.add_argument(
        "--key-file", type=Path, required=True, help="where the device key is (made if missing)"
    )

    en = sub.add_parser("enroll", help="enrol with a one-time token and write the gateway config")
    en.add_argument("--config", type=Path, required=True, help="gateway config to write")
    en.add_argument(
        "--key-file", type=Path, required=True, help="this gateway's device key (`init` makes it)"
    )
    en.add_argument("--state-file", type=Path, help="default: state.sqlite beside the config")
    en.add_argument("--coordinator", help=f"coordinator URL (or ${_URL_ENV})")
    en.add_argument("--token", help=f"one-time enrolment token (or ${_TOKEN_ENV})")
    en.add_argument("--owner", help="owner's wallet address (default: the token's owner)")
    en.add_argument(
        "--poll-interval",
        type=int,
        help="seconds between meter polls (default: the existing config's, else 900)",
    )
    en.add_argument(
        "--ca-file",
        type=Path,
        help="CA certificate of the broker (default: the one the coordinator hands out)",
    )
    en.add_argument(
        "--meter",
        action="append",
        default=[],
        help="meter_id=ID,host=H,port=502,unit=1,model=sdm630,rated_w=W[,owner=WALLET]; "
        "repeat per meter (default: the meters of an existing --config)",
    )

    ck = sub.add_parser("check", help="end-to-end test of this gateway")
    ck.add_argument("--config", type=Path, required=True, help="the gateway config to test")
    ck.add_argument("--coordinator", help="coordinator URL (default: from the config)")
    ck.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for acceptance")

    rk = sub.add_parser("rotate-key", help="replace the device key with no gap")
    rk.add_argument(
        "--config", type=Path, required=True, help="the gateway config whose key to replace"
    )
    rk.add_argument("--key-file", type=Path, help="default: key_file of the config")
    rk.add_argument("--coordinator", help="coordinator URL (default: from the config)")
    rk.add_argument("--overlap", type=int, help="seconds the old key stays valid (capped)")
    return parser


def _coordinator(arg: str | None, config: Path | None) -> UrllibTransport:
    url = arg or os.environ.get(_URL_ENV) or (config and recorded_coordinator_url(config))
    if not url:
        raise UsageError(f"no coordinator URL: give --coordinator or set ${_URL_ENV}")
    try:
        return UrllibTransport(url)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def _run(args: argparse.Namespace) -> tuple[Report, int]:
    if args.command == "init":
        return _init(args.key_file), EXIT_OK
    if args.command == "enroll":
        token = args.token or os.environ.get(_TOKEN_ENV)
        if not token:
            raise UsageError(f"no enrolment token: give --token or set ${_TOKEN_ENV}")
        transport = _coordinator(args.coordinator, None)
        options = EnrolOptions(
            config_file=args.config,
            key_file=args.key_file,
            state_file=args.state_file or args.config.parent / "state.sqlite",
            coordinator_url=os.environ.get(_URL_ENV, "")
            if not args.coordinator
            else args.coordinator,
            token=token,
            meters=tuple(parse_meter_spec(m) for m in args.meter),
            owner=args.owner,
            ca_file=args.ca_file,
            poll_interval_s=args.poll_interval,
        )
        return enroll(options, transport), EXIT_OK
    if args.command == "check":
        transport = _coordinator(args.coordinator, args.config)
        report = asyncio.run(run_check(args.config, transport, accept_timeout_s=args.timeout))
        return report, EXIT_OK if report.ok else EXIT_CHECK_FAILED
    # rotate-key
    transport = _coordinator(args.coordinator, args.config)
    key_file = args.key_file or _config_key_file(args.config)
    report = rotate_key(
        config_file=args.config, key_file=key_file, transport=transport, overlap_s=args.overlap
    )
    return report, EXIT_OK


def _config_key_file(config: Path) -> Path:
    try:
        return load_config(config).key_file
    except GatewayError as exc:
        raise LocalError(str(exc)) from exc


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        report, code = _run(args)
    except ProvisioningError as exc:
        code = {
            UsageError: EXIT_USAGE,
            LocalError: EXIT_LOCAL,
            RefusedError: EXIT_REFUSED,
            UnreachableError: EXIT_UNREACHABLE,
        }.get(type(exc), EXIT_CHECK_FAILED)
        _error(args.command, exc, code, as_json=args.json)
        return code
    except GatewayError as exc:
        _error(args.command, exc, EXIT_LOCAL, as_json=args.json)
        return EXIT_LOCAL
    print(render(report, as_json=args.json))
    return code


def _error(command: str, exc: Exception, code: int, *, as_json: bool) -> None:
    if as_json:
        payload = {"command": command, "ok": False, "exit_code": code, "error": str(exc)}
        if isinstance(exc, RefusedError):
            payload["reason"] = exc.code
        print(json.dumps(payload, sort_keys=True))
    else:
        print(printable(f"error: {exc}"), file=sys.stderr)


def _init(key_file: Path) -> Report:
    if key_file.exists():
        key = DeviceKey.load(key_file)
        created = False
    else:
        key = DeviceKey.generate()
        key.save(key_file)
        created = True
    report = Report("init")
    verb = "created" if created else "kept existing"
    report.add("device key", True, f"{verb} {key_file}")
    report.data.update(gateway_id=key.gateway_id, created=created)
    return report
