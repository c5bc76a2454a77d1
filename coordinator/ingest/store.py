"""Where screened readings go: the `ReadingStore` interface and its SQL implementation."""

from collections.abc import Iterable, Sequence
from typing import Protocol

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from coordinator.db.models import Device, DeviceStatus, Reading, RejectedReading
from coordinator.ingest.screen import Accepted, DeviceKey, Rejected

__all__ = ["MemoryReadingStore", "ReadingStore", "SqlReadingStore"]


class ReadingStore(Protocol):
    def devices(self, gateway_ids: Iterable[str]) -> dict[str, DeviceKey]:
        """The registered devices among `gateway_ids` (revoked ones included)."""
        ...

    def save(self, accepted: Sequence[Accepted], rejected: Sequence[Rejected]) -> None:
        """Commit a batch atomically. Re-saving an accepted reading already stored
        (same gateway and sequence number) is a no-op."""
        ...


class SqlReadingStore:
    """ReadingStore on PostgreSQL or SQLite through SQLAlchemy Core."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        if self._dialect not in ("postgresql", "sqlite"):
            raise ValueError(f"unsupported database dialect {self._dialect!r}")

    def devices(self, gateway_ids: Iterable[str]) -> dict[str, DeviceKey]:
        ids = sorted(set(gateway_ids))
        if not ids:
            return {}
        query = select(Device.gateway_id, Device.public_key, Device.status).where(
            Device.gateway_id.in_(ids)
        )
        with self._engine.connect() as conn:
            return {
                gw: DeviceKey(bytes(key), status == DeviceStatus.ACTIVE)
                for gw, key, status in conn.execute(query)
            }

    def save(self, accepted: Sequence[Accepted], rejected: Sequence[Rejected]) -> None:
        with self._engine.begin() as conn:
            if accepted:
                rows = [
                    {
                        "gateway_id": a.signed.reading.gateway_id,
                        "meter_id": a.signed.reading.meter_id,
                        "seq": a.signed.reading.seq,
                        "meter_ts": a.signed.reading.ts,
                        "import_wh": a.signed.reading.import_wh,
                        "export_wh": a.signed.reading.export_wh,
                        "signature": a.signed.signature,
                        "received_at": a.incoming.received_at,
                    }
                    for a in accepted
                ]
                upsert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
                stmt = upsert(Reading).on_conflict_do_nothing(index_elements=["gateway_id", "seq"])
                conn.execute(stmt, rows)
            if rejected:
                conn.execute(
                    insert(RejectedReading),
                    [
                        {
                            "received_at": r.incoming.received_at,
                            "topic": r.incoming.topic,
                            "payload": r.incoming.payload,
                            "reason": r.reason,
                            "detail": r.detail,
                            "gateway_id": r.gateway_id,
                        }
                        for r in rejected
                    ],
                )


class MemoryReadingStore:
    """In-memory ReadingStore for unit tests and fakes."""

    def __init__(self, devices: dict[str, DeviceKey] | None = None) -> None:
        self.registered: dict[str, DeviceKey] = dict(devices or {})
        self.accepted: dict[tuple[str, int], Accepted] = {}
        self.rejected: list[Rejected] = []

    def devices(self, gateway_ids: Iterable[str]) -> dict[str, DeviceKey]:
        return {gw: self.registered[gw] for gw in gateway_ids if gw in self.registered}

    def save(self, accepted: Sequence[Accepted], rejected: Sequence[Rejected]) -> None:
        for a in accepted:
            key = (a.signed.reading.gateway_id, a.signed.reading.seq)
            self.accepted.setdefault(key, a)
        self.rejected.extend(rejected)
