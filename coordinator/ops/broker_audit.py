"""`gtx-coordinator broker-audit`: the broker's refusals, for operators.

Mosquitto 2.0 logs a refused login at notice level ("Client <unknown>
disconnected, not authorised.") and, in its debug stream, the refusing CONNACK
with the client's address ("Sending CONNACK to 10.0.0.7 (0, 135)"); a refused
PUBLISH only in the debug stream ("Denied
PUBLISH from X (..., 'topic', ...)") and a refused SUBSCRIBE not at all: the
debug stream shows the filters a SUBSCRIBE asked for ("\\t<filter> (QoS n)"),
and `log_type subscribe` adds a line "<client> <qos> <filter>" for each one
granted, before "Sending SUBACK to <client>". A filter asked for and not
granted was refused. mosquitto/production.conf therefore logs everything
(`log_type all`) to stderr (unbuffered: Mosquitto's stdout is block-buffered in
a pipe), and this filter reads that stream:

    mosquitto -c production.conf 2>&1 | gtx-coordinator broker-audit
    docker compose logs -f --no-log-prefix mosquitto | gtx-coordinator broker-audit

It passes the broker's own lines through except the per-message debug chatter,
logs one line per refusal (kind, client id, topic) and counts them in the
Prometheus counter ``gtx_broker_refusals_total{kind}`` (kind: login,
subscribe, publish) on GTX_METRICS_PORT. `BrokerAudit.feed` is pure.
"""

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TextIO

from prometheus_client import Counter

from wire.text import printable

__all__ = [
    "LOGIN",
    "PUBLISH",
    "REFUSALS",
    "SUBSCRIBE",
    "BrokerAudit",
    "Refusal",
    "audit_lines",
    "run_audit",
]

log = logging.getLogger(__name__)

REFUSALS = Counter(
    "gtx_broker_refusals",
    "Logins, subscriptions and publishes the MQTT broker refused (from its log)",
    ["kind"],
)

LOGIN = "login"
SUBSCRIBE = "subscribe"
PUBLISH = "publish"

# "1700000000: " (log_timestamp true, the default format).
_STAMP = re.compile(r"^(\d+): ")
_DENIED_PUBLISH = re.compile(
    r"^Denied PUBLISH from (.*) \(d\d, q\d, r\d, m\d+, '(.*)', \.\.\. \(\d+ bytes\)\)$"
)
# A CONNACK with a non-zero code refuses the login; before a login succeeds the
# broker names the client by its address.
_CONNACK = re.compile(r"^Sending CONNACK to (.*) \(\d, (\d+)\)$")
_REQUESTED = re.compile(r"^\t(.*) \(QoS \d\)$")
# Per-message and per-packet lines of the debug stream, dropped from the output.
_CHATTER = (
    "Received PUBLISH from ",
    "Received PUBACK from ",
    "Received PUBREC from ",
    "Received PUBREL from ",
    "Received PUBCOMP from ",
    "Received PINGREQ from ",
    "Sending PUBLISH to ",
    "Sending PUBACK to ",
    "Sending PUBREC to ",
    "Sending PUBREL to ",
    "Sending PUBCOMP to ",
    "Sending PINGRESP to ",
    "Saving in-memory database to ",
)


@dataclass(frozen=True, slots=True)
class Refusal:
    kind: str  # LOGIN | SUBSCRIBE | PUBLISH
    client_id: str  # for a refused login, the client's address
    topic: str = ""  # for a refused login, the CONNACK code
    ts: int | None = None  # the broker's timestamp, when the line had one

    def describe(self) -> str:
        if self.kind == LOGIN:
            return f"broker refused a login from {self.client_id} (CONNACK {self.topic})"
        return f"broker refused {self.kind} {self.topic!r} by client {self.client_id!r}"


@dataclass
class BrokerAudit:
    """Feed the broker's log lines in order; get the refusals they show."""

    _subscriber: str | None = None
    _requested: list[str] = field(default_factory=list)
    _granted: set[str] = field(default_factory=set)

    def feed(self, line: str) -> tuple[bool, list[Refusal]]:
        """(whether to pass the line on, refusals it completes)."""
        raw = line.rstrip("\r\n")
        stamp = _STAMP.match(raw)
        ts = int(stamp.group(1)) if stamp else None
        text = raw[stamp.end() :] if stamp else raw
        if self._subscriber is not None:
            refusals = self._in_subscribe(text, ts)
            if refusals is not None:
                return False, refusals
        if text.startswith("Received SUBSCRIBE from "):
            self._subscriber = text[len("Received SUBSCRIBE from ") :]
            self._requested, self._granted = [], set()
            return False, []
        denied = _DENIED_PUBLISH.match(text)
        if denied:
            return True, [Refusal(PUBLISH, denied.group(1), denied.group(2), ts)]
        connack = _CONNACK.match(text)
        if connack:
            if connack.group(2) == "0":
                return False, []
            return True, [Refusal(LOGIN, connack.group(1), f"code {connack.group(2)}", ts)]
        return not text.startswith(_CHATTER), []

    def _in_subscribe(self, text: str, ts: int | None) -> list[Refusal] | None:
        """Inside a SUBSCRIBE's lines: None when `text` is not one of them."""
        client = self._subscriber
        assert client is not None
        requested = _REQUESTED.match(text)
        if requested:
            self._requested.append(requested.group(1))
            return []
        prefix = client + " "
        if text.startswith(prefix):
            qos, _, granted = text[len(prefix) :].partition(" ")
            if qos.isdigit() and granted in self._requested:
                self._granted.add(granted)
                return []
        if text == "Sending SUBACK to " + client:
            self._subscriber = None
            refused = [f for f in self._requested if f not in self._granted]
            return [Refusal(SUBSCRIBE, client, f, ts) for f in refused]
        return None


def audit_lines(lines: Iterable[str]) -> Iterator[tuple[str | None, list[Refusal]]]:
    """For each line: (the line to pass on or None, the refusals it shows)."""
    audit = BrokerAudit()
    for line in lines:
        keep, refusals = audit.feed(line)
        yield (line.rstrip("\r\n") if keep else None), refusals


def run_audit(lines: Iterable[str], out: TextIO) -> int:
    """Pass the broker's lines on to `out` (made printable), log and count each
    refusal; returns how many there were."""
    count = 0
    for line, refusals in audit_lines(lines):
        if line is not None:
            print(printable(line), file=out, flush=True)
        for refusal in refusals:
            count += 1
            REFUSALS.labels(refusal.kind).inc()
            log.warning(printable(refusal.describe()))
    return count
