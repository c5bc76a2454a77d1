"""Refusals read from Mosquitto 2.0's log (lines as the broker writes them)."""

import io

from coordinator.ops.broker_audit import (
    LOGIN,
    PUBLISH,
    SUBSCRIBE,
    BrokerAudit,
    Refusal,
    audit_lines,
    run_audit,
)

LOG = """\
1700000000: New connection from 127.0.0.1:45326 on port 8883.
1700000000: New client connected from 127.0.0.1:45326 as gtx-gw-B (p5, c1, k60, u'B').
1700000000: Sending CONNACK to gtx-gw-B (0, 0)
1700000000: Received SUBSCRIBE from gtx-gw-B
1700000000: \t# (QoS 1)
1700000000: \tgtx/v1/gw/B/cmd (QoS 1)
1700000000: \t$share/coordinator/gtx/v1/gw/+/readings (QoS 1)
1700000000: Sending PUBLISH to gtx-gw-B (d0, q1, r1, m1, 'gtx/v1/gw/B/cmd', ... (2 bytes))
1700000000: gtx-gw-B 1 gtx/v1/gw/B/cmd
1700000000: Sending SUBACK to gtx-gw-B
1700000001: Received PUBLISH from gtx-gw-B (d0, q1, r1, m2, 'gtx/v1/coord/stats', ... (6 bytes))
1700000001: Denied PUBLISH from gtx-gw-B (d0, q1, r1, m2, 'gtx/v1/coord/stats', ... (6 bytes))
1700000001: Sending PUBACK to gtx-gw-B (m2, rc135)
1700000002: New connection from 10.0.0.9:50000 on port 8883.
1700000002: Sending CONNACK to 10.0.0.9 (0, 135)
1700000002: Client <unknown> disconnected, not authorised.
1700000003: Saving in-memory database to /mosquitto/data//mosquitto.db.
"""


def test_refusals_of_each_kind_are_found() -> None:
    refusals = [r for _, rs in audit_lines(LOG.splitlines()) for r in rs]
    assert refusals == [
        Refusal(SUBSCRIBE, "gtx-gw-B", "#", 1700000000),
        Refusal(SUBSCRIBE, "gtx-gw-B", "$share/coordinator/gtx/v1/gw/+/readings", 1700000000),
        Refusal(PUBLISH, "gtx-gw-B", "gtx/v1/coord/stats", 1700000001),
        Refusal(LOGIN, "10.0.0.9", "code 135", 1700000002),
    ]


def test_chatter_is_dropped_and_the_rest_passed_on() -> None:
    kept = [line for line, _ in audit_lines(LOG.splitlines()) if line is not None]
    assert kept == [
        "1700000000: New connection from 127.0.0.1:45326 on port 8883.",
        "1700000000: New client connected from 127.0.0.1:45326 as gtx-gw-B (p5, c1, k60, u'B').",
        "1700000001: Denied PUBLISH from gtx-gw-B (d0, q1, r1, m2, 'gtx/v1/coord/stats', "
        "... (6 bytes))",
        "1700000002: New connection from 10.0.0.9:50000 on port 8883.",
        "1700000002: Sending CONNACK to 10.0.0.9 (0, 135)",
        "1700000002: Client <unknown> disconnected, not authorised.",
    ]


def test_a_subscribe_wholly_granted_is_no_refusal() -> None:
    audit = BrokerAudit()
    lines = [
        "Received SUBSCRIBE from c 1",
        "\ta/b (QoS 0)",
        "c 1 0 a/b",
        "Sending SUBACK to c 1",
    ]
    assert [r for line in lines for r in audit.feed(line)[1]] == []


def test_run_audit_counts_and_keeps_output_printable() -> None:
    out = io.StringIO()
    lines = [*LOG.splitlines(), "1700000004: odd \x1b[31m line"]
    assert run_audit(lines, out) == 4
    assert "\x1b" not in out.getvalue()
    assert "odd \\x1b[31m line" in out.getvalue()
