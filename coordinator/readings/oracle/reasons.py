"""Why the oracle refused a reading, and what it noticed about one it accepted.

`Reason` is the one set of rejection reasons recorded with every refused
payload, whichever layer refused it: the wire codec (`wire.reading`
`ProtocolError.code`), ingest screening (topic agreement) or the oracle rules.
`Flag` marks an *accepted* reading that an operator may want to look at.

Both are `StrEnum`s: the value is the stable text stored in the database and
published on MQTT, so never rename a value, only add new ones.
"""

from enum import StrEnum, unique

from wire import reading as protocol

__all__ = ["Flag", "Reason", "protocol_reason"]


@unique
class Reason(StrEnum):
    """Why a payload was not accepted. `DUPLICATE` is not an error (see below)."""

    # The wire codec (wire.reading.ProtocolError.code).
    MALFORMED = protocol.MALFORMED
    UNSUPPORTED_VERSION = protocol.UNSUPPORTED_VERSION
    PAYLOAD_TOO_LARGE = protocol.PAYLOAD_TOO_LARGE
    # Ingest: the payload's gateway is not the one its topic names.
    TOPIC_MISMATCH = "topic_mismatch"
    # The registry.
    UNKNOWN_DEVICE = "unknown_device"
    REVOKED_DEVICE = "revoked_device"
    UNKNOWN_METER = "unknown_meter"
    # Also a reading signed by a key rotated out whose overlap had ended when
    # it was received (the detail names the retirement time).
    BAD_SIGNATURE = "bad_signature"
    # Sequence numbers: a byte-identical redelivery (MQTT QoS 1) is a
    # DUPLICATE, acknowledged and stored once; a *different* reading under a
    # sequence number already stored is SEQ_REUSED, a real rejection.
    DUPLICATE = "duplicate"
    SEQ_REUSED = "seq_reused"
    # Time.
    FUTURE_TIMESTAMP = "future_timestamp"
    TOO_LATE = "too_late"
    STALE_READING = "stale_reading"
    # Counters.
    COUNTER_BACKWARDS = "counter_backwards"
    IMPLAUSIBLE_ENERGY = "implausible_energy"


@unique
class Flag(StrEnum):
    """Something noteworthy about an accepted reading."""

    # The gateway's sequence number jumped: readings in between are missing
    # (lost or still buffered). No energy is lost: counters are cumulative.
    SEQUENCE_GAP = "sequence_gap"
    # The meter was replaced (both counters restarted near zero): this reading
    # is a new baseline and no energy is counted across it.
    METER_RESET = "meter_reset"


def protocol_reason(code: str) -> Reason:
    """The `Reason` for an `wire.reading.ProtocolError.code`.

    An unknown code (a newer codec than this oracle) is recorded as `MALFORMED`
    rather than raising: the payload is refused either way.
    """
    try:
        reason = Reason(code)
    except ValueError:
        return Reason.MALFORMED
    if reason in _PROTOCOL_REASONS:
        return reason
    return Reason.MALFORMED


_PROTOCOL_REASONS = frozenset(
    {Reason.MALFORMED, Reason.UNSUPPORTED_VERSION, Reason.PAYLOAD_TOO_LARGE}
)
