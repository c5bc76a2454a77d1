"""Wire protocol v1: the signed reading, its canonical bytes and its JSON payload.

One module for both sides: the gateway encodes and signs with it, the
coordinator decodes and re-derives the signed bytes with it. docs/protocol.md
is the spec; tests/vectors/protocol_v1.json holds the test vectors.

Portable to MicroPython (no dataclasses, typing, struct formats, dict order or
json.dumps in anything that is signed or compared byte for byte).
"""

import json

from wire.base58 import b58decode, b58encode

VERSION = 1
# Domain separation: a v1 reading signature can never be mistaken for a
# signature over any other message the same device key signs.
DOMAIN_TAG = b"GTX-READING"
MAX_PAYLOAD_BYTES = 1024
MAX_METER_ID_LEN = 64
# Counters and sequence numbers fit a signed 64-bit column in every database.
UINT_MAX = (1 << 63) - 1
SIGNATURE_LEN = 64
PUBLIC_KEY_LEN = 32

_METER_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-"
# The wire field order, fixed: payloads are byte-identical on every platform.
FIELDS = ("v", "gw", "meter", "seq", "ts", "imp_wh", "exp_wh", "sig")

# Error codes, also the rejection reasons the coordinator records.
MALFORMED = "malformed"
UNSUPPORTED_VERSION = "unsupported_version"
PAYLOAD_TOO_LARGE = "payload_too_large"

__all__ = [
    "DOMAIN_TAG",
    "FIELDS",
    "MALFORMED",
    "MAX_PAYLOAD_BYTES",
    "PAYLOAD_TOO_LARGE",
    "UNSUPPORTED_VERSION",
    "VERSION",
    "ProtocolError",
    "Reading",
    "SignedReading",
    "check_meter_id",
    "decode_payload",
    "encode_payload",
]


class ProtocolError(ValueError):
    """A payload that is not a well-formed v1 reading. `code` is the rejection reason."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(code + ": " + detail)
        self.code = code
        self.detail = detail


def _check_uint(name: str, value: object) -> int:
    # bool is an int subclass on both CPython and MicroPython: refuse it explicitly.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError(MALFORMED, name + " must be an integer")
    if value < 0 or value > UINT_MAX:
        raise ProtocolError(MALFORMED, name + " out of range 0..2^63-1")
    return value


def check_meter_id(value: object) -> str:
    if not isinstance(value, str):
        raise ProtocolError(MALFORMED, "meter must be a string")
    if not 1 <= len(value) <= MAX_METER_ID_LEN:
        raise ProtocolError(MALFORMED, "meter must be 1..64 characters")
    for ch in value:
        if ch not in _METER_ID_CHARS:
            raise ProtocolError(MALFORMED, "meter may contain only A-Z a-z 0-9 . _ : -")
    return value


# Gateway ids already decoded: a coordinator sees the same few thousand gateways
# over and over, and pure-Python base58 costs about as much as the rest of a decode.
_GATEWAY_KEYS: dict[str, bytes] = {}
_GATEWAY_KEYS_MAX = 65536


def _gateway_key(value: object) -> bytes:
    if not isinstance(value, str) or not 32 <= len(value) <= 44:
        raise ProtocolError(MALFORMED, "gw must be a base58 Ed25519 public key")
    raw = _GATEWAY_KEYS.get(value)
    if raw is not None:
        return raw
    try:
        raw = b58decode(value)
    except ValueError:
        raise ProtocolError(MALFORMED, "gw is not valid base58") from None
    if len(raw) != PUBLIC_KEY_LEN or b58encode(raw) != value:
        raise ProtocolError(MALFORMED, "gw must be a base58 Ed25519 public key")
    if len(_GATEWAY_KEYS) >= _GATEWAY_KEYS_MAX:
        _GATEWAY_KEYS.clear()  # bounded memory, whoever sends ids
    _GATEWAY_KEYS[value] = raw
    return raw


def _u64(value: int) -> bytes:
    return value.to_bytes(8, "big")


class Reading:
    """One meter's cumulative registers at one instant, as the gateway read them.

    Energies are cumulative counters in integer watt-hours; `ts` is the meter-side
    time in integer seconds since the Unix epoch (UTC); `seq` increases by one for
    every reading the gateway produces, across all its meters.
    """

    def __init__(
        self,
        gateway_id: str,
        meter_id: str,
        seq: int,
        ts: int,
        import_wh: int,
        export_wh: int,
    ) -> None:
        self.gateway_key = _gateway_key(gateway_id)
        self.gateway_id = gateway_id
        self.meter_id = check_meter_id(meter_id)
        self.seq = _check_uint("seq", seq)
        self.ts = _check_uint("ts", ts)
        self.import_wh = _check_uint("imp_wh", import_wh)
        self.export_wh = _check_uint("exp_wh", export_wh)

    def signing_bytes(self) -> bytes:
        """The canonical bytes the device key signs (see docs/protocol.md)."""
        meter = self.meter_id.encode()
        return (
            DOMAIN_TAG
            + bytes([VERSION])
            + self.gateway_key
            + bytes([len(meter)])
            + meter
            + _u64(self.seq)
            + _u64(self.ts)
            + _u64(self.import_wh)
            + _u64(self.export_wh)
        )

    def _key(self) -> tuple[str, str, int, int, int, int]:
        return (self.gateway_id, self.meter_id, self.seq, self.ts, self.import_wh, self.export_wh)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Reading) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return "Reading" + repr(self._key())


class SignedReading:
    """A reading and the gateway's Ed25519 signature over its canonical bytes."""

    def __init__(self, reading: Reading, signature: bytes) -> None:
        if not isinstance(signature, bytes) or len(signature) != SIGNATURE_LEN:
            raise ProtocolError(MALFORMED, "sig must be 64 bytes")
        self.reading = reading
        self.signature = signature

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, SignedReading)
            and self.reading == other.reading
            and self.signature == other.signature
        )

    def __hash__(self) -> int:
        return hash((self.reading, self.signature))

    def __repr__(self) -> str:
        return "SignedReading(" + repr(self.reading) + ")"


def encode_payload(signed: SignedReading) -> bytes:
    """The JSON wire payload, fields in FIELDS order, no whitespace."""
    r = signed.reading
    # Every value is an integer or a string from a restricted alphabet, so no
    # JSON escaping is ever needed and the bytes are the same everywhere.
    text = (
        '{"v":' + str(VERSION)
        + ',"gw":"' + r.gateway_id
        + '","meter":"' + r.meter_id
        + '","seq":' + str(r.seq)
        + ',"ts":' + str(r.ts)
        + ',"imp_wh":' + str(r.import_wh)
        + ',"exp_wh":' + str(r.export_wh)
        + ',"sig":"' + _hex(signed.signature)
        + '"}'
    )  # fmt: skip
    return text.encode()


def decode_payload(payload: bytes) -> SignedReading:
    """Parse and validate a wire payload; raises ProtocolError with a reason code.

    Only the shape is checked here: the signature is verified by the caller
    against the registered device key, over `reading.signing_bytes()`.
    """
    if not isinstance(payload, (bytes, bytearray)):
        raise ProtocolError(MALFORMED, "payload must be bytes")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ProtocolError(PAYLOAD_TOO_LARGE, "payload exceeds 1024 bytes")
    try:
        obj = json.loads(bytes(payload).decode())
    except (ValueError, UnicodeError):
        raise ProtocolError(MALFORMED, "payload is not UTF-8 JSON") from None
    if not isinstance(obj, dict):
        raise ProtocolError(MALFORMED, "payload must be a JSON object")
    version = obj.get("v")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ProtocolError(MALFORMED, "v must be an integer")
    if version != VERSION:
        raise ProtocolError(UNSUPPORTED_VERSION, "protocol version " + str(version))
    for name in FIELDS:
        if name not in obj:
            raise ProtocolError(MALFORMED, "missing field " + name)
    for name in obj:
        if name not in FIELDS:
            # Unsigned extra fields would be trusted by nobody: refuse them.
            raise ProtocolError(MALFORMED, "unknown field " + str(name))
    reading = Reading(obj["gw"], obj["meter"], obj["seq"], obj["ts"], obj["imp_wh"], obj["exp_wh"])
    return SignedReading(reading, _unhex_signature(obj["sig"]))


_HEX = "0123456789abcdef"


def _hex(data: bytes) -> str:
    out = []
    for byte in data:
        out.append(_HEX[byte >> 4])
        out.append(_HEX[byte & 15])
    return "".join(out)


def _unhex_signature(value: object) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * SIGNATURE_LEN:
        raise ProtocolError(MALFORMED, "sig must be 128 lowercase hex digits")
    out = bytearray(SIGNATURE_LEN)
    for i in range(SIGNATURE_LEN):
        hi = _HEX.find(value[2 * i])
        lo = _HEX.find(value[2 * i + 1])
        if hi < 0 or lo < 0:
            raise ProtocolError(MALFORMED, "sig must be 128 lowercase hex digits")
        out[i] = (hi << 4) | lo
    return bytes(out)
