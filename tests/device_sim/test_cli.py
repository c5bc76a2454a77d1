"""gtx-sim command line and the fleet it serves."""

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from device_sim.cli import main
from device_sim.fleet import build_fleet


def test_help_works(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["serve", "--help"])
    assert info.value.code == 0
    assert "--accel" in capsys.readouterr().out


def test_rejects_an_empty_fleet(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--meters", "0"]) == 2
    assert "--meters" in capsys.readouterr().err


def test_fleet_is_deterministic_and_split_by_port() -> None:
    fleet = build_fleet(300, seed=4)
    assert [(m.group, m.unit_id) for m in fleet[245:249]] == [(0, 246), (0, 247), (1, 1), (1, 2)]
    assert {m.map_name for m in fleet} == {"sdm630", "sdm120", "sunspec203"}
    assert {m.meter.kind for m in fleet} == {"consumer", "producer", "prosumer"}
    again = build_fleet(300, seed=4)
    t = 1_700_000_000_000
    assert [m.meter.snapshot(t).power_w for m in fleet[:20]] == [
        m.meter.snapshot(t).power_w for m in again[:20]
    ]


def test_a_busy_port_is_one_line() -> None:
    """Issue 18: a busy port ended in a pymodbus traceback."""
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        result = subprocess.run(
            [str(Path(sys.executable).with_name("gtx-sim")), "serve", "--port", str(port)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: cannot serve Modbus on 127.0.0.1:{port}: Address already in use"
    ]
