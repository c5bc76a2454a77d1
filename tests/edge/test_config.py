"""Gateway config: the documented example parses; every mistake names its field."""

from pathlib import Path
from typing import Any

import pytest

from edge import config as config_module
from edge.config import DEFAULT_CLOCK_REGISTER, load_config, parse_config
from edge.errors import ConfigError


def _doc_example() -> str:
    doc = config_module.__doc__ or ""
    body = doc.split("\n\n", 1)[1].split("\n\nEvery error", 1)[0]
    return "\n".join(line[4:] for line in body.splitlines())


def _minimal(**changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "key_file": "device.pem",
        "state_file": "state.sqlite",
        "meters": [{"meter_id": "m1", "host": "10.0.0.5", "rated_power_w": 1000}],
    }
    raw.update(changes)
    return raw


def test_documented_example_parses(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(_doc_example())
    cfg = load_config(path)
    assert cfg.key_file == Path("/var/lib/gtx/device.pem")
    assert cfg.poll_interval_s == 900
    assert cfg.polling.max_attempts == 3
    assert cfg.outbox.max_entries == 100_000
    assert cfg.broker.session_expiry_s == 86_400
    (meter,) = cfg.meters
    assert (meter.meter_id, meter.port, meter.clock) == ("sdm630-0001", 5020, "gateway")


def test_defaults_and_relative_paths() -> None:
    cfg = parse_config(_minimal(), base=Path("/etc/gtx"))
    assert cfg.state_file == Path("/etc/gtx/state.sqlite")
    (m,) = cfg.meters
    assert (m.port, m.unit_id, m.register_map, m.transport) == (502, 1, "sdm630", "tcp")
    assert m.clock_register == DEFAULT_CLOCK_REGISTER
    cfg = parse_config(
        _minimal(meters=[{"meter_id": "m1", "host": "h", "rated_power_w": 1,
                          "register_map": "maps/custom.json", "clock": "meter"}]),
        base=Path("/etc/gtx"),
    )  # fmt: skip
    assert cfg.meters[0].register_map == "/etc/gtx/maps/custom.json"
    assert cfg.meters[0].clock == "meter"


def test_serial_meter_needs_a_device() -> None:
    serial = {"meter_id": "m1", "transport": "serial", "rated_power_w": 1}
    with pytest.raises(ConfigError, match=r"^meters\[0\]\.device: missing"):
        parse_config(_minimal(meters=[serial]))
    cfg = parse_config(_minimal(meters=[{**serial, "device": "/dev/ttyUSB0", "baudrate": 19200}]))
    assert (cfg.meters[0].device, cfg.meters[0].baudrate) == ("/dev/ttyUSB0", 19200)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"key_file": 5}, "key_file"),
        ({"poll_interval_s": 0}, "poll_interval_s"),
        ({"poll_interval_s": True}, "poll_interval_s"),
        ({"health_interval_s": "often"}, "health_interval_s"),
        ({"meters": []}, "meters"),
        ({"colour": "blue"}, "colour"),
        ({"broker": {"port": 70000}}, "broker.port"),
        ({"broker": {"hostname": "x"}}, "broker.hostname"),
        ({"broker": {"reconnect_initial_s": 5, "reconnect_max_s": 1}}, "broker.reconnect_max_s"),
        ({"polling": {"timeout_s": 0}}, "polling.timeout_s"),
        ({"polling": {"max_attempts": 0}}, "polling.max_attempts"),
        ({"outbox": {"max_entries": 0}}, "outbox.max_entries"),
        ({"outbox": {"max_size": 5}}, "outbox.max_size"),
    ],
)
def test_error_names_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_minimal(**changes))
    assert str(info.value).startswith(field + ":")


@pytest.mark.parametrize(
    ("meter", "field"),
    [
        ({"host": "h", "rated_power_w": 1}, "meters[1].meter_id"),
        ({"meter_id": "m2", "rated_power_w": 1}, "meters[1].host"),
        ({"meter_id": "m2", "host": "h"}, "meters[1].rated_power_w"),
        ({"meter_id": "m2", "host": "h", "rated_power_w": -5}, "meters[1].rated_power_w"),
        ({"meter_id": "m2", "host": "h", "rated_power_w": 1, "unit_id": 300}, "meters[1].unit_id"),
        ({"meter_id": "m2", "host": "h", "rated_power_w": 1, "port": 0}, "meters[1].port"),
        ({"meter_id": "m2", "host": "h", "rated_power_w": 1, "clock": "gps"}, "meters[1].clock"),
        ({"meter_id": "m2", "host": "h", "rated_power_w": 1, "transport": "udp"},
         "meters[1].transport"),
        ({"meter_id": "m2", "host": "h", "rated_power_w": 1, "unitid": 2}, "meters[1].unitid"),
        ({"meter_id": "bad id!", "host": "h", "rated_power_w": 1}, "meters[1].meter_id"),
    ],
)  # fmt: skip
def test_meter_error_names_the_meter_and_field(meter: dict[str, Any], field: str) -> None:
    meters = [{"meter_id": "m1", "host": "h", "rated_power_w": 1}, meter]
    with pytest.raises(ConfigError) as info:
        parse_config(_minimal(meters=meters))
    assert str(info.value).startswith(field + ":")


def test_duplicate_meter_ids_refused() -> None:
    m = {"meter_id": "m1", "host": "h", "rated_power_w": 1}
    with pytest.raises(ConfigError, match=r"^meters: meter_id values must be unique"):
        parse_config(_minimal(meters=[m, m]))


def test_unreadable_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("key_file = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
