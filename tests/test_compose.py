"""docker-compose.yml: `docker compose config` validates it where the compose plugin
exists; its structure (services, health checks, volumes, no secrets) and its production
profile (the broker's production configuration, TLS for every MQTT client, secrets
from the environment, a development CA only when asked) are checked always."""

import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.utils.tools import require_tool

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
SECRETS = {
    "POSTGRES_PASSWORD": "test-only-pg",
    "GTX_ADMIN_TOKEN": "test-only-admin-token",
    "GTX_JWT_SECRET": "test-only-jwt-secret",
    "GTX_MQTT_PASSWORD": "test-only-coordinator-mqtt",
    "GTX_BROKER_ADMIN_PASSWORD": "test-only-broker-admin",
    "GRAFANA_ADMIN_PASSWORD": "test-only-grafana",
}
# Where alerts go: required, or Alertmanager would start with nowhere to send them.
ALERT_ROUTES = {
    "GTX_ALERT_SMTP_SMARTHOST": "smtp.test.invalid:587",
    "GTX_ALERT_EMAIL_TO": "ops@test.invalid",
    "GTX_ALERT_EMAIL_FROM": "gtx@test.invalid",
    "GTX_ALERT_WEBHOOK_URL": "https://chat.test.invalid/hook",
    "GTX_ALERT_PAGE_WEBHOOK_URL": "https://page.test.invalid/hook",
}
ENV = {**SECRETS, **ALERT_ROUTES, "GATEWAY_OWNER": "11111111111111111111111111111111"}
SERVICES = {
    *("postgres", "redis", "broker-setup", "mosquitto", "broker-init", "solana", "migrate"),
    *("coordinator", "api", "simulator", "gateway-enrol", "gateway", "prometheus", "grafana"),
    "alertmanager",
    *("monitor", "broker-audit"),
}
ONE_SHOT = {"migrate", "broker-setup", "broker-init", "gateway-enrol", "monitor", "broker-audit"}
# Every process that talks MQTT, and the account it uses.
MQTT_CLIENTS = {"broker-init", "coordinator", "api", "monitor"}


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


@pytest.mark.parametrize("secret", sorted({*SECRETS, *ALERT_ROUTES}))
def test_docker_compose_refuses_missing_secrets(compose_cli: list[str], secret: str) -> None:
    result = _config(compose_cli, {k: v for k, v in ENV.items() if k != secret})
    assert result.returncode != 0
    assert secret in result.stderr


def test_resolved_services_run_the_production_profile(compose_cli: list[str]) -> None:
    yaml = pytest.importorskip("yaml", reason="PyYAML is needed to read the resolved config")
    services = yaml.safe_load(_config(compose_cli, ENV).stdout)["services"]
    api = services["api"]["environment"]
    assert api["GTX_ENVIRONMENT"] == "production"
    assert api["GTX_JWT_SECRET"] == "test-only-jwt-secret"
    assert api["GTX_ADMIN_TOKEN"] == "test-only-admin-token"
    assert api["GTX_GATEWAY_MQTT_TLS"] == "true"
    for name in MQTT_CLIENTS:
        env = services[name]["environment"]
        assert (env["GTX_MQTT_PORT"], env["GTX_MQTT_TLS"]) == ("8883", "true"), name
    assert services["broker-setup"]["environment"]["GTX_DEV_CA"] == "false"
    dev = yaml.safe_load(_config(compose_cli, {**ENV, "GTX_DEV_CA": "true"}).stdout)["services"]
    assert dev["broker-setup"]["environment"]["GTX_DEV_CA"] == "true"


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
    for var in SECRETS:
        assert f"${{{var}:?" in text, f"{var} must come from the environment"
    for value in ENV.values():
        assert value not in text


def test_broker_runs_the_production_configuration(compose: dict[str, Any]) -> None:
    """The same mosquitto/production.conf the production-profile test runs: TLS on
    8883 only, the dynamic security plugin, its certificates from broker-setup."""
    broker = compose["services"]["mosquitto"]
    assert "./mosquitto/production.conf:/mosquitto/config/mosquitto.conf:ro" in broker["volumes"]
    assert "broker-tls:/mosquitto/certs:ro" in broker["volumes"]
    assert [p.rsplit(":", 2)[-2:] for p in broker["ports"]] == [["8883", "8883"]]
    assert broker["depends_on"]["broker-setup"]["condition"] == "service_completed_successfully"
    conf = (ROOT / "mosquitto" / "production.conf").read_text()
    assert "plugin_opt_config_file /mosquitto/data/dynamic-security.json" in conf
    assert "allow_anonymous false" in conf
    listeners = [line for line in conf.splitlines() if line.startswith("listener ")]
    assert listeners == ["listener 8883"]
    for name in ("cafile", "certfile", "keyfile"):
        assert f"{name} /mosquitto/certs/" in conf


def test_every_mqtt_client_uses_tls_and_its_own_account(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in MQTT_CLIENTS:
        env = _environment(compose, name)
        assert env["GTX_MQTT_TLS"] == "true", name
        assert env["GTX_MQTT_CA_FILE"] == "/etc/gtx/broker-ca/ca.crt", name
        assert "broker-ca:/etc/gtx/broker-ca:ro" in services[name]["volumes"], name
    # The admin account (it makes and disables gateway accounts) only where needed.
    holders = {n for n in services if "GTX_BROKER_ADMIN_PASSWORD" in _environment(compose, n)}
    assert holders == {"broker-setup", "broker-init", "api"}
    assert "GTX_MQTT_PASSWORD" not in _environment(compose, "api")
    assert "OPERATOR" in _environment(compose, "monitor")["GTX_MQTT_PASSWORD"]


def test_certificates_and_accounts_come_first(compose: dict[str, Any]) -> None:
    """broker-setup (certificates, initial accounts) -> mosquitto -> broker-init (the
    coordinator's session, then gateway accounts) -> coordinator and API."""
    services = compose["services"]
    assert services["broker-setup"]["command"] == ["sh", "/opt/gtx/broker-setup.sh"]
    assert _environment(compose, "broker-setup")["GTX_DEV_CA"] == "${GTX_DEV_CA:-false}"
    assert services["broker-init"]["command"] == ["gtx-coordinator", "broker-init"]
    for name in ("coordinator", "api"):
        after = services[name]["depends_on"]["broker-init"]["condition"]
        assert after == "service_completed_successfully", name
    setup = (ROOT / "deploy" / "broker" / "setup.sh").read_text()
    assert 'if [ "${GTX_DEV_CA:-false}" != true ]' in setup
    assert "gtx-coordinator broker-config" in setup


def _environment(compose: dict[str, Any], name: str) -> dict[str, str]:
    """A service's environment with its YAML merge keys resolved (PyYAML does that)."""
    env: dict[str, str] = compose["services"][name].get("environment", {})
    return env


def test_stateful_services_keep_data_in_volumes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    named = set(compose["volumes"])
    for name, target in (("postgres", "/var/lib/postgresql/data"), ("solana", "/ledger"),
                         ("mosquitto", "/mosquitto/data"), ("prometheus", "/prometheus"),
                         ("grafana", "/var/lib/grafana"), ("gateway", "/var/lib/gtx"),
                         ("alertmanager", "/alertmanager"),
                         ("coordinator", "/var/lib/gtx/coordinator-keys")):  # fmt: skip
        mounts = [v.split(":") for v in services[name]["volumes"]]
        assert any(src in named and dst == target for src, dst, *_ in mounts), name


def test_bind_mounted_files_exist(compose: dict[str, Any]) -> None:
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source


def test_prometheus_runs_the_rules_and_alertmanager_routes_them(compose: dict[str, Any]) -> None:
    """Prometheus mounts the rules its configuration loads and sends alerts to the
    Alertmanager service, which renders its configuration from the environment."""
    yaml = pytest.importorskip("yaml", reason="PyYAML is needed to read prometheus.yml")
    services = compose["services"]
    assert "./deploy/prometheus/rules:/etc/prometheus/rules:ro" in services["prometheus"]["volumes"]
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    (targets,) = [c["targets"] for a in config["alerting"]["alertmanagers"]
                  for c in a["static_configs"]]  # fmt: skip
    assert targets == ["alertmanager:9093"]
    scraped = {j["job_name"]: j["static_configs"][0]["targets"] for j in config["scrape_configs"]}
    # The API's and broker-audit's metrics ports, as compose sets them.
    assert scraped["gtx-api"] == ["api:9101"]
    assert _environment(compose, "api")["GTX_METRICS_PORT"] == "9101"
    assert scraped["gtx-broker-audit"] == ["broker-audit:9102"]
    assert _environment(compose, "broker-audit")["GTX_METRICS_PORT"] == "9102"
    manager = services["alertmanager"]
    assert manager["entrypoint"] == ["/bin/sh", "/etc/alertmanager/render.sh"]
    assert "./deploy/alertmanager:/etc/alertmanager:ro" in manager["volumes"]
    template = (ROOT / "deploy/alertmanager/alertmanager.yml").read_text()
    for var in ALERT_ROUTES:
        assert f"${{{var}}}" in template, var
        assert f"${{{var}:?" in COMPOSE.read_text(), f"{var} must be required"
