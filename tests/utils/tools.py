"""Programs from outside Python that some tests drive, and what a missing one means.

`require_tool(name, why)` gives the program's path (a command line, quoted as
by `shlex.join`, for `docker compose`). Where it is
missing, the test skips, saying why; under CI (`CI=true`, as CI runs .ci/run)
it fails instead, naming the program and the Debian package that .ci/run
installs it from, so that a green run never hides tests that did not run.

`TOOLS` is the one list of them: scripts/test installs the packages of the
missing ones with apt (as root) from `python -m tests.utils.tools`, which
prints those packages.
"""

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

__all__ = ["CHROMIUM", "TOOLS", "Tool", "compose_command", "on_ci", "require_tool"]

CHROMIUM = Path("/usr/bin/chromium")
_PG_VERSIONS = Path("/etc/postgresql")


def compose_command() -> list[str] | None:
    """`docker compose` (the v2 plugin) where it exists, else Debian's `docker-compose`."""
    docker = shutil.which("docker")
    if docker is not None:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy is not None else None


def _chromium() -> str | None:
    # Debian's build, where the dashboard test expects it (Playwright downloads none).
    return str(CHROMIUM) if CHROMIUM.exists() else None


def _compose() -> str | None:
    command = compose_command()
    return None if command is None else shlex.join(command)


def _pg_ctlcluster() -> str | None:
    # The tool is of use only with a cluster it manages.
    clusters = _PG_VERSIONS.is_dir() and any(_PG_VERSIONS.iterdir())
    return shutil.which("pg_ctlcluster") if clusters else None


@dataclass(frozen=True, slots=True)
class Tool:
    """A program a test drives, the Debian package it comes from, and how to find it."""

    name: str
    package: str
    locate: Callable[[], str | None]


def _on_path(name: str, package: str) -> Tool:
    return Tool(name, package, lambda: shutil.which(name))


TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        Tool("chromium", "chromium", _chromium),
        Tool("docker compose", "docker-compose", _compose),
        _on_path("mbpoll", "mbpoll"),
        _on_path("mosquitto", "mosquitto"),
        _on_path("mosquitto_passwd", "mosquitto"),
        _on_path("node", "nodejs"),
        _on_path("npm", "npm"),
        _on_path("openssl", "openssl"),
        Tool("pg_ctlcluster", "postgresql", _pg_ctlcluster),
        _on_path("promtool", "prometheus"),
        _on_path("amtool", "prometheus-alertmanager"),
        _on_path("redis-server", "redis-server"),
        _on_path("systemd-analyze", "systemd"),
    )
}


def on_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require_tool(name: str, why: str) -> str:
    """The path (or command) of the tool `name`; if it is missing, skip the test,
    or, under CI, fail it saying how .ci/run installs the tool."""
    tool = TOOLS[name]
    found = tool.locate()
    if found is None:
        _missing(tool, why)
    return found


def _missing(tool: Tool, why: str) -> NoReturn:
    said = f"`{tool.name}` is missing ({why})"
    if on_ci():
        pytest.fail(
            f"{said}: under CI every test must run; .ci/run installs it with apt, "
            f"Debian's `{tool.package}` (scripts/test, as root)",
            pytrace=False,
        )
    pytest.skip(f"{said}; Debian's `{tool.package}` provides it")


def missing_packages() -> list[str]:
    """The Debian packages of the tools missing here, each once, in order."""
    packages = [tool.package for tool in TOOLS.values() if tool.locate() is None]
    return list(dict.fromkeys(packages))


if __name__ == "__main__":
    sys.stdout.write("".join(package + "\n" for package in missing_packages()))
