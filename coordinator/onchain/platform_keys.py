"""The platform's own Solana keys (oracle, REC authority, settlement authority,
mint accounts, fee payer), made on the coordinator at first start.

Stored as Solana CLI keypair files (JSON array of the 64 secret-key bytes),
mode 0600, one per role in `key_dir`. They are never in the repository; back
the directory up with the database (docs/operations.md).
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path

from solders.keypair import Keypair

from coordinator.errors import ConfigError

__all__ = ["ROLES", "PlatformKeys", "load_keys", "load_or_create_keys"]

ROLES = ("payer", "oracle", "rec_authority", "settlement_authority", "energy_mint", "payment_mint")


@dataclass(frozen=True, slots=True)
class PlatformKeys:
    payer: Keypair
    oracle: Keypair
    rec_authority: Keypair
    settlement_authority: Keypair
    energy_mint: Keypair
    payment_mint: Keypair


def _load(path: Path) -> Keypair:
    try:
        raw = json.loads(path.read_text())
        return Keypair.from_bytes(bytes(raw))
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"{path} is not a Solana keypair file: {exc}") from exc


def _create(path: Path) -> Keypair:
    key = Keypair()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(list(bytes(key)), fh)
        fh.flush()
        os.fsync(fh.fileno())
    return key


def load_or_create_keys(key_dir: Path) -> PlatformKeys:
    """Load every role's keypair from `key_dir`, creating the missing ones."""
    key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    keys = {}
    for role in ROLES:
        path = key_dir / f"{role}.json"
        keys[role] = _load(path) if path.exists() else _create(path)
    return PlatformKeys(**keys)


def load_keys(key_dir: Path) -> PlatformKeys:
    """Load every role's keypair from `key_dir`; ConfigError if one is missing (a
    tool that only reads must not make a platform of its own)."""
    missing = [role for role in ROLES if not (key_dir / f"{role}.json").exists()]
    if missing:
        raise ConfigError(f"no platform keys in {key_dir} (missing {', '.join(missing)})")
    return PlatformKeys(**{role: _load(key_dir / f"{role}.json") for role in ROLES})
