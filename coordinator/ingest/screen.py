"""Screening one incoming payload: the pure decision accept / reject-with-reason.

Order of checks: shape (protocol), topic/payload agreement, device known and
active, signature. Nothing from the payload is trusted before the signature
is checked against the key registered for the gateway.
"""

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from coordinator.verify import signature_valid
from edge import topics
from edge.protocol import ProtocolError, SignedReading, decode_payload

__all__ = [
    "BAD_SIGNATURE",
    "REVOKED_DEVICE",
    "TOPIC_MISMATCH",
    "UNKNOWN_DEVICE",
    "Accepted",
    "DeviceKey",
    "Incoming",
    "Rejected",
    "claimed_gateway",
    "screen",
]

UNKNOWN_DEVICE = "unknown_device"
REVOKED_DEVICE = "revoked_device"
BAD_SIGNATURE = "bad_signature"
TOPIC_MISMATCH = "topic_mismatch"


@dataclass(frozen=True, slots=True)
class Incoming:
    """A message as it came off the broker."""

    topic: str
    payload: bytes
    received_at: dt.datetime


@dataclass(frozen=True, slots=True)
class DeviceKey:
    """What screening needs to know of a registered gateway."""

    public_key: bytes
    active: bool


@dataclass(frozen=True, slots=True)
class Accepted:
    incoming: Incoming
    signed: SignedReading


@dataclass(frozen=True, slots=True)
class Rejected:
    incoming: Incoming
    reason: str
    detail: str
    gateway_id: str | None


def claimed_gateway(root: str, incoming: Incoming) -> str | None:
    """The gateway a message claims to come from (its topic), before any check."""
    return topics.gateway_id_from_topic(root, incoming.topic)


def screen(root: str, incoming: Incoming, devices: Mapping[str, DeviceKey]) -> Accepted | Rejected:
    """Decide one message. `devices` holds every registered gateway the message
    could name (active or revoked); a gateway missing from it is unknown."""
    topic_gateway = claimed_gateway(root, incoming)
    try:
        signed = decode_payload(incoming.payload)
    except ProtocolError as exc:
        return Rejected(incoming, exc.code, exc.detail, topic_gateway)
    gateway_id = signed.reading.gateway_id
    if topic_gateway != gateway_id:
        return Rejected(
            incoming, TOPIC_MISMATCH, f"payload gateway {gateway_id} on topic {incoming.topic}",
            topic_gateway,
        )  # fmt: skip
    device = devices.get(gateway_id)
    if device is None:
        return Rejected(incoming, UNKNOWN_DEVICE, "gateway is not registered", gateway_id)
    if not device.active:
        return Rejected(incoming, REVOKED_DEVICE, "gateway was revoked", gateway_id)
    if not signature_valid(signed, device.public_key):
        return Rejected(incoming, BAD_SIGNATURE, "Ed25519 signature does not verify", gateway_id)
    return Accepted(incoming, signed)
