"""The operator monitor: its view fed message by message, and live against Mosquitto."""

import asyncio
import contextlib
import io
import json
import socket
import struct

import aiomqtt
import pytest

from coordinator.ops.monitor import (
    KEEP_EPOCHS,
    MonitorView,
    TopicKind,
    classify_topic,
    render_json,
    render_text,
    run_monitor,
)
from edge.publisher import status_payload
from edge.signing import DeviceKey
from tests.utils.services import MQTT_HOST, MQTT_PORT, async_wait_until
from wire import topics
from wire.alerts import Alert, AlertEvent, AlertKind, IngestCounts, encode_alert, encode_stats
from wire.controls import ControlsReport, PausedScope, encode_controls
from wire.health import HealthReport, MeterHealth, encode_health
from wire.reading import Reading, encode_payload

ROOT = "r"


def _reading(key: DeviceKey, seq: int, ts: int, meter: str = "m1") -> bytes:
    return encode_payload(key.sign(Reading(key.gateway_id, meter, seq, ts, 10 * seq, seq)))


def _clearing(epoch: int, price: int | None) -> bytes:
    result = {"clearing_price": price, "volume": 5, "turnover": 7, "matches": [[1], [2]],
              "orders": [[1], [2], [3]], "pricing": "uniform"}  # fmt: skip
    return json.dumps({"epoch": epoch, "inputs": {}, "inputs_hash": "a", "result": result,
                       "result_hash": "b", "v": 1}).encode()  # fmt: skip


def test_classify_topic() -> None:
    assert classify_topic(ROOT, topics.gateway_readings(ROOT, "G")) == (TopicKind.READINGS, "G")
    assert classify_topic(ROOT, topics.gateway_status(ROOT, "G")) == (TopicKind.STATUS, "G")
    assert classify_topic(ROOT, topics.gateway_health(ROOT, "G")) == (TopicKind.HEALTH, "G")
    assert classify_topic(ROOT, topics.epoch_summary(ROOT, 12)) == (TopicKind.EPOCH, "12")
    assert classify_topic(ROOT, topics.epoch_clearing(ROOT, 12)) == (TopicKind.CLEARING, "12")
    assert classify_topic(ROOT, topics.alerts(ROOT)) == (TopicKind.ALERTS, "")
    assert classify_topic(ROOT, topics.coordinator_stats(ROOT)) == (TopicKind.STATS, "")
    assert classify_topic(ROOT, "other/v1/coord/alerts") is None
    assert classify_topic(ROOT, "r/v1/gw/G/x") is None
    assert classify_topic(ROOT, "r/v1/coord/epochs/x") is None


def test_readings_rate_interval_and_silence() -> None:
    key = DeviceKey.generate()
    view = MonitorView(ROOT)
    topic = topics.gateway_readings(ROOT, key.gateway_id)
    for i in range(4):
        view.feed(topic, _reading(key, i, 1000 + 60 * i), now=100.0 + i)
    gw = view.gateways[key.gateway_id]
    assert gw.readings == 4
    assert gw.rate_per_min(104.0) == 4.0
    assert gw.rate_per_min(161.5) == 2.0  # two arrivals left the 60 s window
    assert gw.poll_interval_s() == 60
    assert not gw.silent(103.0 + 120)
    assert gw.silent(103.0 + 121)
    assert "SILENT" in render_text(view, 103.0 + 121)


def test_status_health_epochs_clearings_alerts_stats() -> None:
    view = MonitorView(ROOT)
    view.feed(topics.gateway_status(ROOT, "G"), status_payload("online", 50), now=1.0)
    assert view.gateways["G"].state == "online"
    view.feed(topics.gateway_status(ROOT, "G"), status_payload("offline"), now=2.0)
    assert view.gateways["G"].state == "offline"
    health = HealthReport("G", 60, 10, False, 3, 4, 2, 100, 1, 4,
                          (MeterHealth("m1", {"timeout": 1}, "timeout", "no answer"),))  # fmt: skip
    view.feed(topics.gateway_health(ROOT, "G"), encode_health(health), now=3.0)
    for e in range(10, 10 + KEEP_EPOCHS + 2):
        summary = {"epoch": e, "readings": 3, "total_export_wh": 40, "total_import_wh": 1,
                   "mint_base_units": 4 * 10**7}  # fmt: skip
        view.feed(topics.epoch_summary(ROOT, e), json.dumps(summary).encode(), now=4.0)
    view.feed(topics.epoch_clearing(ROOT, 16), _clearing(16, 120), now=5.0)
    spike = Alert(AlertKind.REJECTION_SPIKE, "rejection_spike", "warning", "spike!", {})
    view.feed(topics.alerts(ROOT), encode_alert(AlertEvent(spike, "firing", 6)), now=6.0)
    for instance, n in (("a", 2), ("b", 3)):
        stats = IngestCounts(instance, 7, 0, 10, {"bad_signature": n, "unknown_device": 1})
        view.feed(topics.coordinator_stats(ROOT), encode_stats(stats), now=7.0)
    view.feed(topics.alerts(ROOT), b"not json", now=8.0)

    snap = render_json(view, 10.0)
    gw = snap["gateways"]["G"]
    assert gw["state"] == "offline"
    assert gw["health"]["broker_connected"] is False
    assert gw["health"]["meters"] == {"m1": {"last_outcome": "timeout", "missed_polls": 0}}
    assert list(snap["epochs"]) == [str(e) for e in range(12, 12 + KEEP_EPOCHS)]
    assert snap["clearings"]["16"]["clearing_price"] == 120
    assert snap["clearings"]["16"]["matches"] == 2
    assert [a["key"] for a in snap["active_alerts"]] == ["rejection_spike"]
    assert snap["ingest"] == {
        "accepted": 20,
        "instances": ["a", "b"],
        "rejected_by_reason": {"bad_signature": 5, "unknown_device": 2},
    }
    assert snap["undecodable"] == 1

    text = render_text(view, 10.0)
    assert "OFFLINE" in text
    assert "BROKER-DOWN" in text
    assert "meters failing: m1" in text
    assert "price 0.000 credits/kWh" in text  # 120 base units of a 6-decimal mint
    assert "bad_signature" in text
    assert "spike!" in text

    view.feed(topics.alerts(ROOT), encode_alert(AlertEvent(spike, "resolved", 9)), now=9.0)
    assert render_json(view, 10.0)["active_alerts"] == []


def test_amounts_in_kwh_and_credits_and_epochs_with_their_utc_span() -> None:
    """Issue 18: the monitor printed base units (mint 40000000, price 137000) and bare
    epoch ids; people read kWh, credits and times."""
    view = MonitorView(ROOT, broker="127.0.0.1:1883")
    assert "no GridTokenX messages under r/v1/# yet" in render_text(view, 0.0)
    epoch = 89_820_992  # 20 s epochs: 2026-12-04 21:30:40-21:31:00 UTC
    summary = {"epoch": epoch, "start": epoch * 20, "length_s": 20, "readings": 3,
               "total_export_wh": 1250, "total_import_wh": 40,
               "mint_base_units": 1250 * 10**6}  # fmt: skip
    view.feed(topics.epoch_summary(ROOT, epoch), json.dumps(summary).encode(), now=1.0)
    result = {"clearing_price": 137_000, "volume": 2_500_000_000, "turnover": 342_500,
              "matches": [[1]], "orders": [[1], [2]], "pricing": "uniform"}  # fmt: skip
    body = {"epoch": epoch + 1, "inputs": {}, "inputs_hash": "a", "result": result,
            "result_hash": "b", "v": 1}  # fmt: skip
    view.feed(topics.epoch_clearing(ROOT, epoch + 1), json.dumps(body).encode(), now=2.0)

    text = render_text(view, 3.0)
    assert "broker=127.0.0.1:1883" in text
    assert "no GridTokenX messages" not in text
    assert (f"  {epoch} [21:30:40\u201321:31:00 UTC]  readings 3  export 1.250 kWh  "
            "import 0.040 kWh  minted 1.250 kWh") in text  # fmt: skip
    assert (f"  {epoch + 1} [21:31:00\u201321:31:20 UTC]  price 0.137 credits/kWh  "
            "volume 2.500 kWh  paid 0.343 credits  matches 1 of 2 orders") in text  # fmt: skip
    clearing = render_json(view, 3.0)["clearings"][str(epoch + 1)]
    assert clearing["clearing_price"] == 137_000  # base units stay for scripts
    assert (clearing["clearing_price_credits_per_kwh"], clearing["volume_kwh"],
            clearing["turnover_credits"]) == (0.137, 2.5, 0.3425)  # fmt: skip


def test_gateway_supplied_escapes_reach_the_terminal_inert() -> None:
    """Issue 16: a retained status carrying ANSI and OSC sequences is shown escaped."""
    view = MonitorView(ROOT)
    hostile = b'{"state":"\\u001b[31mONLINE\\u001b]0;pwned\\u0007"}'
    view.feed(topics.gateway_status(ROOT, "G\x1b[2J"), hostile, now=1.0)
    meter = MeterHealth("m\x1b]0;x\x07", {"timeout": 1}, "timeout", "t")
    health = HealthReport("G\x1b[2J", 60, 10, False, 3, 4, 2, 100, 1, 4, (meter,))
    view.feed(topics.gateway_health(ROOT, "G\x1b[2J"), encode_health(health), now=2.0)
    spike = Alert(AlertKind.REJECTION_SPIKE, "k", "warning", "line\nfake line\x1b[0m", {})
    view.feed(topics.alerts(ROOT), encode_alert(AlertEvent(spike, "firing", 3)), now=3.0)

    text = render_text(view, 10.0)
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "\\x1b[31MONLINE\\x1b]0;PWNED\\x07" in text  # the state, upper-cased, visible
    assert "G\\x1b[2J" in text
    assert "meters failing: m\\x1b]0;x\\x07" in text
    assert "line\\x0afake line\\x1b[0m" in text  # one line, as sent
    assert all(line.isprintable() for line in text.splitlines())
    # JSON escapes on its own: the snapshot is plain ASCII.
    assert json.dumps(render_json(view, 10.0), sort_keys=True).isascii()


def test_the_monitor_shows_the_emergency_controls() -> None:
    view = MonitorView(ROOT)
    scopes = ("clearing", "minting", "orders", "settlement")
    paused = {"clearing": PausedScope(1_767_225_600, 1_963_584, "Wallet1", "meter fraud")}
    report = ControlsReport(scopes, paused, 1)
    view.feed(topics.market_controls(ROOT), encode_controls(report), now=1.0)
    assert render_json(view, 2.0)["paused"] == ["clearing"]
    text = render_text(view, 2.0)
    assert "MARKET PAUSED\n  clearing    paused since 2026-01-01 00:00 UTC (epoch 1963584)" in text
    assert "by Wallet1: meter fraud" in text
    everything = ControlsReport(scopes, {s: paused["clearing"] for s in scopes}, 2)
    view.feed(topics.market_controls(ROOT), encode_controls(everything), now=3.0)
    assert "MAINTENANCE" in render_text(view, 4.0)
    view.feed(topics.market_controls(ROOT), encode_controls(ControlsReport(scopes, {}, 3)), now=5.0)
    assert "PAUSED" not in render_text(view, 6.0)


# --- live, against Mosquitto ---------------------------------------------------------------


def _mqtt_str(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def _remaining(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _packet(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + _remaining(len(body)) + body


def _dying_gateway(topic: str) -> socket.socket:
    """An MQTT 3.1.1 client with a retained QoS 1 last will on `topic` that has
    announced itself online; closing its socket without DISCONNECT fires the will."""
    sock = socket.create_connection((MQTT_HOST, MQTT_PORT), timeout=5)
    flags = 0x02 | 0x04 | 0x08 | 0x20  # clean session, will, will QoS 1, will retain
    connect = (_mqtt_str("MQTT") + bytes([4, flags]) + struct.pack("!H", 60)
               + _mqtt_str(f"dying-{topic[-12:]}") + _mqtt_str(topic)
               + _mqtt_str(status_payload("offline").decode()))  # fmt: skip
    sock.sendall(_packet(0x10, connect))
    assert sock.recv(4)[:1] == b"\x20"  # CONNACK
    birth = _mqtt_str(topic) + status_payload("online", 1)
    sock.sendall(_packet(0x31, birth))  # PUBLISH, QoS 0, retained
    return sock


@pytest.mark.services
async def test_monitor_live_shows_epoch_and_gateway_going_offline(topic_root: str) -> None:
    gw = DeviceKey.generate()
    status = topics.gateway_status(topic_root, gw.gateway_id)
    epoch_topic = topics.epoch_summary(topic_root, 7)
    summary = {"epoch": 7, "readings": 2, "total_export_wh": 9, "total_import_wh": 1,
               "mint_base_units": 9 * 10**6}  # fmt: skip
    async with aiomqtt.Client(MQTT_HOST, MQTT_PORT) as pub:
        await pub.publish(epoch_topic, json.dumps(summary).encode(), qos=1, retain=True)
    sock = _dying_gateway(status)
    view = MonitorView(topic_root)
    out = io.StringIO()
    task = asyncio.create_task(
        run_monitor(
            host=MQTT_HOST, port=MQTT_PORT, root=topic_root, out=out, refresh_s=0.05, view=view
        )
    )
    try:
        await async_wait_until(
            lambda: 7 in view.epochs and gw.gateway_id in view.gateways
            and view.gateways[gw.gateway_id].state == "online",
            10, "retained epoch summary and online status",
        )  # fmt: skip
        async with aiomqtt.Client(MQTT_HOST, MQTT_PORT) as pub:
            await pub.publish(topics.gateway_readings(topic_root, gw.gateway_id),
                              _reading(gw, 1, 1000), qos=1)  # fmt: skip
        await async_wait_until(lambda: view.gateways[gw.gateway_id].readings == 1, 10, "reading")
        sock.close()  # no DISCONNECT: the broker publishes the last will
        await async_wait_until(
            lambda: view.gateways[gw.gateway_id].state == "offline", 10, "last will"
        )
        await async_wait_until(lambda: "OFFLINE" in out.getvalue(), 10, "rendered offline")
        assert "\x1b[H\x1b[2J" in out.getvalue()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()
        async with aiomqtt.Client(MQTT_HOST, MQTT_PORT) as pub:
            for topic in (status, epoch_topic):
                await pub.publish(topic, b"", qos=1, retain=True)


@pytest.mark.services
async def test_monitor_once_json_reads_retained(topic_root: str) -> None:
    clearing = topics.epoch_clearing(topic_root, 3)
    async with aiomqtt.Client(MQTT_HOST, MQTT_PORT) as pub:
        await pub.publish(clearing, _clearing(3, None), qos=1, retain=True)
    try:
        out = io.StringIO()
        await run_monitor(host=MQTT_HOST, port=MQTT_PORT, root=topic_root, out=out,
                          once=True, as_json=True, settle_s=0.3)  # fmt: skip
        snap = json.loads(out.getvalue())
        assert snap["clearings"]["3"]["clearing_price"] is None
        assert snap["clearings"]["3"]["volume"] == 5
        assert snap["root"] == topic_root
    finally:
        async with aiomqtt.Client(MQTT_HOST, MQTT_PORT) as pub:
            await pub.publish(clearing, b"", qos=1, retain=True)
