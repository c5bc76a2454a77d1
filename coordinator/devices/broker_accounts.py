"""How gateway credentials reach the broker: a Mosquitto password file
rendered from the database, then a SIGHUP so Mosquitto reloads it.

Why a password file and not the dynamic-security plugin (both ship with
Mosquitto 2.0.11 here): the ACL is *static* -- `pattern` lines with `%u`
confine every gateway to topics under its own id (its username) -- so the
only per-gateway state is one line of a password file. That file is a pure
function of the `broker_credentials` table (hashes only; the coordinator
never stores a password), so it can be re-rendered at any time, survives a
broker rebuild, and needs no admin account on the broker. Dynamic security
would add an admin credential, a JSON state file of its own and an
asynchronous control protocol for the same effect. A broker on another host
(or a clustered broker) gets another `BrokerCredentials` implementation
behind the same interface.

Hash format: Mosquitto 2.0 ``$7$``: PBKDF2-HMAC-SHA512, 101 iterations,
12-byte salt, both base64 (what `mosquitto_passwd` writes).
"""

import base64
import hashlib
import hmac
import logging
import os
import secrets
import signal
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol

from coordinator.errors import BrokerError, ConfigError
from wire import topics

__all__ = [
    "BrokerCredentials",
    "MemoryBroker",
    "PasswordFileBroker",
    "UnmanagedBroker",
    "check_password",
    "mosquitto_hash",
    "new_password",
    "render_acl",
    "render_password_file",
]

log = logging.getLogger(__name__)

_ITERATIONS = 101
_SALT_LEN = 12


def new_password() -> str:
    return secrets.token_urlsafe(24)


def mosquitto_hash(
    password: str, *, salt: bytes | None = None, iterations: int = _ITERATIONS
) -> str:
    salt = secrets.token_bytes(_SALT_LEN) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_password(password: str, hashed: str) -> bool:
    """True when `password` matches a ``$7$`` hash (as Mosquitto would decide)."""
    parts = hashed.split("$")
    if len(parts) != 5 or parts[1] != "7":
        return False
    try:
        iterations, salt = int(parts[2]), base64.b64decode(parts[3])
    except ValueError:
        return False
    return hmac.compare_digest(mosquitto_hash(password, salt=salt, iterations=iterations), hashed)


def _check_username(username: str) -> str:
    # ':' separates the password file's fields; '+', '#', '/' would break %u patterns.
    if not username or any(c in username for c in ":\n\r+#/ "):
        raise ConfigError(f"broker username {username!r} is not allowed")
    return username


def render_password_file(entries: Mapping[str, str], static: str = "") -> str:
    """A Mosquitto password file: `static` lines (service accounts managed by
    operators with mosquitto_passwd) then one line per gateway, sorted."""
    lines = [line for line in static.splitlines() if line.strip()]
    lines += [f"{_check_username(user)}:{entries[user]}" for user in sorted(entries)]
    return "".join(line + "\n" for line in lines)


def render_acl(
    root: str = topics.DEFAULT_ROOT,
    *,
    coordinators: Iterable[str] = ("coordinator",),
    operators: Iterable[str] = ("operator",),
) -> str:
    """The broker ACL. Gateways (any other authenticated user) get only the
    topics under their own id, via `pattern ... %u`; the coordinator reads all
    gateway readings and status and writes coordinator topics and gateway
    commands; operators read everything and write nothing."""
    any_gw = topics.gateway_readings(root, "+").removesuffix("/readings")
    own_gw = topics.gateway_readings(root, "%u").removesuffix("/readings")
    out = ["# Rendered by coordinator.devices.broker_accounts.render_acl; do not edit by hand.", ""]
    for user in coordinators:
        out += [
            f"user {_check_username(user)}",
            f"topic read {any_gw}/readings",
            f"topic read {any_gw}/status",
            f"topic write {any_gw}/cmd",
            f"topic readwrite {root}/{topics.VERSION_SEGMENT}/coord/#",
            "",
        ]
    for user in operators:
        out += [f"user {_check_username(user)}", "topic read #", "topic read $SYS/#", ""]
    out += [
        "# Every gateway: its own topics only (%u is its username, the gateway id).",
        f"pattern write {own_gw}/readings",
        f"pattern write {own_gw}/status",
        f"pattern write {own_gw}/health",
        f"pattern read {own_gw}/cmd",
        "",
    ]
    return "\n".join(out)


class BrokerCredentials(Protocol):
    def sync(self, entries: Mapping[str, str]) -> None:
        """Make the broker accept exactly these gateway accounts (username ->
        ``$7$`` hash) besides its service accounts. Raises BrokerError."""
        ...


def _write_atomically(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class PasswordFileBroker:
    """Writes the password file Mosquitto reads and signals it to reload.

    `pid_file` is Mosquitto's own (`pid_file` in its config); without one the
    file is written and Mosquitto picks it up at its next reload or restart.
    """

    def __init__(
        self, password_file: Path, *, pid_file: Path | None = None, static_file: Path | None = None
    ) -> None:
        self._password_file = password_file
        self._pid_file = pid_file
        self._static_file = static_file

    def sync(self, entries: Mapping[str, str]) -> None:
        try:
            static = self._static_file.read_text() if self._static_file else ""
            # Readable by the broker's group, not by the world.
            _write_atomically(self._password_file, render_password_file(entries, static), 0o640)
        except OSError as exc:
            raise BrokerError(f"cannot write broker password file: {exc}") from exc
        if self._pid_file is not None:
            self._reload()

    def _reload(self) -> None:
        assert self._pid_file is not None
        try:
            pid = int(self._pid_file.read_text().strip())
            os.kill(pid, signal.SIGHUP)
        except (OSError, ValueError) as exc:
            raise BrokerError(
                f"cannot signal Mosquitto to reload ({self._pid_file}): {exc}"
            ) from exc
        log.info("broker password file rewritten, Mosquitto (pid %d) reloading", pid)


class MemoryBroker:
    """BrokerCredentials fake for tests: remembers the last sync."""

    def __init__(self) -> None:
        self.entries: dict[str, str] = {}
        self.syncs = 0

    def sync(self, entries: Mapping[str, str]) -> None:
        self.entries = dict(entries)
        self.syncs += 1


class UnmanagedBroker:
    """For a development broker that takes anyone: credentials are issued but
    the broker is not told (logged once per change)."""

    def sync(self, entries: Mapping[str, str]) -> None:
        log.warning("broker credentials not managed (GTX_BROKER_PASSWORD_FILE unset)")
