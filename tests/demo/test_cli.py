"""`gridtokenx demo` as a newcomer meets it, run as a subprocess: what it prints at
start (broker address, the exact monitor command, how to sign in, why the market
runs ahead of the close), no WARNING noise, a busy port as one line, and SIGINT or
SIGTERM stopping the whole demo in every launch mode, background launch included."""

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

EXE = Path(sys.executable).with_name("gridtokenx")
ARGS = ["demo", "--gateways", "1", "--meters-per-gateway", "2", "--epoch-seconds", "6",
        "--poll-seconds", "2"]  # fmt: skip
START_S = 90  # a start on a busy 2-core machine


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("GTX_")}


class _Demo:
    """A running demo whose stdout lines arrive on a queue as they are printed."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float = START_S) -> re.Match[str]:
        """The first line (from here on) matching `pattern`, as it is printed."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                pytest.fail(f"no line matching {pattern!r} within {timeout} s:\n" + self.out())
            if line is None:
                pytest.fail(f"demo ended before {pattern!r}:\n{self.out()}\n{self.err()}")
            self.lines.append(line)
            found = re.search(pattern, line)
            if found:
                return found

    def rest(self, timeout: float) -> int:
        """Wait for the exit; the exit code, every line read."""
        code = self.process.wait(timeout=timeout)
        while (line := self._queue.get(timeout=5)) is not None:
            self.lines.append(line)
        return code

    def out(self) -> str:
        return "\n".join(self.lines)

    def err(self) -> str:
        assert self.process.stderr is not None
        return self.process.stderr.read() if self.process.poll() is not None else ""


@contextmanager
def _demo(workdir: Path, *extra: str, preexec: Callable[[], None] | None = None) -> Iterator[_Demo]:
    process = subprocess.Popen(
        [str(EXE), *ARGS, "--workdir", str(workdir), *extra],
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=preexec,  # noqa: PLW1509 - only a signal disposition, no threads yet
    )  # fmt: skip
    try:
        yield _Demo(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def _until(predicate: Callable[[], bool], within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def _ignore_sigint() -> None:
    # What a shell does for `gridtokenx demo &` without job control.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize(
    ("signum", "preexec"),
    [(signal.SIGINT, None), (signal.SIGINT, _ignore_sigint), (signal.SIGTERM, None)],
    ids=["ctrl-c", "sigint-background-launch", "sigterm"],
)
def test_a_signal_stops_the_whole_demo(
    tmp_path: Path, signum: int, preexec: Callable[[], None] | None
) -> None:
    """Issue 18: launched with SIGINT ignored, a SIGINT stopped only the API; epochs
    and trading went on and a second SIGINT was ignored."""
    with _demo(tmp_path, "--api-port", "0", preexec=preexec) as demo:
        port = demo.wait_for(r"^dashboard: http://127\.0\.0\.1:(\d+)/$").group(1)
        demo.wait_for(r"Ctrl-C stops$")
        _until(lambda: _answers(f"http://127.0.0.1:{port}/api/v1/health"), START_S, "the API")
        demo.wait_for(r"^market for epoch \d+ \[")  # the chain worker and traders run
        demo.process.send_signal(signum)
        code = demo.rest(timeout=60)
        err = demo.err()
    assert code == 0, err
    assert demo.lines[-1] == "stopped", demo.out()
    assert "Traceback" not in err
    assert not [line for line in err.splitlines() if " WARNING " in line], err


def test_start_says_where_the_broker_is_and_how_to_watch_it(tmp_path: Path) -> None:
    with _demo(tmp_path, "--api-port", "0") as demo:
        broker = demo.wait_for(r"^broker: 127\.0\.0\.1:(\d+) \(embedded, in this process\)")
        command = demo.wait_for(r"^  (GTX_MQTT_HOST=\S+ GTX_MQTT_PORT=(\d+) GTX_TOPIC_ROOT=gtx "
                                r"\S*gtx-coordinator monitor)$")  # fmt: skip
        assert command.group(2) == broker.group(1)
        demo.wait_for(r'sign in as "operator" \(admin and REC authority\); API: Authorization')
        demo.wait_for(r"^market: each epoch's call auction clears when the epoch starts")
        demo.wait_for(r"^users placed \d+ orders for epoch \d+ \[\d\d:\d\d:\d\d\u2013")
        # The printed command, as printed, shows this demo's gateways.
        watched = subprocess.run(
            ["/bin/sh", "-c", command.group(1) + " --once --json"], env=_env(),
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        demo.process.send_signal(signal.SIGTERM)
        assert demo.rest(timeout=60) == 0
    assert watched.returncode == 0, watched.stderr
    assert '"gateways": {"' in watched.stdout
    assert (tmp_path / "admin-token").stat().st_mode & 0o777 == 0o600


def test_a_busy_dashboard_port_is_one_line(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        result = subprocess.run(
            [str(EXE), *ARGS, "--workdir", str(tmp_path), "--api-port", str(port)], env=_env(),
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: cannot serve the dashboard on 127.0.0.1:{port}: Address already in use "
        "(choose another port with --api-port, 0 for any free one)"
    ]
