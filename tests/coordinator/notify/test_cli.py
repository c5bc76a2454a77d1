"""`gtx-coordinator notify status | retry`: what an operator sees of the outbox."""

import datetime as dt
from pathlib import Path

import pytest

from coordinator.cli import main
from coordinator.db.migrate import upgrade
from coordinator.db.session import make_engine
from coordinator.notify.events import KINDS, Event, Kind, plan
from coordinator.notify.store import SqlNotifyStore

USER = "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU"


def test_status_shows_the_backlog_and_the_parked_with_their_error_and_retry_requeues(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/gtx.sqlite"
    engine = make_engine(url)
    upgrade(engine)
    store = SqlNotifyStore(engine)
    now = dt.datetime.now(dt.UTC)
    store.save_subscription(USER, None, "https://93.184.216.34/h", KINDS, now)
    stored = store.subscription(USER)
    assert stored is not None
    for i in range(2):
        store.enqueue_now(plan(Event(Kind.TEST, f"t{i}", USER, 0), stored.subscription), now)
    (first, _) = store.claim(now, 60, 2)
    store.failed(first.id, "webhook answered HTTP 410: 'gone'", None)
    engine.dispose()
    for name in ("GTX_REDIS_URL", "GTX_LOG_JSON"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GTX_DATABASE_URL", url)

    assert main(["notify", "status"]) == 0
    out = capsys.readouterr().out
    assert "deliveries: pending 1, delivered 0, parked 1, dropped 0" in out
    assert f"parked {first.delivery.key} webhook test t0 user {USER} after 1 attempts: " in out
    assert "HTTP 410" in out

    assert main(["notify", "retry", "--user", USER]) == 0
    assert "1 parked deliveries put back" in capsys.readouterr().out
    assert main(["notify", "status"]) == 0
    assert "pending 2" in capsys.readouterr().out
