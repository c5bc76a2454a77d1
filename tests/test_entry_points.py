"""Every console entry point declared in pyproject.toml answers --help."""

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

SCRIPTS: dict[str, str] = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())[
    "project"
]["scripts"]


@pytest.mark.parametrize(("name", "target"), sorted(SCRIPTS.items()))
def test_help_works(name: str, target: str) -> None:
    module, func = target.split(":")
    code = f"import sys; from {module} import {func} as m; sys.argv[0] = {name!r}; m(['--help'])"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout
    assert name in result.stdout
