"""An in-memory `ReadingStore` for unit tests of the ingest flow: plain dicts, the
same interface and the same loading rules as `SqlReadingStore`.

A unit of work stages its writes and applies them only on `commit`; leaving it
without committing discards them, as a rolled-back transaction would. What the
tables would hold is public: `readings`, `meters`, `highest`, `energy`,
`rejected`; `close_epoch` stands in for the epoch closer.
"""

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from coordinator.readings.ingest.decide import BatchDecision, BatchState
from coordinator.readings.ingest.screen import Parsed, Rejected
from coordinator.readings.oracle import DeviceRecord, Flag, MeterKey, MeterState
from wire.reading import Reading

__all__ = ["MemoryReadingStore", "StoredReading"]


@dataclass(frozen=True, slots=True)
class StoredReading:
    """A `readings` row: the reading, its signature, flags, accounting epoch and
    the lowest open epoch it was accepted under."""

    reading: Reading
    signature: bytes
    flags: frozenset[Flag]
    epoch: int
    first_open_epoch: int | None


class MemoryReadingStore:
    def __init__(self, devices: Mapping[str, DeviceRecord] | None = None) -> None:
        self.device_records: dict[str, DeviceRecord] = dict(devices or {})
        self.readings: dict[tuple[str, int], StoredReading] = {}
        self.meters: dict[MeterKey, tuple[int, MeterState]] = {}
        self.highest: dict[str, int] = {}
        self.energy: dict[tuple[int, MeterKey], tuple[int, int]] = {}
        self.rejected: list[Rejected] = []
        self.closed: set[int] = set()
        self.commits = 0
        self.opened: list[frozenset[str]] = []  # the gateways each unit of work locked

    def devices(self, gateway_ids: Iterable[str]) -> dict[str, DeviceRecord]:
        return {gw: self.device_records[gw] for gw in gateway_ids if gw in self.device_records}

    @contextlib.contextmanager
    def unit_of_work(self, gateway_ids: Iterable[str]) -> Iterator["MemoryUnitOfWork"]:
        locked = frozenset(gateway_ids)
        self.opened.append(locked)
        yield MemoryUnitOfWork(self, locked)

    def close_epoch(self, epoch: int) -> None:
        """What the epoch closer leaves behind that ingest reads: a closed epoch."""
        self.closed.add(epoch)


class MemoryUnitOfWork:
    def __init__(self, store: MemoryReadingStore, locked: frozenset[str]) -> None:
        self._store = store
        self._locked = locked
        self._staged: list[tuple[BatchDecision, list[Rejected]]] = []

    def load(
        self, parsed: Sequence[Parsed], devices: Mapping[str, DeviceRecord] | None = None
    ) -> BatchState:
        store = self._store
        unlocked = {p.signed.reading.gateway_id for p in parsed} - self._locked
        if unlocked:
            raise ValueError(f"gateways not locked by this unit of work: {sorted(unlocked)}")
        if devices is None:
            devices = store.devices(self._locked)
        highest = {gw: seq for gw, seq in store.highest.items() if gw in self._locked}
        # As the SQL store: only a seq at or below its gateway's highest can be stored.
        stored = {
            (r.gateway_id, r.seq): store.readings[(r.gateway_id, r.seq)].reading
            for r in (p.signed.reading for p in parsed)
            if r.seq <= highest.get(r.gateway_id, -1) and (r.gateway_id, r.seq) in store.readings
        }
        return BatchState(
            devices=devices,
            previous={m: s for m, (_, s) in store.meters.items() if m.gateway_id in self._locked},
            highest_seq=highest,
            stored=stored,
            first_open_epoch=max(store.closed) + 1 if store.closed else None,
        )

    def write(self, decision: BatchDecision, screened: Sequence[Rejected]) -> None:
        rejected = sorted([*screened, *decision.rejected], key=lambda r: r.incoming.received_at)
        self._staged.append((decision, rejected))

    def commit(self) -> None:
        store = self._store
        keys = [(a.signed.reading.gateway_id, a.signed.reading.seq)
                for decision, _ in self._staged for a in decision.accepted]  # fmt: skip
        if len(set(keys)) < len(keys) or not store.readings.keys().isdisjoint(keys):
            raise ValueError("a (gateway, seq) stored twice")  # the primary key, all or nothing
        for decision, rejected in self._staged:
            store.rejected.extend(rejected)
            for a in decision.accepted:
                r = a.signed.reading
                store.readings[(r.gateway_id, r.seq)] = StoredReading(
                    r, a.signed.signature, a.flags, a.epoch, decision.first_open_epoch
                )
            store.meters.update(decision.meters)
            store.highest.update(decision.gateways)
            for key, (imp, exp) in decision.energy.items():
                had_imp, had_exp = store.energy.get(key, (0, 0))
                store.energy[key] = (had_imp + imp, had_exp + exp)
        self._staged.clear()
        store.commits += 1
