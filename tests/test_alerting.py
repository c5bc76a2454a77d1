"""deploy/prometheus and deploy/alertmanager: the alerting rules pass `promtool check
rules` and their unit tests (`promtool test rules`), every rule is tested firing and
quiet and has a runbook section in docs/operations.md; Alertmanager's configuration,
rendered from the environment as compose does, passes `amtool check-config` and
routes each severity where the operators expect it."""

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.utils.tools import require_tool

yaml = pytest.importorskip("yaml", reason="PyYAML reads the rules and their tests")

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = sorted((PROMETHEUS / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*_test.yml"))
ALERTMANAGER = ROOT / "deploy" / "alertmanager"
ROUTES = {
    "GTX_ALERT_SMTP_SMARTHOST": "smtp.test.invalid:587",
    "GTX_ALERT_EMAIL_TO": "ops@test.invalid",
    "GTX_ALERT_EMAIL_FROM": "gtx@test.invalid",
    "GTX_ALERT_SMTP_USERNAME": "gtx",
    "GTX_ALERT_SMTP_PASSWORD": 'test-only & /\\ "smtp"',
    "GTX_ALERT_WEBHOOK_URL": "https://chat.test.invalid/hook",
    "GTX_ALERT_PAGE_WEBHOOK_URL": "https://page.test.invalid/hook",
}


def _run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, cwd=ROOT, env=env)


def _rules() -> list[dict[str, Any]]:
    return [
        rule
        for path in RULES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


def test_rules_pass_promtool_check() -> None:
    promtool = require_tool("promtool", "to check the alerting rules")
    assert RULES, "no rule files"
    result = _run(promtool, "check", "rules", *map(str, RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_unit_tests_pass() -> None:
    promtool = require_tool("promtool", "to run the alerting rules' unit tests")
    result = _run(promtool, "test", "rules", *map(str, RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_TESTS)


def test_prometheus_configuration_loads_the_rules(tmp_path: Path) -> None:
    """prometheus.yml as compose mounts it, its rule_files pointed at the repository."""
    promtool = require_tool("promtool", "to check prometheus.yml")
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    config["rule_files"] = [str(PROMETHEUS / "rules" / "*.yml")]
    local = tmp_path / "prometheus.yml"
    local.write_text(yaml.safe_dump(config))
    result = _run(promtool, "check", "config", str(local))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(RULES)} rule files found" in result.stdout


def test_every_rule_is_tested_firing_and_quiet() -> None:
    fired: set[str] = set()
    quiet: set[str] = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case["alert_rule_test"]:
                (fired if check["exp_alerts"] else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in _rules()}
    assert names - fired == set(), "rules never shown firing"
    assert names - quiet == set(), "rules never shown staying quiet"


def test_every_rule_has_a_severity_and_a_runbook_section() -> None:
    operations = (ROOT / "docs" / "operations.md").read_text()
    # GitHub's anchors: a heading lower-cased, spaces to hyphens.
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
        for h in re.findall(r"^#+ (.+)$", operations, flags=re.M)
    }
    for rule in _rules():
        name = rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        runbook = rule["annotations"]["runbook"]
        assert runbook == f"docs/operations.md#{name.lower()}", name
        assert name.lower() in anchors, f"docs/operations.md has no section {name}"
        assert {"summary", "description"} <= set(rule["annotations"]), name


def _render(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path / "alertmanager.yml"
    full = {
        "PATH": os.environ.get("PATH", ""),
        "GTX_ALERTMANAGER_TEMPLATE": str(ALERTMANAGER / "alertmanager.yml"),
        **env,
    }
    return _run("sh", str(ALERTMANAGER / "render.sh"), "--out", str(out), env=full), out


def test_alertmanager_configuration_renders_and_checks(tmp_path: Path) -> None:
    amtool = require_tool("amtool", "to check the Alertmanager configuration")
    rendered, out = _render(tmp_path, ROUTES)
    assert rendered.returncode == 0, rendered.stderr
    config = yaml.safe_load(out.read_text())
    assert config["global"]["smtp_smarthost"] == ROUTES["GTX_ALERT_SMTP_SMARTHOST"]
    # Taken literally: no shell or sed escaping mangles a password.
    assert config["global"]["smtp_auth_password"] == ROUTES["GTX_ALERT_SMTP_PASSWORD"]
    result = _run(amtool, "check-config", str(out))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=critical", "alertname=GtxApiDown"], "on-call"),
        (["severity=warning", "alertname=GtxApiSlow"], "operators"),
        (["alertname=Unlabelled"], "operators"),
    ],
)
def test_alerts_are_routed_by_severity(tmp_path: Path, labels: list[str], receiver: str) -> None:
    amtool = require_tool("amtool", "to test the Alertmanager routes")
    rendered, out = _render(tmp_path, ROUTES)
    assert rendered.returncode == 0, rendered.stderr
    result = _run(amtool, "config", "routes", "test", f"--config.file={out}", *labels)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == [receiver]


def test_both_receivers_mail_and_post(tmp_path: Path) -> None:
    rendered, out = _render(tmp_path, ROUTES)
    assert rendered.returncode == 0, rendered.stderr
    receivers = {r["name"]: r for r in yaml.safe_load(out.read_text())["receivers"]}
    assert receivers["on-call"]["webhook_configs"][0]["url"] == ROUTES["GTX_ALERT_PAGE_WEBHOOK_URL"]
    assert receivers["operators"]["webhook_configs"][0]["url"] == ROUTES["GTX_ALERT_WEBHOOK_URL"]
    for receiver in receivers.values():
        assert receiver["email_configs"][0]["to"] == ROUTES["GTX_ALERT_EMAIL_TO"]


@pytest.mark.parametrize("missing", ["GTX_ALERT_SMTP_SMARTHOST", "GTX_ALERT_WEBHOOK_URL"])
def test_rendering_refuses_an_unset_route(tmp_path: Path, missing: str) -> None:
    rendered, _ = _render(tmp_path, {k: v for k, v in ROUTES.items() if k != missing})
    assert rendered.returncode != 0
    assert f"{missing} is not set" in rendered.stderr


def test_rendering_refuses_a_quote_that_would_end_the_string(tmp_path: Path) -> None:
    rendered, _ = _render(tmp_path, {**ROUTES, "GTX_ALERT_SMTP_PASSWORD": "it's"})
    assert rendered.returncode != 0
    assert "GTX_ALERT_SMTP_PASSWORD holds a single quote" in rendered.stderr
