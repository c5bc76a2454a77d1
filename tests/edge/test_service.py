"""The agent as a field service: systemd notifications over a real unix datagram
socket, the watchdog it feeds (and stops feeding when the poller is wedged),
the unit `gtx-edge install-service` writes, an unexpected error logged with
its cause, and a crash mid-run that loses no reading and reuses no sequence
number."""

import asyncio
import logging
import os
import socket
import sqlite3
import subprocess
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from edge import agent as agent_module
from edge import cli
from edge.agent import GatewayAgent
from edge.config import BrokerConfig, GatewayConfig, MeterConfig, PollingConfig, load_config
from edge.meter_reader import MeterSample, ScriptedMeterReader
from edge.outbox import Builder, Outbox, OutboxEntry
from edge.publisher import MemoryPublisher
from edge.registermap import MeterValues
from edge.service import Notifier, render_unit
from edge.signing import DeviceKey
from tests.utils.services import async_wait_until
from tests.utils.tools import require_tool
from wire import topics
from wire.reading import decode_payload

KEY = DeviceKey.generate()
TOPIC = topics.gateway_readings("t", KEY.gateway_id)


# -- sd_notify over a real socket


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A unix datagram socket standing in for systemd's, and its address."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify"
    sock.bind(str(path))
    sock.setblocking(False)
    yield sock, str(path)
    sock.close()


def _received(sock: socket.socket) -> list[str]:
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except BlockingIOError:
            return out


def test_notify_sends_one_datagram_to_the_socket(
    notify_socket: tuple[socket.socket, str],
) -> None:
    sock, address = notify_socket
    assert Notifier(address).notify("READY=1", "STATUS=polling 2 meters")
    assert _received(sock) == ["READY=1\nSTATUS=polling 2 meters"]


def test_notify_reaches_an_abstract_socket() -> None:
    name = f"gtx-test-{os.getpid()}-{id(object())}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.setblocking(False)
        assert Notifier("@" + name).notify("WATCHDOG=1")
        assert _received(sock) == ["WATCHDOG=1"]


def test_a_lost_notification_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, notify_socket: tuple[socket.socket, str]
) -> None:
    assert not Notifier(str(tmp_path / "nobody-listens")).notify("READY=1")
    assert "not sent" in caplog.text
    # A manager that does not read: its queue fills, and sending never blocks.
    _, address = notify_socket
    sent = [Notifier(address).notify("WATCHDOG=1") for _ in range(1000)]
    assert sent[0]
    assert not sent[-1]


def test_the_environment_systemd_sets_up() -> None:
    assert Notifier.from_environment({}) is None
    assert Notifier.from_environment({"NOTIFY_SOCKET": "relative"}) is None
    plain = Notifier.from_environment({"NOTIFY_SOCKET": "/run/systemd/notify"})
    assert plain is not None
    assert plain.watchdog_s is None
    mine = {"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}
    watched = Notifier.from_environment(mine)
    assert watched is not None
    assert watched.watchdog_s == 30.0
    # The watchdog of another process (a parent's) is not ours to feed.
    other = Notifier.from_environment(mine | {"WATCHDOG_PID": "1"})
    assert other is not None
    assert other.watchdog_s is None


# -- the agent tells systemd it is ready, alive, stopping


def _config(state: Path, **kw: object) -> GatewayConfig:
    meters = tuple(MeterConfig(m, "127.0.0.1", 502, 1, "sdm630", 1000) for m in ("m1", "m2"))
    defaults: dict[str, object] = {
        "broker": BrokerConfig(topic_root="t", reconnect_initial_s=0.001, reconnect_max_s=0.002),
        "polling": PollingConfig(timeout_s=0.05, max_attempts=1),
        "poll_interval_s": 3600,
        "health_interval_s": 3600,
        "shutdown_flush_s": 5,
    }
    defaults.update(kw)
    return GatewayConfig(
        key_file=state / "k.pem", state_file=state / "s.sqlite", meters=meters,
        **defaults,  # type: ignore[arg-type]
    )  # fmt: skip


def _counting_meter() -> Callable[[int], MeterSample]:
    counter = [0]

    def meter(n: int) -> MeterSample:
        counter[0] += 1
        return MeterSample(MeterValues(1000 + counter[0], 0, 0), 1_764_000_000 + counter[0])

    return meter


async def test_ready_then_watchdog_then_stopping(
    tmp_path: Path, notify_socket: tuple[socket.socket, str]
) -> None:
    sock, address = notify_socket
    meter = _counting_meter()
    outbox = Outbox(tmp_path / "s.sqlite")
    agent = GatewayAgent(
        config=_config(tmp_path), key=KEY, reader=ScriptedMeterReader({"m1": meter, "m2": meter}),
        outbox=outbox, connect=MemoryPublisher().connect,
        notifier=Notifier(address, watchdog_s=0.1),
    )  # fmt: skip
    seen: list[str] = []

    def fed(times: int) -> bool:
        seen.extend(_received(sock))
        return seen.count("WATCHDOG=1") >= times

    run = asyncio.create_task(agent.run())
    await async_wait_until(lambda: fed(3), within_s=5, what="three watchdog feeds")
    agent.stop()
    await asyncio.wait_for(run, 5)
    seen.extend(_received(sock))
    outbox.close()
    assert seen[0] == "READY=1\nSTATUS=polling 2 meters"
    stopping = seen.index("STOPPING=1\nSTATUS=flushing the outbox")
    assert set(seen[1:stopping]) == {"WATCHDOG=1"}


async def test_a_wedged_poller_stops_the_watchdog_feed(
    tmp_path: Path,
    notify_socket: tuple[socket.socket, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sock, address = notify_socket
    monkeypatch.setattr(agent_module, "poller_overdue_s", lambda config: 0.3)
    release = asyncio.Event()

    class WedgedReader(ScriptedMeterReader):
        """Ignores the cancellation of a timed-out read: the poll never ends."""

        async def read(self, meter: MeterConfig) -> MeterSample:
            try:
                await release.wait()
            except asyncio.CancelledError:
                await release.wait()  # (the test's teardown releases it)
            return await super().read(meter)

    meter = _counting_meter()
    outbox = Outbox(tmp_path / "s.sqlite")
    agent = GatewayAgent(
        config=_config(tmp_path), key=KEY, reader=WedgedReader({"m1": meter, "m2": meter}),
        outbox=outbox, connect=MemoryPublisher().connect,
        notifier=Notifier(address, watchdog_s=0.05),
    )  # fmt: skip
    run = asyncio.create_task(agent.run())

    def starved() -> bool:
        _received(sock)  # what was fed before
        return "behind its schedule" in caplog.text

    await async_wait_until(starved, within_s=5, what="the watchdog to starve")
    _received(sock)
    await asyncio.sleep(0.2)  # four feeding periods: none may come
    assert "WATCHDOG=1" not in _received(sock)
    release.set()
    agent.stop()
    await asyncio.wait_for(run, 5)
    outbox.close()


# -- a crash mid-run, then a restart: nothing lost, no sequence number reused


class CrashingPublisher(MemoryPublisher):
    """Acknowledges `before` readings, then fails with an error nobody expects."""

    def __init__(self, before: int) -> None:
        super().__init__()
        self.before = before

    async def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        if topic == TOPIC and len([t for t, _ in self.acks if t == TOPIC]) >= self.before:
            raise RuntimeError("injected: a defect in the forwarder")
        await super().publish(topic, payload, retain=retain)


class CrashingOutbox(Outbox):
    """Fails to store a reading, as a full disk would."""

    def add_many(
        self, builds: Sequence[Builder], *, gateway_ts: int | None = None
    ) -> list[OutboxEntry]:
        raise sqlite3.OperationalError("injected: database or disk is full")


@pytest.mark.parametrize("where", ["forwarder", "poller"])
async def test_a_crash_mid_run_loses_nothing_and_reuses_no_sequence_number(
    tmp_path: Path, where: str
) -> None:
    state = tmp_path / "s.sqlite"
    meter = _counting_meter()
    reader = ScriptedMeterReader({"m1": meter, "m2": meter})
    config = _config(tmp_path)

    # First run: readings made while the broker was away, then the crash.
    outbox = Outbox(state)
    down = MemoryPublisher()
    down.up = False
    first = GatewayAgent(config=config, key=KEY, reader=reader, outbox=outbox, connect=down.connect)
    for _ in range(40):  # more than one publish window
        await first.poll_once()
    before = {e.seq: e.payload for e in outbox.pending(1000)}
    outbox.close()
    if where == "forwarder":
        broker: MemoryPublisher = CrashingPublisher(before=30)
        outbox = Outbox(state)
    else:
        broker = MemoryPublisher()
        outbox = CrashingOutbox(state)
    crashing = GatewayAgent(
        config=config, key=KEY, reader=reader, outbox=outbox, connect=broker.connect
    )
    with pytest.raises(BaseExceptionGroup) as crash:
        await asyncio.wait_for(crashing.run(), 10)
    assert crash.group_contains(RuntimeError if where == "forwarder" else sqlite3.OperationalError)
    outbox.close()
    acked_first = {decode_payload(p).reading.seq for t, p in broker.acks if t == TOPIC}
    pending, next_seq = _state(state)
    assert set(before) - acked_first <= set(pending)  # nothing unacknowledged was lost
    assert set(pending) | acked_first == set(range(1, next_seq))  # and every number is kept

    # Restart: the backlog goes out, then new readings continue the sequence.
    outbox = Outbox(state)
    healthy = MemoryPublisher()
    second = GatewayAgent(
        config=config, key=KEY, reader=reader, outbox=outbox, connect=healthy.connect
    )
    run = asyncio.create_task(second.run())  # polls once at start: two new readings
    await async_wait_until(
        lambda: outbox.depth() == 0 and outbox.next_seq() == next_seq + 2,
        what="the backlog and the new poll published",
    )
    second.stop()
    await asyncio.wait_for(run, 5)
    outbox.close()

    published: dict[int, set[bytes]] = {}
    for b in (broker, healthy):
        for t, p in b.acks:
            if t == TOPIC:
                published.setdefault(decode_payload(p).reading.seq, set()).add(p)
    assert set(published) == set(range(1, next_seq + 2))  # every one, no gap
    assert all(len(payloads) == 1 for payloads in published.values())  # one reading a number
    for seq, payload in before.items():
        assert published[seq] == {payload}  # the backlog as it was signed before the crash


def _state(path: Path) -> tuple[list[int], int]:
    db = sqlite3.connect(path)
    try:
        pending = [s for (s,) in db.execute("SELECT seq FROM outbox ORDER BY seq")]
        (next_seq,) = db.execute("SELECT value FROM meta WHERE name = 'next_seq'").fetchone()
    finally:
        db.close()
    return pending, int(next_seq)


# -- an unexpected error is logged with its cause; a config error is not restarted


def _write_config(tmp_path: Path, *, serial: bool = False, state_dir: str | None = None) -> Path:
    if not (tmp_path / "device.pem").exists():
        KEY.save(tmp_path / "device.pem")
    state = state_dir or str(tmp_path / "state")
    lines = [
        f'key_file = "{tmp_path / "device.pem"}"',
        f'state_file = "{state}/state.sqlite"',
        "[[meters]]",
        'meter_id = "m1"',
        'host = "10.0.0.5"',
        "rated_power_w = 63000",
    ]
    if serial:
        lines += ["[[meters]]", 'meter_id = "m2"', 'transport = "serial"']
        lines += ['device = "/dev/ttyUSB0"', "rated_power_w = 6000"]
    path = tmp_path / "gateway.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_an_unexpected_error_is_logged_with_its_cause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def crash(config: GatewayConfig) -> None:
        try:
            raise OSError(5, "Input/output error")
        except OSError as exc:
            raise RuntimeError("injected: the state file went away") from exc

    monkeypatch.setattr(cli, "run_gateway", crash)
    assert cli.main(["run", "--config", str(_write_config(tmp_path))]) == 1
    (record,) = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert record.getMessage() == "gtx-edge stopped by an unexpected error"
    text = logging.Formatter().format(record)
    assert "RuntimeError: injected: the state file went away" in text
    assert "OSError: [Errno 5] Input/output error" in text  # the cause
    assert "direct cause" in text


def test_a_config_error_exits_2_which_the_unit_does_not_restart(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('key_file = "k.pem"\n')
    assert cli.main(["run", "--config", str(config)]) == 2
    unit = render_unit(load_config(_write_config(tmp_path)), config, exec_start=["/x/gtx-edge"])
    assert "RestartPreventExitStatus=2\n" in unit


# -- the unit


def _unit_lines(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            out.setdefault(key, []).append(value)
    return out


def test_the_unit_restarts_watches_and_confines_the_agent(tmp_path: Path) -> None:
    config_path = _write_config(tmp_path, state_dir="/var/lib/gtx")
    unit = _unit_lines(
        render_unit(load_config(config_path), config_path, exec_start=["/opt/gtx/bin/gtx-edge"])
    )
    assert unit["ExecStart"] == [f"/opt/gtx/bin/gtx-edge run --config {config_path}"]
    expected = {
        "Type": "notify", "Restart": "always", "WatchdogSec": "60", "User": "gtx",
        "Group": "gtx", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
        "PrivateTmp": "yes", "PrivateDevices": "yes", "StateDirectory": "gtx",
        "StartLimitIntervalSec": "0", "CapabilityBoundingSet": "",
    }  # fmt: skip
    for key, value in expected.items():
        assert unit[key] == [value], key
    assert "ReadWritePaths" not in unit  # systemd's StateDirectory is writable


def test_the_unit_for_serial_meters_and_state_elsewhere(tmp_path: Path) -> None:
    config_path = _write_config(tmp_path, serial=True, state_dir=str(tmp_path / "my state%"))
    unit = _unit_lines(
        render_unit(load_config(config_path), config_path, exec_start=["/opt/gtx/bin/gtx-edge"])
    )
    assert unit["DeviceAllow"] == ["/dev/ttyUSB0 rw"]
    assert unit["SupplementaryGroups"] == ["dialout"]
    assert "PrivateDevices" not in unit
    assert unit["ReadWritePaths"] == [f'"{tmp_path}/my state%%"']  # quoted, % escaped


def test_install_service_writes_a_unit_systemd_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path = _write_config(tmp_path)
    units = tmp_path / "units"
    assert (
        cli.main(["install-service", "--config", str(config_path), "--unit-dir", str(units)]) == 0
    )
    unit = units / "gtx-edge.service"
    assert unit.stat().st_mode & 0o777 == 0o644
    out = capsys.readouterr().out
    assert f"wrote {unit}" in out
    assert "systemctl enable --now gtx-edge" in out
    assert cli.main(["install-service", "--config", str(config_path), "--stdout"]) == 0
    assert capsys.readouterr().out == unit.read_text()

    analyze = require_tool("systemd-analyze", "checks the unit gtx-edge install-service writes")
    verify = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, check=False
    )
    assert verify.returncode == 0, verify.stderr
    assert verify.stderr == "", verify.stderr
    # Exposure (0 best .. 10 worst) at most 2.0, systemd's "OK" band.
    security = subprocess.run(
        [analyze, "security", "--offline=true", "--threshold=20", str(unit)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert security.returncode == 0, security.stdout


def test_install_service_refuses_a_bad_config_and_an_unwritable_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("meters = []\n")
    assert cli.main(["install-service", "--config", str(bad), "--unit-dir", str(tmp_path)]) == 2
    blocked = tmp_path / "file"
    blocked.write_text("")
    config_path = _write_config(tmp_path)
    args = ["install-service", "--config", str(config_path), "--unit-dir", str(blocked / "x")]
    assert cli.main(args) == 2
    assert "cannot write the unit" in capsys.readouterr().err
