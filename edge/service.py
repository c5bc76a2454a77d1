"""The agent as a systemd service: readiness and watchdog notifications, and its unit.

`Notifier` speaks systemd's notification protocol (sd_notify(3)) by hand, as
the protocol is one datagram on a unix socket and needs no library: each
message is newline-separated assignments (`READY=1`, `WATCHDOG=1`,
`STOPPING=1`, `STATUS=...`) sent to the socket named by `$NOTIFY_SOCKET`
(a path, or `@name` in the abstract namespace). `$WATCHDOG_USEC` (for this
process, when `$WATCHDOG_PID` says so) is how often systemd wants a
`WATCHDOG=1`; the agent sends one every half of it while it is well.

`render_unit` writes the unit for one gateway config: `Type=notify` with a
watchdog, restarted whatever ends it (except a configuration error, which
no restart mends), run as a dedicated user with a read-only system, private
/tmp and /dev, no privileges, and write access only to the state file's
directory. `gtx-edge install-service` writes it (docs/operations.md).
"""

import logging
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from edge.config import GatewayConfig

__all__ = [
    "CONFIG_ERROR_EXIT",
    "UNIT_NAME",
    "WATCHDOG_S",
    "Notifier",
    "install_unit",
    "render_unit",
]

log = logging.getLogger(__name__)

UNIT_NAME = "gtx-edge.service"
# How long the agent may go without showing it is well before systemd restarts it.
WATCHDOG_S = 60
# `gtx-edge` exits with this on a configuration or key problem: restarting
# would only fail again, so the unit leaves it failed for the installer to see.
CONFIG_ERROR_EXIT = 2
_STATE_ROOT = Path("/var/lib")
_HOME_ROOTS = (Path("/home"), Path("/root"), Path("/run/user"))


class Notifier:
    """Notifications to the service manager at `address` (see the module docstring)."""

    def __init__(self, address: str, *, watchdog_s: float | None = None) -> None:
        if not address or address[0] not in "/@":
            raise ValueError(f"notify socket {address!r} is neither a path nor @abstract")
        self.address = address
        # How often systemd wants to hear WATCHDOG=1 (None: no watchdog).
        self.watchdog_s = watchdog_s

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> "Notifier | None":
        """The notifier systemd set up for this process, or None when not run by it."""
        address = environ.get("NOTIFY_SOCKET", "")
        if not address or address[0] not in "/@":
            return None
        watchdog_s = None
        usec, pid = environ.get("WATCHDOG_USEC", ""), environ.get("WATCHDOG_PID", "")
        if usec.isdigit() and int(usec) > 0 and pid in ("", str(os.getpid())):
            watchdog_s = int(usec) / 1_000_000
        return cls(address, watchdog_s=watchdog_s)

    def notify(self, *assignments: str) -> bool:
        """Send `assignments` (e.g. "READY=1") in one datagram; False if it could
        not be sent (logged: a lost notification must not stop the agent).
        Never blocks: with the manager's queue full, the message is dropped."""
        target = "\0" + self.address[1:] if self.address[0] == "@" else self.address
        kind = socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK
        try:
            with socket.socket(socket.AF_UNIX, kind) as sock:
                sock.sendto("\n".join(assignments).encode(), target)
        except OSError as exc:
            log.warning("notification %s to %s not sent: %s", assignments, self.address, exc)
            return False
        return True


def _quote(arg: str) -> str:
    """One ExecStart= word, quoted as systemd reads it; `%` escaped (specifiers)."""
    arg = arg.replace("%", "%%")
    if arg and not any(c in arg for c in " \t\n\"'\\;$"):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _under(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def render_unit(
    config: GatewayConfig,
    config_path: Path,
    *,
    exec_start: Sequence[str],
    user: str = "gtx",
    interpreter: Path = Path(sys.executable),
) -> str:
    """The systemd unit running `exec_start run --config config_path` for
    `config`; `interpreter` is the Python it runs on (its files must stay
    readable, e.g. under /root for a pyenv build)."""
    config_path = config_path.resolve()
    state_dir = config.state_file.resolve().parent
    command = [*exec_start, "run", "--config", str(config_path)]
    paths = [config_path, config.key_file, state_dir, Path(exec_start[0]), interpreter]
    serial = sorted({m.device for m in config.meters if m.device is not None})
    lines = [
        "# Written by `gtx-edge install-service`; docs/operations.md says what each part is for.",
        "[Unit]",
        "Description=GridTokenX gateway agent (gtx-edge)",
        "Wants=network-online.target",
        "After=network-online.target time-sync.target",
        # Never give up restarting: a gateway in the field has nobody to press a button.
        "StartLimitIntervalSec=0",
        "",
        "[Service]",
        "Type=notify",
        "NotifyAccess=main",
        "ExecStart=" + " ".join(_quote(a) for a in command),
        f"User={user}",
        f"Group={user}",
        "Restart=always",
        "RestartSec=5",
        f"RestartPreventExitStatus={CONFIG_ERROR_EXIT}",
        f"WatchdogSec={WATCHDOG_S}",
        # SIGTERM: stop polling, flush the outbox for shutdown_flush_s, say "offline".
        f"TimeoutStopSec={int(config.shutdown_flush_s) + 30}",
        "Environment=PYTHONDONTWRITEBYTECODE=1",
        "UMask=0077",
    ]
    if _under(state_dir, [_STATE_ROOT]) and state_dir != _STATE_ROOT:
        # systemd makes it, gives it to the user, and lets only it write there.
        lines += [f"StateDirectory={state_dir.relative_to(_STATE_ROOT)}", "StateDirectoryMode=0700"]
    else:
        lines.append(f"ReadWritePaths={_quote(str(state_dir))}")
    home = any(_under(p.resolve(), _HOME_ROOTS) for p in paths)
    lines += [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=" + ("read-only" if home else "yes"),
        "PrivateTmp=yes",
        "PrivateMounts=yes",
    ]
    if serial:
        # The serial ports only, through the group that owns them on Debian.
        lines += ["DevicePolicy=closed", "SupplementaryGroups=dialout"]
        lines += [f"DeviceAllow={_quote(d)} rw" for d in serial]
    else:
        lines += ["PrivateDevices=yes", "PrivateUsers=yes"]
    lines += [
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "ProtectControlGroups=yes",
        "ProtectClock=yes",
        "ProtectHostname=yes",
        "ProtectProc=invisible",
        "ProcSubset=pid",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "RestrictNamespaces=yes",
        "RestrictRealtime=yes",
        "RestrictSUIDSGID=yes",
        "RemoveIPC=yes",
        "LockPersonality=yes",
        "SystemCallArchitectures=native",
        "SystemCallFilter=@system-service",
        "SystemCallFilter=~@privileged @resources",
        "SystemCallErrorNumber=EPERM",
        # Not MemoryDenyWriteExecute=yes: cffi, which cryptography loads, may need
        # writable executable memory (libffi closures).
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ]
    return "\n".join(lines) + "\n"


def install_unit(text: str, unit_dir: Path, name: str = UNIT_NAME) -> Path:
    """Write the unit `text` as `unit_dir/name` (mode 0644, replaced atomically)."""
    unit_dir.mkdir(parents=True, exist_ok=True)
    target = unit_dir / name
    temporary = unit_dir / f".{name}.tmp"
    temporary.write_text(text, encoding="utf-8")
    temporary.chmod(0o644)
    temporary.replace(target)
    return target
