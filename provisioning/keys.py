"""Signing with the device key beyond readings: enrolment proofs, key-rotation
requests and signed API requests. Wraps the same PEM file as `edge.signing`.

After a key rotation the gateway keeps its id (its first public key) while a
new key signs, so `sign_reading` signs readings whatever their `gw` field.
"""

import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.errors import ConfigError
from edge.signing import DeviceKey
from wire import enrolment
from wire.base58 import b58encode
from wire.reading import Reading, SignedReading

__all__ = ["Signer"]


class Signer:
    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private_key = private_key
        self.public_key: bytes = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.address: str = b58encode(self.public_key)

    @classmethod
    def generate(cls) -> "Signer":
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load(cls, path: Path) -> "Signer":
        DeviceKey.load(path)  # the same checks and error messages as the agent's
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):  # pragma: no cover - checked above
            raise ConfigError(f"{path} is not an Ed25519 key")
        return cls(key)

    def save(self, path: Path) -> None:
        """Mode 0600, never overwriting (edge.signing.DeviceKey.save)."""
        DeviceKey(self._private_key).save(path)

    def sign(self, message: bytes) -> bytes:
        return self._private_key.sign(message)

    def sign_reading(self, reading: Reading) -> SignedReading:
        return SignedReading(reading, self.sign(reading.signing_bytes()))

    def enrolment_proof(self, token: str, gateway_id: str) -> str:
        key = enrolment.public_key_of(gateway_id, "gateway id")
        return b58encode(self.sign(enrolment.enrolment_message(token, key)))

    def request_headers(self, method: str, path: str, now: float | None = None) -> dict[str, str]:
        ts = int(time.time() if now is None else now)
        sig = self.sign(enrolment.request_message(method, path, ts))
        return {"X-GTX-Timestamp": str(ts), "X-GTX-Signature": b58encode(sig)}
