"""`gtx-verify`: check GridTokenX's public evidence from outside, with nothing but the
coordinator's public API and a Solana RPC endpoint.

    gtx-verify reading GATEWAY_ID SEQ --api URL --rpc URL [--token T]
    gtx-verify reading --proof-file proof.json --rpc URL --oracle KEY
    gtx-verify certificate LEAF --api URL --rpc URL [--token T]
    gtx-verify certificate --proof-file proof.json --rpc URL --settlement-authority KEY
    gtx-verify clearing EPOCH --api URL --rpc URL [--token T]

The keys that must have signed the attestations (the oracle's for readings, the
settlement authority's for clearings and certificates) come from `--oracle` /
`--settlement-authority` when given, else from the API's `/api/v1/deployment`
(the output says which).

Exit codes: 0 verified; 1 refused (a check failed: the reason is printed); 2 usage
error; 3 could not check (API or RPC unreachable, unknown reading, not attested yet).
"""

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from verify.api import PublicApi
from verify.certificate import check_certificate
from verify.errors import Refused, Unavailable
from verify.http import Http, UrllibHttp, check_base_url
from verify.market import check_clearing
from verify.reading import check_reading
from verify.solana import SolanaRpc, check_address
from wire.text import printable

__all__ = ["EXIT_OK", "EXIT_REFUSED", "EXIT_UNAVAILABLE", "EXIT_USAGE", "build_parser", "main"]

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3

_TOKEN_ENV = "GTX_API_TOKEN"  # noqa: S105 (the variable's name, not a token)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gtx-verify",
        description="Check a reading's Merkle proof or an epoch's clearing against the chain,"
        " from the public API and a Solana RPC endpoint only.",
        epilog="Exit codes: 0 verified, 1 refused, 2 usage error, 3 could not check.",
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help="what to check (COMMAND -h: more)"
    )

    def common(sub: argparse.ArgumentParser, *, api_required: bool) -> None:
        sub.add_argument("--api", required=api_required, help="the coordinator's base URL")
        sub.add_argument("--rpc", required=True, help="a Solana JSON-RPC URL")
        sub.add_argument(
            "--token", default=os.environ.get(_TOKEN_ENV),
            help=f"API bearer token (default: ${_TOKEN_ENV})",
        )  # fmt: skip
        sub.add_argument(
            "--commitment", default="finalized", choices=["confirmed", "finalized"],
            help="how final the attestation must be (default: finalized)",
        )  # fmt: skip
        sub.add_argument("--timeout", type=float, default=30.0, help="seconds per request")

    reading = commands.add_parser("reading", help="a reading's Merkle proof and its attestation")
    reading.add_argument("gateway_id", nargs="?", help="the reading's gateway id")
    reading.add_argument("seq", nargs="?", type=int, help="the reading's seq")
    reading.add_argument(
        "--proof-file", type=Path, help="a saved proof (the API's JSON) instead of asking the API"
    )
    reading.add_argument("--oracle", help="the oracle's public key (base58)")
    common(reading, api_required=False)

    certificate = commands.add_parser(
        "certificate", help="a granular certificate's Merkle proof and its commitment"
    )
    certificate.add_argument("leaf", nargs="?", help="the certificate's leaf (hex): its id")
    certificate.add_argument(
        "--proof-file", type=Path, help="a saved proof (the API's JSON) instead of asking the API"
    )
    certificate.add_argument("--settlement-authority", help="its public key (base58)")
    common(certificate, api_required=False)

    clearing = commands.add_parser("clearing", help="an epoch's clearing, recomputed")
    clearing.add_argument("epoch", type=int, help="the delivery epoch")
    clearing.add_argument("--settlement-authority", help="its public key (base58)")
    common(clearing, api_required=True)
    return parser


def _trusted_key(
    given: str | None, name: str, field: str, api: PublicApi | None, note: Callable[[str], None]
) -> str:
    if given is not None:
        check_address(given, f"--{name.replace(' ', '-')}")
        note(f"{name} key {given} (given)")
        return given
    if api is None:
        raise ValueError(f"give --{name.replace(' ', '-')}: there is no API to ask")
    key = api.deployment().get(field)
    if not isinstance(key, str):
        raise Unavailable(f"the API's deployment names no {name}")
    check_address(key, name)
    note(f"{name} key {key} (from the API's /api/v1/deployment; pin it with"
         f" --{name.replace(' ', '-')})")  # fmt: skip
    return key


def _load_proof(path: Path) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text()
        doc = json.loads(text)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the proof file {path}: {exc}") from exc
    if not isinstance(doc, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return doc


def _run(args: argparse.Namespace, http: Http, note: Callable[[str], None]) -> str:
    rpc_url = check_base_url(args.rpc, "--rpc")
    rpc = SolanaRpc(rpc_url, http, commitment=args.commitment)
    api = None
    if args.api is not None:
        api = PublicApi(check_base_url(args.api, "--api"), http, token=args.token)
    if args.command == "reading":
        if args.proof_file is not None:
            if args.gateway_id is not None:
                raise ValueError("give GATEWAY_ID SEQ or --proof-file, not both")
            doc = _load_proof(args.proof_file)
        elif args.gateway_id is None or args.seq is None or api is None:
            raise ValueError("give GATEWAY_ID SEQ and --api, or --proof-file")
        else:
            doc = api.proof(args.gateway_id, args.seq)
        oracle = _trusted_key(args.oracle, "oracle", "oracle", api, note)
        proof = check_reading(doc, rpc, oracle=oracle, note=note)
        return f"reading {proof.gateway_id}/{proof.seq} is in epoch {proof.epoch}'s attested root"
    if args.command == "certificate":
        if args.proof_file is not None:
            if args.leaf is not None:
                raise ValueError("give LEAF or --proof-file, not both")
            doc = _load_proof(args.proof_file)
        elif args.leaf is None or api is None:
            raise ValueError("give LEAF and --api, or --proof-file")
        else:
            doc = api.certificate(args.leaf)
        key = _trusted_key(
            args.settlement_authority, "settlement authority", "settlement_authority", api, note
        )
        cert = check_certificate(doc, rpc, authority=key, note=note)
        return f"certificate {cert.leaf.hex()} is in epoch {cert.epoch}'s committed root"
    assert api is not None  # --api is required for clearing
    authority = _trusted_key(
        args.settlement_authority, "settlement authority", "settlement_authority", api, note
    )
    check_clearing(
        args.epoch, api.clearing(args.epoch), api.publication(args.epoch), rpc,
        authority=authority, note=note,
    )  # fmt: skip
    return f"the clearing of epoch {args.epoch} follows from its inputs and is attested"


def main(
    argv: Sequence[str] | None = None, *, http: Http | None = None, out: TextIO | None = None
) -> int:
    """Run `gtx-verify`; returns the exit code (module doc)."""
    stream = sys.stdout if out is None else out
    args = build_parser().parse_args(argv)

    def note(line: str) -> None:
        print(f"ok    {printable(line)}", file=stream, flush=True)

    try:
        summary = _run(args, http or UrllibHttp(timeout_s=args.timeout), note)
    except Refused as exc:
        print(f"REFUSED [{exc.code}] {printable(exc.detail)}", file=stream)
        return EXIT_REFUSED
    except Unavailable as exc:
        print(f"could not check: {printable(str(exc))}", file=stream)
        return EXIT_UNAVAILABLE
    except ValueError as exc:
        print(f"gtx-verify: {printable(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    print(f"VERIFIED {printable(summary)}", file=stream)
    return EXIT_OK
