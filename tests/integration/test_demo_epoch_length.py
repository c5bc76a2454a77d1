"""The epoch length governed in a running system: while `gridtokenx demo` runs (8 s
epochs, everything embedded), the REC authority's wallet schedules 12 s epochs a few
epochs ahead; the epochs from the boundary on last 12 s and are closed, minted and
cleared, and the demo ends with every epoch and balance reconciled."""

import datetime as dt
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from solders.keypair import Keypair

from tests.utils.demo_process import DemoOutput, answers, call, login, running_demo
from tests.utils.services import wait_until

OLD_S, NEW_S = 8, 12


@pytest.fixture
def rec_authority() -> Keypair:
    return Keypair()


@pytest.fixture
def demo(tmp_path: Path, rec_authority: Keypair) -> Iterator[tuple[subprocess.Popen[str], str]]:
    args = ["--gateways", "1", "--meters-per-gateway", "4", "--epoch-seconds", str(OLD_S),
            "--poll-seconds", "2", "--epochs", "8"]  # fmt: skip
    with running_demo(tmp_path / "demo", rec_authority, args) as running:
        yield running


def _seconds(span: str) -> int:
    """The length of a printed span ``21:15:40–21:16:00``."""
    start, end = (dt.datetime.strptime(t, "%H:%M:%S") for t in span.split("\u2013"))
    return int((end - start).total_seconds()) % 86_400


def test_a_length_change_scheduled_ahead_takes_effect_in_the_running_demo(
    demo: tuple[subprocess.Popen[str], str], rec_authority: Keypair
) -> None:
    proc, api = demo
    assert proc.stdout is not None
    out = DemoOutput(proc.stdout)
    out.until(r"^epoch \d+ \[[^]]*\] closed")
    wait_until(lambda: answers(api + "/health"), timeout=20, what="the API")
    token = login(api, rec_authority)
    current = call(api + "/market/summary")["current_epoch"]
    # Two epochs ahead at least, one more for the time the request takes, and where
    # 12 s epochs start on a multiple of 12 s (8 * N divisible by 12).
    boundary = next(n for n in range(current + 3, current + 6) if n % 3 == 0)
    change = {"name": "epoch_length_s", "value": str(NEW_S), "from_epoch": boundary}
    draft = call(api + "/governance/params/draft", change, token)
    signature = str(rec_authority.sign_message(draft["text"].encode()))
    body = {**change, "issued_at": draft["issued_at"], "signature": signature}
    recorded = call(api + "/governance/params", body, token)
    assert (recorded["applied"], recorded["from_epoch"]) == (True, boundary)

    # Each epoch's market clears at its start (gate closure), it closes after its end.
    lengths: dict[int, int] = {}
    cleared: set[int] = set()
    while boundary + 1 not in lengths or boundary + 1 not in cleared:
        found = out.until(
            r"^(epoch|market for epoch) (\d+) \[([^]]*) UTC\](:)? (closed|\d+ orders)"
        )
        if found[1] == "epoch":
            lengths[int(found[2])] = _seconds(found[3])
        else:
            cleared.add(int(found[2]))
    assert lengths.get(boundary - 1, OLD_S) == OLD_S
    assert (lengths[boundary], lengths[boundary + 1]) == (NEW_S, NEW_S)
    out.until(r"^balances reconcile: ")
    rest, _ = proc.communicate(timeout=120)
    report = "".join(out.seen) + rest
    assert proc.returncode == 0, report[-4000:]
    assert "balances reconcile: yes" in report
    assert "MISMATCH" not in report
    assert re.search(rf"epoch {boundary + 1} .*minted", report) is not None
