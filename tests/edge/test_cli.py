"""`gtx-edge status`: what the installer sees, with no control sequence from a meter."""

from pathlib import Path

from edge.cli import status_text
from edge.config import parse_config
from edge.outbox import Outbox
from wire.health import HealthReport, MeterHealth, encode_health


def test_status_prints_saved_health_inert(tmp_path: Path) -> None:
    raw = {
        "key_file": "device.pem",
        "state_file": "state.sqlite",
        "meters": [{"meter_id": "m1", "host": "10.0.0.5", "rated_power_w": 1000}],
    }
    config = parse_config(raw, base=tmp_path)
    outbox = Outbox(config.state_file)
    # Meter ids are checked by the config; an error text is whatever the device said.
    polled = MeterHealth("m1", {"timeout": 1}, "timeout", "\x1b[31mno answer\x1b]0;pwned\x07")
    health = HealthReport("gw", 60, 10, True, 3, 4, 0, 100, 0, 1, (polled,))
    outbox.save_health(encode_health(health))
    outbox.close()

    text = status_text(config)
    assert "meter m1: timeout (\\x1b[31mno answer\\x1b]0;pwned\\x07)" in text
    assert all(line.isprintable() for line in text.splitlines())
