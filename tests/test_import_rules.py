"""The import rules in pyproject.toml: the tree keeps them, and each one bites.

`lint-imports` (run by scripts/test) checks the contracts on the real tree. To
show that a contract really fails on a forbidden import, the tests here build
the same import graph, add one forbidden import to it, and check the contracts
from pyproject.toml against it: the contract that forbids it must break.
"""

import copy
import dataclasses
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grimp
import pytest
from importlinter import api
from importlinter.contracts.forbidden import ForbiddenContract
from importlinter.contracts.independence import IndependenceContract
from importlinter.contracts.layers import LayersContract
from importlinter.contracts.protected import ProtectedContract
from importlinter.domain.contract import Contract, ContractCheck

ROOT = Path(__file__).resolve().parent.parent
CONTRACT_TYPES: dict[str, type[Contract]] = {
    "forbidden": ForbiddenContract,
    "independence": IndependenceContract,
    "layers": LayersContract,
    "protected": ProtectedContract,
}

WIRE = "wire, the contract both ends share, imports none of its users"
VERIFY = "verify, the outside check, imports only wire of the project"
EDGE = "edge, the gateway, imports only wire of the project"
DEVICE_SIM = "device_sim, the simulated meters, imports none of the services"
PROGRAMS = "programs, the on-chain layer, imports only wire of the project"
PROVISIONING = "provisioning talks to the coordinator over its API only"
COORDINATOR = "coordinator imports none of the gateway's packages, nor the demo"
NO_IO = "pure cores (wire, market rules, oracle, matching, certificates) do no I/O, no logging"
NO_SERVICES = "pure cores import nothing of the services around them"
READINGS = "readings import nothing of programs, the on-chain layer"
GOVERNANCE = "governance's pure core does no I/O and imports nothing of the services"
FAST_PATH = "the hand-made MQTT fast path is reached only through the ingest source"
LIFECYCLE = "bills and carbon are pure: no I/O, nothing of the services"
NOTIFY = "the notifications' pure core does no I/O and imports nothing of the services"
LAYERS = "coordinator: entry points above the domains, the domains above the infrastructure"


INJECTED_LINE = 99_999  # no real import sits on this line, so a report naming it is ours
FORBIDDEN_IMPORTS = [
    ("wire.topics", "coordinator.config", WIRE),
    ("wire.base58", "edge", WIRE),
    ("wire.clearing", "verify", WIRE),
    ("verify.market", "coordinator.market.rules", VERIFY),
    ("verify.solana", "solders", VERIFY),
    ("edge.config", "coordinator", EDGE),
    ("edge.agent", "provisioning", EDGE),
    ("device_sim.meter", "programs", DEVICE_SIM),
    ("programs.jobs", "coordinator.db", PROGRAMS),
    ("programs.jobs", "edge", PROGRAMS),
    ("provisioning.cli", "coordinator.api", PROVISIONING),
    ("coordinator.config", "edge.config", COORDINATOR),
    ("coordinator.api", "demo", COORDINATOR),
    ("wire.reading", "logging", NO_IO),
    ("coordinator.market.rules", "sqlalchemy", NO_IO),
    ("coordinator.readings.oracle", "redis", NO_IO),
    ("coordinator.lifecycle.matching", "sqlalchemy", NO_IO),
    ("coordinator.market.rules", "coordinator.market.store", NO_SERVICES),
    ("coordinator.readings.oracle", "coordinator.readings.ingest", NO_SERVICES),
    ("coordinator.readings.oracle", "coordinator.db", NO_SERVICES),
    ("coordinator.readings.epoch_close", "programs", READINGS),
    ("coordinator.governance.params", "sqlalchemy", GOVERNANCE),
    ("coordinator.governance.controls", "coordinator.governance.store", GOVERNANCE),
    ("coordinator.lifecycle.bills", "sqlalchemy", LIFECYCLE),
    ("coordinator.lifecycle.carbon", "coordinator.lifecycle.usage_store", LIFECYCLE),
    ("coordinator.governance.series", "coordinator.db", GOVERNANCE),
    ("coordinator.governance", "coordinator.lifecycle", LAYERS),
    ("coordinator.notify.messages", "smtplib", NOTIFY),
    ("coordinator.notify.policy", "socket", NOTIFY),
    ("coordinator.notify.events", "coordinator.notify.store", NOTIFY),
    ("coordinator.market", "coordinator.governance", LAYERS),
    ("coordinator.onchain", "coordinator.notify", LAYERS),
    ("coordinator.notify.worker", "coordinator.api", LAYERS),
    ("coordinator.db", "coordinator.api", LAYERS),
    ("coordinator.market", "coordinator.readings", LAYERS),
    ("coordinator.ops.metrics", "coordinator.market", LAYERS),
    ("coordinator.readings", "coordinator.onchain", LAYERS),
    ("coordinator.readings.ingest.service", "coordinator.readings.ingest.paho_client", FAST_PATH),
]


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return api.read_configuration(str(ROOT / "pyproject.toml"))


@pytest.fixture(scope="module")
def graph(config: dict[str, Any]) -> grimp.ImportGraph:
    session = config["session_options"]
    return grimp.build_graph(
        *session["root_packages"],
        include_external_packages=session.get("include_external_packages") == "True",
        cache_dir=None,
    )


def check(config: dict[str, Any], name: str, graph: grimp.ImportGraph) -> ContractCheck:
    (options,) = (o for o in config["contracts_options"] if o["name"] == name)
    contract = CONTRACT_TYPES[options["type"]](
        name=name, session_options=config["session_options"], contract_options=options
    )
    return contract.check(copy.deepcopy(graph), verbose=False)


def links(metadata: object) -> Iterator[tuple[str, str, tuple[int, ...]]]:
    """Every import (importer, imported, line numbers) in a contract check's report."""
    if isinstance(metadata, dict):
        if {"importer", "imported", "line_numbers"} <= metadata.keys():
            yield metadata["importer"], metadata["imported"], tuple(metadata["line_numbers"])
        for value in metadata.values():
            yield from links(value)
    elif isinstance(metadata, list | tuple | set):
        for value in metadata:
            yield from links(value)
    elif dataclasses.is_dataclass(metadata) and not isinstance(metadata, type):
        yield from links(dataclasses.asdict(metadata))


def test_every_contract_is_exercised_below(config: dict[str, Any]) -> None:
    names = {options["name"] for options in config["contracts_options"]}
    assert names == {expected for _, _, expected in FORBIDDEN_IMPORTS}


def test_the_tree_keeps_every_contract() -> None:
    run = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize(("importer", "imported", "contract"), FORBIDDEN_IMPORTS)
def test_a_forbidden_import_breaks_its_contract(
    config: dict[str, Any],
    graph: grimp.ImportGraph,
    importer: str,
    imported: str,
    contract: str,
) -> None:
    assert importer in graph.modules, f"{importer} is gone: pick another importer"
    injected = copy.deepcopy(graph)
    injected.add_import(
        importer=importer,
        imported=imported,
        line_number=INJECTED_LINE,
        line_contents=f"import {imported}",
    )

    result = check(config, contract, injected)

    assert not result.kept
    assert (importer, imported, (INJECTED_LINE,)) in links(result.metadata)
