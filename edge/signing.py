"""The gateway's Ed25519 device key (CPython, `cryptography`).

The private key is made on the gateway and never leaves it: it is stored as an
unencrypted PKCS#8 PEM file readable by its owner only (mode 0600).
"""

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.errors import ConfigError
from wire.base58 import b58encode
from wire.reading import Reading, SignedReading

__all__ = ["DeviceKey"]


class DeviceKey:
    """An Ed25519 signing key; its public key, base58, is the gateway id."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private_key = private_key
        raw = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.public_key: bytes = raw
        self.gateway_id: str = b58encode(raw)

    @classmethod
    def generate(cls) -> "DeviceKey":
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load(cls, path: Path) -> "DeviceKey":
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read device key {path}: {exc.strerror}") from exc
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except ValueError as exc:
            raise ConfigError(f"{path} is not a PEM private key") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(f"{path} is not an Ed25519 key")
        return cls(key)

    def save(self, path: Path) -> None:
        """Write the key with mode 0600, refusing to overwrite an existing key."""
        pem = self._private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())

    def sign(self, reading: Reading, *, identity: str | None = None) -> SignedReading:
        """Sign a reading of this gateway. `identity` is the gateway's enrolled id
        when it differs from this key's own (after a key rotation)."""
        if reading.gateway_id != (identity or self.gateway_id):
            raise ValueError("reading belongs to another gateway")
        return SignedReading(reading, self._private_key.sign(reading.signing_bytes()))
