"""The installer CLI's parsing, config rendering, output and exit codes."""

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from edge.config import parse_config
from provisioning import cli
from provisioning.errors import RefusedError, UsageError
from provisioning.gateway_config import (
    GatewayFile,
    MeterSpec,
    parse_meter_spec,
    recorded_gateway_id,
    render_config,
    write_config,
)
from provisioning.output import Report, render


def test_meter_spec_parses_with_defaults() -> None:
    assert parse_meter_spec("meter_id=m-1,host=10.0.0.5,rated_w=5000") == MeterSpec(
        "m-1", "10.0.0.5", 502, 1, "sdm630", 5000
    )


@pytest.mark.parametrize(
    "spec",
    ["host=h,rated_w=1", "meter_id=m,host=h", "meter_id=m,host=h,rated_w=x", "junk",
     "meter_id=m m,host=h,rated_w=1", "meter_id=m,host=h,rated_w=1,port=0"],
)  # fmt: skip
def test_bad_meter_specs_are_usage_errors(spec: str) -> None:
    with pytest.raises(UsageError):
        parse_meter_spec(spec)


GW = "9ujv3NyGXqL62BR8T43EnkgjBJCaiw14EdVcvd9uKvm5"  # any valid base58 public key


def _file(tmp_path: Path) -> GatewayFile:
    return GatewayFile(
        gateway_id=GW, coordinator_url="http://c", key_file=tmp_path / "k.pem",
        state_file=tmp_path / "s.sqlite", broker_host="b", broker_port=8883, broker_tls=True,
        username=GW, password='p"w\\', topic_root="gtx",
        meters=(MeterSpec("m-1", "h", 502, 1, "sdm630", 5000),),
    )  # fmt: skip


def test_rendered_config_is_what_the_agent_parses(tmp_path: Path) -> None:
    parsed = parse_config(tomllib.loads(render_config(_file(tmp_path))))
    assert parsed.broker.password == 'p"w\\'
    assert parsed.meters[0].rated_power_w == 5000
    assert parsed.gateway_id == GW  # the enrolled id survives key rotations
    assert parsed.broker.tls is True
    write_config(tmp_path / "gw.toml", _file(tmp_path))
    assert (tmp_path / "gw.toml").stat().st_mode & 0o777 == 0o600
    assert recorded_gateway_id(tmp_path / "gw.toml") == GW


class _Refusing:
    def request(self, *_a: Any, **_k: Any) -> Any:
        raise RefusedError("token_used", "enrolment token was already used", 409)


def test_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    key = tmp_path / "device.pem"
    assert cli.main(["--json", "init", "--key-file", str(key)]) == cli.EXIT_OK
    assert json.loads(capsys.readouterr().out)["created"] is True
    base = ["enroll", "--config", str(tmp_path / "gw.toml"), "--key-file", str(key)]
    meter = ["--meter", "meter_id=m,host=h,rated_w=1"]
    monkeypatch.delenv("GTX_ENROLMENT_TOKEN", raising=False)
    monkeypatch.delenv("GTX_COORDINATOR_URL", raising=False)
    assert cli.main([*base, "--coordinator", "http://c", *meter]) == cli.EXIT_USAGE  # no token
    missing_key = ["enroll", "--config", str(tmp_path / "x.toml"), "--key-file", "/nonexistent"]
    args = [*missing_key, "--coordinator", "http://c", "--token", "t", *meter]
    assert cli.main(args) == cli.EXIT_LOCAL
    # Nothing listens on port 9 of localhost: unreachable.
    args = [*base, "--coordinator", "http://127.0.0.1:9", "--token", "t", *meter]
    assert cli.main(args) == cli.EXIT_UNREACHABLE
    monkeypatch.setattr(cli, "UrllibTransport", lambda _url: _Refusing())
    capsys.readouterr()
    code = cli.main(["--json", *base, "--coordinator", "http://c", "--token", "t", *meter])
    assert code == cli.EXIT_REFUSED
    assert json.loads(capsys.readouterr().out)["reason"] == "token_used"
    assert not (tmp_path / "gw.toml").exists()  # nothing written on refusal


def test_text_output_escapes_control_characters() -> None:
    report = Report("check")
    report.add("broker", False, "refused: \x1b[31mbad\x1b[0m\nPASS  everything")
    report.data["gateway_id"] = "gw\x07"
    text = render(report, as_json=False)
    assert text.splitlines() == [
        "FAIL  broker: refused: \\x1b[31mbad\\x1b[0m\\x0aPASS  everything",
        "gateway_id: gw\\x07",
    ]
    assert json.loads(render(report, as_json=True))["steps"][0]["detail"].startswith("refused")
