"""deploy/grafana: the four operators' dashboards, provisioned from files, every panel
reading the Prometheus datasource, and every metric a panel or an alerting rule names
exported by the coordinator's code (a renamed metric fails here, not on a blank panel
or an alert that can never fire)."""

import json
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

import coordinator.ops.broker_audit
import coordinator.ops.metrics  # noqa: F401 (registers the coordinator's metrics)
from tests.utils.promql import exported_series, metric_names

yaml = pytest.importorskip("yaml", reason="PyYAML reads the provisioning and the rules")

ROOT = Path(__file__).resolve().parent.parent
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
# Prometheus's own series, from the scrape itself.
PROMETHEUS_SERIES = {"up"}


def _dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in DASHBOARDS}


def _targets() -> list[tuple[str, str, str]]:
    return [
        (name, panel["title"], target["expr"])
        for name, board in _dashboards().items()
        for panel in board["panels"]
        for target in panel["targets"]
    ]


def test_the_four_views_are_provisioned() -> None:
    titles = {b["title"] for b in _dashboards().values()}
    assert titles == {
        "GridTokenX: system health",
        "GridTokenX: trading volume and patterns",
        "GridTokenX: energy generation trends",
        "GridTokenX: user activity",
    }
    uids = [b["uid"] for b in _dashboards().values()]
    assert len(set(uids)) == len(uids)
    provider = yaml.safe_load((GRAFANA / "provisioning/dashboards/gridtokenx.yml").read_text())
    (only,) = provider["providers"]
    assert only["type"] == "file"
    assert only["options"]["path"] == "/etc/grafana/dashboards"
    compose = (ROOT / "docker-compose.yml").read_text()
    assert "./deploy/grafana/dashboards:/etc/grafana/dashboards:ro" in compose
    assert "/etc/grafana/dashboards/system-health.json" in compose  # the home dashboard


def test_every_panel_reads_the_provisioned_datasource() -> None:
    sources = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    (uid,) = [s["uid"] for s in sources["datasources"]]
    for name, board in _dashboards().items():
        ids = [p["id"] for p in board["panels"]]
        assert len(set(ids)) == len(ids), name
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] == uid, (name, panel["title"])
            assert panel["targets"], (name, panel["title"])
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == uid, (name, panel["title"])


def test_every_panel_names_only_exported_metrics() -> None:
    exported = exported_series(REGISTRY) | PROMETHEUS_SERIES
    for name, title, expr in _targets():
        used = metric_names(expr)
        assert used, f"{name} / {title}: {expr} reads no metric"
        assert used <= exported, f"{name} / {title}: not exported: {sorted(used - exported)}"


def test_every_alerting_rule_names_only_exported_metrics() -> None:
    exported = exported_series(REGISTRY) | PROMETHEUS_SERIES
    for path in sorted((ROOT / "deploy/prometheus/rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                used = metric_names(rule["expr"])
                assert used, f"{rule['alert']} reads no metric"
                assert used <= exported, f"{rule['alert']}: not exported: {sorted(used - exported)}"


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (le) (rate(gtx_api_request_seconds_bucket{route!~"/a.*"}[5m]))',
         {"gtx_api_request_seconds_bucket"}),
        ("time() - max(gtx_stage_end{stage='x'}) > max(gtx_length) + 300",
         {"gtx_stage_end", "gtx_length"}),
        ("sum(increase(gtx_energy_total[24h])) / 1e9", {"gtx_energy_total"}),
        ("absent(up{job=\"a\"}) or on() vector(0)", {"up"}),
        ("a_total / ignoring(kind) b_total unless c offset 5m", {"a_total", "b_total", "c"}),
    ],
)  # fmt: skip
def test_metric_names_are_read_from_promql(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_a_panel_naming_a_metric_that_does_not_exist_is_caught() -> None:
    exported = exported_series(REGISTRY)
    assert "gtx_readings_accepted_total" in exported  # a counter, by its series name
    assert "gtx_readings_accepted" not in exported  # ... not its family name
    assert "gtx_api_request_seconds_bucket" in exported  # a labelled histogram, unused
    assert metric_names("sum(rate(gtx_readings_acepted_total[5m]))") - exported == {
        "gtx_readings_acepted_total"
    }
