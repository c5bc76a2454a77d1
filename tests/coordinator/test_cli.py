"""`gtx-coordinator` as an operator meets it, run as a subprocess: mistakes and
outages it is told about give one line on stderr and a non-zero exit, never a
traceback; `epoch recompute` counts in the epoch length the data was made with."""

import datetime as dt
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from coordinator.db.migrate import upgrade
from coordinator.db.session import make_engine
from coordinator.devices.registry import register_device, register_meter
from coordinator.readings.epoch_close import EpochCloser
from coordinator.readings.ingest.commit import commit_batch
from coordinator.readings.ingest.decide import verify_all
from coordinator.readings.ingest.screen import Incoming, Parsed
from coordinator.readings.ingest.store import SqlReadingStore
from coordinator.readings.oracle import OracleConfig
from edge.signing import DeviceKey
from wire.reading import Reading, encode_payload

EXE = Path(sys.executable).with_name("gtx-coordinator")


def _run(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GTX_")}
    return subprocess.run(
        [str(EXE), *args], env={**clean, **env}, capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word (not MQTT)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


def test_no_database(closed_port: int) -> None:
    url = f"postgresql+psycopg://gtx:s3cret@127.0.0.1:{closed_port}/gtx"
    for command in (["migrate"], ["epoch", "recompute", "5"], ["run"]):
        line = _one_line_error(_run(*command, GTX_DATABASE_URL=url))
        where = f"postgresql+psycopg://gtx:***@127.0.0.1:{closed_port}/gtx"
        assert line.startswith(f"error: database {where} unavailable: ")
        assert "s3cret" not in line


def test_a_setting_that_is_not_valid(tmp_path: Path) -> None:
    line = _one_line_error(_run("migrate", GTX_MQTT_PORT="abc"))
    assert line.startswith("error: invalid setting GTX_MQTT_PORT: ")


def test_monitor_with_no_broker_there(closed_port: int) -> None:
    line = _one_line_error(_run("monitor", "--once", GTX_MQTT_PORT=str(closed_port)))
    assert line.startswith(f"error: cannot reach the MQTT broker at 127.0.0.1:{closed_port}: ")


def test_monitor_on_a_port_that_is_not_a_brokers(silent_port: int) -> None:
    line = _one_line_error(_run("monitor", "--once", GTX_MQTT_PORT=str(silent_port)))
    assert line.startswith(f"error: no MQTT answer from 127.0.0.1:{silent_port} within 5 s")


@pytest.mark.services
def test_monitor_once_on_a_broker_without_gridtokenx_traffic(topic_root: str) -> None:
    result = _run("monitor", "--once", GTX_TOPIC_ROOT=topic_root)
    line = _one_line_error(result)
    assert line.startswith("no GridTokenX messages on 127.0.0.1:1883 under ")
    assert "no GridTokenX messages under" in result.stdout  # the view says so too


def _store_and_close(url: str, length_s: int) -> int:
    """Readings of one meter over a few `length_s` epochs, closed with that length;
    returns an epoch that was closed with readings in it."""
    engine = make_engine(url)
    upgrade(engine)
    key = DeviceKey.generate()
    register_device(engine, key.gateway_id)
    register_meter(engine, key.gateway_id, "m1", model="sdm630", rated_power_w=36_000)
    store = SqlReadingStore(engine)
    now = int(dt.datetime.now(dt.UTC).timestamp())
    start = now - now % length_s - 4 * length_s
    parsed = []
    for i in range(8):
        ts = start + i * length_s // 2
        signed = key.sign(Reading(key.gateway_id, "m1", i + 1, ts, 10 * i, 2 * i))
        incoming = Incoming("gtx/v1/gw/x/readings", encode_payload(signed), dt.datetime.now(dt.UTC))
        parsed.append(Parsed(incoming, signed))
    devices = store.devices([key.gateway_id])
    commit_batch(store, parsed, [], verified=verify_all(parsed, devices), now=now,
                 config=OracleConfig(), length_s=length_s)  # fmt: skip
    closed = EpochCloser(engine, length_s=length_s, grace_s=0, lateness_s=7 * 24 * 3600)
    epochs = [c.summary.epoch for c in closed.close_due(now) if c.reading_count]
    engine.dispose()
    return epochs[1]


def test_recompute_uses_the_epoch_length_the_data_was_made_with(tmp_path: Path) -> None:
    """Issue 18: on the demo's database (20 s epochs) recompute used the default 900 s,
    found 0 readings and reported a false MISMATCH."""
    url = f"sqlite:///{tmp_path}/demo.sqlite"
    epoch = _store_and_close(url, 20)
    result = _run("epoch", "recompute", str(epoch), GTX_DATABASE_URL=url)  # 900 s configured
    assert result.returncode == 0, result.stderr
    assert '"length_s":20' in result.stdout
    start = dt.datetime.fromtimestamp(epoch * 20, dt.UTC)
    assert result.stderr.strip() == (
        f"epoch {epoch} [{start:%Y-%m-%d %H:%M:%S}\u2013"
        f"{start + dt.timedelta(seconds=20):%H:%M:%S} UTC, 20 s]: matches the stored close"
    )


def test_run_with_the_metrics_port_taken(tmp_path: Path, silent_port: int) -> None:
    result = _run(
        "run", GTX_DATABASE_URL=f"sqlite:///{tmp_path}/c.sqlite", GTX_METRICS_PORT=str(silent_port),
        GTX_KEY_DIR=str(tmp_path / "keys"),
    )  # fmt: skip
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    # The migrations log before it; the error is the last line.
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: cannot serve metrics on 127.0.0.1:{silent_port}: Address already in use "
        "(GTX_METRICS_PORT, GTX_METRICS_ADDR)"
    )


def test_run_with_no_broker_there(tmp_path: Path, closed_port: int) -> None:
    result = _run(
        "run", GTX_DATABASE_URL=f"sqlite:///{tmp_path}/c.sqlite", GTX_MQTT_PORT=str(closed_port),
        GTX_KEY_DIR=str(tmp_path / "keys"),
    )  # fmt: skip
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(f"error: no connection to MQTT broker 127.0.0.1:{closed_port} within ")
    )
