"""The oracle's plausibility rules, one pure function each.

Each `check_*` returns the verdict that ends evaluation (`Rejected`, or
`Duplicate`) or `None` to go on; `evaluate` in `coordinator.readings.oracle.evaluate`
runs them in order. Nothing here does I/O or reads a clock: time is `now`.

Counters running backwards vs a replaced meter
----------------------------------------------
Let `limit` = `reset_baseline_wh` + the energy the meter's rated power allows
in the time since the previous reading (what a brand-new meter installed just
after that reading could show at most). A reading whose counters went down
(either one) is a METER RESET when

  1. both its counters are at most `limit`, and
  2. a counter that went down had been above `limit` before,

and COUNTER_BACKWARDS otherwise. A reset is accepted, flagged `meter_reset`,
and is a new baseline: no energy is counted between it and the reading before
(none minted, none negative). Rule 2 keeps jitter early in a meter's life
(1500 -> 1490 Wh) from passing as a replacement. A meter replaced while its
old counters were still below `limit` is rejected as `counter_backwards`
until the new counters pass the old ones; the energy then counted is less
than the real one, never more.
"""

from collections.abc import Callable

from coordinator.readings.oracle.config import OracleConfig
from coordinator.readings.oracle.reasons import Flag, Reason
from coordinator.readings.oracle.records import DeviceRecord, MeterState
from coordinator.readings.oracle.signatures import signature_valid
from coordinator.readings.oracle.verdict import Duplicate, Rejected
from wire.reading import Reading, SignedReading

__all__ = [
    "SignatureCheck",
    "check_active",
    "check_counters",
    "check_energy",
    "check_known_device",
    "check_known_meter",
    "check_not_future",
    "check_not_stale",
    "check_not_too_late",
    "check_sequence",
    "check_signature",
    "has_sequence_gap",
    "is_meter_reset",
    "max_energy_wh",
]

SECONDS_PER_HOUR = 3600

SignatureCheck = Callable[[SignedReading, bytes], bool]


def check_known_device(device: DeviceRecord | None) -> Rejected | None:
    """The gateway must be registered: without its key nothing can be verified."""
    if device is None:
        return Rejected(Reason.UNKNOWN_DEVICE, "gateway is not registered")
    return None


def check_active(device: DeviceRecord) -> Rejected | None:
    """A revoked gateway's key is not trusted, so its signatures prove nothing."""
    if not device.active:
        return Rejected(Reason.REVOKED_DEVICE, "gateway was revoked")
    return None


def check_signature(
    signed: SignedReading,
    device: DeviceRecord,
    verify: SignatureCheck = signature_valid,
    *,
    received: int | None = None,
) -> Rejected | None:
    """The Ed25519 signature must verify with the gateway's current key, or with
    a key rotated out whose overlap had not ended when the reading was
    `received` (Unix seconds; None: no retired key is accepted).

    The reading's gateway id is not compared with the key: the id is the
    gateway's first key and stays its identity after rotations. A reading
    signed by a retired key after its overlap is `bad_signature` too (the
    detail says so): the key no longer speaks for the gateway.
    """
    if verify(signed, device.public_key):
        return None
    for retired in device.retired_keys:
        if verify(signed, retired.public_key):
            if received is not None and received < retired.valid_until:
                return None
            return Rejected(
                Reason.BAD_SIGNATURE,
                f"signed by a key retired at {retired.valid_until}, received at {received}",
            )
    return Rejected(Reason.BAD_SIGNATURE, "Ed25519 signature does not verify")


def check_sequence(
    reading: Reading, stored_same_seq: Reading | None
) -> Duplicate | Rejected | None:
    """`stored_same_seq` is the accepted reading already stored under this
    gateway and sequence number, if any. The same reading again is a QoS 1
    redelivery (Ed25519 is deterministic, so comparing the signed content is
    enough); a different one is a reused sequence number."""
    if stored_same_seq is None:
        return None
    if stored_same_seq.signing_bytes() == reading.signing_bytes():
        return Duplicate()
    return Rejected(
        Reason.SEQ_REUSED, f"seq {reading.seq} already used by another reading of this gateway"
    )


def check_known_meter(reading: Reading, device: DeviceRecord) -> Rejected | None:
    """Only meters registered on the gateway (with a rated power) are accepted."""
    if reading.meter_id not in device.rated_power_w:
        return Rejected(Reason.UNKNOWN_METER, f"meter {reading.meter_id} is not registered")
    return None


def check_not_future(ts: int, now: int, config: OracleConfig) -> Rejected | None:
    """The meter's clock may run ahead of ours by at most `max_future_skew_s`."""
    if ts > now + config.max_future_skew_s:
        return Rejected(Reason.FUTURE_TIMESTAMP, f"ts {ts} is {ts - now} s ahead of now {now}")
    return None


def check_not_too_late(ts: int, now: int, config: OracleConfig) -> Rejected | None:
    """A reading older than `lateness_window_s` on arrival is refused."""
    if ts < now - config.lateness_window_s:
        return Rejected(Reason.TOO_LATE, f"ts {ts} is {now - ts} s old, beyond the window")
    return None


def check_not_stale(ts: int, previous: MeterState | None) -> Rejected | None:
    """Readings of a meter are accepted in strictly increasing time. An older
    reading arriving after a newer one adds nothing (the newer cumulative
    counters already cover its energy) and would reorder history."""
    if previous is not None and ts <= previous.ts:
        return Rejected(
            Reason.STALE_READING, f"ts {ts} is not after the meter's last accepted {previous.ts}"
        )
    return None


def max_energy_wh(rated_power_w: int, elapsed_s: int) -> int:
    """The most energy (Wh, rounded down) a meter of this rating can register
    in `elapsed_s` seconds, importing and exporting together."""
    return rated_power_w * max(elapsed_s, 0) // SECONDS_PER_HOUR


def is_meter_reset(
    previous: MeterState, current: MeterState, rated_power_w: int, config: OracleConfig
) -> bool:
    """True when counters went down because the meter was replaced (module doc)."""
    limit = config.reset_baseline_wh + max_energy_wh(rated_power_w, current.ts - previous.ts)
    pairs = ((previous.import_wh, current.import_wh), (previous.export_wh, current.export_wh))
    went_down_from_above = any(now < before and before > limit for before, now in pairs)
    return went_down_from_above and all(now <= limit for _, now in pairs)


def check_counters(
    previous: MeterState, current: MeterState, rated_power_w: int, config: OracleConfig
) -> Rejected | Flag | None:
    """Counters only go up, except across a meter replacement (`Flag.METER_RESET`)."""
    if current.import_wh >= previous.import_wh and current.export_wh >= previous.export_wh:
        return None
    if is_meter_reset(previous, current, rated_power_w, config):
        return Flag.METER_RESET
    return Rejected(
        Reason.COUNTER_BACKWARDS,
        f"import {previous.import_wh} -> {current.import_wh} Wh, "
        f"export {previous.export_wh} -> {current.export_wh} Wh",
    )


def check_energy(
    previous: MeterState, current: MeterState, rated_power_w: int, config: OracleConfig
) -> Rejected | None:
    """Energy since the previous reading (import plus export: a meter cannot do
    both at full power at once) must fit the rated power over the elapsed time,
    plus `energy_tolerance_wh` for counter resolution; `rated_power_pct` scales the
    rated power. Counters must not have gone down (`check_counters` first)."""
    energy = (current.import_wh - previous.import_wh) + (current.export_wh - previous.export_wh)
    elapsed = current.ts - previous.ts
    # Compared in Wh*s*100 so that no rounding favours the meter.
    allowed = (
        rated_power_w * config.rated_power_pct * max(elapsed, 0)
        + config.energy_tolerance_wh * SECONDS_PER_HOUR * 100
    )
    if energy * SECONDS_PER_HOUR * 100 > allowed:
        return Rejected(
            Reason.IMPLAUSIBLE_ENERGY,
            f"{energy} Wh in {elapsed} s exceeds rated {rated_power_w} W"
            + ("" if config.rated_power_pct == 100 else f" at {config.rated_power_pct} %"),
        )
    return None


def has_sequence_gap(seq: int, highest_seq: int | None) -> bool:
    """True when `seq` skips past the gateway's highest accepted sequence number."""
    return highest_seq is not None and seq > highest_seq + 1
