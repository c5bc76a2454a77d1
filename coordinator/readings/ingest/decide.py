"""The oracle over a whole batch: pure, given the state loaded for the batch.

`verify_all` checks every signature first (solders, outside any database
transaction); `decide_batch` then runs `coordinator.readings.oracle.evaluate` on each
reading in arrival order, carrying the state forward within the batch exactly
as `evaluate`'s contract says (previous reading per meter, highest seq per
gateway, readings stored under a (gateway, seq)), and returns what to write:
accepted rows with flags and accounting epoch, rejections, state updates and
the energy to add per (epoch, meter).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from coordinator.readings.ingest.screen import Accepted, Parsed, Rejected
from coordinator.readings.oracle import (
    Accepted as AcceptedVerdict,
)
from coordinator.readings.oracle import (
    DeviceRecord,
    Duplicate,
    Epochs,
    Flag,
    MeterKey,
    MeterState,
    OracleConfig,
    accounting_epoch,
    evaluate,
    interval_energy,
)
from coordinator.readings.oracle.signatures import signature_valid
from wire.reading import Reading, SignedReading

__all__ = ["BatchDecision", "BatchState", "decide_batch", "verify_all"]

Verified = Mapping[tuple[int, bytes], bool]


@dataclass(frozen=True, slots=True)
class BatchState:
    """What the database holds for the gateways and meters of a batch."""

    devices: Mapping[str, DeviceRecord]
    previous: Mapping[MeterKey, MeterState]
    highest_seq: Mapping[str, int]
    stored: Mapping[tuple[str, int], Reading]
    first_open_epoch: int | None


@dataclass(slots=True)
class BatchDecision:
    accepted: list[Accepted] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    duplicates: list[Parsed] = field(default_factory=list)
    # Final state to write, per meter (seq, counters) and per gateway.
    meters: dict[MeterKey, tuple[int, MeterState]] = field(default_factory=dict)
    gateways: dict[str, int] = field(default_factory=dict)
    # (epoch, meter) -> (import Wh, export Wh) to add.
    energy: dict[tuple[int, MeterKey], tuple[int, int]] = field(default_factory=dict)
    # The lowest open epoch the batch was decided under (None: none closed yet).
    first_open_epoch: int | None = None


def verify_all(parsed: Sequence[Parsed], devices: Mapping[str, DeviceRecord]) -> Verified:
    """Signature validity of each reading from a known gateway, keyed by
    (id of the SignedReading, public key): the key is part of the answer so a
    key changed since cannot reuse it. The current key is tried first; only
    when it fails, the gateway's retired keys (whether one is still within its
    overlap is the oracle's call, in `decide_batch`)."""
    results: dict[tuple[int, bytes], bool] = {}
    for p in parsed:
        device = devices.get(p.signed.reading.gateway_id)
        if device is None or not device.active:
            continue
        key = device.public_key
        ok = results[(id(p.signed), key)] = signature_valid(p.signed, key)
        if not ok:
            for retired in device.retired_keys:
                old = retired.public_key
                if results.setdefault((id(p.signed), old), signature_valid(p.signed, old)):
                    break
    return results


def decide_batch(
    parsed: Sequence[Parsed],
    state: BatchState,
    *,
    now: int,
    config: OracleConfig,
    length_s: Epochs,
    verified: Verified,
) -> BatchDecision:
    """Evaluate each reading in order (module doc)."""

    def verify(signed: SignedReading, key: bytes) -> bool:
        known = verified.get((id(signed), key))
        return signature_valid(signed, key) if known is None else known

    previous = dict(state.previous)
    highest = dict(state.highest_seq)
    stored = dict(state.stored)
    foe = state.first_open_epoch
    out = BatchDecision(first_open_epoch=foe)
    for p in parsed:
        reading = p.signed.reading
        gw = reading.gateway_id
        meter = MeterKey(gw, reading.meter_id)
        verdict = evaluate(
            p.signed,
            device=state.devices.get(gw),
            previous=previous.get(meter),
            stored_same_seq=stored.get((gw, reading.seq)),
            highest_seq=highest.get(gw),
            now=now,
            config=config,
            verify=verify,
            received=int(p.incoming.received_at.timestamp()),
        )
        if isinstance(verdict, Duplicate):
            out.duplicates.append(p)
            continue
        if not isinstance(verdict, AcceptedVerdict):
            out.rejected.append(Rejected(p.incoming, verdict.reason.value, verdict.detail, gw))
            continue
        current = MeterState.of(reading)
        before = previous.get(meter)
        if before is not None and Flag.METER_RESET not in verdict.flags:
            for part in interval_energy(before, current, length_s, foe):
                key = (part.epoch, meter)
                imp, exp = out.energy.get(key, (0, 0))
                out.energy[key] = (imp + part.import_wh, exp + part.export_wh)
        previous[meter] = current
        highest[gw] = max(highest.get(gw, reading.seq), reading.seq)
        stored[(gw, reading.seq)] = reading
        out.meters[meter] = (reading.seq, current)
        out.gateways[gw] = highest[gw]
        epoch = accounting_epoch(reading.ts, length_s, foe)
        out.accepted.append(Accepted(p.incoming, p.signed, verdict.flags, epoch))
    return out
