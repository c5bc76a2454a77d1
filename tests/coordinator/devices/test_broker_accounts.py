"""Mosquitto password hashes, password file and ACL rendering."""

import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator.devices.broker_accounts import (
    PasswordFileBroker,
    check_password,
    mosquitto_hash,
    render_acl,
    render_password_file,
)
from coordinator.errors import BrokerError, ConfigError
from tests.utils.tools import require_tool

REPO = Path(__file__).resolve().parents[3]


@settings(max_examples=25)
@given(st.text(min_size=1, max_size=40))
def test_hash_round_trips(password: str) -> None:
    hashed = mosquitto_hash(password)
    assert hashed.startswith("$7$101$")
    assert check_password(password, hashed)
    assert not check_password(password + "x", hashed)


def test_hash_matches_what_mosquitto_passwd_writes(tmp_path: Path) -> None:
    exe = require_tool("mosquitto_passwd", "to check our hashes against Mosquitto's")
    subprocess.run([exe, "-c", "-b", str(tmp_path / "pw"), "alice", "s3cret"], check=True)
    hashed = (tmp_path / "pw").read_text().strip().split(":", 1)[1]
    assert check_password("s3cret", hashed)
    assert not check_password("other", hashed)


def test_password_file_puts_static_accounts_first_and_refuses_bad_names() -> None:
    text = render_password_file({"b": "$7$h2", "a": "$7$h1"}, static="coordinator:$7$c\n")
    assert text == "coordinator:$7$c\na:$7$h1\nb:$7$h2\n"
    for bad in ("a:b", "a/b", "a+", "#", ""):
        with pytest.raises(ConfigError):
            render_password_file({bad: "$7$x"})


def test_checked_in_acl_is_the_rendered_one() -> None:
    assert (REPO / "mosquitto" / "acl.conf").read_text() == render_acl()


def test_sync_writes_file_and_reports_a_missing_broker(tmp_path: Path) -> None:
    broker = PasswordFileBroker(tmp_path / "passwd", pid_file=tmp_path / "missing.pid")
    with pytest.raises(BrokerError, match="reload"):
        broker.sync({"gw": "$7$x"})
    assert (tmp_path / "passwd").read_text() == "gw:$7$x\n"
    assert (tmp_path / "passwd").stat().st_mode & 0o777 == 0o640
