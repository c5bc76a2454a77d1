"""The README's main command, headless for a few short epochs: embedded, then on
the real PostgreSQL, Redis and Mosquitto. It must accept readings, mint exactly
the verified exported energy, clear and settle trades, reconcile every balance on
the ledger, and exit cleanly."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.utils.services import MQTT_HOST, MQTT_PORT, fresh_database

EXE = Path(sys.executable).with_name("gridtokenx")
ARGS = ["demo", "--epochs", "4", "--epoch-seconds", "8", "--poll-seconds", "2", "--api-port", "0"]


def _run(workdir: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        [str(EXE), *ARGS, "--workdir", str(workdir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def _check(out: str) -> None:
    assert "balances reconcile: yes" in out, out[-3000:]
    m = re.search(
        r"reconciled (\d+) epochs: verified export (\d+) Wh, minted (\d+) base units, "
        r"(\d+) trades settled, (\d+) users",
        out,
    )
    assert m is not None, out[-3000:]
    epochs, export_wh, minted, trades, users = map(int, m.groups())
    assert epochs >= 4
    assert export_wh > 0
    assert minted == export_wh * 1_000_000  # every meter has an owner in the demo
    assert trades > 0
    assert users == 30
    accepted = [int(n) for n in re.findall(r"accepted so far (\d+), rejected 0\)", out)]
    assert accepted
    assert accepted[-1] > 0


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("GTX_")}


def test_demo_embedded(tmp_path: Path) -> None:
    out = _run(tmp_path, _clean_env())
    assert "sqlite:" in out  # nothing configured: SQLite, in-process broker
    _check(out)


@pytest.mark.services
def test_demo_on_real_services(tmp_path: Path, topic_root: str) -> None:
    with fresh_database("gtx_demo") as url:
        env = {
            **_clean_env(),
            "GTX_DATABASE_URL": url,
            "GTX_MQTT_HOST": MQTT_HOST,
            "GTX_MQTT_PORT": str(MQTT_PORT),
            "GTX_REDIS_URL": "redis://127.0.0.1:6379/0",
            "GTX_TOPIC_ROOT": topic_root,
            "GTX_MQTT_CLIENT_ID": "gtx-demo-" + topic_root.replace("/", "-")[-40:],
        }
        out = _run(tmp_path, env)
    assert "database server" in out.replace("  ", " ")
    _check(out)
