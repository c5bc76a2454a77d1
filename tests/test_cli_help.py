"""Every command and every option of every CLI says what it is for: the parsers
of all console entry points are walked, subcommands included."""

import argparse
import importlib
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPTS: dict[str, str] = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())[
    "project"
]["scripts"]


def _walk(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        yield path, action
        if isinstance(action, argparse._SubParsersAction):
            described = {pseudo.dest: pseudo.help for pseudo in action._choices_actions}
            for name, child in action.choices.items():
                yield f"{path} {name}", argparse.Action([name], name, help=described.get(name))
                yield from _walk(child, f"{path} {name}")


def _parser(target: str) -> argparse.ArgumentParser:
    module = importlib.import_module(target.split(":", maxsplit=1)[0])
    built: argparse.ArgumentParser = module.build_parser()
    return built


@pytest.mark.parametrize(("name", "target"), sorted(SCRIPTS.items()))
def test_every_command_and_option_has_help(name: str, target: str) -> None:
    missing = [
        f"{path}: {'/'.join(action.option_strings) or action.dest}"
        for path, action in _walk(_parser(target), name)
        if not (action.help or "").strip() or action.help == argparse.SUPPRESS
    ]
    assert missing == []


def test_the_walk_sees_subcommands_and_their_options() -> None:
    seen = {(path, action.dest) for path, action in _walk(_parser(SCRIPTS["gtx-coordinator"]), "c")}
    assert ("c epoch recompute", "epoch") in seen  # an option of a sub-subcommand
    assert ("c epoch recompute", "recompute") in seen  # the sub-subcommand itself
    assert ("c monitor", "once") in seen
