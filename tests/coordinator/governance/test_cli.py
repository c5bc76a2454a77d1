"""`gtx-coordinator params`: the values in force and those scheduled, from the database."""

import datetime as dt
import json
import time
from pathlib import Path

import pytest

from coordinator.cli import main
from coordinator.db.migrate import upgrade
from coordinator.db.session import make_engine
from coordinator.governance import Param, ParamChange, SqlGovernance


def test_params_shows_current_and_scheduled_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'gtx.db'}"
    engine = make_engine(url)
    upgrade(engine)
    now = int(time.time()) // 900
    store = SqlGovernance(engine)
    changes = [
        (Param.TICK, "2000", now - 5, "S1"),
        (Param.TICK, "3000", now + 2, "S2"),
        (Param.EPOCH_LENGTH_S, "300", now + 4, "S3"),
    ]
    for name, value, from_epoch, sig in changes:
        change = ParamChange(
            name=name,
            value=value,
            from_epoch=from_epoch,
            authority="Wallet1",
            issued_at=1,
            signature=sig,
        )
        store.add_param_change(change, "memo", dt.datetime.now(dt.UTC))
    engine.dispose()
    monkeypatch.setenv("GTX_DATABASE_URL", url)
    monkeypatch.setenv("GTX_EPOCH_LENGTH_S", "900")
    monkeypatch.setenv("GTX_LOG_JSON", "false")

    assert main(["params", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    ticks = [(v["value"], v["from_epoch"]) for v in shown["values"] if v["name"] == "tick"]
    assert ticks == [("2000", now - 5), ("3000", now + 2)]
    assert shown["epoch"] == now
    length = [
        (v["value"], v["starts_at"]) for v in shown["values"] if v["name"] == "epoch_length_s"
    ]
    assert length == [("900", None), ("300", (now + 4) * 900)]
    assert main(["params"]) == 0
    span = dt.datetime.fromtimestamp((now + 4) * 900, dt.UTC).strftime("%H:%M:%S")
    assert f"epoch_length_s     300              scheduled from epoch {now + 4} (" in (
        text := capsys.readouterr().out
    )
    assert f"{span}\u2013" in text  # the scheduled epoch's span, 300 s long

    assert main(["params", "--epoch", str(now + 2)]) == 0
    text = capsys.readouterr().out
    assert f"tick               3000             in force  from epoch {now + 2} by Wallet1" in text
    assert "epoch_length_s     900              in force  default\n" in text
    # Numbered by the calendar: from epoch now + 4 on, epochs last 300 s.
    assert main(["params", "--epoch", str(now + 6)]) == 0
    assert f"epoch_length_s     300              in force  from epoch {now + 4}" in (
        capsys.readouterr().out
    )
