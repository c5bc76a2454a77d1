"""How gateway accounts reach the broker: `BrokerCredentials.sync` makes the
broker accept exactly the active gateway accounts of the database.

- `DynsecBroker` (production): Mosquitto's dynamic security plugin, through its
  control topic (`broker_control`). Each gateway gets its own role (its topics
  only, checked at SUBSCRIBE as well as PUBLISH) and its client id bound to its
  account (`dynsec`). An account is created at enrolment (with the password
  just issued: the plugin takes passwords in clear and the database keeps only
  hashes), disabled at revocation (the plugin also disconnects it), and
  re-enabled by a sync if the database says it is active. Gateways the broker
  has never seen (a rebuilt broker) come from `dynsec.render_state`, which
  writes the stored hashes into the plugin's initial state.
- `PasswordFileBroker` (development profile): a Mosquitto password file
  rendered from the `broker_credentials` table (hashes only), then SIGHUP;
  the static `acl.conf` (`render_acl`) confines gateways with `pattern ... %u`.
  It does not check subscriptions against shared-subscription filters nor
  bind client ids: never expose it to untrusted gateways.
- `UnmanagedBroker`: an anonymous development broker; `MemoryBroker`: a fake.

Hash format: Mosquitto 2.0 ``$7$``: PBKDF2-HMAC-SHA512, 101 iterations,
12-byte salt, both base64 (what `mosquitto_passwd` writes, and what the
dynamic security plugin stores).
"""

import base64
import hashlib
import hmac
import logging
import os
import secrets
import signal
import tempfile
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from coordinator.config import Settings
from coordinator.devices import dynsec
from coordinator.devices.broker_control import DynsecControl, MqttDynsecControl
from coordinator.errors import BrokerError, ConfigError
from wire import topics

__all__ = [
    "BrokerCredentials",
    "DynsecBroker",
    "MemoryBroker",
    "PasswordFileBroker",
    "UnmanagedBroker",
    "broker_from_settings",
    "check_password",
    "mosquitto_hash",
    "new_password",
    "render_acl",
    "render_password_file",
    "write_private",
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
    def sync(self, entries: Mapping[str, str], fresh: Mapping[str, str] | None = None) -> None:
        """Make the broker accept exactly these gateway accounts (username ->
        ``$7$`` hash) besides its service accounts. `fresh` holds the passwords
        (in clear) just issued to some of them, for brokers that need those.
        Raises BrokerError."""
        ...


def write_private(path: Path, text: str) -> None:
    """Write a file holding credentials (mode 0600), atomically."""
    try:
        _write_atomically(path, text, 0o600)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc}") from exc


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

    def sync(self, entries: Mapping[str, str], fresh: Mapping[str, str] | None = None) -> None:
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
        self.fresh: dict[str, str] = {}
        self.syncs = 0

    def sync(self, entries: Mapping[str, str], fresh: Mapping[str, str] | None = None) -> None:
        self.entries = dict(entries)
        self.fresh = dict(fresh or {})
        self.syncs += 1


class UnmanagedBroker:
    """For a development broker that takes anyone: credentials are issued but
    the broker is not told. Said once for each new set of gateway accounts, and
    not at all while there are none (a campus whose gateways were registered
    without broker accounts, as in the demo, has nothing left unmanaged)."""

    def __init__(self) -> None:
        self._reported: frozenset[str] = frozenset()

    def sync(self, entries: Mapping[str, str], fresh: Mapping[str, str] | None = None) -> None:
        accounts = frozenset(entries) | frozenset(fresh or ())
        if not accounts or accounts <= self._reported:
            return
        self._reported = accounts
        log.warning(
            "broker credentials of %d gateway account(s) not managed (neither "
            "GTX_BROKER_ADMIN_USERNAME nor GTX_BROKER_PASSWORD_FILE is set): the broker "
            "must let them in on its own",
            len(accounts),
        )


class DynsecBroker:
    """Gateway accounts in Mosquitto's dynamic security plugin (see the module
    docstring). Accounts with a gateway role (``gtx-gw-<id>``) are the gateways;
    service accounts (admin, coordinator, operators) are never touched."""

    def __init__(self, control: DynsecControl, *, topic_root: str = topics.DEFAULT_ROOT) -> None:
        self._control = control
        self._root = topic_root

    def sync(self, entries: Mapping[str, str], fresh: Mapping[str, str] | None = None) -> None:
        fresh = {u: p for u, p in (fresh or {}).items() if u in entries}
        commands: list[dict[str, Any]] = []
        for username in sorted(fresh):
            commands += dynsec.gateway_commands(self._root, username, fresh[username])
        self._check(self._control.run(commands), tolerate={"Client not found", "Role not found"})

        present = self._gateways()
        stale = sorted(u for u, enabled in present.items() if u not in entries and enabled)
        dormant = sorted(u for u, enabled in present.items() if u in entries and not enabled)
        missing = sorted(u for u in entries if u not in present)
        self._check(
            self._control.run(dynsec.disable_commands(stale) + dynsec.enable_commands(dormant))
        )
        for username in stale:
            log.info("broker account of gateway %s disabled", username)
        for username in dormant:
            log.info("broker account of gateway %s enabled", username)
        if missing:
            # The plugin takes passwords in clear only: an account the broker lost
            # comes back with `gtx-coordinator broker-config` or a new enrolment.
            log.error(
                "%d active gateway(s) have no account on the broker (a new broker?): "
                "render its state with `gtx-coordinator broker-config`, or re-enrol them: %s",
                len(missing),
                ", ".join(missing[:20]),
            )

    def _gateways(self) -> dict[str, bool]:
        """Gateway accounts on the broker: username -> enabled."""
        (answer,) = self._control.run([{"command": "listClients", "verbose": True}])
        self._check([answer])
        out: dict[str, bool] = {}
        for client in answer.get("data", {}).get("clients", []):
            roles = [r.get("rolename", "") for r in client.get("roles", [])]
            if dynsec.GATEWAY_ROLE_PREFIX + str(client.get("username")) in roles:
                out[client["username"]] = not client.get("disabled", False)
        return out

    @staticmethod
    def _check(responses: list[dict[str, Any]], tolerate: Collection[str] = ()) -> None:
        errors = [
            f"{r.get('command')}: {r['error']}"
            for r in responses
            if r.get("error") and r.get("error") not in tolerate
        ]
        if errors:
            raise BrokerError("the broker refused account changes: " + "; ".join(errors))


def broker_from_settings(settings: Settings) -> BrokerCredentials:
    """The broker accounts backend the settings choose (see config.Settings)."""
    if settings.broker_admin_username:
        assert settings.broker_admin_password is not None  # checked by Settings
        control = MqttDynsecControl(
            host=settings.mqtt_host,
            port=settings.mqtt_port,
            username=settings.broker_admin_username,
            password=settings.broker_admin_password.get_secret_value(),
            tls=settings.mqtt_tls_config(),
        )
        return DynsecBroker(control, topic_root=settings.topic_root)
    if settings.broker_password_file is not None:
        return PasswordFileBroker(
            settings.broker_password_file,
            pid_file=settings.broker_pid_file,
            static_file=settings.broker_static_password_file,
        )
    return UnmanagedBroker()
