"""docker-compose.yml: `docker compose config` (or Debian's `docker-compose`) validates
it; its structure (services, health checks, volumes, no secrets) is checked always."""

import json
import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from tests.utils.tools import require_tool

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
ENV = {
    "POSTGRES_PASSWORD": "test-only-pg",
    "GTX_ADMIN_TOKEN": "test-only-admin-token",
    "GRAFANA_ADMIN_PASSWORD": "test-only-grafana",
    "GATEWAY_OWNER": "11111111111111111111111111111111",
}
SERVICES = {
    *("postgres", "redis", "mosquitto", "solana", "migrate", "coordinator", "api"),
    *("simulator", "gateway-enrol", "gateway", "prometheus", "grafana", "monitor"),
}
ONE_SHOT = {"migrate", "gateway-enrol", "monitor"}


@pytest.fixture(scope="module")
def compose_cli() -> list[str]:
    """`docker compose` where the plugin exists, else Debian's `docker-compose`."""
    return shlex.split(require_tool("docker compose", "to validate docker-compose.yml"))


def _config(compose_cli: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*compose_cli, "-f", str(COMPOSE), "config"],
        capture_output=True, text=True, check=False, cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), **env},
    )  # fmt: skip


def test_docker_compose_config_validates(compose_cli: list[str]) -> None:
    yaml = pytest.importorskip("yaml", reason="PyYAML is needed to read the resolved config")
    result = _config(compose_cli, ENV)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert set(services) == SERVICES
    assert "test-only-pg" in services["coordinator"]["environment"]["GTX_DATABASE_URL"]


def test_docker_compose_refuses_missing_secrets(compose_cli: list[str]) -> None:
    result = _config(compose_cli, {k: v for k, v in ENV.items() if k != "POSTGRES_PASSWORD"})
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    yaml = pytest.importorskip("yaml", reason="PyYAML is needed to read docker-compose.yml")
    doc: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return doc


def test_every_service_and_health_check(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == SERVICES
    for name, service in services.items():
        if name not in ONE_SHOT:
            assert "healthcheck" in service, f"{name} has no health check"


def test_no_secret_in_the_file() -> None:
    text = COMPOSE.read_text()
    for var in ("POSTGRES_PASSWORD", "GTX_ADMIN_TOKEN", "GRAFANA_ADMIN_PASSWORD"):
        assert f"${{{var}:?" in text, f"{var} must come from the environment"
    for value in ENV.values():
        assert value not in text


def test_stateful_services_keep_data_in_volumes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    named = set(compose["volumes"])
    for name, target in (("postgres", "/var/lib/postgresql/data"), ("solana", "/ledger"),
                         ("mosquitto", "/mosquitto/data"), ("prometheus", "/prometheus"),
                         ("grafana", "/var/lib/grafana"), ("gateway", "/var/lib/gtx"),
                         ("coordinator", "/var/lib/gtx/coordinator-keys")):  # fmt: skip
        mounts = [v.split(":") for v in services[name]["volumes"]]
        assert any(src in named and dst == target for src, dst, *_ in mounts), name


def test_bind_mounted_files_exist(compose: dict[str, Any]) -> None:
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source


def test_dashboard_panels_use_exported_metrics() -> None:
    import coordinator.ops.metrics  # noqa: F401, PLC0415 (registers the metrics)

    names = {f.name for f in REGISTRY.collect() if f.name.startswith("gtx_")}
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/gridtokenx.json").read_text())
    titles = {p["title"] for p in dashboard["panels"]}
    assert {"Readings accepted per second", "Rejected readings by reason", "Epochs closed",
            "Clearing price", "Ledger transactions"} <= titles  # fmt: skip
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used = [n for n in names if n in target["expr"]]
            assert used, f"{panel['title']}: {target['expr']} uses no coordinator metric"
