"""`python -m coordinator.market.recompute EPOCH [--database-url URL]`: clear a stored
epoch again from its stored inputs and compare with its stored result. Exit status 0
when they agree byte for byte, 1 when they differ, 2 when the epoch is not cleared."""

import argparse
import os
import sys
from collections.abc import Sequence

from coordinator.db.session import make_engine
from coordinator.market.clearing_service import recompute
from coordinator.market.sql_store import SqlMarketStore

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gtx-market-recompute", description=__doc__)
    parser.add_argument("epoch", type=int)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("GTX_DATABASE_URL", ""),
        help="SQLAlchemy URL (default: $GTX_DATABASE_URL)",
    )
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("--database-url or GTX_DATABASE_URL is required")
    engine = make_engine(args.database_url)
    try:
        verdict = recompute(SqlMarketStore(engine), args.epoch)
    except LookupError as exc:
        print(exc, file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(
        f"epoch {args.epoch}: {verdict.reason}; "
        f"stored {verdict.stored_hash}, recomputed {verdict.expected_hash}"
    )
    return 0 if verdict.agrees else 1


if __name__ == "__main__":
    sys.exit(main())
