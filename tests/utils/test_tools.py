"""`require_tool`: a missing program skips a test locally and fails it under CI."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.utils import tools
from tests.utils.tools import TOOLS, Tool, missing_packages, require_tool

TESTS = Path(__file__).resolve().parent.parent


@pytest.fixture
def fake_tools(monkeypatch: pytest.MonkeyPatch) -> dict[str, Tool]:
    fakes = {
        "here": Tool("here", "here-pkg", lambda: "/usr/bin/here"),
        "gone": Tool("gone", "gone-pkg", lambda: None),
        "gone-too": Tool("gone-too", "gone-pkg", lambda: None),
        "away": Tool("away", "away-pkg", lambda: None),
    }
    monkeypatch.setattr(tools, "TOOLS", fakes)
    return fakes


@pytest.mark.usefixtures("fake_tools")
def test_a_tool_that_is_there_gives_its_path_in_both_modes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    assert require_tool("here", "why") == "/usr/bin/here"
    monkeypatch.setenv("CI", "true")
    assert require_tool("here", "why") == "/usr/bin/here"


@pytest.mark.usefixtures("fake_tools")
@pytest.mark.parametrize("ci", [None, "", "false", "1"])
def test_a_missing_tool_skips_outside_ci(monkeypatch: pytest.MonkeyPatch, ci: str | None) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception) as skipped:
        require_tool("gone", "the test drives it")
    assert str(skipped.value) == (
        "`gone` is missing (the test drives it); Debian's `gone-pkg` provides it"
    )


@pytest.mark.usefixtures("fake_tools")
@pytest.mark.parametrize("ci", ["true", "True"])
def test_a_missing_tool_fails_under_ci_saying_how_ci_installs_it(
    monkeypatch: pytest.MonkeyPatch, ci: str
) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception) as failed:
        require_tool("gone", "the test drives it")
    assert str(failed.value) == (
        "`gone` is missing (the test drives it): under CI every test must run; "
        ".ci/run installs it with apt, Debian's `gone-pkg` (scripts/test, as root)"
    )


@pytest.mark.usefixtures("fake_tools")
def test_an_unknown_tool_is_a_mistake_in_the_test() -> None:
    with pytest.raises(KeyError):
        require_tool("nonesuch", "why")


@pytest.mark.usefixtures("fake_tools")
def test_the_packages_to_install_are_those_of_missing_tools_each_once() -> None:
    assert missing_packages() == ["gone-pkg", "away-pkg"]


def test_the_module_prints_the_packages_scripts_test_installs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.utils.tools"],
        cwd=TESTS.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    packages = {tool.package for tool in TOOLS.values()}
    assert set(done.stdout.splitlines()) <= packages


def test_every_tool_has_a_debian_package_and_a_name_of_its_own() -> None:
    assert all(name == tool.name and tool.package for name, tool in TOOLS.items())


def test_no_test_looks_for_a_program_itself() -> None:
    """Tests ask `require_tool`, so that CI fails where a program is missing."""
    asks = re.compile(r"shutil\.which\(|pytest\.mark\.skipif\(|\.exists\(\),\s*reason=")
    offenders = [
        str(path.relative_to(TESTS))
        for path in sorted(TESTS.rglob("*.py"))
        if "node_modules" not in path.parts
        and path != Path(tools.__file__).resolve()
        and asks.search(path.read_text())
    ]
    assert offenders == []
