"""The image installs every package the distribution declares: a package left out
of the Dockerfile's COPY lines installs nothing and fails at import in the container."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_dockerfile_copies_every_top_level_package() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = {
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    copied = set(re.findall(r"^COPY (\w+) \1$", (ROOT / "Dockerfile").read_text(), re.M))
    assert declared == copied
