"""`evaluate`: the oracle's verdict on one decoded, signed reading.

Order of checks (the first that fails decides; later ones assume earlier passed):

 1. unknown_device    no key to verify with
 2. revoked_device    the registry alone decides, so a revoked key costs no
                      signature verification and its signatures prove nothing
 3. bad_signature     before this, nothing in the payload is trusted; the
                      current key verifies, or a rotated-out key whose overlap
                      had not ended at `received` (the coordinator's receive
                      time, default `now`)
 4. duplicate /       an authentic redelivery of a stored reading is a
    seq_reused        Duplicate whatever else changed since (time passing past
                      the lateness window, for instance); another reading under
                      a stored seq is refused
 5. unknown_meter     the meter must be registered on the gateway
 6. future_timestamp  ts > now + max_future_skew_s
 7. too_late          ts < now - lateness_window_s
 8. stale_reading     ts <= the meter's previous accepted ts
 9. counter_backwards or the meter_reset flag (see `coordinator.readings.oracle.rules`)
10. implausible_energy (skipped after a reset: a new baseline has no interval)

then Accepted, flagged `sequence_gap` when seq skips past the gateway's highest.

Protocol errors (malformed, unsupported_version, payload_too_large) happen
before a reading exists; `rejected_from_protocol_error` maps them.

State the caller supplies, per reading (and must update between readings of
one batch): the gateway's registry record, the meter's previous accepted state
(greatest ts), the accepted reading already stored under (gateway, seq) if
any, and the highest accepted seq of the gateway.

After an `Accepted` verdict the caller stores the reading, then:
    previous    := MeterState.of(reading)            (also after a meter_reset)
    highest_seq := max(highest_seq, reading.seq)
    energy      += interval_energy(old previous, MeterState.of(reading),
                                   length_s, first_open_epoch)
                   unless the meter had no previous or the reading is a meter_reset
    attested in   accounting_epoch(reading.ts, length_s, first_open_epoch)
(`coordinator.readings.oracle.epochs`). After `Duplicate` it stores and counts nothing.
"""

from coordinator.readings.oracle.config import OracleConfig
from coordinator.readings.oracle.reasons import Flag, protocol_reason
from coordinator.readings.oracle.records import DeviceRecord, MeterState
from coordinator.readings.oracle.rules import (
    SignatureCheck,
    check_active,
    check_counters,
    check_energy,
    check_known_device,
    check_known_meter,
    check_not_future,
    check_not_stale,
    check_not_too_late,
    check_sequence,
    check_signature,
    has_sequence_gap,
)
from coordinator.readings.oracle.signatures import signature_valid
from coordinator.readings.oracle.verdict import Accepted, Rejected, Verdict
from wire.reading import ProtocolError, Reading, SignedReading

__all__ = ["DEFAULT_CONFIG", "evaluate", "rejected_from_protocol_error"]

DEFAULT_CONFIG = OracleConfig()


def evaluate(
    signed: SignedReading,
    *,
    device: DeviceRecord | None,
    previous: MeterState | None,
    stored_same_seq: Reading | None,
    highest_seq: int | None,
    now: int,
    config: OracleConfig = DEFAULT_CONFIG,
    verify: SignatureCheck = signature_valid,
    received: int | None = None,
) -> Verdict:
    """Decide one reading (see the module doc for the order of checks).

    `verify` is the signature check, replaceable by one that trusts a
    verification already done in bulk by the caller. `received` (default
    `now`) is when the coordinator received the reading: a rotated-out key's
    overlap is judged by it, so a batch held while the database was down is
    not refused for the wait.
    """
    at = now if received is None else received
    if (verdict := _check_origin(signed, device, stored_same_seq, verify, at)) is not None:
        return verdict
    assert device is not None  # for mypy: _check_origin refused None
    reading = signed.reading
    claims = _check_claims(reading, device, previous, now, config)
    if isinstance(claims, Rejected) or not has_sequence_gap(reading.seq, highest_seq):
        return claims
    return Accepted(claims.flags | {Flag.SEQUENCE_GAP})


def _check_origin(
    signed: SignedReading,
    device: DeviceRecord | None,
    stored_same_seq: Reading | None,
    verify: SignatureCheck,
    received: int,
) -> Verdict | None:
    # Checks 1-4: who sent it, and whether we already have it.
    if (rejected := check_known_device(device)) is not None:
        return rejected
    assert device is not None  # for mypy: check_known_device refused None
    if (rejected := check_active(device)) is not None:
        return rejected
    if (rejected := check_signature(signed, device, verify, received=received)) is not None:
        return rejected
    return check_sequence(signed.reading, stored_same_seq)


def _check_claims(
    reading: Reading,
    device: DeviceRecord,
    previous: MeterState | None,
    now: int,
    config: OracleConfig,
) -> Accepted | Rejected:
    # Checks 5-10: is what the reading says plausible.
    for rejected in (
        check_known_meter(reading, device),
        check_not_future(reading.ts, now, config),
        check_not_too_late(reading.ts, now, config),
        check_not_stale(reading.ts, previous),
    ):
        if rejected is not None:
            return rejected
    if previous is None:
        return Accepted()  # the meter's first reading: a baseline, no interval to check
    current = MeterState.of(reading)
    rated = device.rated_power_w[reading.meter_id]
    counters = check_counters(previous, current, rated, config)
    if isinstance(counters, Rejected):
        return counters
    if counters is Flag.METER_RESET:
        return Accepted(frozenset({Flag.METER_RESET}))  # a new baseline: no interval
    return check_energy(previous, current, rated, config) or Accepted()


def rejected_from_protocol_error(error: ProtocolError) -> Rejected:
    """The verdict on a payload the wire codec refused."""
    return Rejected(protocol_reason(error.code), error.detail)
