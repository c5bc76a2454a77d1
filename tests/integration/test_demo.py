"""The README's main command, headless for a few short epochs: embedded, then on
the real PostgreSQL, Redis and Mosquitto. It must accept readings, mint exactly
the verified exported energy, clear and settle trades, reconcile every balance on
the ledger, and exit cleanly."""

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.utils.services import MQTT_HOST, MQTT_PORT, fresh_database

EXE = Path(sys.executable).with_name("gridtokenx")
ARGS = ["demo", "--epochs", "4", "--epoch-seconds", "8", "--poll-seconds", "2", "--api-port", "0"]


def _run(
    workdir: Path, env: dict[str, str], timeout_s: float = 100, extra: tuple[str, ...] = ()
) -> str:
    """The demo's stdout. A run past `timeout_s` (under the suite's 120 s) fails with
    what it printed, where each of its event loop's tasks waited (SIGUSR1) and where
    every one of its threads stood (faulthandler on SIGABRT), so that a hang names its
    culprit."""
    process = subprocess.Popen(
        [str(EXE), *ARGS, *extra, "--workdir", str(workdir)],
        env={**env, "PYTHONFAULTHANDLER": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGUSR1)  # the event loop's tasks, where each waits
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.communicate(timeout=3)  # the output so far is kept for the next call
        process.send_signal(signal.SIGABRT)
        stdout, stderr = process.communicate(timeout=15)
        pytest.fail(f"demo still running after {timeout_s} s:\n{stdout[-3000:]}\n{stderr[-20000:]}")
    assert process.returncode == 0, stdout[-3000:] + stderr[-3000:]
    # Issue 18: no WARNING noise on a healthy run (there were two on every start).
    assert not [line for line in stderr.splitlines() if " WARNING " in line], stderr[-3000:]
    return stdout


def _check(out: str) -> None:
    assert "balances reconcile: yes" in out, out[-3000:]
    m = re.search(
        r"reconciled (\d+) epochs: verified export (\d+) Wh, minted (\d+) base units, "
        r"withheld (\d+) \(([^)]*)\), pending (\d+); (\d+) trades settled, (\d+) users",
        out,
    )
    assert m is not None, out[-3000:]
    epochs, export_wh, minted, withheld, _, pending, trades, users = (
        int(g) if g.isdigit() else 0 for g in m.groups()
    )
    assert epochs >= 4
    assert export_wh > 0
    assert withheld == 0  # every meter has an owner in the demo, and nobody is frozen
    # Every closed epoch counted: minted, or still to mint (one closing as the demo ends).
    assert minted + pending == export_wh * 1_000_000
    assert minted > 0
    assert trades > 0
    assert users == 30
    # Issue 21: retirement is reconciled too (minted = held + retired, per meter and epoch),
    # and each retired epoch is reported with its certificates.
    retired = re.search(r"retired (\d+) base units in (\d+) certificates, minted = held", out)
    assert retired is not None, out[-3000:]
    assert re.search(r"retired: [\d.]+ kWh of [\d.]+ kWh imported met by tokens", out)
    # Issue 21: every closed epoch's bills against the grid add up (any mismatch fails
    # "balances reconcile" above) and money only changed hands. (The demo's buyers buy
    # more than their meters import in an 8 s epoch: the surplus is a cost in the bill,
    # so its savings may be of either sign.)
    bills = re.search(
        r"bills of (\d+) users over (\d+) closed epochs: grid-only (-?\d+), actual (-?\d+), "
        r"savings (-?\d+) payment base units; market paid (\d+), received (\d+); "
        r"avoided (\d+) mgCO2",
        out,
    )
    assert bills is not None, out[-3000:]
    _, closed, grid_only, actual, savings, paid, received, avoided = map(int, bills.groups())
    assert closed >= 4
    assert grid_only - actual == savings
    assert paid == received > 0
    assert avoided > 0
    accepted = [int(n) for n in re.findall(r"accepted so far (\d+), rejected 0\)", out)]
    assert accepted
    assert accepted[-1] > 0


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("GTX_")}


def test_demo_embedded(tmp_path: Path) -> None:
    out = _run(tmp_path, _clean_env(), extra=("--rpc", "127.0.0.1:0"))
    assert "sqlite:" in out  # nothing configured: SQLite, in-process broker
    assert re.search(r"Solana JSON-RPC: http://127\.0\.0\.1:\d+ .*read-only", out), out[-3000:]
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
