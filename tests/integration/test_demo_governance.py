"""The one-process demo survives governance: the REC authority freezes a producer
through the API while `gridtokenx demo` runs (everything embedded), the others are
minted and trade on, the frozen one's energy is withheld and their orders refused,
then minted once thawed; the demo ends with every epoch and balance reconciled."""

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from solders.keypair import Keypair

from demo.campus import campus_plan
from tests.utils.demo_process import DemoOutput, answers, call, login, running_demo
from tests.utils.services import wait_until

_GATEWAYS, _METERS, _SEED = 1, 10, 7


@pytest.fixture
def producer(tmp_path: Path) -> Keypair:
    """The wallet of the demo's first producer, placed before the demo starts."""
    first = next(m for m in campus_plan(_GATEWAYS, _METERS, _SEED) if m.kind == "prosumer")
    key = Keypair()
    wallets = tmp_path / "demo" / "wallets"
    wallets.mkdir(parents=True)
    (wallets / f"{first.meter_id}.json").write_text(bytes(key).hex())
    return key


@pytest.fixture
def rec_authority() -> Keypair:
    return Keypair()


@pytest.fixture
def demo(tmp_path: Path, rec_authority: Keypair) -> Iterator[tuple[subprocess.Popen[str], str]]:
    args = ["--gateways", str(_GATEWAYS), "--meters-per-gateway", str(_METERS),
            "--epoch-seconds", "8", "--poll-seconds", "2", "--epochs", "7"]  # fmt: skip
    with running_demo(tmp_path / "demo", rec_authority, args) as running:
        yield running


def test_the_demo_survives_a_freeze_and_mints_the_withheld_energy_on_thaw(
    demo: tuple[subprocess.Popen[str], str], producer: Keypair, rec_authority: Keypair
) -> None:
    proc, api = demo
    assert proc.stdout is not None
    out = DemoOutput(proc.stdout)
    wallet = str(producer.pubkey())
    out.until(r"^epoch \d+ (\[[^]]*\] )?closed")
    wait_until(lambda: answers(api + "/health"), timeout=20, what="the API")
    token = login(api, rec_authority)
    call(api + "/governance/freeze", {"owner": wallet, "reason": "test"}, token)
    withheld = out.until(rf"withheld [\d.]+ kWh of {wallet[:8]}\.\.\.: account_frozen")
    assert withheld is not None
    call(api + "/governance/thaw", {"owner": wallet, "reason": "test"}, token)
    out.until(r"withheld energy minted \(account thawed\)")
    out.until(r"^balances reconcile: ")
    rest, _ = proc.communicate(timeout=60)
    report = "".join(out.seen) + rest
    assert proc.returncode == 0, report[-4000:]
    assert "balances reconcile: yes" in report
    assert "MISMATCH" not in report
