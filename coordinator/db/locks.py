"""Every PostgreSQL advisory lock the coordinator takes, in one place, so no two
uses can share an id by accident.

- `EPOCH_LOCK` (transaction lock): ingest batches take it *shared*, the epoch
  closer *exclusive*, so no batch adds energy to an epoch while it closes;
- `GATEWAY_LOCK_CLASS` with `gateway_lock_key(id)` (transaction lock, two int4
  keys): one per gateway of an ingest batch, taken in sorted order, so instances
  holding readings of one gateway commit them one after the other;
- `CHAIN_LEADER_LOCK` (session lock): held by the one instance that runs the
  chain worker;
- `ROLES_LOCK` (transaction lock): role changes one at a time, so the rule "the
  last REC authority cannot be removed" holds against concurrent removals;
- `EMBEDDED_LEDGER_LOCK` (session lock, tried, never waited for): held by the one
  process that writes the embedded ledger: the chain worker with
  `GTX_LEDGER=embedded`, or `gtx-coordinator ledger serve --allow-send`.

The single-bigint and the two-int4 key spaces do not overlap. SQLite (the
one-process demo) takes none of them (the embedded ledger's writer holds a lock
file beside the database instead: `coordinator.onchain.ledger.embedded_writer`).
"""

import zlib

__all__ = [
    "CHAIN_LEADER_LOCK",
    "EMBEDDED_LEDGER_LOCK",
    "EPOCH_LOCK",
    "GATEWAY_LOCK_CLASS",
    "ROLES_LOCK",
    "gateway_lock_key",
]

EPOCH_LOCK = 0x6774_7801  # "gtx" 01
GATEWAY_LOCK_CLASS = 0x6774_7802
CHAIN_LEADER_LOCK = 0x47545843  # "GTXC"
ROLES_LOCK = 0x6774_7803
EMBEDDED_LEDGER_LOCK = 0x4754584C  # "GTXL"


def gateway_lock_key(gateway_id: str) -> int:
    """The second key of a gateway's lock (the first is `GATEWAY_LOCK_CLASS`)."""
    return zlib.crc32(gateway_id.encode()) - (1 << 31)  # into int4 range
